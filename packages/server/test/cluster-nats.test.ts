import { clusterSuite } from './cluster-suite.js';
import { startNatsServer } from './nats-server.js';

clusterSuite('nats', () => startNatsServer());
