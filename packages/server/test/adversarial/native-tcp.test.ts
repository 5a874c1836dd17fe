import { test } from 'node:test';
import { type Attacker, runAttack } from './attack-run.js';
import { AttackSocket } from './attack-socket.js';
import { nativeAttacker, nativeDribbler, presenceHoarder } from './native-attack.js';

const overTcp = (a: Attacker, label: string) => AttackSocket.tcp(a.target.tcpPort, a.recorder, label);

test('native over TCP: seeded hostile frames (extension types, deep nesting, huge declared sizes), presence hoarding and dribbling leave bystanders and memory unharmed', () =>
  runAttack({
    file: 'adversarial/native-tcp',
    workers: 3,
    attack: (a) => nativeAttacker(a, overTcp),
    extras: {
      presenceHoarder: (a) => presenceHoarder(a, overTcp),
      nativeDribbler: (a) => nativeDribbler(a, overTcp),
    },
  }));
