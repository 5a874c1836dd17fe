/** Frame types of the native protocol (docs/PROTOCOL.md) with their numeric ids. */
export const FRAME_TYPE_IDS = {
  subscribe: 1,
  unsubscribe: 2,
  publish: 3,
  presence: 4,
  ack: 5,
  error: 6,
  ping: 7,
  pong: 8,
  connect: 9,
  connected: 10,
  history: 11,
} as const;

export type FrameTypeName = keyof typeof FRAME_TYPE_IDS;

export const FRAME_TYPE_NAMES: readonly FrameTypeName[] = Object.keys(FRAME_TYPE_IDS) as FrameTypeName[];

export const PROTOCOL_VERSION = 1;

export const PresenceAction = { Join: 0, Leave: 1, Update: 2, Sync: 3 } as const;
export type PresenceAction = (typeof PresenceAction)[keyof typeof PresenceAction];

export interface RecoverPosition {
  offset: number;
  epoch: string;
}

/** `history` frames: how many publications one reply holds at most, and by default. */
export const MAX_HISTORY_LIMIT = 1000;
export const DEFAULT_HISTORY_LIMIT = 100;

export interface SubscribeFrame {
  type: 'subscribe';
  id: number;
  channel: string;
  recover?: RecoverPosition;
}
export interface UnsubscribeFrame {
  type: 'unsubscribe';
  id: number;
  channel: string;
}
export interface PublishFrame {
  type: 'publish';
  id?: number;
  channel: string;
  event?: string;
  payload: Uint8Array;
  offset?: number;
  epoch?: string;
}
export interface PresenceFrame {
  type: 'presence';
  id?: number;
  channel: string;
  action: PresenceAction;
  data?: Record<string, unknown>;
  connection_id?: string;
  user?: string;
  /** On a sync reply: the channel has more members than fit in one reply. */
  truncated?: boolean;
}
export interface AckFrame {
  type: 'ack';
  id: number;
  [extra: string]: unknown;
}
export interface ErrorFrame {
  type: 'error';
  id: number;
  code: number;
  message: string;
}
export interface PingFrame {
  type: 'ping';
  timestamp?: number;
}
export interface PongFrame {
  type: 'pong';
  timestamp?: number;
}
export interface ConnectFrame {
  type: 'connect';
  version: number;
  token?: string;
}
export interface ConnectedFrame {
  type: 'connected';
  connection_id: string;
  version: number;
  heartbeat: number;
}

/** C→S: a page of a channel's history; answered by an `ack` with `publications`, `offset`, `epoch`. */
export interface HistoryFrame {
  type: 'history';
  id: number;
  channel: string;
  /** Only publications after this position (when its epoch is the stream's). */
  since?: RecoverPosition;
  /** 1..MAX_HISTORY_LIMIT; DEFAULT_HISTORY_LIMIT when absent. */
  limit?: number;
}

export type Frame =
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | PresenceFrame
  | AckFrame
  | ErrorFrame
  | PingFrame
  | PongFrame
  | ConnectFrame
  | ConnectedFrame
  | HistoryFrame;
