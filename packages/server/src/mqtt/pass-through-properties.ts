import type { IPublishPacket } from 'mqtt-packet';

type PassedOn = Pick<
  NonNullable<IPublishPacket['properties']>,
  'payloadFormatIndicator' | 'contentType' | 'responseTopic' | 'correlationData' | 'userProperties'
>;

/** The v5 properties that travel with a message (a PUBLISH's or a will's) to its subscribers. */
export function passThrough(props: PassedOn | undefined): Record<string, unknown> | undefined {
  if (!props) return undefined;
  const { payloadFormatIndicator, contentType, responseTopic, correlationData, userProperties } = props;
  if (
    payloadFormatIndicator === undefined &&
    contentType === undefined &&
    responseTopic === undefined &&
    correlationData === undefined &&
    userProperties === undefined
  ) {
    return undefined;
  }
  return { payloadFormatIndicator, contentType, responseTopic, correlationData, userProperties };
}
