/**
 * Writing SSI streams: row by row, memory flat, the pair replaced atomically (lib/atomic_file.ts).
 */
import { type FileHandle } from "node:fs/promises";
import path from "node:path";
import { formatSsiHeader, intRange, KIND, LITTLE_ENDIAN_HOST, ssiArrayType, ssiDataPath, SSI_DEFAULT_BYTES, SSI_TYPES, swapBytes, type DataCtor, type NumberArrayCtor, type SsiData, type SsiFileType, type SsiHeader, type SsiType } from "./stream_format.js";
import { isXmlName } from "./xml.js";
import { assertNotDirectory, newTag, nodeFs, replaceGroup, siblingPath, sweepStale, tempPathFor, type AtomicFs } from "../atomic_file.js";
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
