import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * The subject CN of the client's certificate, when `socket` is TLS with a client certificate
 * that verified against `tls.client_ca` (`tls.client_auth` optional or required); undefined
 * otherwise. The first CN if the subject has several.
 */
export function verifiedCertificateName(socket: Socket): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  try {
    const cn = socket.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
    const name = Array.isArray(cn) ? cn[0] : cn;
    return typeof name === 'string' && name.length > 0 ? name : undefined;
  } catch {
    // A socket torn down under us has no certificate to read.
    return undefined;
  }
}
