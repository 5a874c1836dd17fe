import { FRAME_TYPE_NAMES } from '@pulse/protocol';

/** Counters of the native protocol, indexed by frame type id (1-10) and by error code. */
export class NativeStats {
  readonly framesIn = new Array<number>(FRAME_TYPE_NAMES.length + 1).fill(0);
  readonly framesOut = new Array<number>(FRAME_TYPE_NAMES.length + 1).fill(0);
  readonly errors = new Map<number, number>();

  /** Counts a frame received; `typeId` is a FRAME_TYPE_IDS value (1-10), so within the array. */
  countFrameIn(typeId: number): void {
    this.framesIn[typeId]!++;
  }

  /** Counts a frame sent; `typeId` is a FRAME_TYPE_IDS value (1-10), so within the array. */
  countFrameOut(typeId: number): void {
    this.framesOut[typeId]!++;
  }

  countError(code: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}
