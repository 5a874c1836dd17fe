/** The load generator as a library: raw WebSocket and MQTT clients that count without decoding. */
export { DIALECTS, TARGET_NAMES, type TargetName } from './dialects/index.js';
export { type ConnectOptions, Connection, connect } from './generator/connection.js';
export type { Dialect, DialectConn, Tally } from './generator/dialect.js';
export { LatencySamples } from './generator/marker.js';
export { GeneratorPool } from './generator/pool.js';
export { type Pacing, PublishLoop } from './generator/publish-loop.js';
export { connectMqtt, type MqttConnectOptions, MqttClient } from './generator/mqtt-client.js';
export { MqttPublishLoop, publishRetained } from './generator/mqtt-loop.js';
export { MqttReader, type MqttPacketHandler } from './generator/mqtt-packets.js';
