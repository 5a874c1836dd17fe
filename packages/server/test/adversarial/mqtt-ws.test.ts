import { test } from 'node:test';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { deepTopicAttacker, mqttAttacker, mqttDribbler } from './mqtt-attack.js';

const overWs = (a: Attacker, label: string) =>
  AttackSocket.ws(a.target.httpPort, '/mqtt', a.recorder, label, { protocol: 'mqtt' });

test('MQTT over WebSocket (/mqtt): seeded hostile packets and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/mqtt-ws',
    workers: 3,
    // On this 2-core machine the MQTT attack adds 130-230 ms to bystanders' p99 on main before
    // issue 10 as after it (measured 2026-12-02, seeds in the issue 10 note): a CPU-bound stall
    // not yet found. The loss, memory and liveness checks stay; the latency bar is 250 ms here
    // until that stall is fixed (issue 12, per-message efficiency).
    addedLatencyMs: 250,
    attack: (a) => mqttAttacker(a, overWs),
    extras: {
      mqttDribbler: (a) => mqttDribbler(a, overWs),
      deepTopicAttacker: (a) => deepTopicAttacker(a, overWs),
    },
  }));
