import { FRAME_TYPE_NAMES } from '@pulse/protocol';

/** Counters of the native protocol, indexed by frame type id (1-10) and by error code. */
export class NativeStats {
  readonly framesIn = new Array<number>(FRAME_TYPE_NAMES.length + 1).fill(0);
  readonly framesOut = new Array<number>(FRAME_TYPE_NAMES.length + 1).fill(0);
  readonly errors = new Map<number, number>();

  countError(code: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
