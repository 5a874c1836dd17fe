/**
 * How a JSON session is authenticated: the one seam the authentication issue fills in (a JWT
 * check in `authenticate`, `required` from config). Until then nothing is required and every
 * token, or none, is accepted.
 */
export type AuthDecision = { allowed: true; user?: string } | { allowed: false; message: string };

export interface JsonAuth {
  /** True: every method but `connect` and `ping` is refused (401) until a `connect` is allowed. */
  readonly required: boolean;
  /** Decides a `connect`: the token is the client's, undefined when it sent none. */
  authenticate(token: string | undefined): AuthDecision;
}

/** No authentication configured: the session is live from its first message; tokens are ignored. */
export const NO_AUTH: JsonAuth = {
  required: false,
  authenticate: () => ({ allowed: true }),
};
