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
    this.pick()?.deliver(message, this.id);
  }

  /**
   * The member the next message goes to: round-robin, preferring connected members (nobody
   * connected: the next member's session queues it). With `round`, a member that fan-out
   * already reached is passed over unless it takes a copy per shared subscription; undefined
   * when every member has the message.
   */
  pick(round?: number): Subscriber | undefined {
    const count = this.members.length;
    let offline = -1;
    for (let tried = 0; tried < count; tried++) {
      const at = (this.next + tried) % count;
      // Safe: at < count, the members' length
      const member = this.members[at]!;
      if (round !== undefined && member.deliveryRound === round && member.copyPerSharedSubscription !== true)
        continue;
      if (member.connected !== false) {
        this.next = (at + 1) % count;
        return member;
      }
      if (offline === -1) offline = at;
    }
    if (offline === -1) return undefined;
    this.next = (offline + 1) % count;
    return this.members[offline];
  }
}
