/** Why the core refused a request: one of Pulse's error codes (docs/PROTOCOL.md, "Error codes") and a message. */
export class Refusal {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}
