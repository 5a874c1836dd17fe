/**
 * Bytes of client input held across a whole server (unfinished frames, fragments, requests
 * waiting for an authorization), with a cap: a holder asks before it grows and gives back
 * when it lets go, so that many clients together cannot make the server hold more than `limit`.
 */
export class InputBudget {
  /** Bytes held now. */
  held = 0;
  /** Times a holder was refused. */
  refusals = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes` more; false (and nothing taken) when that would pass the limit. */
  reserve(bytes: number): boolean {
    if (this.held + bytes > this.limit) {
      this.refusals++;
      return false;
    }
    this.held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.held -= bytes;
  }
}
