import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
import {
  MAX_OUTBOUND_ALIAS_CHARS,
  MAX_OUTBOUND_TOPIC_ALIASES,
  OutboundTopicAliases,
} from '../src/mqtt/topic-aliases.js';
import type { PublishOptions } from '../src/mqtt/publish-encoding.js';
import { RawMqtt, withMqtt } from './mqtt-helpers.js';

// Outbound topic aliases pin their topics for the connection's lifetime: a client allowing
// 65,535 of them must not make one connection hold 65,535 topics of up to 64 KiB each.

const options = (): PublishOptions => ({ qos: 0, retain: false, dup: false, packetId: 0 });

function aliasOf(aliases: OutboundTopicAliases, topic: string): number | undefined {
  const o = options();
  aliases.use(topic, o);
  return o.topicAlias;
}

test('outbound aliases stop at MAX_OUTBOUND_TOPIC_ALIASES whatever the client allows; known ones stay', () => {
  const aliases = new OutboundTopicAliases(65_535);
  for (let i = 1; i <= MAX_OUTBOUND_TOPIC_ALIASES; i++) assert.equal(aliasOf(aliases, `t/${i}`), i);
  assert.equal(aliasOf(aliases, 'one/more'), undefined, 'sent with its topic in full');
  const known = options();
  aliases.use('t/7', known);
  assert.deepEqual([known.topicAlias, known.omitTopic], [7, true]);
  // A client allowing fewer keeps its own maximum.
  const small = new OutboundTopicAliases(2);
  assert.deepEqual(
    ['a', 'b', 'c'].map((t) => aliasOf(small, t)),
    [1, 2, undefined],
  );
});

test('outbound aliases stop at MAX_OUTBOUND_ALIAS_CHARS of topics; a forgotten alias gives its characters back', () => {
  const aliases = new OutboundTopicAliases(65_535);
  const long = (i: number) => `${i}/`.padEnd(1000, 'x');
  const fit = Math.floor(MAX_OUTBOUND_ALIAS_CHARS / 1000);
  for (let i = 1; i <= fit; i++) assert.equal(aliasOf(aliases, long(i)), i);
  assert.equal(aliasOf(aliases, long(fit + 1)), undefined, 'past the characters, no alias');
  const huge = 'h/'.padEnd(65_535, 'x');
  const fresh = new OutboundTopicAliases(65_535);
  for (let i = 1; i <= 4; i++) assert.equal(aliasOf(fresh, `${i}${huge}`), i);
  const o = options();
  fresh.use(`5${huge}`, o);
  assert.equal(o.topicAlias, undefined, 'four 64 KiB topics use up the characters');
  // The packet that set up alias 4 never went out: its characters come back for another topic.
  const last = options();
  last.topicAlias = 4;
  fresh.forgetNew(`4${huge}`, last);
  assert.equal(aliasOf(fresh, `6${huge}`), 4);
});

test('over the wire: a client allowing 65535 aliases gets them for the first MAX_OUTBOUND_TOPIC_ALIASES topics only, and every message', async () => {
  await withMqtt({}, async (h) => {
    const { raw: sub } = await RawMqtt.connect(h.mqttPort, 5, { properties: { topicAliasMaximum: 65_535 } });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ta/#', qos: 0 }] });
    await sub.next('suback');
    const { raw: pub } = await RawMqtt.connect(h.mqttPort, 5);
    const total = MAX_OUTBOUND_TOPIC_ALIASES + 5;
    for (let i = 1; i <= total; i++) {
      pub.send({
        cmd: 'publish',
        topic: `ta/${i}`,
        payload: Buffer.from(String(i)),
        qos: 0,
        dup: false,
        retain: false,
      });
    }
    pub.send({
      cmd: 'publish',
      topic: 'ta/1',
      payload: Buffer.from('again'),
      qos: 0,
      dup: false,
      retain: false,
    });
    const got: IPublishPacket[] = [];
    while (got.length < total + 1) got.push((await sub.next('publish')) as IPublishPacket);
    const aliased = got.filter((p) => p.properties?.topicAlias !== undefined);
    assert.equal(aliased.length, MAX_OUTBOUND_TOPIC_ALIASES + 1, 'the first topics and the repeat');
    assert.deepEqual(
      got.slice(MAX_OUTBOUND_TOPIC_ALIASES, total).map((p) => [p.topic, p.properties?.topicAlias]),
      Array.from({ length: 5 }, (_, i) => [`ta/${MAX_OUTBOUND_TOPIC_ALIASES + i + 1}`, undefined]),
    );
    const repeat = got[total];
    assert.deepEqual(
      [repeat?.topic, repeat?.properties?.topicAlias, repeat?.payload.toString()],
      ['', 1, 'again'],
    );
    sub.destroy();
    pub.destroy();
  });
});
