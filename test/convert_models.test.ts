/**
 * The three real models: MediaPipe's .tflite files as our reader sees them, and models/*.onnx as the install
 * built them (npm ci runs scripts/build-models.ts), checked against the contract in lib/convert/models.ts.
 * Numerical agreement with Google's runtime is test/model_parity.test.ts; here: structure, names, shapes,
 * dynamic batch, batch independence and that the files on disk are what the current converter makes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";

import { convertModel } from "../lib/convert/build.js";
import { MODEL_NAMES, MODEL_SPECS, MODELS_MANIFEST_FILE, modelPath, modelsDir, type ModelName } from "../lib/convert/models.js";
import { decodeOnnx, ONNX_OPSET } from "../lib/convert/onnx_writer.js";
import { loadTfliteSource } from "../lib/convert/sources.js";
import { readTflite } from "../lib/convert/tflite_reader.js";
import { builtinOperatorName } from "../lib/convert/tflite_schema.js";

type ValueInfo = NonNullable<NonNullable<ReturnType<typeof decodeOnnx>["graph"]>["input"]>[number];

const BUILD_HINT = "run `node dist/scripts/build-models.js` (npm ci does it at install)";

async function onnxBytes(name: ModelName): Promise<Uint8Array> {
  const file = modelPath(name);
  assert.ok(existsSync(file), `${file} is missing: ${BUILD_HINT}`);
  return new Uint8Array(await readFile(file));
}

test("reader: the .tflite files hold the operators, inputs and outputs documented in MEDIAPIPE.md section 2", async () => {
  // Counts from /work/shared/docs/MEDIAPIPE.md (measured there independently of our reader).
  const expected: Record<ModelName, { ops: Record<string, number>; input: string; outputs: string[] }> = {
    face_landmark: {
      ops: { CONV_2D: 25, DEPTHWISE_CONV_2D: 20, PRELU: 23, ADD: 20, MAX_POOL_2D: 6, PAD: 3 },
      input: "input_1[1,192,192,3]",
      outputs: ["conv2d_21[1,1,1,1404]", "conv2d_31[1,1,1,1]"],
    },
    face_landmark_with_attention: {
      // Section 2 and 7: face_landmark's operators plus RESHAPE, MUL, STRIDED_SLICE and the 3 + 3 + 5 custom ops.
      ops: { RESHAPE: 13, MUL: 6, STRIDED_SLICE: 1, CUSTOM: 11 },
      input: "input_1[1,192,192,3]",
      outputs: [
        "output_mesh_identity[1,1,1,1404]",
        "output_lips[1,1,1,160]",
        "output_left_eye[1,1,1,142]",
        "output_right_eye[1,1,1,142]",
        "output_left_iris[1,1,1,10]",
        "output_right_iris[1,1,1,10]",
        "conv_faceflag[1,1,1,1]",
      ],
    },
    face_detection_short_range: {
      ops: { CONV_2D: 21, DEPTHWISE_CONV_2D: 16, RELU: 17, ADD: 16, PAD: 11, MAX_POOL_2D: 3, RESHAPE: 4, CONCATENATION: 2 },
      input: "input[1,128,128,3]",
      outputs: ["regressors[1,896,16]", "classificators[1,896,1]"],
    },
    face_detection_full_range: {
      ops: { RESIZE_BILINEAR: 3 },
      input: "input[1,192,192,3]",
      outputs: ["reshaped_regressor_face_4[1,2304,16]", "reshaped_classifier_face_4[1,2304,1]"],
    },
  };
  for (const name of MODEL_NAMES) {
    const src = await loadTfliteSource(name);
    const g = readTflite(src.bytes, src.origin).subgraphs[0];
    const counts: Record<string, number> = {};
    for (const op of g.operators) counts[builtinOperatorName(op.builtinCode)] = (counts[builtinOperatorName(op.builtinCode)] ?? 0) + 1;
    for (const [op, n] of Object.entries(expected[name].ops)) assert.equal(counts[op], n, `${name}: ${op} count`);
    const show = (i: number) => `${g.tensors[i].name}[${g.tensors[i].shape}]`;
    assert.deepEqual(g.inputs.map(show), [expected[name].input], `${name} inputs`);
    assert.deepEqual(g.outputs.map(show), expected[name].outputs, `${name} outputs`);
  }
});

test("models/*.onnx: opset, input and output names and shapes as in the contract, dynamic batch", async () => {
  for (const name of MODEL_NAMES) {
    const spec = MODEL_SPECS[name];
    const model = decodeOnnx(await onnxBytes(name));
    assert.equal(Number(model.opsetImport[0].version), ONNX_OPSET, `${name} opset`);
    const dims = (v: ValueInfo) => (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    assert.deepEqual(
      (model.graph?.input ?? []).map((v) => [v.name, dims(v)]),
      [[spec.inputName, ["batch", 3, spec.inputSize, spec.inputSize]]],
      `${name} input`,
    );
    assert.deepEqual(
      (model.graph?.output ?? []).map((v) => [v.name, dims(v)]),
      spec.outputs.map((o) => [o.name, ["batch", ...o.shape]]),
      `${name} outputs`,
    );
    const session = await ort.InferenceSession.create(modelPath(name));
    assert.deepEqual(session.inputNames, [spec.inputName]);
    assert.deepEqual(session.outputNames, spec.outputs.map((o) => o.name));
    await session.release();
  }
});

test("models/*.onnx: lean graphs, Transpose only where a head reshapes in NHWC order", async () => {
  for (const name of MODEL_NAMES) {
    const nodes = decodeOnnx(await onnxBytes(name)).graph?.node ?? [];
    const ops = new Set(nodes.map((n) => n.opType));
    const lean = ["Conv", "PRelu", "Relu", "Add", "MaxPool", "Pad", "Resize", "Reshape", "Transpose", "Concat"];
    for (const op of ops) {
      // The attention model's heads: MUL, STRIDED_SLICE and the custom ops in plain ONNX (mediapipe_ops.ts).
      if (name === "face_landmark_with_attention" && !lean.includes(op!)) continue;
      assert.ok(lean.includes(op!), `${name}: unexpected ${op}`);
    }
    const readers = (value: string) => nodes.filter((n) => (n.input ?? []).includes(value));
    // The attention model's matrix ops transpose small [batch,2,x] matrices for MatMul (mediapipe_ops.ts).
    const matrixTranspose = (t: (typeof nodes)[number]) =>
      name === "face_landmark_with_attention" && ((t.name ?? "").includes("/tl/") || (t.name ?? "").includes("/ttb/"));
    for (const t of nodes.filter((n) => n.opType === "Transpose" && !matrixTranspose(n))) {
      const next = readers((t.output ?? [])[0]);
      assert.ok(next.length === 1 && next[0].opType === "Reshape", `${name}: Transpose ${t.name} feeds ${next.map((n) => n.opType)}`);
    }
    if (name === "face_landmark") assert.ok(!ops.has("Transpose"), "face_landmark has no Transpose at all");
  }
});

/** Deterministic, smooth-ish test images in the model's input range, NCHW. */
function images(count: number, size: number, range: { min: number; max: number }): Float32Array {
  const plane = size * size;
  const out = new Float32Array(count * 3 * plane);
  for (let s = 0; s < count; s++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const v = 0.5 + 0.5 * Math.sin((x * (s + 1)) / 9 + (y * (c + 2)) / 13 + s);
          out[(s * 3 + c) * plane + y * size + x] = range.min + v * (range.max - range.min);
        }
  return out;
}

test("models/*.onnx: batch 5 gives each sample the same outputs as batch 1", async () => {
  // Tolerance: the same float32 arithmetic, but onnxruntime may pick other kernels or blockings for another batch
  // size, which changes summation order: ~1e-6 relative to the activations. Outputs here are up to a few hundred
  // (pixels, logits), so 1e-3 absolute is generous for that and far below what mixing samples would cause: we also
  // check that the five samples' outputs differ from each other by much more.
  const TOL = 1e-3;
  for (const name of MODEL_NAMES) {
    const spec = MODEL_SPECS[name];
    const session = await ort.InferenceSession.create(modelPath(name));
    const n = 5;
    const per = 3 * spec.inputSize * spec.inputSize;
    const input = images(n, spec.inputSize, spec.inputRange);
    const batched = await session.run({ [spec.inputName]: new ort.Tensor("float32", input, [n, 3, spec.inputSize, spec.inputSize]) });
    for (const o of spec.outputs) assert.deepEqual(batched[o.name].dims, [n, ...o.shape], `${name} ${o.name} dims`);
    for (let s = 0; s < n; s++) {
      const single = await session.run({
        [spec.inputName]: new ort.Tensor("float32", input.subarray(s * per, (s + 1) * per), [1, 3, spec.inputSize, spec.inputSize]),
      });
      for (const o of spec.outputs) {
        const len = o.shape.reduce((a, b) => a * b, 1);
        const a = (batched[o.name].data as Float32Array).subarray(s * len, (s + 1) * len);
        const b = single[o.name].data as Float32Array;
        let maxDiff = 0;
        for (let i = 0; i < len; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        assert.ok(maxDiff <= TOL, `${name} ${o.name} sample ${s}: batch 5 vs batch 1 differ by ${maxDiff}`);
        if (s > 0) {
          const prev = (batched[o.name].data as Float32Array).subarray((s - 1) * len, s * len);
          let between = 0;
          for (let i = 0; i < len; i++) between = Math.max(between, Math.abs(a[i] - prev[i]));
          assert.ok(between > 100 * TOL, `${name} ${o.name}: samples ${s - 1} and ${s} give near-identical outputs (${between})`);
        }
      }
    }
    await session.release();
  }
});

test("models/manifest.json matches the files, and the files are what the current converter makes from the sources", async () => {
  const manifestFile = path.join(modelsDir(), MODELS_MANIFEST_FILE);
  assert.ok(existsSync(manifestFile), `${manifestFile} is missing: ${BUILD_HINT}`);
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as {
    models: Record<string, { file: string; source: { sha256: string }; output: { sha256: string } }>;
  };
  for (const name of MODEL_NAMES) {
    const bytes = await onnxBytes(name);
    const entry = manifest.models[name];
    assert.ok(entry, `${name} missing from the manifest`);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), entry.output.sha256, `${name}: file differs from the manifest`);
    const source = await loadTfliteSource(name);
    assert.equal(entry.source.sha256, source.sha256, `${name}: manifest source hash`);
    const fresh = convertModel(name, source);
    assert.equal(fresh.sha256, entry.output.sha256, `${name}: models/ is stale (${BUILD_HINT} with --force)`);
  }
});
