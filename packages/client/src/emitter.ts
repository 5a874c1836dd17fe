/** A typed event emitter: `on` returns the function that removes the handler. */
export class Emitter<Events> {
  private readonly handlers = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(event: K, handler: (value: Events[K]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as (value: never) => void);
    return () => {
      set.delete(handler as (value: never) => void);
    };
  }

  /**
   * Calls every handler of `event`. A handler that throws does not stop the others nor the
   * client: its exception is rethrown on a later turn, where it is reported as uncaught.
   */
  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        (handler as (value: Events[K]) => void)(value);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
