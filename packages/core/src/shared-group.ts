import type { Message } from './outbound.js';
import type { Subscriber } from './subscriber.js';

/**
 * The members of one shared subscription (`$share/{group}/{filter}`): each message goes to one
 * member, round-robin, preferring members that are connected (MQTT 5 §4.8.2).
 */
export class SharedGroup implements Subscriber {
  private readonly members: Subscriber[] = [];
  private next = 0;

  constructor(
    /** The full `$share/{group}/{filter}` name, told to the member that receives a message. */
    readonly id: string,
    /** The filter the group is indexed under. */
    readonly filter: string,
  ) {}

  get size(): number {
    return this.members.length;
  }

  add(member: Subscriber): void {
    if (!this.members.includes(member)) this.members.push(member);
  }

  remove(member: Subscriber): void {
    const at = this.members.indexOf(member);
    if (at === -1) return;
    this.members.splice(at, 1);
    if (this.next > at) this.next--;
    if (this.next >= this.members.length) this.next = 0;
  }

  deliver(message: Message): void {
    const count = this.members.length;
    if (count === 0) return;
    for (let tried = 0; tried < count; tried++) {
      const member = this.members[(this.next + tried) % count];
      if (member.connected !== false) {
        this.next = (this.next + tried + 1) % count;
        member.deliver(message, this.id);
        return;
      }
    }
    // Nobody is connected: the next member's session queues it.
    const member = this.members[this.next % count];
    this.next = (this.next + 1) % count;
    member.deliver(message, this.id);
  }
}
