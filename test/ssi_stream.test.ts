/**
 * lib/ssi/stream.ts: SSI stream files. Expected bytes and values are built here by hand (Buffer.write*LE,
 * literal headers) rather than taken from the code under test.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import {
  formatSampleRate,
  parseSsiHeader,
  readSsiHeader,
  readSsiStream,
  SSI_TYPES,
  SsiStreamWriter,
  writeSsiStream,
  type SsiData,
  type SsiType,
} from "../lib/ssi/stream.js";

const dir = mkdtempSync(path.join(tmpdir(), "ssi-stream-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = (name = "s") => path.join(dir, `${name}${counter++}.stream`);

function bytesOf(a: SsiData): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Values each type must carry unchanged: its extremes, zero, and (floats) the IEEE special cases. */
const CASES: Array<{ type: SsiType; byte: number; make: () => SsiData }> = [
  { type: "CHAR", byte: 1, make: () => Int8Array.of(-128, -1, 0, 1, 127, 42) },
  { type: "UCHAR", byte: 1, make: () => Uint8Array.of(0, 1, 128, 255, 7, 200) },
  { type: "SHORT", byte: 2, make: () => Int16Array.of(-32768, -1, 0, 1, 32767, 1234) },
  { type: "USHORT", byte: 2, make: () => Uint16Array.of(0, 1, 32768, 65535, 4321, 9) },
  { type: "INT", byte: 4, make: () => Int32Array.of(-2147483648, -1, 0, 1, 2147483647, 123456789) },
  { type: "UINT", byte: 4, make: () => Uint32Array.of(0, 1, 2147483648, 4294967295, 99, 3000000000) },
  { type: "LONG", byte: 4, make: () => Int32Array.of(-2147483648, -1, 0, 1, 2147483647, -7) },
  { type: "LONG", byte: 8, make: () => BigInt64Array.of(-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n, 2n ** 53n + 1n) },
  { type: "ULONG", byte: 4, make: () => Uint32Array.of(0, 1, 4294967295, 5, 6, 7) },
  { type: "ULONG", byte: 8, make: () => BigUint64Array.of(0n, 1n, 2n ** 64n - 1n, 2n ** 53n + 1n, 8n, 9n) },
  // float32: 0.1 (needs 9 digits to round-trip), the smallest subnormal, the largest finite, -0, NaN, Inf.
  { type: "FLOAT", byte: 4, make: () => Float32Array.of(0.1, 1.401298464324817e-45, 3.4028234663852886e38, -0, NaN, -Infinity) },
  { type: "DOUBLE", byte: 8, make: () => Float64Array.of(0.1, 5e-324, Number.MAX_VALUE, -0, NaN, Infinity) },
  { type: "BOOL", byte: 1, make: () => Uint8Array.of(0, 1, 1, 0, 1, 1) },
];

test("every SSI type round-trips in BINARY and ASCII, bit for bit", async () => {
  const covered = new Set(CASES.map((c) => c.type));
  assert.deepEqual([...covered].sort(), [...SSI_TYPES].sort(), "a case for every type");
  for (const ftype of ["BINARY", "ASCII"] as const) {
    for (const c of CASES) {
      const file = fresh(`${c.type}-${c.byte}-${ftype}`);
      const values = c.make();
      await writeSsiStream(file, { sr: 25, dim: 3, type: c.type, byte: c.byte, ftype }, values);
      const s = await readSsiStream(file);
      const what = `${c.type}/${c.byte} ${ftype}`;
      assert.equal(s.rows, 2, what);
      assert.equal(s.dim, 3, what);
      assert.equal(s.header.type, c.type, what);
      assert.equal(s.header.byte, c.byte, what);
      assert.equal(s.data.constructor, values.constructor, what);
      assert.deepEqual(bytesOf(s.data), bytesOf(values), what);
      if (ftype === "BINARY") assert.deepEqual(readFileSync(file + "~"), bytesOf(values), `${what}: data file = raw little-endian values`);
    }
  }
});

test("written FLOAT stream: data file is little-endian float32 rows and the header is SSI's layout", async () => {
  const file = fresh();
  await writeSsiStream(file, { sr: 25, dim: 2, meta: { type: "feature;face;landmarks;facemesh", size: "640:360" } }, Float32Array.of(0.5, -2, 3.25, 1e-3));
  const expected = Buffer.alloc(16);
  [0.5, -2, 3.25, 1e-3].forEach((v, i) => expected.writeFloatLE(v, i * 4));
  assert.deepEqual(readFileSync(file + "~"), expected);
  const lines = readFileSync(file, "utf8").split("\n");
  assert.equal(lines[0], '<?xml version="1.0" ?>');
  assert.equal(lines[1], '<stream ssi-v="2">');
  assert.match(lines[2], /^\s*<info ftype="BINARY" sr="25\.000" dim="2" byte="4" type="FLOAT" delim=" " \/>$/);
  assert.match(lines[3], /^\s*<meta type="feature;face;landmarks;facemesh" size="640:360" \/>$/);
  // 2 samples at 25 Hz: from 0 to 0.08 s.
  assert.match(lines[4], /^\s*<chunk from="0\.0+" to="0\.080*" byte="0" num="2" \/>$/);
  assert.equal(lines[5], "</stream>");
});

test("sr text: three decimals when exact, full precision otherwise (30000/1001 reads back exactly)", async () => {
  assert.equal(formatSampleRate(25), "25.000");
  assert.equal(formatSampleRate(29.97), "29.970");
  assert.equal(formatSampleRate(0.5), "0.500");
  const ntsc = 30000 / 1001;
  assert.notEqual(formatSampleRate(ntsc), "29.970");
  const file = fresh();
  await writeSsiStream(file, { sr: ntsc, dim: 1 }, Float32Array.of(1));
  assert.equal((await readSsiHeader(file)).sr, ntsc);
});

function writeStream(header: string, data: Buffer | string): string {
  const file = fresh("hand");
  writeFileSync(file, header);
  writeFileSync(file + "~", data);
  return file;
}

function floats(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

test("several chunks are concatenated; a chunk is read at its byte offset", async () => {
  const header = `<?xml version="1.0" ?>
<stream ssi-v="2">
  <info ftype="BINARY" sr="10.0" dim="2" byte="4" type="FLOAT" delim=" "/>
  <time ms="0" local="2024/01/01 00:00:00:0" system="2024/01/01 00:00:00:0"/>
  <chunk from="0.0" to="0.2" byte="0" num="2"/>
  <chunk from="0.5" to="0.6" byte="16" num="1"/>
</stream>`;
  const s = await readSsiStream(writeStream(header, floats([1, 2, 3, 4, 5, 6])));
  assert.equal(s.rows, 3);
  assert.equal(s.header.chunks.length, 2);
  assert.deepEqual([...s.data], [1, 2, 3, 4, 5, 6]);

  // SSI C++ seeks to each chunk's byte: 8 bytes (one row) between the chunks are not samples.
  const gap = header.replace('byte="16" num="1"', 'byte="24" num="1"');
  const g = await readSsiStream(writeStream(gap, floats([1, 2, 3, 4, -1, -1, 5, 6])));
  assert.deepEqual([...g.data], [1, 2, 3, 4, 5, 6]);
});

test("header variants: no declaration, discover-utils' ssi-v =\"2\", lower-case type; version 1 and LZ4 are refused", async () => {
  const noDecl = `<stream ssi-v ="2">
    <info ftype="BINARY" sr="25.0" dim="1" byte="4" type="float"/>
    <meta type="feature;face;boundingbox;blazeface" size="640:480"/>
    <chunk from="0.0" to="0.08" byte="0" num="2"/>
</stream>`;
  const s = await readSsiStream(writeStream(noDecl, floats([7, 8])));
  assert.equal(s.header.version, 2);
  assert.equal(s.header.type, "FLOAT");
  assert.equal(s.header.delim, " ");
  assert.deepEqual(s.header.meta, { type: "feature;face;boundingbox;blazeface", size: "640:480" });
  assert.deepEqual([...s.data], [7, 8]);

  const v1 = writeStream(noDecl.replace('ssi-v ="2"', 'ssi-v="1"'), floats([7, 8]));
  await assert.rejects(readSsiStream(v1), (e: Error) => e.message.includes(v1) && /versions before 2/.test(e.message));
  const lz4 = writeStream(noDecl.replace('ftype="BINARY"', 'ftype="BIN_LZ4"'), floats([7, 8]));
  await assert.rejects(readSsiStream(lz4), (e: Error) => e.message.includes(lz4) && /BIN_LZ4/.test(e.message));
  const broken = writeStream("<stream ssi-v=\"2\"><info></stream>", "");
  await assert.rejects(readSsiStream(broken), (e: Error) => e.message.includes(broken) && /not well-formed XML/.test(e.message));
  assert.throws(() => parseSsiHeader('<stream ssi-v="2"><info ftype="BINARY" sr="25" dim="1" byte="4" type="HALF"/></stream>', "h.stream"), /h\.stream.*type="HALF"/);
  assert.throws(() => parseSsiHeader('<stream ssi-v="2"><info ftype="BINARY" sr="25" dim="1" byte="2" type="FLOAT"/></stream>', "h.stream"), /h\.stream.*FLOAT with byte="2"/);
});

test("a data file whose size disagrees with the header is refused, naming the file and both sizes", async () => {
  const header = `<stream ssi-v="2"><info ftype="BINARY" sr="25" dim="2" byte="4" type="FLOAT"/><chunk from="0" to="0.12" byte="0" num="3"/></stream>`;
  const short = writeStream(header, floats([1, 2, 3, 4, 5]));
  await assert.rejects(readSsiStream(short), (e: Error) =>
    e.message.includes(short + "~") && /has 20 bytes/.test(e.message) && /expects 24 bytes/.test(e.message));
  const long = writeStream(header, floats([1, 2, 3, 4, 5, 6, 7]));
  await assert.rejects(readSsiStream(long), /has 28 bytes.*expects 24 bytes/);
  const missing = fresh("missing");
  writeFileSync(missing, header);
  await assert.rejects(readSsiStream(missing), (e: Error) => e.message.includes(missing + "~"));
});

test("ASCII data: CRLF, trailing delimiter, C/Windows spellings of NaN and infinity; wrong counts refused", async () => {
  const header = `<?xml version="1.0" ?>\n<stream ssi-v="2"><info ftype="ASCII" sr="25" dim="3" byte="4" type="FLOAT" delim=";"/><chunk from="0" to="0.08" byte="0" num="2"/></stream>`;
  const s = await readSsiStream(writeStream(header, "1.5;-2;nan;\r\n-1.#INF;1e-3;-nan(ind)\r\n\r\n"));
  assert.equal(s.data[0], 1.5);
  assert.equal(s.data[1], -2);
  assert.ok(Number.isNaN(s.data[2]));
  assert.equal(s.data[3], -Infinity);
  assert.equal(s.data[4], Math.fround(1e-3));
  assert.ok(Number.isNaN(s.data[5]));
  const fewRows = writeStream(header, "1;2;3\n");
  await assert.rejects(readSsiStream(fewRows), (e: Error) => e.message.includes(fewRows + "~") && /1 samples.*expects 2/.test(e.message));
  const fewValues = writeStream(header, "1;2;3\n4;5\n");
  await assert.rejects(readSsiStream(fewValues), /line 2 has 2 values, header says dim=3/);
  const notNumber = writeStream(header, "1;2;3\n4;x;6\n");
  await assert.rejects(readSsiStream(notNumber), /line 2, value 2: 'x' is not a number/);
  const intHeader = header.replace('type="FLOAT"', 'type="UCHAR"').replace('byte="4"', 'byte="1"');
  await assert.rejects(readSsiStream(writeStream(intHeader, "1;2;3\n4;256;6\n")), /256 is out of range for UCHAR/);
});

test("writer: an aborted write leaves the existing output untouched and no temp files", async () => {
  const sub = mkdtempSync(path.join(dir, "abort-"));
  const file = path.join(sub, "out.stream");
  await writeSsiStream(file, { sr: 25, dim: 2 }, Float32Array.of(1, 2, 3, 4));
  const before = [readFileSync(file), readFileSync(file + "~")];

  const w = await SsiStreamWriter.create(file, { sr: 30, dim: 2 });
  await w.append(Float32Array.of(9, 9, 9, 9, 9, 9));
  // While the new stream is being written, the old one is still whole.
  assert.deepEqual([...(await readSsiStream(file)).data], [1, 2, 3, 4]);
  await w.abort();
  await w.abort(); // twice is harmless
  assert.deepEqual([readFileSync(file), readFileSync(file + "~")], before);
  assert.deepEqual(readdirSync(sub).sort(), ["out.stream", "out.stream~"]);
  await assert.rejects(w.append(Float32Array.of(1, 2)), /already aborted/);
  await assert.rejects(w.commit(), /already aborted/);
});

test("writer: commit replaces the output and leaves no temp files; bad appends are refused before writing", async () => {
  const sub = mkdtempSync(path.join(dir, "commit-"));
  const file = path.join(sub, "out.stream");
  await writeSsiStream(file, { sr: 25, dim: 2 }, Float32Array.of(1, 2, 3, 4));

  const w = await SsiStreamWriter.create(file, { sr: 30, dim: 3 });
  await assert.rejects(w.append(Float32Array.of(1, 2)), /2 values, not a whole number of rows of dim 3/);
  // Many small appends crossing the internal 1 MiB buffer: 100 000 rows x 3 floats = 1.2 MB.
  const rows = 100_000;
  for (let r = 0; r < rows; r += 1000) {
    const batch = new Float32Array(3000);
    for (let i = 0; i < batch.length; i++) batch[i] = r * 3 + i;
    await w.append(batch);
  }
  assert.equal(w.rows, rows);
  const header = await w.commit();
  assert.equal(header.rows, rows);
  assert.deepEqual(header.chunks, [{ from: 0, to: rows / 30, byte: 0, num: rows }]);
  assert.deepEqual(readdirSync(sub).sort(), ["out.stream", "out.stream~"]);
  const s = await readSsiStream(file);
  assert.equal(s.rows, rows);
  assert.equal(s.header.sr, 30);
  let mismatches = 0;
  for (let i = 0; i < s.data.length; i++) if (s.data[i] !== Math.fround(i)) mismatches++;
  assert.equal(mismatches, 0);
  await assert.rejects(w.append(Float32Array.of(1, 2, 3)), /already committed/);

  const ints = await SsiStreamWriter.create(path.join(sub, "ints.stream"), { sr: 1, dim: 1, type: "SHORT" });
  await assert.rejects(ints.append([40000]), /40000 at index 0 is not representable as SHORT/);
  await assert.rejects(ints.append([1.5]), /1\.5 at index 0 is not representable as SHORT/);
  await ints.append([-5, 7]);
  await ints.commit();
  assert.deepEqual([...(await readSsiStream(path.join(sub, "ints.stream"))).data], [-5, 7]);
});

test("writer: a stream with no rows is valid", async () => {
  const file = fresh();
  const w = await SsiStreamWriter.create(file, { sr: 25, dim: 4 });
  await w.commit();
  const s = await readSsiStream(file);
  assert.equal(s.rows, 0);
  assert.equal(s.data.length, 0);
  assert.equal(readFileSync(file + "~").length, 0);
});

test("writer options are checked, naming the output", async () => {
  const file = fresh();
  await assert.rejects(SsiStreamWriter.create(file, { sr: 0, dim: 1 }), (e: Error) => e.message.includes(file) && /sr 0/.test(e.message));
  await assert.rejects(SsiStreamWriter.create(file, { sr: 25, dim: 0 }), /dim 0/);
  await assert.rejects(SsiStreamWriter.create(file, { sr: 25, dim: 1, type: "FLOAT", byte: 2 }), /FLOAT with byte="2"/);
  await assert.rejects(SsiStreamWriter.create(file, { sr: 25, dim: 1, meta: { "bad key": "x" } }), /meta key/);
  await assert.rejects(SsiStreamWriter.create(path.join(dir, "no-such-dir", "x.stream"), { sr: 25, dim: 1 }), /no-such-dir.*cannot create/);
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes(".tmp")), []);
});

test("meta values with XML specials survive a round trip", async () => {
  const file = fresh();
  const meta = { type: "a;b", note: `x & y < "z" > 'w'\tend &#9; &amp;` };
  await writeSsiStream(file, { sr: 25, dim: 1, meta }, Float32Array.of(1));
  assert.deepEqual((await readSsiHeader(file)).meta, meta);
});

test("writer: prepare() leaves the output untouched until commit(); a prepared writer can still be aborted", async () => {
  const out = fresh("prep");
  await writeSsiStream(out, { sr: 1, dim: 1 }, Float32Array.of(7));
  const before = readFileSync(out, "utf8");
  const w = await SsiStreamWriter.create(out, { sr: 2, dim: 2 });
  await w.append(Float32Array.of(1, 2, 3, 4));
  await w.prepare();
  assert.equal(readFileSync(out, "utf8"), before, "prepared, not yet in place");
  assert.deepEqual(bytesOf((await readSsiStream(out)).data as Float32Array), Buffer.from(Float32Array.of(7).buffer));
  const header = await w.commit();
  assert.equal(header.rows, 2);
  assert.deepEqual([...((await readSsiStream(out)).data as Float32Array)], [1, 2, 3, 4]);
  await assert.rejects(w.prepare(), /already committed/);

  const w2 = await SsiStreamWriter.create(out, { sr: 2, dim: 2 });
  await w2.append(Float32Array.of(9, 9));
  await w2.prepare();
  await w2.abort();
  assert.deepEqual([...((await readSsiStream(out)).data as Float32Array)], [1, 2, 3, 4], "the aborted stream never appeared");
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes(path.basename(out)) && f.includes(".tmp")), [], "no temp files left");
});
