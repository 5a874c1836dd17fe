import type { SessionAuth } from '../auth/auth-service.js';

export type { AuthDecision } from '../auth/auth-service.js';

/**
 * How a JSON session is authenticated: the same seam as the native session's
 * (`SessionAuth`, filled by the AuthService when `[auth]` or `[hooks]` are configured).
 */
export type JsonAuth = SessionAuth;

/** No authentication configured: the session is live from its first message; tokens are ignored. */
export const NO_AUTH: JsonAuth = {
  required: false,
  authenticate: () => ({ allowed: true }),
};
