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
    attack: (a) => mqttAttacker(a, overWs),
    extras: {
      mqttDribbler: (a) => mqttDribbler(a, overWs),
      deepTopicAttacker: (a) => deepTopicAttacker(a, overWs),
    },
  }));
