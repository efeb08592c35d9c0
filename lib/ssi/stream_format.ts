/**
 * SSI stream format: value types, the header's fields, and the XML header read and written (see stream.ts for
 * the two-file layout).
 */
import os from "node:os";
import path from "node:path";
import { attributesOf, childrenOf, escapeAttribute, isXmlName, parseXmlRoot } from "./xml.js";

export const SSI_TYPES = ["CHAR", "UCHAR", "SHORT", "USHORT", "INT", "UINT", "LONG", "ULONG", "FLOAT", "DOUBLE", "BOOL"] as const;
export type SsiType = (typeof SSI_TYPES)[number];
/** BIN_LZ4 exists in SSI but nothing in the NOVA tool chain writes it for features; it is rejected with a clear error. */
export type SsiFileType = "BINARY" | "ASCII";

export type Kind = "int" | "uint" | "float";
/** What each type stores; its width comes from the header's `byte` (LONG is 4 bytes in SSI C++, 8 in discover-utils). */
export const KIND: Record<SsiType, Kind> = {
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

export type NumberArrayCtor = Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor
  | Int32ArrayConstructor | Uint32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;
type BigArrayCtor = BigInt64ArrayConstructor | BigUint64ArrayConstructor;
export type DataCtor = NumberArrayCtor | BigArrayCtor;

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
export function headerPathOf(p: string): string {
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


export const LITTLE_ENDIAN_HOST = os.endianness() === "LE";

/** Reverses the bytes of each `width`-byte value in place (file order is little-endian). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

export function intRange(kind: Kind, byte: number): [bigint, bigint] {
  const bits = BigInt(8 * byte);
  return kind === "uint" ? [0n, (1n << bits) - 1n] : [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n];
}
