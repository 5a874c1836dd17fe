import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Refusal } from '@pulse/core';
import { ConnackV4, ErrorCode, Reason } from '@pulse/protocol';
import type { IConnectPacket } from 'mqtt-packet';
import { defaultConfig } from '../src/config/index.js';
import {
  type ConnectContext,
  type ConnectRefusal,
  type ConnectTerms,
  acceptingConnack,
  negotiateConnect,
} from '../src/mqtt/connect-negotiation.js';
import { NEVER_EXPIRES } from '../src/mqtt/session.js';

// CONNECT negotiation without a socket: every refusal and the terms an accepted CONNECT gets.

const config = { ...defaultConfig().mqtt, max_keepalive: 60, max_session_expiry_interval: 3600 };

function context(over: Partial<ConnectContext> = {}): ConnectContext {
  return {
    config,
    checkTopic: (topic) =>
      topic.startsWith('$')
        ? new Refusal(ErrorCode.Forbidden, 'reserved')
        : topic.includes('+')
          ? new Refusal(ErrorCode.InvalidChannel, 'wildcard')
          : undefined,
    checkResponseTopic: () => undefined,
    newClientId: () => 'pulse-fixed',
    draining: false,
    ...over,
  };
}

function connect(over: Partial<IConnectPacket> = {}): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c1', keepalive: 30, ...over };
}

function refused(packet: IConnectPacket, ctx = context()): ConnectRefusal {
  const result = negotiateConnect(packet, ctx);
  assert.equal(result.accepted, false, 'refused');
  return result as ConnectRefusal;
}

function accepted(packet: IConnectPacket, ctx = context()): ConnectTerms {
  const result = negotiateConnect(packet, ctx);
  assert.equal(result.accepted, true, `accepted, not ${JSON.stringify(result)}`);
  return result as ConnectTerms;
}

const codes = (r: ConnectRefusal) => [r.answer, r.v4Code, r.v5Reason, r.parseError];

test('a protocol name that does not go with the level is refused with CONNACK 0x01 in 3.1.1 format', () => {
  for (const packet of [
    connect({ protocolId: 'MQIsdp', protocolVersion: 4 }),
    connect({ protocolId: 'MQTT', protocolVersion: 3 }),
    connect({ protocolId: 'MQIsdp', protocolVersion: 5 }),
  ]) {
    const r = refused(packet);
    assert.equal(r.answer, 'protocol-level');
    assert.equal(r.v4Code, ConnackV4.UnacceptableProtocolVersion);
    assert.equal(r.parseError, true);
  }
});

test('3.1.1 password without user name, and will QoS 3, close without CONNACK', () => {
  assert.equal(refused(connect({ protocolVersion: 4, password: Buffer.from('x') })).answer, 'close');
  const will = {
    topic: 'w',
    payload: Buffer.from('x'),
    qos: 3,
    retain: false,
  } as unknown as IConnectPacket['will'];
  assert.equal(refused(connect({ will })).answer, 'close');
  assert.equal(refused(connect({ will })).parseError, true);
  // v5 allows a password alone.
  accepted(connect({ protocolVersion: 5, password: Buffer.from('x') }));
});

test('a draining server refuses with 0x8B / 3', () => {
  assert.deepEqual(codes(refused(connect(), context({ draining: true }))), [
    'connack',
    ConnackV4.ServerUnavailable,
    Reason.ServerShuttingDown,
    false,
  ]);
});

test('client identifier refusals: 3.1 without one or over 23, 3.1.1 persistent without one, U+0000 / U+FFFD', () => {
  const rejected = ['connack', ConnackV4.IdentifierRejected, Reason.ClientIdentifierNotValid, false];
  assert.deepEqual(
    codes(refused(connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: '' }))),
    rejected,
  );
  assert.deepEqual(
    codes(refused(connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'x'.repeat(24) }))),
    rejected,
  );
  accepted(connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'x'.repeat(23) }));
  assert.deepEqual(codes(refused(connect({ protocolVersion: 4, clientId: '', clean: false }))), rejected);
  assert.deepEqual(codes(refused(connect({ clientId: 'a\u0000b' }))), rejected);
  assert.deepEqual(codes(refused(connect({ clientId: 'a\uFFFDb' }))), rejected);
});

test('no client identifier: one is made; only v5 is told it', () => {
  const v5 = accepted(connect({ clientId: '' }));
  assert.equal(v5.clientId, 'pulse-fixed');
  assert.equal(v5.assignedClientId, 'pulse-fixed');
  const v4 = accepted(connect({ protocolVersion: 4, clientId: '', clean: true }));
  assert.equal(v4.clientId, 'pulse-fixed');
  assert.equal(v4.assignedClientId, undefined);
});

test('v5 receive maximum or maximum packet size 0, or authentication data without a method, is a protocol error; an authentication method is refused 0x8C', () => {
  const protocolError = ['connack', ConnackV4.ServerUnavailable, Reason.ProtocolError, true];
  assert.deepEqual(codes(refused(connect({ properties: { receiveMaximum: 0 } }))), protocolError);
  assert.deepEqual(codes(refused(connect({ properties: { maximumPacketSize: 0 } }))), protocolError);
  // MQTT 5 §3.1.2.11.10: Authentication Data without an Authentication Method.
  assert.deepEqual(
    codes(refused(connect({ properties: { authenticationData: Buffer.from('x') } }))),
    protocolError,
  );
  assert.deepEqual(codes(refused(connect({ properties: { authenticationMethod: 'SCRAM' } }))), [
    'connack',
    ConnackV4.NotAuthorized,
    Reason.BadAuthenticationMethod,
    false,
  ]);
});

test('will refusals: payload not UTF-8 with the format indicator, a response topic with a wildcard, a reserved topic, an invalid topic', () => {
  const will = (topic: string, payload: Buffer, properties = {}) =>
    ({ topic, payload, qos: 0, retain: false, properties }) as IConnectPacket['will'];
  assert.deepEqual(
    codes(refused(connect({ will: will('w', Buffer.from([0xff, 0xfe]), { payloadFormatIndicator: true }) }))),
    ['connack', ConnackV4.ServerUnavailable, Reason.PayloadFormatInvalid, false],
  );
  assert.deepEqual(codes(refused(connect({ will: will('$SYS/x', Buffer.from('x')) }))), [
    'connack',
    ConnackV4.NotAuthorized,
    Reason.NotAuthorized,
    false,
  ]);
  for (const responseTopic of ['r/+', 'r/#']) {
    assert.deepEqual(
      codes(refused(connect({ will: will('w', Buffer.from('x'), { responseTopic }) }))),
      ['connack', ConnackV4.ServerUnavailable, Reason.ProtocolError, true],
      `a will with response topic ${responseTopic}`,
    );
  }
  accepted(connect({ will: will('w', Buffer.from('x'), { responseTopic: 'r/1' }) }));
  assert.deepEqual(codes(refused(connect({ will: will('a/+', Buffer.from('x')) }))), [
    'connack',
    ConnackV4.NotAuthorized,
    Reason.TopicNameInvalid,
    false,
  ]);
});

test('accepted terms: keep alive capped (v5 told, 3.1.1 refused), expiry capped, client limits taken', () => {
  const v5 = accepted(
    connect({
      keepalive: 120,
      properties: {
        sessionExpiryInterval: 7200,
        receiveMaximum: 5,
        maximumPacketSize: 1000,
        topicAliasMaximum: 3,
        requestProblemInformation: false,
      },
    }),
  );
  assert.equal(v5.keepAlive, 60);
  assert.equal(v5.serverKeepAlive, 60);
  assert.equal(v5.expiry, 3600);
  assert.equal(v5.requestedExpiry, 7200);
  assert.equal(v5.receiveMaximum, Math.min(5, config.max_inflight_messages));
  assert.equal(v5.clientMaxPacketSize, 1000);
  assert.equal(v5.clientTopicAliasMaximum, 3);
  assert.equal(v5.problemInformation, false);
  const none = accepted(connect({ keepalive: 0 }));
  assert.deepEqual([none.keepAlive, none.serverKeepAlive], [60, 60], 'keep alive 0 is past the maximum too');
  // 3.1.1 and 3.1 cannot be told another keep alive: 2 Identifier rejected, as Mosquitto answers.
  for (const keepalive of [120, 0]) {
    for (const protocolVersion of [3, 4] as const) {
      const over = connect({
        protocolVersion,
        keepalive,
        protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      });
      assert.deepEqual(codes(refused(over)), [
        'connack',
        ConnackV4.IdentifierRejected,
        Reason.ClientIdentifierNotValid,
        false,
      ]);
    }
  }
  const uncapped = context({ config: { ...config, max_keepalive: 0 } });
  const free = accepted(connect({ protocolVersion: 4, keepalive: 0 }), uncapped);
  assert.deepEqual([free.keepAlive, free.serverKeepAlive], [0, undefined], 'max_keepalive 0: no cap');
  const v4 = accepted(connect({ protocolVersion: 4, keepalive: 60, clean: false }));
  assert.equal(v4.keepAlive, 60);
  assert.equal(v4.serverKeepAlive, undefined);
  assert.equal(v4.requestedExpiry, NEVER_EXPIRES, '3.1.1 persistent sessions never expire...');
  assert.equal(v4.expiry, 3600, '...unless capped');
  assert.equal(accepted(connect({ protocolVersion: 4 })).expiry, 0, 'clean session ends with the connection');
});

test('an accepted will keeps its v5 properties but for delay and expiry, which are set apart', () => {
  const terms = accepted(
    connect({
      will: {
        topic: 'w',
        payload: Buffer.from('bye'),
        qos: 1,
        retain: true,
        properties: { willDelayInterval: 10, messageExpiryInterval: 20, contentType: 'text/plain' },
      },
    }),
  );
  assert.ok(terms.will);
  assert.equal(terms.will.delaySeconds, 10);
  assert.equal(terms.will.expirySeconds, 20);
  assert.equal(terms.will.publication.channel, 'w');
  assert.equal(terms.will.publication.qos, 1);
  assert.equal(terms.will.publication.retain, true);
  assert.equal((terms.will.publication.properties as { contentType?: string }).contentType, 'text/plain');
  assert.equal('willDelayInterval' in (terms.will.publication.properties ?? {}), false);
});

test('CONNACK: 3.1.1 bare; v5 with the server limits and only what it changed', () => {
  const v4 = accepted(connect({ protocolVersion: 4 }));
  assert.deepEqual(acceptingConnack(v4, 4, true, config), {
    cmd: 'connack',
    returnCode: 0,
    sessionPresent: true,
  });
  const plain = accepted(connect({ keepalive: 30 }));
  assert.deepEqual(acceptingConnack(plain, 5, false, config), {
    cmd: 'connack',
    reasonCode: 0,
    sessionPresent: false,
    properties: {
      receiveMaximum: config.receive_maximum,
      maximumPacketSize: config.max_packet_size,
      topicAliasMaximum: config.topic_alias_maximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
    },
  });
  const changed = accepted(
    connect({ clientId: '', keepalive: 600, properties: { sessionExpiryInterval: 9999 } }),
  );
  const props = (acceptingConnack(changed, 5, false, config) as { properties: Record<string, unknown> })
    .properties;
  assert.equal(props.assignedClientIdentifier, 'pulse-fixed');
  assert.equal(props.serverKeepAlive, 60);
  assert.equal(props.sessionExpiryInterval, 3600);
});
