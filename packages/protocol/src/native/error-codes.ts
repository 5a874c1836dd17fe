/** Error codes of the native protocol (docs/PROTOCOL.md, "Error codes"). */
export const ErrorCode = {
  UnknownError: 1000,
  InvalidFrame: 1001,
  InvalidChannel: 1002,
  Unauthorized: 1003,
  Forbidden: 1004,
  ChannelNotFound: 1005,
  RateLimited: 1006,
  PayloadTooLarge: 1007,
  NotSubscribed: 1008,
  AlreadySubscribed: 1009,
  ConnectionClosed: 1010,
  ServerError: 1011,
  ProtocolMismatch: 1012,
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name]),
);
