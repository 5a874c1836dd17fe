import type { PublishOptions } from './publish-encoding.js';

/** Topic aliases a client set up for its PUBLISH packets (MQTT 5 §3.3.2.3.4). */
export class InboundTopicAliases {
  private readonly topics = new Map<number, string>();

  /**
   * The topic of a PUBLISH carrying `alias` (in 1..`maximum`, checked by the caller): a
   * non-empty `topic` (re)defines the alias; an empty one uses it. Undefined: the alias is unknown.
   */
  resolve(alias: number, topic: string): string | undefined {
    if (topic.length > 0) {
      this.topics.set(alias, topic);
      return topic;
    }
    return this.topics.get(alias);
  }
}

/** Topic aliases this server chose for the client (v5, up to its topic alias maximum). */
export class OutboundTopicAliases {
  private aliases: Map<string, number> | undefined;

  constructor(private readonly maximum: number) {}

  /** Sends a known topic as its alias alone; gives new topics an alias while there are any left. */
  use(topic: string, options: PublishOptions): void {
    this.aliases ??= new Map();
    const known = this.aliases.get(topic);
    if (known !== undefined) {
      options.topicAlias = known;
      options.omitTopic = true;
    } else if (this.aliases.size < this.maximum) {
      // Aliases are never reassigned, so 1..size are taken and size + 1 is free.
      options.topicAlias = this.aliases.size + 1;
      this.aliases.set(topic, options.topicAlias);
    }
  }

  /** The packet that set up a new alias never reached the client: the client never learnt it. */
  forgetNew(topic: string, options: PublishOptions): void {
    if (options.topicAlias !== undefined && !options.omitTopic) this.aliases?.delete(topic);
  }
}
