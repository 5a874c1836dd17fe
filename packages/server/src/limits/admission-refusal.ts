/**
 * Why a new connection is refused before its protocol starts: the `reason` label of
 * pulse_connections_rejected_total. `limits/` and the server decide it; each protocol adapter
 * says it on the wire its own way (native error frame, MQTT CONNACK).
 */
export type AdmissionRefusal = 'max_connections' | 'draining' | 'ip_rate' | 'ip_max';

/** The text a refused client is told (native error message; MQTT logs it). */
export const ADMISSION_REFUSAL_MESSAGES: Record<AdmissionRefusal, string> = {
  max_connections: 'too many connections',
  draining: 'server shutting down',
  ip_rate: 'too many new connections from this address',
  ip_max: 'too many connections from this address',
};
