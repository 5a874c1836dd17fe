import { test } from 'node:test';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { deepTopicAttacker, mqttAttacker, mqttDribbler } from './mqtt-attack.js';

const overTcp = (a: Attacker, label: string) => AttackSocket.tcp(a.target.mqttPort, a.recorder, label);

test('MQTT over TCP: seeded hostile packets (deep topics and filters, many user properties, remaining lengths at the maximum) and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/mqtt-tcp',
    workers: 3,
    attack: (a) => mqttAttacker(a, overTcp),
    extras: {
      mqttDribbler: (a) => mqttDribbler(a, overTcp),
      deepTopicAttacker: (a) => deepTopicAttacker(a, overTcp),
    },
  }));
