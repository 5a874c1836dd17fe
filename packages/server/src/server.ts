import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { forgetStreams, Broker, ChannelHistory, type Store, type StoredState } from '@pulse/core';
import { InputBudget } from '@pulse/protocol';
import { Admission } from './admission.js';
import { Cluster } from './cluster/cluster.js';
import { ClusterApi } from './cluster/cluster-api.js';
import { configuredEngine } from './cluster/engine-factory.js';
import { sharedHistoryFor } from './cluster/history-factory.js';
import { type MqttCluster, joinMqttToCluster } from './cluster/mqtt-cluster.js';
import { type PulseConfig, historyRules } from './config/index.js';
import { createApiHandler } from './http/api/router.js';
import { HttpStreams, httpStreamsUnavailable } from './http/stream/http-streams.js';
import { type ListeningAddresses, Listeners, hasMqttWsListener } from './listeners.js';
import { type Logger, createLogger } from './log.js';
import { AuthService } from './auth/auth-service.js';
import type { AuthHooks } from './auth/hooks.js';
import { NO_AUTH } from './json/json-auth.js';
import { type JsonContext, jsonTextHandler } from './json/json-session.js';
import { ChannelOperations } from './channels/channel-operations.js';
import { JsonStats } from './json/json-stats.js';
import { MemoryCeiling } from './limits/memory-ceiling.js';
import { RateLimits } from './limits/rate-limits.js';
import { ServerMetrics } from './metrics/server-metrics.js';
import { MqttService } from './mqtt/mqtt-service.js';
import { refuseMqttConnection } from './mqtt/mqtt-connect-refusal.js';
import { type NativeContext, NativeSession } from './native/native-session.js';
import { refuseNativeConnection } from './native/native-refusals.js';
import { NativeStats } from './native/native-stats.js';
import { openStore } from './storage/open-store.js';
import { StoreCommitter } from './storage/store-committer.js';
import { CoarseClock } from './transport/coarse-clock.js';
import type { ClientMatch, Connection, ConnectionEnv } from './transport/connection.js';
import { ConnectionFaults, type FaultProbe } from './transport/connection-faults.js';
import { FlushScheduler } from './transport/flush-scheduler.js';
import { HeartbeatMonitor } from './transport/heartbeat.js';
import { publisherPausePolicy } from './transport/pause-allowance.js';
import { TcpConnection } from './transport/tcp-connection.js';
import { TlsListeners, type TlsReloadResult, TlsStats } from './transport/tls.js';
import { type TransportName, TransportStats } from './transport/transport-stats.js';
import { type TextHandler, WsConnection } from './transport/ws-connection.js';
import { VERSION } from './version.js';

export type { ListeningAddresses } from './listeners.js';

/** MQTT over WebSocket carries binary frames only (MQTT 5 §6). */
const mqttOverWsIsBinary: TextHandler = {
  onText(connection) {
    connection.close('protocol-error', 'MQTT over WebSocket uses binary messages');
  },
};

export type { TransportName } from './transport/transport-stats.js';

export interface PulseServerOptions {
  logger?: Logger;
  /**
   * The store failed to commit: the server has dropped every connection (their unsent
   * acknowledgements with them) and is stopping. The CLI exits with status 1.
   */
  onFatal?: (err: Error) => void;
  /** Durable state; by default the engine `config.storage` names. */
  store?: Store;
  /**
   * Auth hooks as functions (docs/SECURITY.md, "Auth hooks"): asked like the `[hooks]` URLs,
   * which they take precedence over.
   */
  hooks?: AuthHooks;
  /**
   * For tests of the exception guards only: called inside every guarded connection callback
   * (see FAULT_SITES); an exception it throws is handled as a bug at that site would be.
   */
  faultProbe?: FaultProbe;
}

/**
 * One Pulse server: the HTTP/WebSocket listener, the native TCP listener, the metrics
 * listener, and the broker they share. The CLI runs one; tests and embedders can run many.
 */
export class PulseServer {
  readonly broker: Broker;
  readonly store: Store;
  readonly log: Logger;
  readonly nativeStats = new NativeStats();
  readonly jsonStats = new JsonStats();
  readonly transportStats: Record<TransportName, TransportStats> = {
    ws: new TransportStats(),
    tcp: new TransportStats(),
    mqtt: new TransportStats(),
    mqtt_ws: new TransportStats(),
    http_stream: new TransportStats(),
    sse: new TransportStats(),
  };
  readonly rejectedConnections = new Map<string, number>();
  /** Client input held for all connections (limits.max_pending_input_bytes). */
  readonly inputBudget: InputBudget;
  /** [limits] rates: per client address on connect, per connection on every message. */
  readonly rateLimits: RateLimits;
  readonly tlsStats = new TlsStats();
  /** Exceptions contained in connection callbacks (pulse_connection_errors_total). */
  readonly faults: ConnectionFaults;
  /** Authentication, channel authorization and auth hooks (docs/SECURITY.md). */
  readonly auth: AuthService;
  /** The `[tls]` certificate and the listeners using it; undefined when no listener has TLS. */
  private readonly tls: TlsListeners | undefined;
  private readonly connections = new Set<Connection>();
  private readonly clock = new CoarseClock();
  private readonly scheduler: FlushScheduler;
  private readonly heartbeat: HeartbeatMonitor;
  private readonly metrics: ServerMetrics;
  private readonly envs: Record<TransportName, ConnectionEnv>;
  readonly mqtt: MqttService | undefined;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private readonly listeners: Listeners;
  /** GET /connection/stream, /connection/sse and POST /connection/send (transport.http_stream). */
  private readonly httpStreams: HttpStreams | undefined;
  private readonly admission: Admission;
  /** The other nodes, when `[cluster]` names an engine. */
  readonly cluster: Cluster | undefined = undefined;
  /** `/api/channels` and `/api/disconnect` for the whole cluster. */
  private readonly clusterApi: ClusterApi | undefined;
  /** MQTT retained messages and client ids across those nodes. */
  readonly mqttCluster: MqttCluster | undefined = undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly nativeContext: NativeContext;
  /** Text messages on `/ws`: the JSON protocol (docs/PROTOCOL.md, "JSON protocol"). */
  private readonly jsonText: TextHandler;
  private readonly ownsStore: boolean;
  private readonly committer: StoreCommitter;
  /** What every protocol does to channels (docs/ARCHITECTURE.md, "Channel operations"). */
  private readonly channels: ChannelOperations;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly onFatal: ((err: Error) => void) | undefined;
  /** Set when a storage commit failed. */
  fatalError: Error | undefined;
  /** Drops expired entries from the history rings (only with [[history]] configured). */
  private historyTimer: NodeJS.Timeout | undefined;
  /** limits.memory_limit: refuses publications while the server uses more memory. */
  readonly memoryCeiling: MemoryCeiling;

  constructor(
    readonly config: PulseConfig,
    options: PulseServerOptions = {},
  ) {
    this.log = options.logger ?? createLogger(config.log.level);
    this.faults = new ConnectionFaults(this.log, options.faultProbe);
    this.onFatal = options.onFatal;
    // Before the store opens: a bad certificate file (TlsConfigError) leaves nothing to close.
    const anyTls =
      config.server.tls || config.transport.tls || config.mqtt.tls || hasMqttWsListener(config, true);
    this.tls = anyTls
      ? new TlsListeners(config.tls, this.log, this.tlsStats, config.limits.handshake_timeout_ms)
      : undefined;
    // Also before the store: a bad auth.jwt_public_key (AuthConfigError) leaves nothing to close.
    this.auth = new AuthService(config, this.log, options.hooks);
    // Off (no [auth], no [hooks]): sessions get nothing and check nothing.
    const sessionAuth = this.auth.active ? this.auth : undefined;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? openStore(config.storage);
    if (config.storage.engine === 'wal') {
      this.log.info(
        { file: `${config.storage.wal_dir}/pulse.db` },
        'storage.engine = wal is SQLite in WAL mode in storage.wal_dir',
      );
    }
    this.broker = new Broker({
      maxChannels: config.limits.max_channels,
      maxSubscriptionsPerConnection: config.limits.max_subscriptions_per_connection,
      maxTopicLevels: config.limits.max_topic_levels,
      maxChannelLength: config.limits.max_channel_length,
      maxPresencePerConnection: config.presence.max_channels_per_connection,
      maxPresenceDataBytes: config.presence.max_data_bytes,
    });
    if (config.history.length > 0) {
      this.broker.history = new ChannelHistory(historyRules(config.history), this.store, {
        maxStreams: config.limits.max_channels,
        maxTotalBytes: config.limits.max_history_bytes,
      });
    }
    this.inputBudget = new InputBudget(config.limits.max_pending_input_bytes);
    this.rateLimits = new RateLimits(config.limits, this.rejectedConnections);
    this.admission = new Admission(config.limits.max_connections, this.rateLimits, this.rejectedConnections, {
      native: (connection, refusal) => refuseNativeConnection(connection, refusal, this.nativeStats),
      mqtt: refuseMqttConnection,
    });
    this.memoryCeiling = new MemoryCeiling(this.broker, config.limits.memory_limit, this.log);
    this.metrics = new ServerMetrics({
      rateLimits: this.rateLimits.stats,
      broker: this.broker,
      native: this.nativeStats,
      json: this.jsonStats,
      transports: this.transportStats,
      rejectedConnections: this.rejectedConnections,
      unansweredRefusals: () => this.admission.unanswered,
      outboundBytes: () => this.outboundBytes(),
      mqtt: () => this.mqtt,
      store: () => this.store,
      tls: this.tlsStats,
      faults: this.faults,
      inputBudget: this.inputBudget,
      cluster: config.cluster.engine === 'none' ? undefined : () => this.cluster?.stats,
      mqttCluster: () => this.mqttCluster,
      auth: this.auth.stats,
    });
    this.scheduler = new FlushScheduler(this.metrics.observeLatencyMs);
    this.committer = new StoreCommitter(
      this.store,
      this.scheduler,
      config.storage.flush_interval_ms,
      this.metrics.pushed.storage,
      this.log,
      (err) => this.storageFailed(err),
    );
    // The HTTP API commits before its answers; socket acknowledgements are committed by the write path.
    this.channels = new ChannelOperations(this.broker, this.scheduler, () => {
      this.committer.beforeAcknowledgement();
      if (this.fatalError) throw this.fatalError;
    });
    const engine = configuredEngine(config.cluster);
    if (engine !== undefined) {
      const maxEnvelopeBytes =
        2 * Math.max(config.limits.max_message_size, config.mqtt.max_packet_size) + 65_536;
      this.cluster = new Cluster(engine.engine, this.broker, this.log, {
        nodeName: engine.nodeName,
        where: engine.where,
        presenceTtlMs: config.cluster.presence_ttl_ms,
        presenceDataBytes: config.presence.max_data_bytes,
        maxEnvelopeBytes,
      });
      this.channels.cluster = this.cluster;
      this.cluster.history = sharedHistoryFor(
        config,
        this.cluster,
        this.broker,
        engine.nodeName,
        maxEnvelopeBytes,
      );
      this.channels.sharedHistory = this.cluster.history;
      const cluster = this.cluster;
      this.clusterApi = new ClusterApi(
        {
          connected: () => cluster.stats.state === 'connected',
          peers: () => cluster.presence.peers(),
          send: (message, to) => cluster.control.send(message, to),
        },
        this.broker,
        (match, reason) => this.disconnectClients(match, reason),
      );
      cluster.control.register(this.clusterApi);
    }
    this.heartbeat = new HeartbeatMonitor(
      config.heartbeat.interval_ms,
      config.heartbeat.timeout_ms,
      config.limits.handshake_timeout_ms,
      () => this.connections,
      this.clock,
    );
    const publisherPause = publisherPausePolicy(config.limits);
    const limits = {
      maxOutboundBytes: config.limits.max_outbound_bytes,
      slowConsumerPolicy: config.limits.slow_consumer_policy,
      publisherPause,
    };
    // MQTT: QoS 0 past the budget is dropped unless the policy is to disconnect; QoS 1/2
    // waits in the session (mqtt.slow_consumer_policy).
    const mqttLimits = {
      maxOutboundBytes: config.limits.max_outbound_bytes,
      slowConsumerPolicy: config.mqtt.slow_consumer_policy === 'disconnect' ? 'disconnect' : 'drop',
      publisherPause,
    } as const;
    const env = (stats: TransportStats, l: ConnectionEnv['limits']): ConnectionEnv => ({
      scheduler: this.scheduler,
      limits: l,
      clock: this.clock,
      handshakeTimeoutMs: config.limits.handshake_timeout_ms,
      inputBudget: this.inputBudget,
      stats,
      onClosed: (connection) => this.untrack(connection),
      faults: this.faults,
    });
    this.envs = {
      ws: env(this.transportStats.ws, limits),
      tcp: env(this.transportStats.tcp, limits),
      mqtt: env(this.transportStats.mqtt, mqttLimits),
      mqtt_ws: env(this.transportStats.mqtt_ws, mqttLimits),
      http_stream: env(this.transportStats.http_stream, limits),
      sse: env(this.transportStats.sse, limits),
    };
    // One process: with workers, a session's POSTs could be taken by another worker.
    this.httpStreams =
      config.transport.http_stream && config.server.workers === 1
        ? new HttpStreams({
            envs: this.envs,
            limits: {
              maxBodyBytes: config.limits.max_http_body_bytes,
              bodyTimeoutMs: config.limits.http_body_timeout_ms,
            },
            origins: config.transport.http_stream_origins,
            nativeStats: this.nativeStats,
            open: (connection) => this.open(connection, 'native'),
          })
        : undefined;
    if (config.mqtt.port !== 0 || config.mqtt.websocket || hasMqttWsListener(config, false)) {
      this.mqtt = new MqttService({
        broker: this.broker,
        channels: this.channels,
        config,
        log: this.log,
        scheduler: this.scheduler,
        store: this.store,
        version: VERSION,
        auth: sessionAuth,
        faults: this.faults,
        pauseStats: this.transportStats.mqtt,
      });
    }
    if (this.cluster !== undefined) this.mqttCluster = joinMqttToCluster(this.cluster, this.mqtt, config);
    this.nativeContext = {
      auth: sessionAuth,
      channels: this.channels,
      stats: this.nativeStats,
      maxMessageSize: config.limits.max_message_size,
      maxFrameSize: config.limits.max_frame_size,
      heartbeatIntervalMs: config.heartbeat.interval_ms,
      maxOutboundBytes: config.limits.max_outbound_bytes,
    };
    const jsonContext: JsonContext = {
      channels: this.channels,
      stats: this.jsonStats,
      auth: sessionAuth ?? NO_AUTH,
      maxMessageSize: config.limits.max_message_size,
      // Room for a `data` of max_message_size written with escapes or spaces, plus the rest.
      maxRequestBytes: Math.min(config.limits.max_frame_size, 4 * config.limits.max_message_size + 65536),
      heartbeatIntervalMs: config.heartbeat.interval_ms,
      maxOutboundBytes: config.limits.max_outbound_bytes,
    };
    this.jsonText = jsonTextHandler(jsonContext, () => this.newConnectionId());
    this.listeners = new Listeners({
      config,
      version: VERSION,
      tls: this.tls,
      mqtt: this.mqtt !== undefined,
      faults: this.faults,
      isDraining: () => this.draining,
      api: (req, res) => this.apiHandler()(req, res),
      httpStream: !config.transport.http_stream
        ? undefined
        : this.httpStreams
          ? (req, res, path, query) => this.httpStreams?.handle(req, res, path, query)
          : httpStreamsUnavailable,
      metrics: async () => {
        const registry = await this.metrics.registry();
        return { contentType: registry.contentType, body: await registry.metrics() };
      },
      acceptWebSocket: (socket, head) => this.acceptWebSocket(socket, head),
      acceptMqttWebSocket: (socket, head) => this.acceptMqttWebSocket(socket, head),
      acceptTcp: (socket) => this.open(new TcpConnection(socket, this.envs.tcp), 'native'),
      acceptMqtt: (socket) => this.open(new TcpConnection(socket, this.envs.mqtt), 'mqtt'),
    });
  }

  /** The Prometheus registry, made at the first call (the first scrape). */
  metricsRegistry(): ReturnType<ServerMetrics['registry']> {
    return this.metrics.registry();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Outbound bytes held for all connections (queues and socket buffers). */
  outboundBytes(): number {
    let total = 0;
    for (const connection of this.connections) total += connection.outboundBytes;
    return total;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Starts every listener; if one cannot listen, the ones already open are closed again. */
  async start(): Promise<ListeningAddresses> {
    try {
      return await this.listenAll();
    } catch (err) {
      this.heartbeat.stop();
      this.mqtt?.stop();
      clearInterval(this.reportTimer);
      this.closeStore();
      await this.cluster?.close();
      await this.listeners.closeAll();
      throw err;
    }
  }

  /** Rebuilds sessions, retained messages, wills and history from the store. */
  private restoreState(): void {
    const now = Date.now();
    const state: StoredState = this.store.load(now);
    this.mqtt?.restore(state, now);
    const history = this.broker.history;
    if (history) {
      history.restore(state.streams, state.history, now, {
        newEpochs: this.store.recoveredFromCrash && this.store.commitPolicy === 'fast',
      });
      this.historyTimer = setInterval(() => history.purge(Date.now()), 1000);
      this.historyTimer.unref();
    } else {
      // No [[history]] tables: stored streams are gone for good (a table added later starts
      // new epochs, so no client recovers across the gap).
      forgetStreams(this.store, state);
    }
    this.store.commit();
    this.committer.start();
    this.memoryCeiling.start();
    const purgeEvery = this.config.storage.purge_interval_ms;
    if (purgeEvery > 0) {
      this.purgeTimer = setInterval(() => this.store.purge(Date.now(), false), purgeEvery);
      this.purgeTimer.unref();
    }
    this.log.info(
      {
        engine: this.store.engine,
        commit_policy: this.store.commitPolicy,
        sessions: state.sessions.length,
        retained: state.retained.length,
        history: state.history.length,
      },
      'state restored',
    );
  }

  private async listenAll(): Promise<ListeningAddresses> {
    const { config } = this;
    this.restoreState();
    await this.cluster?.start(config.cluster.required);
    const addresses = await this.listeners.open();
    this.mqtt?.start();
    this.heartbeat.start();
    if (config.log.report_interval_ms > 0) {
      this.reportTimer = setInterval(() => this.report(), config.log.report_interval_ms);
      this.reportTimer.unref();
    }
    this.log.info(
      {
        http: `${addresses.http.address}:${addresses.http.port}`,
        tcp: addresses.tcp ? `${addresses.tcp.address}:${addresses.tcp.port}` : 'off',
        mqtt: addresses.mqtt ? `${addresses.mqtt.address}:${addresses.mqtt.port}` : 'off',
        mqtt_ws: this.mqtt && config.mqtt.websocket ? config.mqtt.ws_path : 'off',
        mqtt_ws_listener: addresses.mqttWs
          ? `${addresses.mqttWs.address}:${addresses.mqttWs.port}${config.mqtt.ws_path}`
          : 'off',
        metrics: addresses.metrics ? `${addresses.metrics.address}:${addresses.metrics.port}` : 'off',
        tls: this.tls?.listeners.join(',') || 'off',
        version: VERSION,
      },
      'pulse listening',
    );
    return addresses;
  }

  /** The periodic registry report (connections, channels) logged at info. */
  report(): void {
    this.log.info(
      {
        connections: this.connections.size,
        ws: this.transportStats.ws.open,
        tcp: this.transportStats.tcp.open,
        mqtt: this.transportStats.mqtt.open + this.transportStats.mqtt_ws.open,
        mqtt_sessions: this.mqtt?.sessions.size ?? 0,
        retained: this.mqtt?.retained.size ?? 0,
        channels: this.broker.channelCount,
        subscriptions: this.broker.stats.subscriptions,
        publications: this.broker.stats.publications,
        deliveries: this.broker.stats.deliveries,
      },
      'registry report',
    );
  }

  /**
   * Reads the `[tls]` files again and hands the new certificate to every TLS listener (the
   * CLI calls it on SIGHUP). Open connections stay as they are; new handshakes get the new
   * certificate. A file that cannot be used keeps the current certificate and is logged.
   */
  reloadTls(): TlsReloadResult {
    if (!this.tls) {
      this.log.info('tls reload: no listener has TLS, nothing to reload');
      return { ok: true };
    }
    return this.tls.reload();
  }

  private newConnectionId(): string {
    return this.idPrefix + (this.nextId++).toString(36);
  }

  private acceptWebSocket(socket: Socket, head: Buffer): void {
    const maxWsMessage = this.config.limits.max_frame_size + 4;
    const connection = new WsConnection(socket, this.envs.ws, maxWsMessage);
    connection.textHandler = this.jsonText;
    this.open(connection, 'native', head);
  }

  private acceptMqttWebSocket(socket: Socket, head: Buffer): void {
    const maxWsMessage = this.config.mqtt.max_packet_size;
    const connection = new WsConnection(socket, this.envs.mqtt_ws, maxWsMessage);
    connection.textHandler = mqttOverWsIsBinary;
    this.open(connection, 'mqtt', head);
  }

  /** Starts the protocol on a new connection; a failure there closes this connection only. */
  private open(connection: Connection, protocol: 'native' | 'mqtt', head?: Buffer): void {
    connection.contain('accept', () => this.startProtocol(connection, protocol, head));
  }

  private startProtocol(connection: Connection, protocol: 'native' | 'mqtt', head?: Buffer): void {
    if (this.admission.admit(connection, protocol, this.connections.size, this.draining)) {
      connection.stats.accepted++;
      connection.stats.open++;
      this.connections.add(connection);
      if (protocol === 'mqtt') (this.mqtt as MqttService).accept(connection);
      else new NativeSession(this.newConnectionId(), connection, this.nativeContext).start();
    }
    // Bytes sent with the upgrade request: the session, or the MQTT refusal waiting for CONNECT, reads them.
    if (head && head.length > 0 && !connection.closing) connection.socket.unshift(head);
  }

  private untrack(connection: Connection): void {
    this.admission.closed(connection);
    if (!this.connections.delete(connection)) return;
    connection.stats.open--;
    this.rateLimits.release(connection);
  }

  /**
   * Closes the client connections `match` names, of every protocol, each with its protocol's
   * goodbye (native error 1010, the JSON `disconnect` push, MQTT 5 DISCONNECT 0x98); returns how many.
   */
  disconnectClients(match: ClientMatch, reason: string): number {
    let closed = 0;
    for (const connection of [...this.connections]) {
      const handler = connection.handler;
      if (connection.closing || !handler?.matches(match)) continue;
      connection.contain('close', () => handler.kick(reason));
      closed++;
    }
    return closed;
  }

  private api: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  /** The `/api/*` handler (docs/HTTP-API.md), made at the first request. */
  private apiHandler(): (req: IncomingMessage, res: ServerResponse) => void {
    this.api ??= createApiHandler(
      {
        broker: this.broker,
        apiKeys: this.config.auth.api_keys,
        maxMessageSize: this.config.limits.max_message_size,
        log: this.log,
        channels: this.channels,
        disconnectClients: (match, reason) => this.disconnectClients(match, reason),
        cluster: this.clusterApi,
        isDraining: () => this.draining,
      },
      this.metrics.pushed.apiRequests,
    );
    return this.api;
  }

  /**
   * Graceful shutdown: stop accepting, tell every client (error 1010, WebSocket close 1001),
   * let queued bytes drain, and give up on stragglers after the drain timeout.
   */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    clearInterval(this.reportTimer);
    this.heartbeat.stop();
    // The TCP listener stops at once; the HTTP one keeps answering /health (503) and refusing
    // upgrades until the drain is over, so that load balancers see the server leave.
    const socketListenersClosed = this.listeners.closeSocketListeners();
    this.mqtt?.stop();
    for (const connection of this.connections)
      connection.contain('close', () => connection.handler?.goAway());
    this.scheduler.flushAll();
    const deadline = Date.now() + this.config.server.shutdown_drain_timeout_ms;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const connection of this.connections) connection.abort();
    await Promise.all([socketListenersClosed, this.listeners.closeHttp()]);
    await this.cluster?.close();
    this.closeStore();
    this.log.info({ remaining: this.connections.size }, 'pulse stopped');
  }

  private storageFailed(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    for (const connection of this.connections) connection.abort();
    void this.stop().finally(() => this.onFatal?.(err));
  }

  /** Commits what is left; closes the store if this server opened it. */
  private closeStore(): void {
    clearInterval(this.purgeTimer);
    clearInterval(this.historyTimer);
    this.memoryCeiling.stop();
    this.committer.stop();
    if (!this.ownsStore) return;
    try {
      this.store.close();
    } catch (err) {
      this.log.error({ err }, 'storage close failed');
    }
  }
}
