import { RedisEngine } from '../src/cluster/redis-engine.js';
import { engineContract } from './cluster-engine-contract.js';
import { startRedisServer } from './redis-server.js';

engineContract(
  'redis',
  () => startRedisServer(),
  (options) => new RedisEngine(options),
);
