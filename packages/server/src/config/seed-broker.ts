import { basename } from 'node:path';
import type { Assignment } from './assign.js';
import { ConfigError, showValue } from './errors.js';
import { HOST_PORT, splitHostPort } from './hostport.js';
import { IGNORED_SEED_NAMES, type KeyPath } from './schema.js';
import { ignoredWarning } from './targets.js';
import { isTable } from './table-array.js';

/** The MQTT broker seed's own config file, read when no `pulse.toml` is there. */
export const SEED_CONFIG_FILE = 'Broker.toml';

/** Port of `[websocket] enabled = true` without a `bind`. */
const SEED_WEBSOCKET_PORT = '8083';

/** A config file in Pulse's form, once the seed's keys in it are turned into Pulse's. */
export interface SeedTranslation {
  /** The document without the seed's keys. */
  doc: Record<string, unknown>;
  /** What the seed's keys set, as Pulse keys. */
  assignments: Assignment[];
  /** One line each for the seed keys that have no Pulse meaning (ignored). */
  warnings: string[];
}

/** `[server.tls]` of the seed: its keys and the Pulse keys they set. */
const SEED_SERVER_TLS: Readonly<Record<string, KeyPath>> = {
  enabled: 'mqtt.tls',
  certificate_chain: 'tls.certificate_chain',
  private_key: 'tls.private_key',
  client_auth: 'tls.client_auth',
  client_ca: 'tls.client_ca',
};

/** `[limits] slow_consumer_policy` values that only the seed's (MQTT) key has. */
const SEED_ONLY_POLICIES: readonly unknown[] = ['throttle', 'queue-offline'];

/**
 * Reads the keys of the MQTT broker seed's `Broker.toml` that Pulse names differently, in any
 * config file: `[server] bind` and `[server.tls]` (the seed's `[server]` is its MQTT listener),
 * `[observability] metrics_bind`, `[websocket]` (a listener of its own for MQTT over WebSocket),
 * `[storage] sqlite`, IGNORED_SEED_NAMES (`[server] worker_threads`: a warning), and `[limits]
 * slow_consumer_policy` when it is the seed's: a value Pulse's key does not have, or any value
 * in a file that is the seed's (named Broker.toml or using another of its keys).
 */
export function translateSeedKeys(
  doc: Record<string, unknown>,
  label: string,
  fileName: string,
): SeedTranslation {
  const out: Record<string, unknown> = { ...doc };
  const assignments: Assignment[] = [];
  const warnings: string[] = [];
  let isSeedFile = basename(fileName) === SEED_CONFIG_FILE;
  const set = (path: KeyPath, value: unknown, isText: boolean, key: string) =>
    assignments.push({ path, value, isText, source: `${label} ${key}` });
  const setHostPort = (paths: [KeyPath, KeyPath], value: unknown, key: string) => {
    const parts = typeof value === 'string' ? splitHostPort(value) : undefined;
    if (parts === undefined) {
      throw new ConfigError(`${key} in ${label} must be ${HOST_PORT}, got ${showValue(value)}`);
    }
    set(paths[0], parts[0], true, key);
    set(paths[1], parts[1], true, key);
  };

  const server = sectionOf(out, 'server');
  if (server) {
    if ('bind' in server) {
      isSeedFile = true;
      setHostPort(['mqtt.host', 'mqtt.port'], server.bind, '[server] bind');
      delete server.bind;
    }
    if (isTable(server.tls)) {
      isSeedFile = true;
      for (const [key, value] of Object.entries(server.tls)) {
        // Own keys only: `__proto__` or `constructor` would find Object.prototype's.
        const path = Object.hasOwn(SEED_SERVER_TLS, key) ? SEED_SERVER_TLS[key] : undefined;
        if (path === undefined) {
          throw new ConfigError(
            `unknown key "server.tls.${key}" in ${label} (the seed's [server.tls] has ${Object.keys(SEED_SERVER_TLS).join(', ')})`,
          );
        }
        set(path, value, false, `[server.tls] ${key}`);
      }
      delete server.tls;
    }
  }

  for (const ignored of IGNORED_SEED_NAMES) {
    const body = sectionOf(out, ignored.section);
    if (!body || !(ignored.key in body)) continue;
    isSeedFile = true;
    const source = `${label} [${ignored.section}] ${ignored.key}`;
    warnings.push(ignoredWarning(ignored, showValue(body[ignored.key]), source));
    delete body[ignored.key];
  }

  const observability = takeSection(out, 'observability', label);
  if (observability) {
    isSeedFile = true;
    for (const [key, value] of Object.entries(observability)) {
      if (key !== 'metrics_bind') throw unknownKey(`observability.${key}`, label);
      setHostPort(['metrics.host', 'metrics.port'], value, '[observability] metrics_bind');
    }
  }

  const websocket = takeSection(out, 'websocket', label);
  if (websocket) {
    isSeedFile = true;
    translateWebsocket(websocket, label, set, setHostPort, warnings);
  }

  const storage = sectionOf(out, 'storage');
  if (storage && 'sqlite' in storage) {
    isSeedFile = true;
    if (typeof storage.sqlite !== 'string' || storage.sqlite === '') {
      throw new ConfigError(
        `[storage] sqlite in ${label} must be a file path, got ${showValue(storage.sqlite)}`,
      );
    }
    set('storage.engine', 'sqlite', true, '[storage] sqlite');
    set('storage.path', storage.sqlite, true, '[storage] sqlite');
    delete storage.sqlite;
  }

  const limits = sectionOf(out, 'limits');
  if (limits && 'slow_consumer_policy' in limits) {
    const policy = limits.slow_consumer_policy;
    if (isSeedFile || SEED_ONLY_POLICIES.includes(policy)) {
      set('mqtt.slow_consumer_policy', policy, false, '[limits] slow_consumer_policy');
      delete limits.slow_consumer_policy;
    }
  }
  return { doc: out, assignments, warnings };
}

/** `[websocket] enabled / bind / path / tls`: the mqtt.ws_* listener. */
function translateWebsocket(
  websocket: Record<string, unknown>,
  label: string,
  set: (path: KeyPath, value: unknown, isText: boolean, key: string) => void,
  setHostPort: (paths: [KeyPath, KeyPath], value: unknown, key: string) => void,
  warnings: string[],
): void {
  for (const key of Object.keys(websocket)) {
    if (!['enabled', 'bind', 'path', 'tls'].includes(key)) throw unknownKey(`websocket.${key}`, label);
  }
  const { enabled } = websocket;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new ConfigError(`[websocket] enabled in ${label} must be true or false, got ${showValue(enabled)}`);
  }
  if (enabled !== true) {
    if (Object.keys(websocket).some((k) => k !== 'enabled')) {
      warnings.push(
        `[websocket] in ${label} has no effect without enabled = true: no MQTT-over-WebSocket listener of its own (MQTT over WebSocket stays at mqtt.ws_path on the HTTP listener)`,
      );
    }
    return;
  }
  if (websocket.bind === undefined) set('mqtt.ws_port', SEED_WEBSOCKET_PORT, true, '[websocket] enabled');
  else setHostPort(['mqtt.ws_host', 'mqtt.ws_port'], websocket.bind, '[websocket] bind');
  if (websocket.path !== undefined) set('mqtt.ws_path', websocket.path, false, '[websocket] path');
  if (websocket.tls !== undefined) set('mqtt.ws_tls', websocket.tls, false, '[websocket] tls');
}

/** A copy of `doc[name]` put back in `doc`, so that keys can be deleted from it; undefined if absent. */
function sectionOf(doc: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const body = doc[name];
  if (!isTable(body)) return undefined;
  const copy = { ...body };
  doc[name] = copy;
  return copy;
}

/** Removes the seed-only section `name` from `doc` and returns it. */
function takeSection(
  doc: Record<string, unknown>,
  name: string,
  label: string,
): Record<string, unknown> | undefined {
  if (!(name in doc)) return undefined;
  const body = doc[name];
  if (!isTable(body)) throw new ConfigError(`[${name}] in ${label} must be a table, got ${showValue(body)}`);
  delete doc[name];
  return body;
}

function unknownKey(path: string, label: string): ConfigError {
  return new ConfigError(`unknown key ${JSON.stringify(path)} in ${label}`);
}
