import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Answers an HTTP streaming request that carries no stream: 204 without a body, else
 * `{"error": message}`. `unread`: the request body was not read to its end, so the socket
 * closes after the answer instead of waiting for the rest.
 */
export function answer(
  res: ServerResponse,
  headers: OutgoingHttpHeaders,
  status: number,
  message: string,
  unread: boolean,
): void {
  if (res.headersSent || res.destroyed) return;
  const head: OutgoingHttpHeaders = unread ? { ...headers, connection: 'close' } : { ...headers };
  if (status === 204) {
    res.writeHead(204, head);
    res.end();
    return;
  }
  const body = JSON.stringify({ error: message });
  head['content-type'] = 'application/json';
  head['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, head);
  res.end(body);
}
