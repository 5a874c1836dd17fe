/**
 * JSON error codes (docs/PROTOCOL.md, "JSON protocol", "Error codes") read back as the native
 * codes the client reasons with (a refused token is 1003 on both, ...). 400 covers several native
 * codes: the server's message, which is the native refusal's, tells them apart.
 */
export function nativeCodeOf(code: number, message: string): number {
  switch (code) {
    case 400:
      if (message.startsWith('already subscribed')) return 1009;
      if (message.startsWith('not subscribed') || message.startsWith('not present')) return 1008;
      // The request's own shape (`<method>: "<param>" ...`), presence data nesting: InvalidFrame.
      if (/^[a-z_]+: |^request |^"method"|nests deeper/.test(message)) return 1001;
      // Every other refusal the server answers with 400 is about the channel or filter.
      return 1002;
    case 401:
      return 1003;
    case 403:
      return 1004;
    case 404:
      return message.startsWith('unknown method') ? 1001 : 1005;
    case 413:
      return 1007;
    case 429:
      return 1006;
    case 500:
      return 1011;
    default:
      return 1000;
  }
}

/** The native error code a `disconnect` push's reason stands for (the native server's error frame). */
export function disconnectCodeOf(reason: string): number {
  if (reason === 'token expired' || reason === 'no connect with a valid token in time') return 1003;
  if (reason === 'rate limited') return 1006;
  // server shutting down, heartbeat timeout, disconnected by the operator
  return 1010;
}
