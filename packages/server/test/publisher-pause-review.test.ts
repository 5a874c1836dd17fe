import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counterValue, scrape, sleep } from './helpers.js';
import {
  RawMqtt,
  type TestClient,
  endAll,
  eventually,
  mqttClient,
  qos1Publishes,
  startMqtt,
  uniqueId,
} from './mqtt-helpers.js';

/** Waits for `count()` to reach `target`, or to stop growing for 3 s. */
async function settled(count: () => number, target: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  while (count() < target && Date.now() - since < 3000) {
    if (count() !== last) {
      last = count();
      since = Date.now();
    }
    await sleep(20);
  }
}

for (const away of ['disconnects', 'is taken over (same client id, clean start 0)'] as const)
  test(`an MQTT session whose client ${away} while its queue holds a publisher pauses it again, as briefly, once back`, async () => {
    const h = await startMqtt({
      mqtt: { max_inflight_messages: 16, max_queued_messages: 200 },
      limits: { max_publisher_pause_ms: 2000 },
    });
    const clientId = uniqueId('persistent');
    const persistent = {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    } as const;
    try {
      const first = await mqttClient(h.tcpUrl, persistent);
      await first.subscribeAsync('held', { qos: 1 });
      const { raw: publisher } = await RawMqtt.connect(h.mqttPort, 5);
      // Not reading: 16 in flight, the queue passes half of its 200 and pauses the publisher.
      first.stream.pause();
      publisher.write(qos1Publishes('held', 0, 150));
      await eventually(
        async () => counterValue(await scrape(h), 'pulse_publisher_pauses_total{transport="mqtt"}') >= 1,
        'the publisher paused by the queue',
      );
      // Gone while it holds the publisher; back with the same session.
      let back: TestClient;
      if (away === 'disconnects') {
        first.stream.destroy();
        await first.gone;
        back = await mqttClient(h.tcpUrl, persistent);
      } else {
        back = await mqttClient(h.tcpUrl, persistent);
        first.stream.destroy();
      }
      const got = new Set<number>();
      const count = () => {
        for (const { payload } of back.inbox.items) got.add(payload.readUInt32BE(0));
        return got.size;
      };
      await eventually(async () => count() >= 150, 'the first 150 after the return', 10_000);
      // The same slow spell as in publisher-backpressure.test.ts, now that the session is back.
      const before = await scrape(h);
      back.stream.pause();
      publisher.write(qos1Publishes('held', 150, 3000));
      await sleep(400);
      back.stream.resume();
      await settled(count, 3150);
      const after = await scrape(h);
      const delta = (name: string) => counterValue(after, name) - counterValue(before, name);
      assert.equal(
        delta('pulse_mqtt_dropped_total{reason="queue_full"}'),
        0,
        'nothing dropped from the queue',
      );
      assert.equal(delta('pulse_reader_stalls_total{transport="mqtt"}'), 0, 'the queue did not stall');
      assert.equal(count(), 3150, 'every message');
      // Paused about the 400 ms it did not read, not its whole 2 s allowance.
      const paused = delta('pulse_publisher_paused_seconds_total{transport="mqtt"}');
      assert.ok(paused < 1.2, `the publisher was paused ${paused} s`);
      publisher.destroy();
      await endAll(back);
    } finally {
      await h.stop();
    }
  });
