import { clusterSuite } from './cluster-suite.js';
import { startRedisServer } from './redis-server.js';

clusterSuite('redis', () => startRedisServer());
