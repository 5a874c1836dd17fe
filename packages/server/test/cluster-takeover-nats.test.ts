import { clusterTakeoverSuite } from './cluster-takeover-suite.js';
import { startNatsServer } from './nats-server.js';

clusterTakeoverSuite('nats', () => startNatsServer());
