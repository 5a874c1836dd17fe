import { NatsHistory } from '../src/cluster/nats-history.js';
import { historyContract } from './cluster-history-contract.js';
import { startNatsServer } from './nats-server.js';

historyContract(
  'nats',
  () => startNatsServer(),
  (options) => new NatsHistory(options, 100),
);
