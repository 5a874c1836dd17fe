import { Packr } from 'msgpackr';

/**
 * Plain, interoperable MessagePack: no records, no extensions, smallest map headers,
 * so browsers and other languages' decoders read what we write.
 */
export const msgpack = new Packr({
  useRecords: false,
  moreTypes: false,
  variableMapSize: true,
  mapsAsObjects: true,
  int64AsType: 'number',
});
