import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

/** What a listener's address comes from, for messages: `server.host / server.port`. */
export interface ListenSetting {
  host: string;
  port: number;
  /** The configuration keys that set `host` and `port`. */
  keys: string;
}

/** Plain words for the errors a listen commonly ends with. */
const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
};

/** A listener could not open: names the address and the settings that chose it. */
export class ListenError extends Error {
  readonly code: string;
  constructor(setting: ListenSetting, cause: NodeJS.ErrnoException) {
    const code = cause.code ?? 'ERROR';
    const host = setting.host.includes(':') ? `[${setting.host}]` : setting.host;
    const reason = REASONS[code] ?? cause.message;
    super(`cannot listen on ${host}:${setting.port} (${setting.keys}): ${code}, ${reason}`, { cause });
    this.code = code;
  }
}

/** Listens at `setting`; rejects with a ListenError. */
export function listen(server: Server | NetServer, setting: ListenSetting): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenError(setting, err));
    server.once('error', onError);
    server.listen({ host: setting.host, port: setting.port, backlog: 4096 }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
