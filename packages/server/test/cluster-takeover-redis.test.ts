import { clusterTakeoverSuite } from './cluster-takeover-suite.js';
import { startRedisServer } from './redis-server.js';

clusterTakeoverSuite('redis', () => startRedisServer());
