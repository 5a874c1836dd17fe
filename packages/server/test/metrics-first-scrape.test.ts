// The registry is made at the first scrape; what the server counted before it must be there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication } from '@pulse/client';
import { Inbox, metricValue, scrape, startServer, wsClient } from './helpers.js';

/** The `_bucket` lines of a histogram, by `le`, in the order scraped. */
function buckets(text: string, name: string): [string, number][] {
  const found: [string, number][] = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`).exec(line);
    if (m) found.push([m[1] as string, Number(m[2])]);
  }
  return found;
}

test('publications and API requests before the first scrape are in it; the latency histogram is cumulative, +Inf = _count', async () => {
  const h = await startServer();
  try {
    const subscriber = await wsClient(h);
    const publisher = await wsClient(h);
    const inbox = new Inbox<Publication>();
    await subscriber.subscribe('first:scrape', inbox.push);
    for (let i = 0; i < 3; i++) await publisher.publish('first:scrape', Buffer.from(`m${i}`));
    await inbox.waitFor(3);
    // No API key is configured: refused, and counted.
    assert.equal((await fetch(`${h.httpUrl}/api/channels`)).status, 401);

    const first = await scrape(h);
    const name = 'pulse_publish_latency_seconds';
    const count = metricValue(first, `${name}_count`);
    assert.equal(count, 3, 'one observation per publication that reached the subscriber');
    assert.ok(metricValue(first, `${name}_sum`) > 0, 'the sum of the three latencies');
    const rows = buckets(first, name);
    assert.equal(rows.length, 13, '12 bounds and +Inf');
    assert.deepEqual(rows.at(-1), ['+Inf', 3]);
    for (let i = 1; i < rows.length; i++) {
      assert.ok((rows[i] as [string, number])[1] >= (rows[i - 1] as [string, number])[1], 'cumulative');
    }
    assert.equal(metricValue(first, 'pulse_api_requests_total{route="/api/channels",status="401"}'), 1);

    await publisher.publish('first:scrape', Buffer.from('m3'));
    await inbox.waitFor(4);
    await fetch(`${h.httpUrl}/api/channels`);
    const second = await scrape(h);
    assert.equal(metricValue(second, `${name}_count`), 4, 'the same counts go on after the first scrape');
    assert.deepEqual(buckets(second, name).at(-1), ['+Inf', 4]);
    assert.equal(metricValue(second, 'pulse_api_requests_total{route="/api/channels",status="401"}'), 2);
    await subscriber.close();
    await publisher.close();
  } finally {
    await h.stop();
  }
});

test('the first scrape (and one right after it) shows no event-loop delay statistic it has not measured: no 9.2e9 s minimum, no NaN', async () => {
  const h = await startServer();
  try {
    const lagLines = (text: string) =>
      text.split('\n').filter((l) => l.startsWith('pulse_nodejs_eventloop_lag_'));
    // The registry, and with it the event-loop monitor, is made now: it has no sample yet.
    const [first, second] = await Promise.all([scrape(h), scrape(h)]);
    for (const line of [...lagLines(first), ...lagLines(second)]) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      assert.ok(Number.isFinite(value) && value >= 0 && value < 60, `a measured delay: ${line}`);
    }
    // Two ticks of the 100 ms monitor later it has measured the loop.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const later = await scrape(h);
    for (const stat of ['min', 'max', 'mean', 'p99']) {
      const value = metricValue(later, `pulse_nodejs_eventloop_lag_${stat}_seconds`);
      assert.ok(Number.isFinite(value) && value > 0 && value < 60, `${stat} measured: ${value}`);
    }
  } finally {
    await h.stop();
  }
});
