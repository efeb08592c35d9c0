/**
 * SSI streams: the two-file format NOVA, SSI and discover-utils use for sampled data.
 *   name.stream   XML header: <stream ssi-v="2"> <info .../> [<meta .../>] [<time .../>] <chunk .../>+ </stream>
 *   name.stream~  data: BINARY (row-major, little-endian, `byte` bytes per value, no padding) or
 *                 ASCII (one sample per line, values separated by `delim`).
 * Reading accepts what SSI C++ and discover-utils write (declaration or none, `ssi-v ="2"`, any type, several
 * chunks); writing produces what SSI C++ writes, so NOVA, SSI and discover-utils all read our output.
 */
import { readFile, stat, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { assertNotDirectory, newTag, nodeFs, replaceGroup, siblingPath, sweepStale, tempPathFor, type AtomicFs } from "../atomic_file.js";
import { attributesOf, childrenOf, escapeAttribute, isXmlName, parseXmlRoot } from "./xml.js";

export const SSI_TYPES = ["CHAR", "UCHAR", "SHORT", "USHORT", "INT", "UINT", "LONG", "ULONG", "FLOAT", "DOUBLE", "BOOL"] as const;
export type SsiType = (typeof SSI_TYPES)[number];
/** BIN_LZ4 exists in SSI but nothing in the NOVA tool chain writes it for features; it is rejected with a clear error. */
export type SsiFileType = "BINARY" | "ASCII";

type Kind = "int" | "uint" | "float";
/** What each type stores; its width comes from the header's `byte` (LONG is 4 bytes in SSI C++, 8 in discover-utils). */
const KIND: Record<SsiType, Kind> = {
  CHAR: "int", UCHAR: "uint", SHORT: "int", USHORT: "uint", INT: "int", UINT: "uint",
  LONG: "int", ULONG: "uint", FLOAT: "float", DOUBLE: "float", BOOL: "uint",
};
/** Widths SSI C++ uses (sizeof on its platforms): our default when writing. */
export const SSI_DEFAULT_BYTES: Record<SsiType, number> = {
  CHAR: 1, UCHAR: 1, SHORT: 2, USHORT: 2, INT: 4, UINT: 4, LONG: 4, ULONG: 4, FLOAT: 4, DOUBLE: 8, BOOL: 1,
};

export type SsiData =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

type NumberArrayCtor = Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor
  | Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;
type BigArrayCtor = BigInt64ArrayConstructor | BigUint64ArrayConstructor;
type DataCtor = NumberArrayCtor | BigArrayCtor;

const CTORS: Record<Kind, Partial<Record<number, DataCtor>>> = {
  int: { 1: Int8Array, 2: Int16Array, 4: Int32Array, 8: BigInt64Array },
  uint: { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array, 8: BigUint64Array },
  float: { 4: Float32Array, 8: Float64Array },
};

/** The typed array that holds `type` values of `byte` bytes; throws for widths the type cannot have. */
export function ssiArrayType(type: SsiType, byte: number, where = "SSI stream"): DataCtor {
  const ctor = CTORS[KIND[type]][byte];
  if (!ctor) {
    const allowed = Object.keys(CTORS[KIND[type]]).join(", ");
    throw new Error(`${where}: type ${type} with byte="${byte}" is not supported (allowed widths: ${allowed})`);
  }
  return ctor;
}

export interface SsiChunk {
  /** Seconds. */
  from: number;
  to: number;
  /** Byte offset of the chunk's first sample in the data file. */
  byte: number;
  /** Samples (rows) in the chunk. */
  num: number;
}

export interface SsiHeader {
  /** The `ssi-v` attribute (>= 2). */
  version: number;
  ftype: SsiFileType;
  /** Samples per second. */
  sr: number;
  /** Values per sample. */
  dim: number;
  /** Bytes per value. */
  byte: number;
  type: SsiType;
  delim: string;
  /** Free attributes of <meta> (type, size, ...); empty when there is none. */
  meta: Record<string, string>;
  chunks: SsiChunk[];
  /** Samples in the stream: the sum of the chunks' num. */
  rows: number;
}

export interface SsiStream {
  /** The header file's path. */
  path: string;
  header: SsiHeader;
  /** rows * dim values, row-major, chunks concatenated in header order. */
  data: SsiData;
  rows: number;
  dim: number;
}

/** The data file of a stream: the header's path plus "~". */
export function ssiDataPath(headerPath: string): string {
  return headerPath + "~";
}

/** Accepts the header path or the data path ("x.stream~") and returns the header path. */
function headerPathOf(p: string): string {
  return p.endsWith("~") ? p.slice(0, -1) : p;
}

// ---------------------------------------------------------------------------------------------------------------
// Header

/** Parses header XML; `file` names the header in errors. Pure: no file access. */
export function parseSsiHeader(xml: string, file: string): SsiHeader {
  const root = parseXmlRoot(xml, "stream", file);
  const rootAttrs = attributesOf(root);
  const bad = (what: string): never => {
    throw new Error(`${file}: invalid SSI stream header: ${what}`);
  };

  const versionText = rootAttrs["ssi-v"];
  if (versionText === undefined) bad('<stream> has no ssi-v attribute');
  const version = Number(versionText);
  if (!Number.isInteger(version)) bad(`ssi-v="${versionText}" is not a version number`);
  if (version < 2) bad(`ssi-v="${versionText}": versions before 2 are not supported`);

  const infos = childrenOf(root, "info");
  if (infos.length !== 1) bad(`expected one <info> element, found ${infos.length}`);
  const info = attributesOf(infos[0]);

  const ftype = (info.ftype ?? "").toUpperCase();
  if (ftype === "BIN_LZ4") bad('ftype="BIN_LZ4" (LZ4-compressed data) is not supported');
  if (ftype !== "BINARY" && ftype !== "ASCII") bad(`ftype="${info.ftype ?? ""}" must be BINARY or ASCII`);

  const type = (info.type ?? "").toUpperCase() as SsiType;
  if (!SSI_TYPES.includes(type)) bad(`type="${info.type ?? ""}" is not one of ${SSI_TYPES.join(" ")}`);

  const sr = Number(info.sr);
  if (info.sr === undefined || !Number.isFinite(sr) || sr <= 0) bad(`sr="${info.sr ?? ""}" must be a positive number`);
  const dim = Number(info.dim);
  if (!Number.isInteger(dim) || dim < 1) bad(`dim="${info.dim ?? ""}" must be a positive integer`);
  const byte = info.byte === undefined ? SSI_DEFAULT_BYTES[type] : Number(info.byte);
  if (!Number.isInteger(byte) || byte < 1) bad(`byte="${info.byte}" must be a positive integer`);
  ssiArrayType(type, byte, file);
  // SSI's default delimiter is a space; an empty one cannot separate ASCII values.
  const delim = info.delim === undefined || info.delim === "" ? " " : info.delim;

  const metas = childrenOf(root, "meta");
  if (metas.length > 1) bad(`expected at most one <meta> element, found ${metas.length}`);
  const meta = metas.length ? attributesOf(metas[0]) : {};

  const chunks = childrenOf(root, "chunk").map((element, i): SsiChunk => {
    const a = attributesOf(element);
    const num = Number(a.num);
    const byteOffset = a.byte === undefined ? 0 : Number(a.byte);
    const from = a.from === undefined ? 0 : Number(a.from);
    const to = a.to === undefined ? 0 : Number(a.to);
    if (!Number.isInteger(num) || num < 0) bad(`chunk ${i + 1}: num="${a.num ?? ""}" must be a non-negative integer`);
    if (!Number.isInteger(byteOffset) || byteOffset < 0) bad(`chunk ${i + 1}: byte="${a.byte}" must be a non-negative integer`);
    if (!Number.isFinite(from) || !Number.isFinite(to)) bad(`chunk ${i + 1}: from/to must be numbers`);
    return { from, to, byte: byteOffset, num };
  });
  const rows = chunks.reduce((n, c) => n + c.num, 0);

  return { version, ftype: ftype as SsiFileType, sr, dim, byte, type, delim, meta, chunks, rows };
}

export async function readSsiHeader(headerPath: string): Promise<SsiHeader> {
  const file = headerPathOf(headerPath);
  let xml: string;
  try {
    xml = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read SSI stream header: ${(err as Error).message}`);
  }
  return parseSsiHeader(xml, file);
}

/**
 * sr as text: three decimals like SSI ("25.000", "29.970") when that is exact, else the shortest text that
 * reads back as the same double ("29.97002997002997" for 30000/1001). Rounding 30000/1001 to 29.970 would
 * shift the time of every sample by 1 ppm: 3.6 ms after an hour, a whole frame after ~9 hours, against a video
 * that really runs at 30000/1001; every reader (SSI's atof, NOVA's double.Parse, discover-utils' float()) reads
 * the full precision.
 */
export function formatSampleRate(sr: number): string {
  const fixed = sr.toFixed(3);
  return Number(fixed) === sr ? fixed : String(sr);
}

/** Header XML in SSI C++'s layout: declaration line, <stream ssi-v="2">, info, meta, chunks. */
export function formatSsiHeader(h: Omit<SsiHeader, "version" | "rows">): string {
  const attrs = (pairs: Array<[string, string]>) => pairs.map(([k, v]) => `${k}="${escapeAttribute(v)}"`).join(" ");
  const lines = [
    '<?xml version="1.0" ?>',
    '<stream ssi-v="2">',
    `\t<info ${attrs([["ftype", h.ftype], ["sr", formatSampleRate(h.sr)], ["dim", String(h.dim)], ["byte", String(h.byte)], ["type", h.type], ["delim", h.delim]])} />`,
  ];
  const meta = Object.entries(h.meta);
  if (meta.length) lines.push(`\t<meta ${attrs(meta)} />`);
  for (const c of h.chunks) {
    lines.push(`\t<chunk ${attrs([["from", c.from.toFixed(6)], ["to", c.to.toFixed(6)], ["byte", String(c.byte)], ["num", String(c.num)]])} />`);
  }
  lines.push("</stream>", "");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Reading data

const LITTLE_ENDIAN_HOST = os.endianness() === "LE";

/** Reverses the bytes of each `width`-byte value in place (file order is little-endian). */
function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
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

function intRange(kind: Kind, byte: number): [bigint, bigint] {
  const bits = BigInt(8 * byte);
  return kind === "uint" ? [0n, (1n << bits) - 1n] : [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n];
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

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface SsiWriteOptions {
  /** Samples per second (e.g. the video's average frame rate). */
  sr: number;
  /** Values per sample. */
  dim: number;
  /** Default FLOAT. */
  type?: SsiType;
  /** Bytes per value; default SSI_DEFAULT_BYTES[type]. */
  byte?: number;
  /** Default BINARY. */
  ftype?: SsiFileType;
  /** ASCII value separator; default " ". */
  delim?: string;
  /** Attributes of <meta>, e.g. { type: "feature;face;landmarks;facemesh", size: "640:360" }. */
  meta?: Record<string, string>;
}

/** Rows to append: a typed array of the stream's own type is written as is; other arrays are converted (and checked). */
export type SsiRowsInput = SsiData | ArrayLike<number> | ArrayLike<bigint>;

/** Bytes gathered before a write: large enough for few syscalls, small enough that memory stays flat. */
const WRITE_BUFFER_BYTES = 1 << 20;

/**
 * Writes a stream row by row without holding it in memory. Data and header go to temp files next to the
 * output; commit() puts them in place as one group (lib/atomic_file.ts replaceGroup), abort() deletes them, so
 * an existing output at that path stays whole until a new one is complete, and a failure or kill at any step
 * leaves the old pair or the new pair, never a mix.
 */
export class SsiStreamWriter {
  readonly path: string;
  readonly dataPath: string;
  readonly sr: number;
  readonly dim: number;
  readonly type: SsiType;
  readonly byte: number;
  readonly ftype: SsiFileType;
  readonly delim: string;
  readonly meta: Record<string, string>;

  #rows = 0;
  /** failed: a write to the temp file failed, so its content is unknown; only abort() is allowed. */
  #state: "open" | "prepared" | "committed" | "aborted" | "failed" = "open";
  #header: SsiHeader | undefined;
  #handle: FileHandle | undefined;
  readonly #tmpHeader: string;
  readonly #tmpData: string;
  readonly #fs: AtomicFs;
  readonly #tag: string;
  readonly #ctor: DataCtor;
  #buffer: Uint8Array;
  #buffered = 0;
  #text: string[] = [];
  #textLength = 0;
  #pending: Promise<void> = Promise.resolve();

  private constructor(headerPath: string, o: Required<SsiWriteOptions>, handle: FileHandle, tmpHeader: string, tmpData: string, fs: AtomicFs, tag: string) {
    this.path = headerPath;
    this.dataPath = ssiDataPath(headerPath);
    this.sr = o.sr;
    this.dim = o.dim;
    this.type = o.type;
    this.byte = o.byte;
    this.ftype = o.ftype;
    this.delim = o.delim;
    this.meta = { ...o.meta };
    this.#handle = handle;
    this.#tmpHeader = tmpHeader;
    this.#tmpData = tmpData;
    this.#fs = fs;
    this.#tag = tag;
    this.#ctor = ssiArrayType(o.type, o.byte, headerPath);
    this.#buffer = new Uint8Array(o.ftype === "BINARY" ? Math.max(WRITE_BUFFER_BYTES, o.dim * o.byte) : 0);
  }

  /**
   * Opens the temp data file. `headerPath` is the `.stream` file; the data goes to `headerPath + "~"`. Leftovers
   * of an earlier writer of this stream that died (temp files, an unfinished replacement) are cleaned up first.
   * `io.fs` replaces the file operations (fault-injection tests).
   */
  static async create(headerPath: string, options: SsiWriteOptions, io: { fs?: AtomicFs } = {}): Promise<SsiStreamWriter> {
    if (headerPath.endsWith("~")) throw new Error(`${headerPath}: give the header path (x.stream), not the data path (x.stream~)`);
    const o = checkWriteOptions(headerPath, options);
    const fs = io.fs ?? nodeFs;
    const dataPath = ssiDataPath(headerPath);
    await assertNotDirectory(headerPath, fs);
    await assertNotDirectory(dataPath, fs);
    await sweepStale(path.dirname(headerPath), { only: [path.basename(headerPath), path.basename(dataPath)], fs });
    const tag = newTag();
    const tmpHeader = tempPathFor(headerPath, tag);
    const tmpData = tempPathFor(dataPath, tag);
    let handle: FileHandle;
    try {
      handle = await fs.open(tmpData, "wx");
    } catch (err) {
      throw new Error(`${headerPath}: cannot create SSI stream: ${(err as Error).message}`, { cause: err });
    }
    return new SsiStreamWriter(headerPath, o, handle, tmpHeader, tmpData, fs, tag);
  }

  /** Samples appended so far. */
  get rows(): number {
    return this.#rows;
  }

  /**
   * Appends whole rows (values.length must be a multiple of dim). Resolves once the bytes are handed to the
   * file (or buffered): await it before appending more, and memory stays bounded whatever the length.
   * Concurrent calls are serialized in call order.
   */
  append(values: SsiRowsInput): Promise<void> {
    const run = this.#pending.then(() => this.#append(values));
    this.#pending = run.catch(() => undefined);
    return run;
  }

  async #append(values: SsiRowsInput): Promise<void> {
    this.#assertOpen("append");
    if (values.length % this.dim !== 0) {
      throw new Error(`${this.path}: append got ${values.length} values, not a whole number of rows of dim ${this.dim}`);
    }
    if (values.length === 0) return;
    const typed = toStreamType(values, this.#ctor, this.type, this.byte, this.path);
    try {
      await this.#write(typed);
    } catch (err) {
      this.#state = "failed";
      throw new Error(`${this.path}: cannot write SSI stream data: ${(err as Error).message}`, { cause: err });
    }
    this.#rows += typed.length / this.dim;
  }

  async #write(typed: SsiData): Promise<void> {
    if (this.ftype === "ASCII") {
      for (let r = 0; r < typed.length / this.dim; r++) {
        const line = formatAsciiRow(typed, r * this.dim, this.dim, this.type, this.delim);
        this.#text.push(line);
        this.#textLength += line.length;
      }
      if (this.#textLength >= WRITE_BUFFER_BYTES) await this.#flush();
    } else {
      let bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
      if (!LITTLE_ENDIAN_HOST && this.byte > 1) {
        bytes = bytes.slice();
        swapBytes(bytes, this.byte);
      }
      if (this.#buffered + bytes.length > this.#buffer.length) await this.#flush();
      if (bytes.length >= this.#buffer.length) await this.#handle!.write(bytes);
      else {
        this.#buffer.set(bytes, this.#buffered);
        this.#buffered += bytes.length;
      }
    }
  }

  async #flush(): Promise<void> {
    if (this.#buffered > 0) {
      await this.#handle!.write(this.#buffer.subarray(0, this.#buffered));
      this.#buffered = 0;
    }
    if (this.#text.length) {
      await this.#handle!.write(this.#text.join(""), null, "utf8");
      this.#text = [];
      this.#textLength = 0;
    }
  }

  /**
   * Finishes the data, writes the header (one chunk: from 0 to rows/sr, byte 0, num rows) and replaces the old
   * pair with both as one group: data first, header last (the commit point), old pair restored on failure.
   * Returns the header written.
   */
  commit(): Promise<SsiHeader> {
    const run = this.#pending.then(() => this.#commit());
    this.#pending = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * The first half of commit(): everything but the replacement (data flushed and synced, header written and
   * synced under its temporary name). The output is untouched until commit() (or commitTogether); abort() still
   * drops it. A failed prepare discards this writer's temp files.
   */
  prepare(): Promise<void> {
    const run = this.#pending.then(() => this.#prepare());
    this.#pending = run.then(() => undefined, () => undefined);
    return run.then(() => undefined);
  }

  /**
   * Commits several streams that belong together (a landmark stream and its head pose): all appear, or none.
   * Each is prepared first; then, when all are in one folder, their files are replaced as ONE journaled group
   * (lib/atomic_file.ts replaceGroup; the last writer's header is the commit point, and a kill at any step is
   * rolled back or forward by the next writer of these paths). Streams in different folders are committed one
   * group after the other, in the order given: an error or kill between two of them leaves the earlier ones
   * new and the later ones as they were, so give the stream readers look at first last.
   */
  static async commitTogether(writers: readonly SsiStreamWriter[]): Promise<SsiHeader[]> {
    try {
      for (const w of writers) await w.prepare();
    } catch (err) {
      for (const w of writers) await w.abort();
      throw err;
    }
    const dirs = new Set(writers.map((w) => path.dirname(w.path)));
    if (writers.length < 2 || dirs.size > 1) {
      const headers: SsiHeader[] = [];
      try {
        for (const w of writers) headers.push(await w.commit());
      } catch (err) {
        for (const w of writers) await w.abort();
        throw err;
      }
      return headers;
    }
    const last = writers[writers.length - 1]!;
    const entries = writers.flatMap((w) => [
      { temp: w.#tmpData, target: w.dataPath },
      { temp: w.#tmpHeader, target: w.path },
    ]);
    try {
      await replaceGroup(entries, { fs: last.#fs, tag: last.#tag });
    } catch (err) {
      // The group's journal (named after the last header, with its tag) still there: the next run recovers it,
      // and needs every temp file; otherwise the temps are dropped.
      const pending = await last.#fs.lstat(siblingPath(last.path, last.#tag, "journal")).then(() => true, () => false);
      for (const w of writers) {
        if (pending) w.#state = "aborted";
        else await w.#discard();
      }
      throw new Error(`${last.path}: cannot write the SSI streams ${writers.map((w) => w.path).join(", ")} together: ${(err as Error).message}`, { cause: err });
    }
    for (const w of writers) w.#state = "committed";
    return writers.map((w) => w.#header!);
  }

  async #commit(): Promise<SsiHeader> {
    if (this.#state !== "prepared") await this.#prepare();
    try {
      await replaceGroup([{ temp: this.#tmpData, target: this.dataPath }, { temp: this.#tmpHeader, target: this.path }], { fs: this.#fs, tag: this.#tag });
      this.#state = "committed";
      return this.#header!;
    } catch (err) {
      await this.#discard();
      throw new Error(`${this.path}: cannot write SSI stream: ${(err as Error).message}`, { cause: err });
    }
  }

  async #prepare(): Promise<SsiHeader> {
    this.#assertOpen("commit");
    try {
      await this.#flush();
      await this.#handle!.sync();
      await this.#handle!.close();
      this.#handle = undefined;
      const header: SsiHeader = {
        version: 2, ftype: this.ftype, sr: this.sr, dim: this.dim, byte: this.byte, type: this.type,
        delim: this.delim, meta: this.meta, rows: this.#rows,
        chunks: [{ from: 0, to: this.#rows / this.sr, byte: 0, num: this.#rows }],
      };
      const headerFile = await this.#fs.open(this.#tmpHeader, "wx");
      try {
        await headerFile.writeFile(formatSsiHeader(header), "utf8");
        await headerFile.sync();
      } finally {
        await headerFile.close();
      }
      this.#state = "prepared";
      this.#header = header;
      return header;
    } catch (err) {
      await this.#discard();
      throw new Error(`${this.path}: cannot write SSI stream: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Drops what was written; an existing stream at the output path is left as it was. Safe to call twice. */
  abort(): Promise<void> {
    const run = this.#pending.then(() => (this.#state === "open" || this.#state === "prepared" || this.#state === "failed" ? this.#discard() : undefined));
    this.#pending = run.catch(() => undefined);
    return run;
  }

  async #discard(): Promise<void> {
    this.#state = "aborted";
    this.#buffered = 0;
    this.#text = [];
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => undefined);
    // A journal still there means a replacement that could not be undone now: its files are the next run's to recover.
    if (await this.#fs.lstat(siblingPath(this.path, this.#tag, "journal")).then(() => true, () => false)) return;
    for (const f of [this.#tmpData, this.#tmpHeader]) await this.#fs.unlink(f).catch(() => undefined);
  }

  #assertOpen(what: string): void {
    if (this.#state !== "open") throw new Error(`${this.path}: cannot ${what}: the stream writer is already ${this.#state}`);
  }
}

function checkWriteOptions(file: string, o: SsiWriteOptions): Required<SsiWriteOptions> {
  const bad = (what: string): never => {
    throw new Error(`${file}: invalid SSI stream options: ${what}`);
  };
  const type = o.type ?? "FLOAT";
  if (!SSI_TYPES.includes(type)) bad(`type "${type}" is not one of ${SSI_TYPES.join(" ")}`);
  const byte = o.byte ?? SSI_DEFAULT_BYTES[type];
  ssiArrayType(type, byte, file);
  if (!Number.isFinite(o.sr) || o.sr <= 0) bad(`sr ${o.sr} must be a positive number`);
  if (!Number.isInteger(o.dim) || o.dim < 1) bad(`dim ${o.dim} must be a positive integer`);
  const ftype = o.ftype ?? "BINARY";
  if (ftype !== "BINARY" && ftype !== "ASCII") bad(`ftype "${ftype}" must be BINARY or ASCII`);
  const delim = o.delim ?? " ";
  if (delim === "" || /[\r\n0-9.+\-A-Za-z#()]/.test(delim)) bad(`delim ${JSON.stringify(delim)} cannot separate values`);
  const meta = o.meta ?? {};
  for (const [k, v] of Object.entries(meta)) {
    if (!isXmlName(k)) bad(`meta key ${JSON.stringify(k)} is not a valid attribute name`);
    if (typeof v !== "string") bad(`meta value of "${k}" must be a string`);
  }
  return { sr: o.sr, dim: o.dim, type, byte, ftype, delim, meta };
}

/** Converts rows to the stream's typed array, refusing values the type cannot hold (no silent wrap-around). */
function toStreamType(values: SsiRowsInput, Ctor: DataCtor, type: SsiType, byte: number, file: string): SsiData {
  if (values instanceof Ctor) return values;
  const kind = KIND[type];
  const n = values.length;
  if (Ctor === BigInt64Array || Ctor === BigUint64Array) {
    const out = new Ctor(n);
    const [lo, hi] = intRange(kind, byte);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === "number" && !Number.isInteger(v)) throw new Error(`${file}: value ${v} at index ${i} is not an integer (${type})`);
      const b = BigInt(v);
      if (b < lo || b > hi) throw new Error(`${file}: value ${b} at index ${i} is out of range for ${type} (${byte} bytes)`);
      out[i] = b;
    }
    return out;
  }
  const out = new (Ctor as NumberArrayCtor)(n);
  if (kind === "float") {
    for (let i = 0; i < n; i++) out[i] = Number(values[i]);
    return out;
  }
  const [lo, hi] = intRange(kind, byte).map(Number);
  for (let i = 0; i < n; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new Error(`${file}: value ${String(values[i])} at index ${i} is not representable as ${type} (${byte} bytes)`);
    }
    out[i] = v;
  }
  return out;
}

/** Shortest decimal text that reads back (via a double, as every reader parses) as exactly this float32. */
function formatFloat32(v: number): string {
  for (let p = 1; p <= 9; p++) {
    const n = Number(v.toPrecision(p));
    if (Math.fround(n) === v) return String(n);
  }
  return String(v); // not reached: 9 significant digits always round-trip a float32
}

function formatAsciiValue(v: number | bigint, type: SsiType, byte: number): string {
  if (typeof v === "bigint") return v.toString();
  if (KIND[type] !== "float") return String(v);
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return byte === 4 ? formatFloat32(v) : String(v);
}

function formatAsciiRow(data: SsiData, start: number, dim: number, type: SsiType, delim: string): string {
  const parts = new Array<string>(dim);
  const byte = data.BYTES_PER_ELEMENT;
  for (let j = 0; j < dim; j++) parts[j] = formatAsciiValue(data[start + j], type, byte);
  return parts.join(delim) + "\n";
}

/** Writes a whole stream at once (through SsiStreamWriter, so the same temp-and-rename rules apply). */
export async function writeSsiStream(headerPath: string, options: SsiWriteOptions, data: SsiRowsInput): Promise<SsiHeader> {
  const writer = await SsiStreamWriter.create(headerPath, options);
  try {
    await writer.append(data);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.commit();
}
