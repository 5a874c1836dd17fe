import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  type AddressInfo,
  type Server as NetServer,
  type Socket,
  createServer as createNetServer,
} from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { PulseConfig } from './config/index.js';
import {
  createHttpServer,
  createMetricsServer,
  createUpgradeServer,
  isHttpEndpoint,
} from './http/http-server.js';
import { stampAccepts } from './transport/accept-time.js';
import type { ConnectionFaults } from './transport/connection-faults.js';
import { listen } from './transport/listen.js';
import type { TlsListenerName, TlsListeners } from './transport/tls.js';
import { type UpgradeRoute, type UpgradeRoutes, handleUpgrade } from './transport/ws-upgrade.js';

export interface ListeningAddresses {
  http: AddressInfo;
  tcp?: AddressInfo;
  mqtt?: AddressInfo;
  /** The MQTT-over-WebSocket listener of its own (mqtt.ws_port). */
  mqttWs?: AddressInfo;
  metrics?: AddressInfo;
}

/** What the listeners hand their sockets to, and ask of the server. */
export interface ListenerContext {
  readonly config: PulseConfig;
  readonly version: string;
  /** The `[tls]` certificate; undefined when no listener has TLS. */
  readonly tls: TlsListeners | undefined;
  /** Whether MQTT is on (an MQTT port, MQTT over WebSocket, or its own WebSocket listener). */
  readonly mqtt: boolean;
  readonly faults: ConnectionFaults;
  isDraining(): boolean;
  /** The `/api/*` handler (docs/HTTP-API.md). */
  api(req: IncomingMessage, res: ServerResponse): void;
  /** The `/connection/*` handler (HTTP streaming transport); undefined when transport.http_stream is off. */
  httpStream: ((req: IncomingMessage, res: ServerResponse, path: string, query: string) => void) | undefined;
  metrics(): Promise<{ contentType: string; body: string }>;
  acceptWebSocket(socket: Socket, head: Buffer): void;
  acceptMqttWebSocket(socket: Socket, head: Buffer): void;
  acceptTcp(socket: Socket): void;
  acceptMqtt(socket: Socket): void;
}

/** mqtt.ws_port is set (and, with `tls`, has mqtt.ws_tls). */
export function hasMqttWsListener(config: PulseConfig, tls: boolean): boolean {
  return config.mqtt.ws_port !== 0 && (!tls || config.mqtt.ws_tls);
}

/** Resolves when `server` has stopped listening (at once when it never listened). */
function closeServer(server: Server | NetServer | undefined): Promise<void> {
  return new Promise((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
}

/**
 * Every listener of one server: HTTP (WebSocket upgrades, `/api`, `/health`), native TCP, MQTT
 * over TCP, MQTT over WebSocket on a port of its own, metrics. Opened together; closed in two
 * steps on shutdown (the socket listeners at once, HTTP once the drain is over, so that load
 * balancers see `/health` answer 503 meanwhile).
 */
export class Listeners {
  private http: Server | undefined;
  private tcp: NetServer | undefined;
  private mqtt: NetServer | undefined;
  private mqttWs: Server | undefined;
  private metrics: Server | undefined;

  constructor(private readonly ctx: ListenerContext) {}

  /** Opens every configured listener; the caller closes them (closeAll) if one fails. */
  async open(): Promise<ListeningAddresses> {
    const ctx = this.ctx;
    const config = ctx.config;
    const byPath = new Map<string, UpgradeRoute>();
    if (config.transport.websocket) {
      byPath.set(config.transport.ws_path, { accept: (socket, head) => ctx.acceptWebSocket(socket, head) });
    }
    const mqttRoute: UpgradeRoute = {
      subprotocols: ['mqtt', 'mqttv3.1'],
      requireSubprotocol: true,
      accept: (socket, head) => ctx.acceptMqttWebSocket(socket, head),
    };
    const mqttOnHttp = ctx.mqtt && config.mqtt.websocket;
    if (mqttOnHttp) byPath.set(config.mqtt.ws_path, mqttRoute);
    const routes: UpgradeRoutes = { byPath, anyPath: mqttOnHttp ? mqttRoute : undefined, isHttpEndpoint };
    this.http = createHttpServer({
      version: ctx.version,
      tls: config.server.tls ? ctx.tls?.serverOptions() : undefined,
      isDraining: () => ctx.isDraining(),
      headersTimeoutMs: config.limits.handshake_timeout_ms,
      api: (req, res) => ctx.api(req, res),
      httpStream: ctx.httpStream,
      onUpgrade: (req, socket, head) => this.upgrade(routes, req, socket, head),
    });
    stampAccepts(this.http);
    if (this.http instanceof TlsServer) ctx.tls?.watch('http', this.http);
    const addresses: ListeningAddresses = {
      http: await listen(this.http, {
        host: config.server.host,
        port: config.server.port,
        keys: 'server.host / server.port',
      }),
    };
    if (config.transport.tcp_port !== 0) {
      this.tcp = this.socketServer(config.transport.tls && 'tcp', (socket) => ctx.acceptTcp(socket));
      addresses.tcp = await listen(this.tcp, {
        host: config.server.host,
        port: config.transport.tcp_port,
        keys: 'server.host / transport.tcp_port',
      });
    }
    if (ctx.mqtt && config.mqtt.port !== 0) {
      this.mqtt = this.socketServer(config.mqtt.tls && 'mqtt', (socket) => ctx.acceptMqtt(socket));
      addresses.mqtt = await listen(this.mqtt, {
        host: config.mqtt.host || config.server.host,
        port: config.mqtt.port,
        keys: `${config.mqtt.host ? 'mqtt.host' : 'server.host'} / mqtt.port`,
      });
    }
    if (hasMqttWsListener(config, false)) {
      // MQTT upgrades only, on any path as on Mosquitto's websocket listeners.
      addresses.mqttWs = await this.openMqttWs({
        byPath: new Map([[config.mqtt.ws_path, mqttRoute]]),
        anyPath: mqttRoute,
        isHttpEndpoint: () => false,
      });
    }
    if (config.metrics.enabled && config.metrics.port !== 0) {
      this.metrics = createMetricsServer(() => ctx.metrics());
      addresses.metrics = await listen(this.metrics, {
        host: config.metrics.host,
        port: config.metrics.port,
        keys: 'metrics.host / metrics.port',
      });
    }
    return addresses;
  }

  /** The MQTT-over-WebSocket listener of its own (the seed broker's `[websocket]`). */
  private openMqttWs(routes: UpgradeRoutes): Promise<AddressInfo> {
    const { config, tls } = this.ctx;
    const { mqtt } = config;
    this.mqttWs = createUpgradeServer({
      tls: mqtt.ws_tls ? tls?.serverOptions() : undefined,
      headersTimeoutMs: config.limits.handshake_timeout_ms,
      onUpgrade: (req, socket, head) => this.upgrade(routes, req, socket, head),
    });
    stampAccepts(this.mqttWs);
    if (this.mqttWs instanceof TlsServer) tls?.watch('mqtt_ws', this.mqttWs);
    const hostKey = mqtt.ws_host ? 'mqtt.ws_host' : mqtt.host ? 'mqtt.host' : 'server.host';
    return listen(this.mqttWs, {
      host: mqtt.ws_host || mqtt.host || config.server.host,
      port: mqtt.ws_port,
      keys: `${hostKey} / mqtt.ws_port`,
    });
  }

  /** A WebSocket upgrade on either HTTP listener; refused while draining. */
  private upgrade(routes: UpgradeRoutes, req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.ctx.isDraining()) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    try {
      handleUpgrade(routes, req, socket, head);
    } catch (err) {
      // Before there is a connection: only this socket is closed.
      this.ctx.faults.report('accept', socket.remoteAddress ?? '', err);
      socket.destroy();
    }
  }

  /** A listener for raw sockets: TLS when `tls` names it (transport.tls, mqtt.tls), else plain TCP. */
  private socketServer(tls: TlsListenerName | false, accept: (socket: Socket) => void): NetServer {
    const server =
      tls && this.ctx.tls
        ? this.ctx.tls.createServer(tls, accept)
        : createNetServer({ noDelay: true }, accept);
    stampAccepts(server);
    return server;
  }

  /** Shutdown, first step: the raw-socket listeners and MQTT's WebSocket listener stop accepting. */
  closeSocketListeners(): Promise<unknown> {
    return Promise.all([closeServer(this.tcp), closeServer(this.mqtt), closeServer(this.mqttWs)]);
  }

  /** Shutdown, last step: the HTTP listeners close with every connection still on them, and metrics. */
  closeHttp(): Promise<unknown> {
    const closed = Promise.all([closeServer(this.http), closeServer(this.metrics)]);
    this.http?.closeAllConnections();
    this.mqttWs?.closeAllConnections();
    return closed;
  }

  /** Every listener at once (a start that failed). */
  closeAll(): Promise<unknown> {
    return Promise.all([this.closeSocketListeners(), this.closeHttp()]);
  }
}
