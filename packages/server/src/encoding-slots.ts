/**
 * Every slot of `Outbound.encodings` (a message's per-wire-format byte cache), allocated in
 * one place: each slot follows the one before it, so two wire formats cannot share one.
 */

/** The native frame with its TCP length prefix. */
export const TCP_WIRE_SLOT = 0;
/** The native frame as one WebSocket binary frame. */
export const WS_WIRE_SLOT = TCP_WIRE_SLOT + 1;
/** The native frame encoded with headroom, which the two slots above are cut from. */
export const NATIVE_RAW_SLOT = WS_WIRE_SLOT + 1;
/** The JSON push as one WebSocket text frame. */
export const JSON_WIRE_SLOT = NATIVE_RAW_SLOT + 1;
/** The native frame as one Server-Sent Event (base64 in a `data:` line; http/stream/). */
export const SSE_WIRE_SLOT = JSON_WIRE_SLOT + 1;
/** First of the MQTT PUBLISH templates: one per version (3.1.1, 5) × QoS × RETAIN. */
export const MQTT_PUBLISH_FIRST_SLOT = SSE_WIRE_SLOT + 1;
export const MQTT_PUBLISH_SLOT_COUNT = 2 * 3 * 2;
/** How many slots there are: every slot is below this. */
export const ENCODING_SLOT_COUNT = MQTT_PUBLISH_FIRST_SLOT + MQTT_PUBLISH_SLOT_COUNT;

/** The slot of the MQTT PUBLISH template for one version, QoS and RETAIN flag. */
export const mqttPublishSlot = (v5: boolean, qos: 0 | 1 | 2, retain: boolean): number =>
  MQTT_PUBLISH_FIRST_SLOT + (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
