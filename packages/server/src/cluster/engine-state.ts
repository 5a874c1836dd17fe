import type { EngineListener, EngineState } from './cluster-engine.js';

/** Where an engine's connection stands, told to its listener on each change; `closed` is final. */
export class EngineStatus {
  current: EngineState = 'connecting';
  listener: EngineListener | undefined;

  set(state: EngineState, reason?: string): void {
    if (this.current === 'closed' || this.current === state) return;
    this.current = state;
    try {
      this.listener?.state(state, reason);
    } catch {
      // As for messages: the layer's errors stay in the layer.
    }
  }
}
