/**
 * SSI streams: the two-file format NOVA, SSI and discover-utils use for sampled data.
 *   name.stream   XML header: <stream ssi-v="2"> <info .../> [<meta .../>] [<time .../>] <chunk .../>+ </stream>
 *   name.stream~  data: BINARY (row-major, little-endian, `byte` bytes per value, no padding) or
 *                 ASCII (one sample per line, values separated by `delim`).
 * Reading accepts what SSI C++ and discover-utils write (declaration or none, `ssi-v ="2"`, any type, several
 * chunks); writing produces what SSI C++ writes, so NOVA, SSI and discover-utils all read our output.
 * The format (types, header) is in stream_format.ts, reading in stream_reader.ts, writing in stream_writer.ts;
 * this module is their one front.
 */
export {
  formatSampleRate,
  formatSsiHeader,
  parseSsiHeader,
  SSI_DEFAULT_BYTES,
  SSI_TYPES,
  ssiArrayType,
  ssiDataPath,
  type SsiChunk,
  type SsiData,
  type SsiFileType,
  type SsiHeader,
  type SsiStream,
  type SsiType,
} from "./stream_format.js";
export { MAX_HEADER_BYTES, parseAscii, readSsiHeader, readSsiStream } from "./stream_reader.js";
export { SsiStreamWriter, writeSsiStream, type SsiRowsInput, type SsiWriteOptions } from "./stream_writer.js";
