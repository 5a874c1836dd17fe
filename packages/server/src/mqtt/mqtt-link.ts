import { answer } from '../channels/answer-later.js';
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { Publication, Refusal, SHARED_PREFIX } from '@pulse/core';
import {
  ConnackV4,
  ErrorCode,
  MqttDecoder,
  MqttPacketError,
  type MqttVersion,
  type Packet,
  PacketSplitter,
  type PacketSplitterHandler,
  Reason,
  SubackV4,
  UnknownProtocolLevel,
  encodeBareAck,
  encodePacket,
} from '@pulse/protocol';
import type {
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubscribePacket,
  IUnsubscribePacket,
} from 'mqtt-packet';
import type { ClientMatch, Connection, ConnectionHandler } from '../transport/connection.js';
import type { Access, AuthService, MqttAuthResult, MqttCredentials } from '../auth/auth-service.js';
import { type GateOwner, SessionGate, decide } from '../auth/session-gate.js';
import type { MqttAnswer } from './mqtt-answer.js';
import { mqttRateLimited } from './mqtt-rate-limited.js';
import type { MqttLinkHost } from './mqtt-link-host.js';
import { type PublishOptions, adoptReceivedPublish, publishPacket } from './publish-encoding.js';
import type { MqttSession, Outgoing, SessionLink, SubscriptionOptions } from './session.js';
import { InboundTopicAliases, OutboundTopicAliases } from './topic-aliases.js';
import { checkMqttFilter } from './topic-rules.js';
import { passThrough } from './pass-through-properties.js';
import { withoutProblemInformation } from './problem-information.js';
import {
  type ConnectTerms,
  acceptingConnack,
  connectVersion,
  hasWildcard,
  negotiateConnect,
} from './connect-negotiation.js';
import type { Will } from './will.js';

/** Maps a core refusal to an MQTT 5 reason code. */
function reasonFor(refusal: Refusal): number {
  switch (refusal.code) {
    case ErrorCode.InvalidChannel:
      return Reason.TopicNameInvalid;
    case ErrorCode.Forbidden:
      return Reason.NotAuthorized;
    case ErrorCode.RateLimited:
      return Reason.QuotaExceeded;
    default:
      return Reason.UnspecifiedError;
  }
}

/**
 * One MQTT network connection (TCP or WebSocket): CONNECT, the packet flows of MQTT 3.1,
 * 3.1.1 and 5.0, and the link between the connection and its (possibly persistent) session.
 */
export class MqttLink
  implements ConnectionHandler, PacketSplitterHandler, SessionLink, GateOwner<Buffer>, MqttAnswer
{
  private readonly splitter: PacketSplitter;
  private readonly decoder: MqttDecoder;
  version: MqttVersion = 4;
  session: MqttSession | undefined;
  clientId = '';
  /** The authenticated user (user name, certificate CN, token `sub` or the connect hook's `user`). */
  user: string | undefined;
  /** Access, token expiry and packets held behind a pending decision; only with auth or hooks on. */
  private gate: SessionGate<Buffer> | undefined;
  /** QoS 1/2 messages sent and unacknowledged at most: the client's receive maximum, capped by mqtt.max_inflight_messages. */
  receiveMaximum: number;
  private clientMaxPacketSize = 268_435_455;
  private readonly aliasesIn = new InboundTopicAliases();
  /** The last topic name of this client's PUBLISH that passed the topic checks (onPublish). */
  private checkedTopic: string | undefined;
  /** Only when the client accepts topic aliases (v5 Topic Alias Maximum above 0). */
  private aliasesOut: OutboundTopicAliases | undefined;
  private will: Will | undefined;
  private sessionExpiryAtConnect = 0;
  private waitingForRoom = false;
  /** CONNECT accepted: counted in the open connections until closed. */
  private accepted = false;
  /** v5 Request Problem Information: false forbids reason strings but on CONNACK, PUBLISH, DISCONNECT. */
  private problemInformation = true;
  /** Some bytes have arrived (a CONNECT may be on its way). */
  private spoke = false;
  /** The client sent an empty client id and the server chose one. */
  private idAssigned = false;
  /** The server drains: a CONNECT still to come or to be decided is refused with CONNACK 0x8B. */
  private draining = false;

  constructor(
    readonly connection: Connection,
    private readonly service: MqttLinkHost,
  ) {
    this.splitter = new PacketSplitter(this, service.config.max_packet_size, connection.inputBudget);
    this.decoder = new MqttDecoder(service.userPropertyLimits);
    this.receiveMaximum = service.config.max_inflight_messages;
    connection.handler = this;
    // Until CONNECT is accepted the handshake deadline applies (limits.handshake_timeout_ms),
    // not a silence timer: a CONNECT dribbled a byte at a time must not keep it open.
    connection.ownTimeoutMs = 0;
  }

  // --- ConnectionHandler ---------------------------------------------------------------

  get label(): string {
    return this.clientId === ''
      ? `MQTT connection from ${this.connection.remoteAddress}`
      : `MQTT client ${this.clientId}`;
  }

  onBytes(data: Buffer): void {
    this.spoke = true;
    this.splitter.push(data);
  }

  onClosed(): void {
    this.splitter.stop();
    if (this.gate !== undefined) {
      this.gate.close();
      // Closed while its credentials were being checked: a will of a client never let in is dropped.
      if (!this.accepted) this.will = undefined;
    }
    if (this.accepted) this.service.stats.connectionsOpen--;
    this.service.onLinkClosed(this, this.will);
  }

  sendPing(): void {}

  onTimeout(): void {
    this.disconnect(Reason.KeepAliveTimeout, 'keep alive timeout');
  }

  /** CONNECT not accepted by the handshake deadline (dribbled, or its authentication pending): closed without CONNACK. */
  onHandshakeTimeout(): void {
    this.will = undefined;
    this.service.log.debug({ clientId: this.clientId }, 'mqtt: no CONNECT accepted in time');
    this.close();
  }

  /**
   * Graceful shutdown. A connected client gets DISCONNECT 0x8B (v5); one whose CONNECT is
   * pending (its credentials being checked) or still arriving gets CONNACK 0x8B / 3 Server
   * unavailable when it is decided (within the drain timeout); a silent one is closed.
   */
  goAway(): void {
    this.will = undefined;
    if (this.session !== undefined || !this.spoke) {
      return this.disconnect(Reason.ServerShuttingDown, 'server shutting down');
    }
    this.draining = true;
    if (this.clientId !== '') this.refuseConnect(ConnackV4.ServerUnavailable, Reason.ServerShuttingDown);
  }

  /** Only once CONNECT was accepted: by client identifier, or by the session's user. */
  matches(match: ClientMatch): boolean {
    const session = this.session;
    if (session === undefined) return false;
    return match.clientId === this.clientId || (match.user !== undefined && match.user === session.user);
  }

  /**
   * Closed by the operator (HTTP API): DISCONNECT 0x98 Administrative action on MQTT 5. The
   * will goes out (the client did not leave normally) and a persistent session stays.
   */
  kick(reason: string): void {
    this.disconnect(Reason.AdministrativeAction, reason);
  }

  /**
   * Another connection took this client id over (MQTT 5 §3.1.4), here or on another node. The
   * will goes out only if the session ends with the takeover (clean start, or expiry 0); the
   * will of a continuing session is dropped, whatever its delay, since its client is back
   * before the delay could start (§3.1.2.5), as Mosquitto does.
   */
  takenOver(sessionEnds: boolean): void {
    if (!sessionEnds) this.will = undefined;
    this.disconnect(Reason.SessionTakenOver, 'session taken over');
  }

  // --- PacketSplitterHandler -----------------------------------------------------------

  /** Over WebSocket: a message past mqtt.max_packet_size (the transport then closes with 1009). */
  onMessageTooLarge(reason: string): void {
    this.service.stats.parseErrors++;
    if (this.version === 5 && this.session) {
      this.writePacket({
        cmd: 'disconnect',
        reasonCode: Reason.PacketTooLarge,
        properties: { reasonString: reason },
      });
    }
  }

  onPacketTooLarge(size: number): void {
    this.service.stats.parseErrors++;
    this.disconnect(
      Reason.PacketTooLarge,
      `packet of ${size} bytes exceeds ${this.service.config.max_packet_size}`,
    );
  }

  /** Holding the rest of a packet would pass limits.max_pending_input_bytes. */
  onInputOverBudget(): void {
    this.disconnect(Reason.QuotaExceeded, 'server input buffers are full');
  }

  onMalformedLength(): void {
    this.service.stats.parseErrors++;
    this.disconnect(Reason.MalformedPacket, 'malformed remaining length');
  }

  onPacket(bytes: Buffer): void {
    if (this.connection.closing) return;
    const gate = this.gate;
    if (gate !== undefined && gate.held !== undefined) {
      // A decision is pending (credentials, a hook): this packet waits its turn behind it.
      if (!gate.hold(bytes))
        this.disconnect(Reason.QuotaExceeded, 'too many packets waiting for an authorization');
      return;
    }
    const packet = this.decoder.decode(bytes);
    if (packet instanceof MqttPacketError && packet.reasonCode === Reason.QuotaExceeded) {
      return this.refuseOverLimit(packet);
    }
    if (packet instanceof Error) {
      this.service.stats.parseErrors++;
      if (!this.session && packet instanceof UnknownProtocolLevel) {
        return this.refuseProtocolLevel();
      }
      if (packet instanceof MqttPacketError) {
        const bad = packet.packet;
        if (bad.cmd === 'connect' && !this.session) {
          this.version = (bad.protocolVersion ?? 4) as MqttVersion;
          return this.refuseConnect(ConnackV4.ServerUnavailable, packet.reasonCode);
        }
        return this.disconnect(packet.reasonCode, packet.message);
      }
      return this.disconnect(Reason.MalformedPacket, packet.message);
    }
    // Every packet read is counted here, before the rate limit and the checks; PUBLISH in a plain
    // number rather than the Map (metrics add it to packets_in{type="publish"}).
    const stats = this.service.stats;
    if (packet.cmd === 'publish') stats.publishPacketsIn++;
    else stats.count(stats.packetsIn, packet.cmd);
    const session = this.session;
    if (session === undefined) {
      if (packet.cmd !== 'connect') return this.protocolError('the first packet must be CONNECT');
      return this.onConnect(packet);
    }
    this.dispatch(packet, session, bytes);
  }

  /**
   * A packet whose user properties are over mqtt.max_user_properties or
   * mqtt.max_user_property_bytes, refused unparsed with 0x97 Quota exceeded: a CONNECT gets
   * CONNACK 0x97; a PUBLISH is refused like any other (PUBACK/PUBREC 0x97, QoS 0 dropped and
   * counted) and the connection stays; any other packet gets DISCONNECT 0x97.
   */
  private refuseOverLimit(err: MqttPacketError): void {
    const bad = err.packet;
    if (!this.session) {
      if (bad.cmd !== 'connect') return this.protocolError('the first packet must be CONNECT');
      this.version = (bad.protocolVersion ?? 5) as MqttVersion;
      return this.refuseConnect(ConnackV4.ServerUnavailable, err.reasonCode);
    }
    if (bad.cmd !== 'publish') return this.disconnect(err.reasonCode, err.message);
    const qos = bad.qos ?? 0;
    const id = bad.messageId ?? 0;
    if (qos > 0 && id === 0) return this.protocolError('packet identifier 0');
    // A malformed PUBLISH may carry QoS 3: counted nowhere rather than in a fourth slot.
    if (qos === 0 || qos === 1 || qos === 2) this.service.stats.publishesIn[qos]++;
    this.refusePublish(qos, id, err.reasonCode, err.message);
  }

  /** An unknown protocol level, or one that does not go with the protocol name: CONNACK 0x01 in the 3.1.1 format (MQTT 5 §3.1.2.2). */
  private refuseProtocolLevel(): void {
    this.write(
      encodePacket(
        { cmd: 'connack', returnCode: ConnackV4.UnacceptableProtocolVersion, sessionPresent: false },
        4,
      ),
    );
    this.close();
  }

  /** A protocol violation: counted with the malformed packets, DISCONNECT 0x82 (v5), closed. */
  private protocolError(message: string, reason: number = Reason.ProtocolError): void {
    this.service.stats.parseErrors++;
    this.disconnect(reason, message);
  }

  private dispatch(packet: Packet, session: MqttSession, bytes: Buffer): void {
    const limiter = this.connection.limiter;
    if (limiter !== undefined && mqttRateLimited(this, session, limiter, packet, this.service.stats)) return;
    // PUBLISH apart from the switch: V8 optimizes a small function after far fewer calls (the
    // ticks it waits for grow with the bytecode), and at 1,000 msgs/s perf still found PUBLISH
    // in the switch's baseline code tens of thousands of packets in.
    if (packet.cmd === 'publish') return this.onPublish(packet, session, bytes);
    this.dispatchOther(packet, session);
  }

  private dispatchOther(packet: Packet, session: MqttSession): void {
    switch (packet.cmd) {
      case 'puback':
        session.complete(packet.messageId ?? 0, 'publish');
        return;
      case 'pubrec':
        // Reason codes from 0x80 on are failures (MQTT 5 §2.4): the message is done with.
        if ((packet.reasonCode ?? 0) >= Reason.UnspecifiedError)
          session.complete(packet.messageId ?? 0, 'publish');
        else session.received(packet.messageId ?? 0);
        return;
      case 'pubcomp':
        session.complete(packet.messageId ?? 0, 'pubrel');
        return;
      case 'pubrel': {
        const id = packet.messageId ?? 0;
        const known = session.release(id);
        const reasonCode = known || this.version !== 5 ? undefined : Reason.PacketIdentifierNotFound;
        return this.writePacket({ cmd: 'pubcomp', messageId: id, reasonCode });
      }
      case 'subscribe':
        return this.onSubscribe(packet, session);
      case 'unsubscribe':
        return this.onUnsubscribe(packet, session);
      case 'pingreq':
        return this.writePacket({ cmd: 'pingresp' });
      case 'disconnect':
        return this.onDisconnect(packet, session);
      case 'connect':
        return this.protocolError('second CONNECT');
      default:
        return this.protocolError(`unexpected ${packet.cmd}`);
    }
  }

  // --- CONNECT ---------------------------------------------------------------------------

  private onConnect(packet: IConnectPacket): void {
    this.version = connectVersion(packet);
    const terms = negotiateConnect(packet, {
      config: this.service.config,
      checkTopic: (topic) => this.service.checkTopic(topic),
      checkResponseTopic: (topic) => this.service.checkResponseTopic(topic),
      newClientId: () => `pulse-${randomBytes(8).toString('hex')}`,
      draining: this.draining,
    });
    if (!terms.accepted) {
      if (terms.parseError) this.service.stats.parseErrors++;
      if (terms.answer === 'protocol-level') return this.refuseProtocolLevel();
      if (terms.answer === 'close') return this.close();
      return this.refuseConnect(terms.v4Code, terms.v5Reason);
    }
    this.problemInformation = terms.problemInformation;
    this.receiveMaximum = terms.receiveMaximum;
    this.clientMaxPacketSize = terms.clientMaxPacketSize;
    if (terms.clientTopicAliasMaximum > 0) {
      this.aliasesOut = new OutboundTopicAliases(terms.clientTopicAliasMaximum);
    }
    this.sessionExpiryAtConnect = terms.requestedExpiry;
    // MQTT 5 §3.1.2.10: one and a half times the keep alive without a packet closes the connection.
    this.connection.ownTimeoutMs = terms.keepAlive * 1500;
    this.will = terms.will;
    const clientId = terms.clientId;
    this.clientId = clientId;
    this.idAssigned = !packet.clientId;
    const accept = () => this.accept(terms);
    const auth = this.service.auth;
    if (auth === undefined) return accept();
    this.authenticate(
      auth,
      {
        clientId,
        username: packet.username,
        password: packet.password,
        socket: this.connection.socket,
        remoteAddress: this.connection.remoteAddress,
      },
      accept,
    );
  }

  // --- authentication (only with auth or hooks on) ---------------------------------------

  get stopped(): boolean {
    return this.connection.closing;
  }

  process(bytes: Buffer): void {
    this.onPacket(bytes);
  }

  failed(err: unknown): void {
    this.connection.noteFault('auth', err);
    if (this.session) this.disconnect(Reason.UnspecifiedError, 'internal error');
    else this.refuseConnect(ConnackV4.ServerUnavailable, Reason.UnspecifiedError);
  }

  private authenticate(auth: AuthService, credentials: MqttCredentials, accept: () => void): void {
    const gate = new SessionGate<Buffer>(this, false, this.connection.inputBudget);
    this.gate = gate;
    const result = auth.authenticateMqtt(credentials);
    if (result instanceof Promise) gate.wait(result, (r) => this.authenticated(gate, r, accept));
    else this.authenticated(gate, result, accept);
  }

  /**
   * Credentials refused: CONNACK 0x86 / 4 (bad user name or password), 0x87 / 5 (not
   * authorized) or 0x88 / 3 (a hook is down). Accepted: the will topic must be one the client
   * may publish to (else 0x87 / 5), and a resumed session keeps only the subscriptions the
   * client may hold.
   */
  private authenticated(gate: SessionGate<Buffer>, result: MqttAuthResult, accept: () => void): void {
    if (!result.ok) {
      if (result.refusal === 'credentials') {
        return this.refuseConnect(ConnackV4.BadUserNameOrPassword, Reason.BadUserNameOrPassword);
      }
      if (result.refusal === 'not_authorized') {
        return this.refuseConnect(ConnackV4.NotAuthorized, Reason.NotAuthorized);
      }
      return this.refuseConnect(ConnackV4.ServerUnavailable, Reason.ServerUnavailable);
    }
    gate.authenticated = true;
    gate.access = result.access;
    this.user = result.user;
    const finish = () => {
      accept();
      gate.expireAt(result.expiresAt, () => this.disconnect(Reason.MaximumConnectTime, 'token expired'));
    };
    const access = result.access;
    if (this.will === undefined || access === undefined) return finish();
    decide(gate, access.check('publish', this.will.publication.channel), finish, (refusal) =>
      this.refuseConnect(
        ConnackV4.NotAuthorized,
        refusal.code === ErrorCode.Forbidden ? Reason.NotAuthorized : Reason.ServerUnavailable,
      ),
    );
  }

  /** CONNECT accepted: the session is attached (created, resumed or taken over) and CONNACK sent. */
  private accept(terms: ConnectTerms): void {
    const owner = this.service.sessionOwner(this.clientId);
    // The client id belongs to another user's session (connected or persistent): taking
    // it over would hand that user's subscriptions and queued messages to this one.
    if (owner !== undefined && owner !== this.user) return this.refuseOwnedClientId();
    // Before asking the other nodes: a session they hold is not taken from them for a refusal.
    if (this.service.sessionsFull(this.clientId)) return this.refuseSessionQuota();
    // An id this server just made up is held nowhere: no need to ask the other nodes.
    const claim = this.idAssigned
      ? undefined
      : this.service.claimClientId(this.clientId, terms.clean, this.user);
    if (claim === undefined) return this.attach(terms);
    // Clustered: the session may be on another node. Packets sent meanwhile wait, in order.
    this.gate ??= new SessionGate<Buffer>(this, true, this.connection.inputBudget);
    this.gate.wait(claim, (outcome) =>
      outcome === 'owned' ? this.refuseOwnedClientId() : this.attach(terms),
    );
  }

  private refuseOwnedClientId(): void {
    const authStats = this.service.auth?.stats;
    authStats?.count(authStats.failures, 'mqtt|client_id_owned');
    this.refuseConnect(ConnackV4.NotAuthorized, Reason.NotAuthorized);
  }

  private refuseSessionQuota(): void {
    this.service.stats.sessionsRefused++;
    const max = this.service.config.max_sessions;
    this.refuseConnect(
      ConnackV4.ServerUnavailable,
      Reason.QuotaExceeded,
      `too many sessions (mqtt.max_sessions = ${max})`,
    );
  }

  private attach(terms: ConnectTerms): void {
    // Others may have filled the room while the other nodes were asked; one handed over is here.
    if (this.service.sessionsFull(this.clientId)) return this.refuseSessionQuota();
    const { session, present } = this.service.attachSession(
      this.clientId,
      terms.clean,
      terms.expiry,
      this.user,
    );
    if (present && this.gate?.access !== undefined)
      this.dropForbiddenSubscriptions(session, this.gate.access);
    this.session = session;
    this.accepted = true;
    this.connection.handshakeDone();
    this.service.stats.connectionsAccepted++;
    this.service.stats.connectionsOpen++;
    const connack = acceptingConnack(terms, this.version, present, this.service.config);
    this.writePacket(connack);
    session.resume(this);
  }

  /**
   * A session resumed by another identity (or after its rights changed) keeps only the
   * subscriptions this one may hold; the others are removed, as if unsubscribed.
   */
  private dropForbiddenSubscriptions(session: MqttSession, access: Access): void {
    if (access.rights.unrestricted) return;
    let dropped = false;
    for (const filter of [...session.subscriptions.keys()]) {
      if (access.allows('subscribe', filter)) continue;
      session.deleteSubscription(filter);
      this.service.broker.unsubscribe(session, filter);
      dropped = true;
    }
    if (dropped) session.save();
  }

  /** CONNACK refusing the CONNECT, then the close; a v5 client may be told why (`reason`). */
  private refuseConnect(v4Code: number, v5Reason: number, reason?: string): void {
    const packet: Packet =
      this.version === 5
        ? {
            cmd: 'connack',
            reasonCode: v5Reason,
            sessionPresent: false,
            ...(reason !== undefined ? { properties: { reasonString: reason } } : {}),
          }
        : { cmd: 'connack', returnCode: v4Code, sessionPresent: false };
    this.writePacket(packet);
    this.will = undefined;
    this.close();
  }

  // --- PUBLISH (client to server) ------------------------------------------------------------

  /** `bytes`: the packet as received. */
  private onPublish(packet: IPublishPacket, session: MqttSession, bytes: Buffer): void {
    const stats = this.service.stats;
    const qos = packet.qos;
    const id = packet.messageId ?? 0;
    stats.publishesIn[qos]++;
    const props = packet.properties;
    if (qos > 0 && id === 0) return this.protocolError('packet identifier 0');
    if (props?.subscriptionIdentifier !== undefined) {
      return this.protocolError('a PUBLISH from a client carries no subscription identifier');
    }
    if (hasWildcard(props?.responseTopic)) {
      return this.protocolError('a response topic is a topic name: no wildcards');
    }
    const response = props?.responseTopic;
    const responseRefusal = response === undefined ? undefined : this.service.checkResponseTopic(response);
    if (responseRefusal)
      return this.disconnect(Reason.TopicNameInvalid, `response topic ${responseRefusal.message}`);
    let topic = packet.topic;
    if (props?.topicAlias !== undefined) {
      const alias = props.topicAlias;
      if (alias === 0 || alias > this.service.config.topic_alias_maximum) {
        return this.protocolError(`topic alias ${alias} is out of range`, Reason.TopicAliasInvalid);
      }
      const known = this.aliasesIn.resolve(alias, topic);
      if (known === undefined) return this.protocolError(`unknown topic alias ${alias}`);
      topic = known;
    } else if (topic.length === 0) {
      return this.protocolError('empty topic name without a topic alias');
    }
    // The decoder hands out the same string for the same topic bytes (RecentName): a topic
    // that passed the checks below passes them again, and is not scanned again.
    const checked = topic === this.checkedTopic;
    // mqtt-packet turns ill-formed UTF-8 into U+FFFD; that and U+0000 are malformed (MQTT 5 §1.5.4).
    if (!checked && (topic.includes('\uFFFD') || topic.includes('\u0000'))) {
      return this.protocolError('topic name is not well-formed UTF-8', Reason.MalformedPacket);
    }
    if (qos === 2 && session.awaitsRelease(id)) {
      // A duplicate of a QoS 2 message not yet released: acknowledge again, route nothing.
      return this.writePacket({ cmd: 'pubrec', messageId: id });
    }
    if (qos === 2 && session.awaitingRelease >= this.service.config.receive_maximum) {
      return this.protocolError('too many QoS 2 messages awaiting PUBREL', Reason.ReceiveMaximumExceeded);
    }
    if (!checked) {
      const topicRefusal = this.service.checkTopic(topic);
      if (topicRefusal) {
        if (topicRefusal.code === ErrorCode.InvalidChannel) {
          return this.disconnect(Reason.TopicNameInvalid, topicRefusal.message);
        }
        return this.refusePublish(qos, id, reasonFor(topicRefusal), topicRefusal.message);
      }
      this.checkedTopic = topic;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (props?.payloadFormatIndicator && !isUtf8(payload)) {
      // MQTT 5 §3.3.2.3.2: acknowledge with 0x99, or (QoS 0 has no acknowledgement) disconnect.
      if (qos === 0) return this.disconnect(Reason.PayloadFormatInvalid, 'payload is not UTF-8');
      return this.refusePublish(qos, id, Reason.PayloadFormatInvalid, 'payload is not UTF-8');
    }
    const access = this.gate?.access;
    if (access !== undefined) {
      // Refused: PUBACK/PUBREC 0x87 (0x80 when a hook failed) on v5; 3.1.1 closes for QoS 1/2; QoS 0 is dropped.
      return decide(
        this.gate,
        access.check('publish', topic),
        () => this.routePublish(packet, session, topic, payload, bytes),
        (r) => this.refusePublish(qos, id, reasonFor(r), r.message),
      );
    }
    this.routePublish(packet, session, topic, payload, bytes);
  }

  /** A publication that passed every check: routed, then acknowledged by its QoS. */
  private routePublish(
    packet: IPublishPacket,
    session: MqttSession,
    topic: string,
    payload: Buffer,
    bytes: Buffer,
  ): void {
    const qos = packet.qos;
    const id = packet.messageId ?? 0;
    const props = packet.properties;
    const publication = new Publication({
      channel: topic,
      payload,
      qos,
      retain: packet.retain,
      properties: this.version === 5 ? passThrough(props) : undefined,
      publisher: session.id,
      expiresAt:
        props?.messageExpiryInterval !== undefined
          ? Date.now() + props.messageExpiryInterval * 1000
          : undefined,
    });
    adoptReceivedPublish(publication, bytes, this.version);
    answer(this.service.route(publication, true), this, (outcome) => this.routed(qos, id, session, outcome));
  }

  /** Acknowledges a routed publication by its QoS (once the engine took it, on a history channel in a cluster). */
  private routed(qos: number, id: number, session: MqttSession, outcome: number | Refusal): void {
    if (outcome instanceof Refusal) return this.refusePublish(qos, id, reasonFor(outcome), outcome.message);
    if (qos === 1) {
      const reasonCode = this.version === 5 && outcome === 0 ? Reason.NoMatchingSubscribers : undefined;
      this.writePacket({ cmd: 'puback', messageId: id, reasonCode });
    } else if (qos === 2) {
      session.holdForRelease(id);
      const reasonCode = this.version === 5 && outcome === 0 ? Reason.NoMatchingSubscribers : undefined;
      this.writePacket({ cmd: 'pubrec', messageId: id, reasonCode });
    }
  }

  private refusePublish(qos: number, id: number, reason: number, message: string): void {
    this.service.stats.count(this.service.stats.refused, `0x${reason.toString(16)}`);
    if (qos === 0) return;
    if (this.version !== 5) {
      // 3.1.1 has no way to refuse a PUBLISH but to close the connection (§4.8 of 3.1.1).
      return this.disconnect(Reason.NotAuthorized, message);
    }
    const properties = this.problemInformation ? { reasonString: message } : undefined;
    if (qos === 1) this.writePacket({ cmd: 'puback', messageId: id, reasonCode: reason, properties });
    else this.writePacket({ cmd: 'pubrec', messageId: id, reasonCode: reason, properties });
  }

  // --- SUBSCRIBE / UNSUBSCRIBE -----------------------------------------------------------

  /** `decided`: the authorization of each filter (auth or hooks on), once known. */
  private onSubscribe(
    packet: ISubscribePacket,
    session: MqttSession,
    decided?: (Refusal | undefined)[],
  ): void {
    const v5 = this.version === 5;
    const subscriptionId = packet.properties?.subscriptionIdentifier;
    if (subscriptionId === 0) return this.protocolError('subscription identifier 0');
    if (packet.messageId === 0) return this.protocolError('packet identifier 0');
    if (packet.subscriptions.length === 0) return this.protocolError('SUBSCRIBE without a topic filter');
    const gate = this.gate;
    const access = gate?.access;
    if (gate !== undefined && access !== undefined && decided === undefined) {
      const verdicts = packet.subscriptions.map((s) =>
        this.service.checkFilter(s.topic) ? undefined : access.check('subscribe', s.topic),
      );
      if (verdicts.some((v) => v instanceof Promise)) {
        return gate.wait(Promise.all(verdicts), (d) => this.onSubscribe(packet, session, d));
      }
      decided = verdicts as (Refusal | undefined)[];
    }
    const granted: number[] = [];
    const retainedToSend: { filter: string; options: SubscriptionOptions }[] = [];
    for (const [i, sub] of packet.subscriptions.entries()) {
      const filter = sub.topic;
      const shared = filter.startsWith(SHARED_PREFIX);
      if (shared && sub.nl) return this.protocolError('no local on a shared subscription');
      if (filter.includes('\uFFFD') || filter.includes('\u0000')) {
        // Malformed UTF-8 (decoded to U+FFFD) or U+0000 makes the packet malformed (MQTT 5 §1.5.4).
        this.service.stats.parseErrors++;
        return this.disconnect(Reason.MalformedPacket, 'topic filter is not valid UTF-8 or contains U+0000');
      }
      const invalid = this.service.checkFilter(filter);
      if (invalid) {
        granted.push(v5 ? Reason.TopicFilterInvalid : SubackV4.Failure);
        continue;
      }
      const denied = decided?.[i];
      if (denied !== undefined) {
        // Not allowed: 0x87 Not authorized (0x80 when a hook failed); 3.1.1 has only 0x80.
        granted.push(v5 ? reasonFor(denied) : SubackV4.Failure);
        continue;
      }
      const existed = session.subscriptions.has(filter);
      if (!existed) {
        const refusal = this.service.broker.subscribe(session, filter, checkMqttFilter);
        if (refusal) {
          granted.push(v5 ? reasonFor(refusal) : SubackV4.Failure);
          continue;
        }
      }
      const qos = Math.min(sub.qos, 2) as 0 | 1 | 2;
      const options: SubscriptionOptions = {
        qos,
        noLocal: sub.nl ?? false,
        retainAsPublished: sub.rap ?? false,
        retainHandling: (sub.rh ?? 0) as 0 | 1 | 2,
        subscriptionId,
      };
      session.setSubscription(filter, options);
      granted.push(qos);
      const rh = options.retainHandling;
      if (!shared && (rh === 0 || (rh === 1 && !existed))) retainedToSend.push({ filter, options });
    }
    session.save();
    const answer = () => {
      this.writePacket({ cmd: 'suback', messageId: packet.messageId, granted });
      // After the SUBACK, streamed as the connection has room (session.replay).
      for (const { filter, options } of retainedToSend) {
        session.replayRetained(this.service.retained.cursor(filter), filter, options);
      }
    };
    // Clustered: the SUBACK once the engine holds the new interest (docs/CLUSTER.md); MQTT
    // lets matching PUBLISH packets come before it (MQTT 5 §3.8.4).
    const inForce = this.service.interestInForce();
    if (inForce === undefined) return answer();
    const connection = this.connection;
    inForce.then(() =>
      connection.contain('timer', () => {
        if (!connection.closing) answer();
      }),
    );
  }

  private onUnsubscribe(packet: IUnsubscribePacket, session: MqttSession): void {
    if (packet.messageId === 0) return this.protocolError('packet identifier 0');
    if (packet.unsubscriptions.length === 0) return this.protocolError('UNSUBSCRIBE without a topic filter');
    const granted: number[] = [];
    for (const filter of packet.unsubscriptions) {
      // Past the limits no subscription can exist: v5 is told the filter is invalid (0x8F).
      if (this.service.broker.checkNameLimits(filter)) granted.push(Reason.TopicFilterInvalid);
      else if (session.deleteSubscription(filter)) {
        this.service.broker.unsubscribe(session, filter);
        granted.push(Reason.Success);
      } else granted.push(Reason.NoSubscriptionExisted);
    }
    session.save();
    this.writePacket(
      this.version === 5
        ? { cmd: 'unsuback', messageId: packet.messageId, granted }
        : { cmd: 'unsuback', messageId: packet.messageId, granted: [] },
    );
  }

  // --- DISCONNECT --------------------------------------------------------------------------

  private onDisconnect(packet: IDisconnectPacket, session: MqttSession): void {
    const newExpiry = packet.properties?.sessionExpiryInterval;
    if (newExpiry !== undefined) {
      if (this.sessionExpiryAtConnect === 0 && newExpiry !== 0) {
        return this.protocolError('session expiry cannot be set after connecting with 0');
      }
      session.expiryInterval = Math.min(newExpiry, this.service.config.max_session_expiry_interval);
    }
    // Only a normal DISCONNECT (0x00; 3.1.1 has no code) discards the will: 0x04 asks for it,
    // and an error code leaves it to be published like any other end (MQTT 5 §3.1.2.5, §3.14.4).
    if ((packet.reasonCode ?? 0) === Reason.Success) this.will = undefined;
    this.close();
  }

  // --- SessionLink -------------------------------------------------------------------------

  /** True while the connection holds its byte budget or more (this turn's queue and the socket's). */
  congested(): boolean {
    const connection = this.connection;
    const congested = connection.outboundBytes >= this.service.outboundBudget;
    if (congested && !this.waitingForRoom) {
      this.waitingForRoom = true;
      connection.whenRoomMayBe(() => {
        this.waitingForRoom = false;
        this.session?.pump();
      });
    }
    return congested;
  }

  sendPublish(item: Outgoing, packetId: number, dup: boolean, paced = false): boolean {
    const stats = this.service.stats;
    const publication = item.publication;
    // The clock is read only for messages that can expire.
    const now = publication.expiresAt === undefined ? 0 : Date.now();
    if (publication.expiresAt !== undefined && publication.expiresAt <= now) {
      stats.count(stats.dropped, 'expired');
      return false;
    }
    const options: PublishOptions = {
      qos: item.qos,
      retain: item.retain,
      dup,
      packetId,
      subscriptionIds: item.subscriptionIds,
    };
    const aliases = this.aliasesOut;
    aliases?.use(publication.channel, options);
    const bytes = publishPacket(publication, this.version, options, now);
    if (bytes.length > this.clientMaxPacketSize) {
      // MQTT 5 §3.1.2.11.4: discard, as if it had been sent.
      aliases?.forgetNew(publication.channel, options);
      stats.count(stats.dropped, 'too_large');
      return false;
    }
    if (this.connection.enqueue(this.connection.frameBinary(bytes), item.qos === 0 && !paced)) {
      // PUBLISH packets out are counted here only (metrics add them to packets_out{type="publish"}).
      stats.publishesOut[item.qos]++;
      return true;
    }
    // The client never saw this packet, so it never learnt an alias the packet set up.
    aliases?.forgetNew(publication.channel, options);
    if (item.qos === 0) stats.count(stats.dropped, 'slow_consumer');
    return item.qos > 0;
  }

  sendPubrel(packetId: number): void {
    this.writePacket({ cmd: 'pubrel', messageId: packetId });
  }

  contain(fn: () => void): void {
    this.connection.contain('timer', fn);
  }

  // --- writing and closing ------------------------------------------------------------------

  writePacket(packet: Packet): void {
    this.service.stats.count(this.service.stats.packetsOut, packet.cmd);
    let bytes = encodeBareAck(packet) ?? encodePacket(packet, this.version);
    if (bytes.length > this.clientMaxPacketSize) {
      const shorter = withoutProblemInformation(packet);
      if (shorter !== undefined) bytes = encodePacket(shorter, this.version);
    }
    this.write(bytes);
  }

  private write(bytes: Buffer): void {
    this.connection.enqueue(this.connection.frameBinary(bytes), false);
  }

  /** Closes after DISCONNECT with `reason` (MQTT 5 only; 3.1.1 just closes). */
  disconnect(reason: number, message: string): void {
    if (this.connection.closing) return;
    if (this.version === 5 && this.session) {
      this.writePacket({ cmd: 'disconnect', reasonCode: reason, properties: { reasonString: message } });
    }
    this.service.log.debug({ clientId: this.clientId, reason, message }, 'mqtt disconnect');
    this.close();
  }

  private close(): void {
    this.connection.close('normal');
  }
}
