/**
 * The install-time build (lib/convert/build.ts, scripts/build-models.ts) in temp folders: manifest and skip logic,
 * atomic replacement, and the failure paths that must stop `npm ci` with a clear message (missing source,
 * unsupported operator). The real sources come from the @mediapipe npm packages as in the install.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";

import { buildModels, type ModelsManifest } from "../lib/convert/build.js";
import { MODEL_NAMES, MODEL_SPECS, projectRoot } from "../lib/convert/models.js";
import { buildTflite } from "../lib/convert/tflite_builder.js";

const run = promisify(execFile);
const script = path.join(projectRoot(), "dist/scripts/build-models.js");
const temps: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "facemesh-build-"));
  temps.push(dir);
  return dir;
}

after(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

const sha256 = async (file: string) => createHash("sha256").update(await readFile(file)).digest("hex");
const quiet = () => {};

/** Runs the CLI; resolves with exit code and output (never rejects on a non-zero exit). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("build writes every model and a manifest; a second run skips; --force rebuilds identical bytes", async () => {
  const out = await tempDir();
  const lines: string[] = [];
  const first = await buildModels({ outDir: out, log: (l) => lines.push(l) });
  assert.deepEqual(first.built, MODEL_NAMES);
  // One line per model: ops, params, time.
  assert.equal(lines.length, MODEL_NAMES.length);
  assert.equal(MODEL_NAMES.length, 4, "face_landmark, face_landmark_with_attention and the two detectors");
  for (const [i, name] of MODEL_NAMES.entries()) assert.match(lines[i], new RegExp(`^${name}: \\d+ nodes \\(Conv \\d+.*\\), [\\d,]+ params, .* MB, \\d+ ms$`));

  const manifest = JSON.parse(await readFile(path.join(out, "manifest.json"), "utf8")) as ModelsManifest;
  for (const name of MODEL_NAMES) {
    const entry = manifest.models[name]!;
    assert.equal(entry.file, MODEL_SPECS[name].file);
    assert.equal(await sha256(path.join(out, entry.file)), entry.output.sha256, `${name} hash in manifest`);
    assert.match(entry.source.origin, /^@mediapipe\/face_(mesh|detection)@[\d.]+:.+\.tflite$/);
  }
  // Nothing else in the folder: no temp files left behind.
  assert.deepEqual((await readdir(out)).sort(), [...MODEL_NAMES.map((n) => MODEL_SPECS[n].file), "manifest.json"].sort());

  const mtime = (await stat(path.join(out, "face_landmark.onnx"))).mtimeMs;
  const second = await buildModels({ outDir: out, log: quiet });
  assert.deepEqual(second.built, []);
  assert.deepEqual(second.upToDate, MODEL_NAMES);
  assert.equal((await stat(path.join(out, "face_landmark.onnx"))).mtimeMs, mtime, "skipped build leaves the file alone");

  const forced = await buildModels({ outDir: out, force: true, log: quiet });
  assert.deepEqual(forced.built, MODEL_NAMES);
  for (const name of MODEL_NAMES) assert.equal(forced.manifest.models[name]!.output.sha256, manifest.models[name]!.output.sha256, `${name} deterministic`);
});

test("a damaged model file is rebuilt; a failing source leaves the good files in place", async () => {
  const out = await tempDir();
  await buildModels({ outDir: out, log: quiet });
  const file = path.join(out, "face_detection_short_range.onnx");
  const good = await sha256(file);
  await writeFile(file, "truncated");
  const repaired = await buildModels({ outDir: out, log: quiet });
  assert.deepEqual(repaired.built, ["face_detection_short_range"]);
  assert.equal(await sha256(file), good);

  const before = await Promise.all(MODEL_NAMES.map((n) => sha256(path.join(out, MODEL_SPECS[n].file))));
  const manifestBefore = await readFile(path.join(out, "manifest.json"), "utf8");
  await assert.rejects(
    buildModels({
      outDir: out,
      force: true,
      log: quiet,
      loadSource: async (name) => {
        throw new Error(`npm package @mediapipe/face_mesh is not installed (needed for ${name})`);
      },
    }),
    /npm package @mediapipe\/face_mesh is not installed/,
  );
  assert.deepEqual(await Promise.all(MODEL_NAMES.map((n) => sha256(path.join(out, MODEL_SPECS[n].file)))), before);
  assert.equal(await readFile(path.join(out, "manifest.json"), "utf8"), manifestBefore);
});

test("CLI: a missing source file fails the install with exit code 1 and the file named", async () => {
  const sources = await tempDir();
  const out = await tempDir();
  const r = await cli(["--source-dir", sources, "--out", out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /build-models: FAILED: source model .*face_landmark\.tflite cannot be read/);
  assert.deepEqual(await readdir(out), [], "nothing written");
});

test("CLI: an unsupported operator fails the install with exit code 1, naming file, operator and option", async () => {
  const sources = await tempDir();
  const out = await tempDir();
  // A face_landmark.tflite with the right input name but a TANH operator (not in our subset).
  const bytes = buildTflite({
    tensors: [
      { name: "input_1", shape: [1, 192, 192, 3] },
      { name: "conv2d_21", shape: [1, 192, 192, 3] },
    ],
    inputs: ["input_1"],
    outputs: ["conv2d_21"],
    operators: [{ op: 28, inputs: ["input_1"], outputs: ["conv2d_21"] }],
  });
  await writeFile(path.join(sources, "face_landmark.tflite"), bytes);
  const r = await cli(["--source-dir", sources, "--out", out, "--model", "face_landmark"]);
  assert.equal(r.code, 1);
  const file = path.join(sources, "face_landmark.tflite");
  assert.ok(r.stderr.includes(`FAILED: ${file}: operator #0 TANH (output conv2d_21): operator is not supported`), r.stderr);
  assert.deepEqual(await readdir(out), [], "nothing written");

  // An option we do not support, on an operator we do: the option is named.
  const dilated = buildTflite({
    tensors: [
      { name: "input_1", shape: [1, 8, 8, 3] },
      { name: "w", shape: [1, 3, 3, 3], data: new Float32Array(27) },
      { name: "conv2d_21", shape: [1, 4, 4, 1] },
    ],
    inputs: ["input_1"],
    outputs: ["conv2d_21"],
    operators: [
      {
        op: 3,
        inputs: ["input_1", "w", null],
        outputs: ["conv2d_21"],
        options: { kind: "Conv2DOptions", padding: 1, strideW: 1, strideH: 1, activation: 0, dilationW: 2, dilationH: 2 },
      },
    ],
  });
  await writeFile(file, dilated);
  const r2 = await cli(["--source-dir", sources, "--out", out, "--model", "face_landmark"]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /face_landmark\.tflite: operator #0 CONV_2D \(output conv2d_21\): dilation 2x2 is not supported/);
});

test("CLI: bad arguments exit 1 with the usage", async () => {
  const r = await cli(["--model", "face_mesh_v9"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--model face_mesh_v9: unknown model/);
});
