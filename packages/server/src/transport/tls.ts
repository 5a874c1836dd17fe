import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import {
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
  type TlsOptions,
  createSecureContext,
  createServer as createTlsServer,
} from 'node:tls';
import type { PulseConfig } from '../config/index.js';
import type { Logger } from '../log.js';

export type TlsConfig = PulseConfig['tls'];

/** The listeners that may run TLS: HTTP (HTTPS/WSS), native TCP, MQTT, MQTT over WebSocket (mqtt.ws_port). */
export type TlsListenerName = 'http' | 'tcp' | 'mqtt' | 'mqtt_ws';

export type TlsReloadResult = { ok: true } | { ok: false; error: string };

type TlsFileKey = 'tls.certificate_chain' | 'tls.private_key' | 'tls.client_ca';

/** A `[tls]` file that cannot be used: one line naming the key, the path and the cause. */
export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
  constructor(
    readonly key: TlsFileKey,
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`tls: ${key} = ${JSON.stringify(path)}: ${reason.replace(/\s+/g, ' ').trim()}`, options);
  }
}

/** Counted here, copied into the registry when scraped (metrics/tls-metrics.ts). */
export class TlsStats {
  /** Failed or refused handshakes, per TLS listener (listeners without TLS are absent). */
  readonly handshakeErrors = new Map<TlsListenerName, number>();
  readonly reloads = { ok: 0, error: 0 };
}

/** The PEM files of `[tls]`, read and checked. */
interface TlsMaterial {
  context: SecureContextOptions;
  certificate: X509Certificate;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
};

function readPem(key: TlsFileKey, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const reason = FILE_ERRORS[code] ? `${FILE_ERRORS[code]} (${code})` : (err as Error).message;
    throw new TlsConfigError(key, path, `cannot read the file: ${reason}`, { cause: err });
  }
}

/** OpenSSL's reason without its "error:0A00..:routines:" prefix. */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const parts = message.split(':');
  return parts.length >= 5 && message.startsWith('error:') ? parts.slice(4).join(':') : message;
}

function parseCertificate(key: TlsFileKey, path: string, pem: Buffer): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new TlsConfigError(key, path, 'holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)');
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsConfigError(key, path, `holds an invalid certificate (${reasonOf(err)})`, { cause: err });
  }
}

function parsePrivateKey(path: string, pem: Buffer): KeyObject {
  const key = 'tls.private_key';
  const text = pem.toString('latin1');
  if (text.includes('ENCRYPTED')) {
    throw new TlsConfigError(
      key,
      path,
      'is encrypted: give pulse the key without its passphrase (openssl pkey -in KEY -out PLAIN_KEY)',
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new TlsConfigError(
      key,
      path,
      'holds no PEM private key (no "-----BEGIN ... PRIVATE KEY-----" line)',
    );
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsConfigError(key, path, `holds an invalid private key (${reasonOf(err)})`, { cause: err });
  }
}

/** Reads and checks the `[tls]` files; throws a TlsConfigError naming the first bad one. */
export function loadTlsMaterial(config: TlsConfig): TlsMaterial {
  const chainPath = config.certificate_chain;
  const keyPath = config.private_key;
  const cert = readPem('tls.certificate_chain', chainPath);
  const key = readPem('tls.private_key', keyPath);
  const ca = config.client_auth === 'none' ? undefined : readPem('tls.client_ca', config.client_ca);
  const certificate = parseCertificate('tls.certificate_chain', chainPath, cert);
  const privateKey = parsePrivateKey(keyPath, key);
  if (ca) parseCertificate('tls.client_ca', config.client_ca, ca);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(
      'tls.private_key',
      keyPath,
      `is not the key of the certificate in tls.certificate_chain (${JSON.stringify(chainPath)})`,
    );
  }
  const context: SecureContextOptions = ca ? { cert, key, ca } : { cert, key };
  try {
    createSecureContext(context);
  } catch (err) {
    throw new TlsConfigError('tls.certificate_chain', chainPath, reasonOf(err), { cause: err });
  }
  return { context, certificate };
}

/** What the logs say about a certificate. */
function describe(certificate: X509Certificate): Record<string, string> {
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    valid_to: certificate.validTo,
    sha256: certificate.fingerprint256,
  };
}

/** Whether the client sent a certificate at all. */
function presentedCertificate(socket: TLSSocket): boolean {
  const certificate = socket.getPeerCertificate();
  return certificate !== null && Object.keys(certificate).length > 0;
}

/**
 * The TLS side of the listeners with `tls = true`: one certificate (`[tls]`) for all of them,
 * client certificates as `tls.client_auth` says, handshake failures counted per listener, and
 * `reload()` to swap the certificate (SIGHUP) under the listeners without dropping connections.
 */
export class TlsListeners {
  private material: TlsMaterial;
  private readonly servers = new Map<TlsListenerName, TlsServer>();

  /** Reads the files now: a bad one throws a TlsConfigError before anything listens. */
  constructor(
    private readonly config: TlsConfig,
    private readonly log: Logger,
    readonly stats: TlsStats,
  ) {
    this.material = loadTlsMaterial(config);
    this.logCertificate('tls certificate loaded');
  }

  /** The listeners serving TLS, in the order they were created. */
  get listeners(): TlsListenerName[] {
    return [...this.servers.keys()];
  }

  /** Options for `https.createServer` and `tls.createServer`. */
  serverOptions(): TlsOptions {
    const clientAuth = this.config.client_auth;
    return {
      ...this.material.context,
      requestCert: clientAuth !== 'none',
      // `required`: Node refuses a missing certificate in the handshake and one that does not
      // verify right after it. `optional`: admit() refuses the latter.
      rejectUnauthorized: clientAuth === 'required',
    };
  }

  /** A TLS listener for raw sockets (native TCP, MQTT); `accept` gets each admitted socket. */
  createServer(name: TlsListenerName, accept: (socket: Socket) => void): TlsServer {
    const server = createTlsServer({ ...this.serverOptions(), noDelay: true });
    this.watch(name, server, accept);
    return server;
  }

  /**
   * Counts the handshake failures of a TLS listener, refuses clients whose certificate does
   * not verify, and makes the listener follow reload().
   */
  watch(name: TlsListenerName, server: TlsServer, accept?: (socket: Socket) => void): void {
    this.servers.set(name, server);
    this.stats.handshakeErrors.set(name, 0);
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // A client certificate refused by Node (`required`) shows up as a hang-up: say why.
      this.handshakeFailed(name, socket, socket.authorizationError?.toString() ?? err.code ?? err.message);
      socket.destroy();
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!this.admits(socket)) {
        this.handshakeFailed(name, socket, String(socket.authorizationError));
        socket.destroy();
        return;
      }
      accept?.(socket);
    });
  }

  /**
   * `required`: a certificate that verified against `tls.client_ca`. `optional`: no
   * certificate, or one that verified (one that does not is refused, as in Mosquitto).
   */
  private admits(socket: TLSSocket): boolean {
    const clientAuth = this.config.client_auth;
    if (clientAuth === 'none' || socket.authorized) return true;
    return clientAuth === 'optional' && !presentedCertificate(socket);
  }

  private handshakeFailed(name: TlsListenerName, socket: TLSSocket, reason: string): void {
    this.stats.handshakeErrors.set(name, (this.stats.handshakeErrors.get(name) ?? 0) + 1);
    this.log.debug({ listener: name, remote: socket.remoteAddress, reason }, 'tls handshake failed');
  }

  /**
   * Reads the files again and gives every TLS listener the new context: open connections keep
   * the one they were made with, new handshakes get the new one. A file that is unreadable or
   * invalid leaves the current certificate in place.
   */
  reload(): TlsReloadResult {
    let material: TlsMaterial;
    try {
      material = loadTlsMaterial(this.config);
      for (const server of this.servers.values()) server.setSecureContext(material.context);
    } catch (err) {
      this.stats.reloads.error++;
      const error = err instanceof Error ? err.message : String(err);
      this.log.error({ error }, 'tls reload failed: the previous certificate stays in use');
      return { ok: false, error };
    }
    this.material = material;
    this.stats.reloads.ok++;
    this.logCertificate('tls certificates reloaded');
    return { ok: true };
  }

  private logCertificate(message: string): void {
    const { certificate } = this.material;
    const fields = { ...describe(certificate), client_auth: this.config.client_auth };
    this.log.info(fields, message);
    if (Date.parse(certificate.validTo) < Date.now()) {
      this.log.warn(fields, 'tls certificate has expired: clients that check it will refuse it');
    }
  }
}
