/**
 * A request the API refuses: its HTTP status and a message for the client. Thrown anywhere
 * below the router, which answers `{"ok": false, "error": {"code": status, "message"}}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers (e.g. `allow` on 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What a handler answers: a status and the JSON text of the body. */
export interface ApiReply {
  status: number;
  /** JSON text. */
  body: string;
}

export const ok = (body: string): ApiReply => ({ status: 200, body });

/** The JSON text of an error body (docs/HTTP-API.md). */
export function errorBody(status: number, message: string): string {
  return JSON.stringify({ ok: false, error: { code: status, message } });
}
