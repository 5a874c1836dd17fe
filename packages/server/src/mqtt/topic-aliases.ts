import type { PublishOptions } from './publish-encoding.js';

/** Topic aliases a client set up for its PUBLISH packets (MQTT 5 §3.3.2.3.4). */
export class InboundTopicAliases {
  /** Made at the first alias: most clients never set one. */
  private topics: Map<number, string> | undefined;

  /**
   * The topic of a PUBLISH carrying `alias` (in 1..`maximum`, checked by the caller): a
   * non-empty `topic` (re)defines the alias; an empty one uses it. Undefined: the alias is unknown.
   */
  resolve(alias: number, topic: string): string | undefined {
    if (topic.length > 0) {
      this.topics ??= new Map();
      this.topics.set(alias, topic);
      return topic;
    }
    return this.topics?.get(alias);
  }
}

/**
 * Topic aliases one connection keeps towards its client at most, whatever Topic Alias Maximum
 * (up to 65,535) the client allows: each pins its topic for the connection's lifetime.
 */
export const MAX_OUTBOUND_TOPIC_ALIASES = 1024;
/** Characters of topics those aliases may pin together (a topic may be up to 64 KiB, limits.max_channel_length). */
export const MAX_OUTBOUND_ALIAS_CHARS = 262_144;

/**
 * Topic aliases this server chose for the client (v5), up to its topic alias maximum and to
 * MAX_OUTBOUND_TOPIC_ALIASES and MAX_OUTBOUND_ALIAS_CHARS; past them topics go out in full.
 */
export class OutboundTopicAliases {
  private aliases: Map<string, number> | undefined;
  private readonly maximum: number;
  private chars = 0;

  constructor(clientMaximum: number) {
    this.maximum = Math.min(clientMaximum, MAX_OUTBOUND_TOPIC_ALIASES);
  }

  /** Sends a known topic as its alias alone; gives new topics an alias while there are any left. */
  use(topic: string, options: PublishOptions): void {
    this.aliases ??= new Map();
    const known = this.aliases.get(topic);
    if (known !== undefined) {
      options.topicAlias = known;
      options.omitTopic = true;
    } else if (this.aliases.size < this.maximum && this.chars + topic.length <= MAX_OUTBOUND_ALIAS_CHARS) {
      // Aliases are never reassigned, so 1..size are taken and size + 1 is free.
      options.topicAlias = this.aliases.size + 1;
      this.aliases.set(topic, options.topicAlias);
      this.chars += topic.length;
    }
  }

  /** The packet that set up a new alias never reached the client: the client never learnt it. */
  forgetNew(topic: string, options: PublishOptions): void {
    if (options.topicAlias !== undefined && !options.omitTopic && this.aliases?.delete(topic)) {
      this.chars -= topic.length;
    }
  }
}
