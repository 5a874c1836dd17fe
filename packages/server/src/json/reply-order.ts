/** Replies held at most behind one still awaited; past this, the connection is closed. */
export const MAX_HELD_REPLIES = 1024;

/**
 * The JSON protocol answers every request in the order the requests came (docs/PROTOCOL.md).
 * A reply that must wait (a clustered subscribe, until the engine holds its interest) keeps
 * its place: the replies after it are held until it is sent. Nothing is held otherwise.
 */
export class ReplyOrder {
  private queue: { text: string | undefined }[] | undefined;

  constructor(private readonly send: (text: string) => void) {}

  /** Sends `text` now, or after the replies still awaited; false when too many are held. */
  reply(text: string): boolean {
    if (this.queue === undefined) {
      this.send(text);
      return true;
    }
    if (this.queue.length >= MAX_HELD_REPLIES) return false;
    this.queue.push({ text });
    return true;
  }

  /** Takes a place for a reply whose text comes later; call the result with it. */
  later(): (text: string) => void {
    const slot: { text: string | undefined } = { text: undefined };
    this.queue ??= [];
    this.queue.push(slot);
    return (text) => {
      slot.text = text;
      this.flush();
    };
  }

  private flush(): void {
    const queue = this.queue ?? [];
    while (queue.length > 0 && queue[0]?.text !== undefined) this.send(queue.shift()?.text as string);
    if (queue.length === 0) this.queue = undefined;
  }
}
