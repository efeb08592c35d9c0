/**
 * Our written streams, read back the way discover-utils reads them (test/support/discover_reader.py: xml.etree
 * for the header, np.fromfile / np.loadtxt with the dtype from type and byte, reshape to (num, dim)), must give
 * the values we wrote, bit for bit. Skips when python3 or numpy is missing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { writeSsiStream, type SsiData, type SsiFileType, type SsiType } from "../lib/ssi/stream.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const reader = path.join(projectRoot, "test/support/discover_reader.py");
const dir = mkdtempSync(path.join(tmpdir(), "ssi-discover-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function pythonProblem(): string | null {
  const probe = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
  if (probe.error) return `python3 not available (${probe.error.message})`;
  if (probe.status !== 0) return `numpy not importable: ${probe.stderr.trim().split("\n").pop()}`;
  return null;
}

interface Case {
  type: SsiType;
  byte: number;
  ftype: SsiFileType;
  values: SsiData;
  dtype: string;
}

/** numpy's dtype.str for each type/width: what discover-utils would allocate. */
const TYPES: Array<[SsiType, number, string, () => SsiData]> = [
  ["CHAR", 1, "|i1", () => Int8Array.of(-128, 127, 0, -1)],
  ["UCHAR", 1, "|u1", () => Uint8Array.of(0, 255, 128, 1)],
  ["SHORT", 2, "<i2", () => Int16Array.of(-32768, 32767, 0, -1)],
  ["USHORT", 2, "<u2", () => Uint16Array.of(0, 65535, 256, 1)],
  ["INT", 4, "<i4", () => Int32Array.of(-2147483648, 2147483647, 0, -1)],
  ["UINT", 4, "<u4", () => Uint32Array.of(0, 4294967295, 65536, 1)],
  ["LONG", 8, "<i8", () => BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n)],
  ["ULONG", 8, "<u8", () => BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 1n)],
  ["FLOAT", 4, "<f4", () => Float32Array.of(0.1, -1.401298464324817e-45, 3.4028234663852886e38, -0)],
  ["DOUBLE", 8, "<f8", () => Float64Array.of(0.1, 5e-324, -Number.MAX_VALUE, 1 / 3)],
  ["BOOL", 1, "|b1", () => Uint8Array.of(1, 0, 0, 1)],
];

test("discover-utils reads our streams bit for bit (every type, BINARY and ASCII)", async (t) => {
  const problem = pythonProblem();
  if (problem) {
    t.skip(`${problem}: cannot compare with discover-utils' reader`);
    return;
  }
  const cases: Case[] = [];
  for (const ftype of ["BINARY", "ASCII"] as const) {
    for (const [type, byte, dtype, make] of TYPES) cases.push({ type, byte, ftype, values: make(), dtype });
  }
  // The module's own output: 937-dim float32 landmark rows at NTSC rate, with NaN rows (no_face=nan).
  const landmarks = new Float32Array(3 * 937);
  for (let i = 0; i < landmarks.length; i++) landmarks[i] = i % 937 === 936 ? 0.75 : (i * 0.618034) % 1;
  landmarks.fill(NaN, 937, 2 * 937 - 1);
  cases.push({ type: "FLOAT", byte: 4, ftype: "BINARY", values: landmarks, dtype: "<f4" });

  const headers: string[] = [];
  for (const [i, c] of cases.entries()) {
    const file = path.join(dir, `case${i}.stream`);
    const dim = c.values.length === landmarks.length ? 937 : 2;
    const meta = { type: "feature;face;landmarks;facemesh", size: "640:360" };
    await writeSsiStream(file, { sr: 30000 / 1001, dim, type: c.type, byte: c.byte, ftype: c.ftype, meta }, c.values);
    headers.push(file);
  }
  const run = spawnSync("python3", [reader, dir, ...headers], { encoding: "utf8" });
  assert.equal(run.status, 0, `discover_reader.py failed: ${run.stderr}`);
  const results = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { shape: number[]; dtype: string; sr: number; meta: Record<string, string> });
  assert.equal(results.length, cases.length);
  for (const [i, c] of cases.entries()) {
    const what = `${c.type}/${c.byte} ${c.ftype}`;
    const r = results[i];
    const dim = c.values.length === landmarks.length ? 937 : 2;
    assert.deepEqual(r.shape, [c.values.length / dim, dim], what);
    assert.equal(r.dtype, c.dtype, what);
    assert.equal(r.sr, 30000 / 1001, `${what}: sr`);
    assert.deepEqual(r.meta, { type: "feature;face;landmarks;facemesh", size: "640:360" }, what);
    const got = readFileSync(path.join(dir, `${i}.bin`));
    assert.deepEqual(got, Buffer.from(c.values.buffer, c.values.byteOffset, c.values.byteLength), `${what}: values`);
  }
});
