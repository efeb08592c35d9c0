/**
 * Reading SSI streams: the header, then the data as BINARY (any type, either byte order on the host) or ASCII.
 */
import { readFile, stat } from "node:fs/promises";
import { headerPathOf, intRange, KIND, parseSsiHeader, ssiArrayType, ssiDataPath, swapBytes, LITTLE_ENDIAN_HOST, type SsiData, type SsiHeader, type SsiStream, type SsiType } from "./stream_format.js";
/**
 * Far above any SSI header (a few hundred bytes, plus one line per <chunk>). A larger file is a video or data file
 * given by mistake: it is refused by its size rather than read whole (a 1 GiB video took 600 MB and 5 s to fail).
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export async function readSsiHeader(headerPath: string): Promise<SsiHeader> {
  const file = headerPathOf(headerPath);
  const notHeader = (why: string) => new Error(`${file}: not an SSI stream header: ${why} (a video or data file? give the .stream header, written beside its data file .stream~)`);
  let size: number;
  let xml = "";
  try {
    size = (await stat(file)).size;
    if (size <= MAX_HEADER_BYTES) xml = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read SSI stream header: ${(err as Error).message}`);
  }
  if (size > MAX_HEADER_BYTES) throw notHeader(`${size} bytes, more than the ${MAX_HEADER_BYTES} a header could have`);
  if (!/^\uFEFF?\s*</.test(xml)) throw notHeader(xml.length === 0 ? "the file is empty" : "it is not XML text");
  return parseSsiHeader(xml, file);
}
/** Reads a whole stream into memory. Binary chunks are read at their byte offsets, as SSI C++ does. */
export async function readSsiStream(headerPath: string): Promise<SsiStream> {
  const file = headerPathOf(headerPath);
  const header = await readSsiHeader(file);
  const dataFile = ssiDataPath(file);
  let size: number;
  try {
    size = (await stat(dataFile)).size;
  } catch (err) {
    throw new Error(`${dataFile}: cannot read SSI stream data: ${(err as Error).message}`);
  }
  const data = header.ftype === "BINARY"
    ? await readBinary(header, file, dataFile, size)
    : parseAscii(header, dataFile, await readFile(dataFile, "utf8"));
  return { path: file, header, data, rows: header.rows, dim: header.dim };
}

async function readBinary(h: SsiHeader, file: string, dataFile: string, size: number): Promise<SsiData> {
  const rowBytes = h.dim * h.byte;
  let end = 0;
  h.chunks.forEach((c, i) => {
    if (c.byte < end) {
      throw new Error(`${file}: chunk ${i + 1} starts at byte ${c.byte}, inside the previous chunk (which ends at ${end})`);
    }
    end = c.byte + c.num * rowBytes;
  });
  if (size !== end) {
    throw new Error(`${dataFile}: data file has ${size} bytes but header ${file} expects ${end} bytes ` +
      `(${h.rows} samples x ${h.dim} dims x ${h.byte} bytes${h.chunks.length > 1 ? `, ${h.chunks.length} chunks` : ""})`);
  }
  const raw = await readFile(dataFile);
  const Ctor = ssiArrayType(h.type, h.byte, file);
  const contiguous = h.chunks.every((c, i) => c.byte === (i === 0 ? 0 : h.chunks[i - 1].byte + h.chunks[i - 1].num * rowBytes));
  if (contiguous && LITTLE_ENDIAN_HOST && raw.byteOffset === 0 && raw.buffer.byteLength === raw.length) {
    // The usual case: one block from byte 0 in a buffer of its own; view it rather than copy (streams of
    // landmarks are ~400 MB per hour of 30 fps video).
    return new Ctor(raw.buffer, 0, h.rows * h.dim);
  }
  // A fresh, aligned buffer: readFile's Buffer may sit at an offset a typed-array view cannot use.
  const bytes = new Uint8Array(h.rows * rowBytes);
  let at = 0;
  for (const c of h.chunks) {
    const n = c.num * rowBytes;
    bytes.set(raw.subarray(c.byte, c.byte + n), at);
    at += n;
  }
  if (!LITTLE_ENDIAN_HOST) swapBytes(bytes, h.byte);
  return new Ctor(bytes.buffer, 0, h.rows * h.dim);
}

/** Text forms of NaN and infinity written by C printf on Linux and Windows, and by Python. */
const NAN_TEXT = /^[-+]?(nan(\(.*\))?|1\.#(ind|qnan)0*|nan\(ind\))$/i;
const INF_TEXT = /^([-+])?(inf|infinity|1\.#inf0*)$/i;

function parseFloatToken(token: string): number {
  const v = Number(token);
  if (!Number.isNaN(v)) return v;
  if (NAN_TEXT.test(token)) return NaN;
  const inf = INF_TEXT.exec(token);
  if (inf) return inf[1] === "-" ? -Infinity : Infinity;
  throw new Error(`'${token}' is not a number`);
}

function parseIntToken(token: string, type: SsiType, byte: number): bigint {
  let v: bigint;
  if (/^[-+]?\d+$/.test(token)) v = BigInt(token);
  else if (type === "BOOL" && /^(true|false)$/i.test(token)) v = token.toLowerCase() === "true" ? 1n : 0n;
  else throw new Error(`'${token}' is not an integer`);
  const [lo, hi] = intRange(KIND[type], byte);
  if (v < lo || v > hi) throw new Error(`${token} is out of range for ${type} (${byte} bytes)`);
  return v;
}

/** Parses ASCII data: one sample per non-empty line. Chunk byte offsets are not used for text. */
export function parseAscii(h: SsiHeader, dataFile: string, text: string): SsiData {
  const Ctor = ssiArrayType(h.type, h.byte, dataFile);
  const out = new Ctor(h.rows * h.dim);
  const kind = KIND[h.type];
  const split = h.delim.trim() === ""
    ? (line: string) => line.trim().split(/\s+/)
    : (line: string) => {
        const tokens = line.split(h.delim).map((t) => t.trim());
        if (tokens.length > 1 && tokens[tokens.length - 1] === "") tokens.pop(); // a trailing delimiter
        return tokens;
      };
  let row = 0;
  let lineNo = 0;
  for (const rawLine of text.split("\n")) {
    lineNo++;
    const line = rawLine.replace(/\r$/, "");
    if (line.trim() === "") continue;
    if (row >= h.rows) {
      row++;
      continue; // counted for the error below
    }
    const tokens = split(line);
    if (tokens.length !== h.dim) {
      throw new Error(`${dataFile}: line ${lineNo} has ${tokens.length} values, header says dim=${h.dim}`);
    }
    for (let j = 0; j < h.dim; j++) {
      const token = tokens[j];
      try {
        if (kind === "float") (out as Float32Array | Float64Array)[row * h.dim + j] = parseFloatToken(token);
        else if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[row * h.dim + j] = parseIntToken(token, h.type, h.byte);
        else (out as Exclude<SsiData, BigInt64Array | BigUint64Array>)[row * h.dim + j] = Number(parseIntToken(token, h.type, h.byte));
      } catch (err) {
        throw new Error(`${dataFile}: line ${lineNo}, value ${j + 1}: ${(err as Error).message}`);
      }
    }
    row++;
  }
  if (row !== h.rows) {
    throw new Error(`${dataFile}: ASCII data has ${row} samples (non-empty lines) but the header expects ${h.rows}`);
  }
  return out;
}
