/** An error frame from the server, or a local failure with a Pulse error code. */
export class PulseError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'PulseError';
  }
}
