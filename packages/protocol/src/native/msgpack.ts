import { Packr } from 'msgpackr';

/**
 * Plain, interoperable MessagePack: no records, no extensions, smallest map headers,
 * so browsers and other languages' decoders read what we write.
 */
// `skipValues` exists in msgpackr 2 but is missing from its type definitions.
export const msgpack = new Packr({
  useRecords: false,
  moreTypes: false,
  variableMapSize: true,
  mapsAsObjects: true,
  int64AsType: 'number',
  // Absent optional fields are left out rather than written as msgpackr's undefined extension.
  skipValues: [undefined],
} as ConstructorParameters<typeof Packr>[0]);
