/** Why the core refused a request: one of Pulse's error codes (INTERFACE.md §3) and a message. */
export class Refusal {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}
