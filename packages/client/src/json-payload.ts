/**
 * Payload bytes ↔ the `data` of the JSON protocol (docs/PROTOCOL.md, "Payloads across
 * protocols"), exactly: a payload is bytes whichever protocol carried it.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Throws on text that is not base64. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * The `publish` params for `bytes`: `data` as JSON when the server's compact JSON text of it
 * is those very bytes (so JSON subscribers see structured data), else base64 with `encoding`.
 */
export function publishData(bytes: Uint8Array): { data: unknown; encoding?: 'base64' } {
  if (bytes.length > 0) {
    try {
      const text = utf8.decode(bytes);
      const value: unknown = JSON.parse(text);
      if (JSON.stringify(value) === text) return { data: value };
    } catch {
      // Not UTF-8 or not JSON: an expected outcome, sent as base64 below.
    }
  }
  return { data: toBase64(bytes), encoding: 'base64' };
}

/**
 * The payload of a `data` received: base64 decoded, or else the JSON text as it stood in the
 * message (`raw`, see json-raw.ts), whose UTF-8 bytes are the payload's.
 */
export function payloadOf(data: unknown, encoding: unknown, raw: () => string): Uint8Array {
  if (encoding === 'base64') {
    if (typeof data !== 'string') throw new Error('base64 data that is not a string');
    return fromBase64(data);
  }
  if (encoding !== undefined) throw new Error(`unknown encoding ${JSON.stringify(encoding)}`);
  return encoder.encode(raw());
}
