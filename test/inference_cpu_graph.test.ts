/**
 * lib/inference/cpu_graph.ts: the rewrite of PRelu and channel zero-Pads into operators with NCHWc kernels, the
 * widening of channel counts to the NCHWc block, and the PRelu-free graph for the WebGPU provider. Tiny graphs built with the converter's own writer are run in onnxruntime before and after the rewrite
 * and against values computed here by hand; the real models are checked for what gets rewritten (counts from
 * MEDIAPIPE.md, section 2) and for unchanged outputs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { rewriteForCpu, rewriteForWebGpu } from "../lib/inference/cpu_graph.js";
import { modelSource } from "../lib/inference/session.js";
import { encodeOnnx, decodeOnnx } from "../lib/convert/onnx_writer.js";
import type { Graph, GraphNode, Initializer } from "../lib/convert/graph.js";
import { int, ints, str } from "../lib/convert/graph.js";
import { modelPath } from "../lib/convert/models.js";

function graphOf(nodes: GraphNode[], inits: Initializer[], inShape: number[], outShape: number[]): Uint8Array {
  const graph: Graph = {
    name: "t",
    inputs: [{ name: "x", shape: inShape }],
    outputs: [{ name: "y", shape: outShape }],
    nodes,
    initializers: new Map(inits.map((i) => [i.name, i])),
    shapes: new Map(),
    docString: "",
  };
  return encodeOnnx(graph, { producerVersion: "test" });
}

/** Values with both signs, exact zeros, tiny and large magnitudes: where a PRelu rewrite could go wrong. */
function probeInput(n: number): Float32Array {
  const x = new Float32Array(n);
  let s = 7;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const u = (s >>> 8) / 16777216 - 0.5;
    x[i] = i % 17 === 0 ? 0 : i % 29 === 0 ? u * 1e-30 : i % 31 === 0 ? u * 1e20 : u * 8;
  }
  return x;
}

/** Runs the model's first input -> first output on the CPU provider with all graph optimizations (NCHWc on). */
async function run(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: "all" });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** All outputs by name. */
async function runAll(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: "all" });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x, dims) });
    return Object.fromEntries(session.outputNames.map((n) => [n, out[n].data as Float32Array]));
  } finally {
    await session.release();
  }
}

function opCounts(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of decodeOnnx(bytes).graph?.node ?? []) counts[n.opType ?? ""] = (counts[n.opType ?? ""] ?? 0) + 1;
  return counts;
}

test("PRelu with per-channel slopes becomes Relu/depthwise-conv/Add and gives exactly PRelu's values", async () => {
  const C = 32; // a multiple of the NCHWc block (8 or 16), so onnxruntime really takes the NCHWc path
  const slopes = Float32Array.from({ length: C }, (_, c) => (c - 10) / 7); // negative, zero, >1 slopes too
  const model = graphOf(
    [{ opType: "Conv", name: "conv", inputs: ["x", "w"], outputs: ["h"], attributes: [ints("kernel_shape", [1, 1])] }, { opType: "PRelu", name: "prelu", inputs: ["h", "a"], outputs: ["y"], attributes: [] }],
    [
      // An identity 1x1 conv in front, as in the real graph (PRelu follows a convolution).
      { name: "w", dataType: "float32", dims: [C, C, 1, 1], data: Float32Array.from({ length: C * C }, (_, i) => (Math.floor(i / C) === i % C ? 1 : 0)) },
      { name: "a", dataType: "float32", dims: [C, 1, 1], data: slopes },
    ],
    [2, C, 6, 5],
    [2, C, 6, 5],
  );
  const { bytes, report } = rewriteForCpu(model);
  assert.deepEqual(report, { prelu: 1, channelPads: 0, widened: 0, padsRemoved: 0 });
  assert.equal(opCounts(bytes).PRelu, undefined);
  const dims = [2, C, 6, 5];
  const x = probeInput(dims.reduce((a, b) => a * b, 1));
  const before = await run(model, x, dims);
  const after = await run(bytes, x, dims);
  // Independent reference: PRelu by its definition, in float32.
  const plane = 6 * 5;
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / plane) % C;
    const want = x[i] >= 0 ? x[i] : Math.fround(slopes[c] * x[i]);
    // === : exact values, but -0 === 0 (a zero slope times a negative x is -0 in PRelu, +0 after the rewrite).
    assert.ok(before[i] === want, `original graph, element ${i}: ${before[i]} vs ${want}`);
    assert.ok(after[i] === want, `rewritten graph, element ${i} (x=${x[i]}, slope=${slopes[c]}): ${after[i]} vs ${want}`);
  }
});

test("a Pad that appends zero channels becomes an identity 1x1 conv with the same values", async () => {
  const C = 16;
  const model = graphOf(
    [{ opType: "Pad", name: "pad", inputs: ["x", "p"], outputs: ["y"], attributes: [str("mode", "constant")] }],
    [{ name: "p", dataType: "int64", dims: [8], data: BigInt64Array.from([0n, 0n, 0n, 0n, 0n, 16n, 0n, 0n]) }],
    [1, C, 4, 3],
    [1, 2 * C, 4, 3],
  );
  const { bytes, report } = rewriteForCpu(model);
  assert.deepEqual(report, { prelu: 0, channelPads: 1, widened: 0, padsRemoved: 0 });
  assert.equal(opCounts(bytes).Pad, undefined);
  const x = probeInput(C * 12).map((v) => (Math.abs(v) > 1e10 ? 1 : v)); // 1·x + 0·y is exact only for finite products
  const after = await run(bytes, x, [1, C, 4, 3]);
  assert.deepEqual(Array.from(after.subarray(0, C * 12)), Array.from(x));
  assert.ok(after.subarray(C * 12).every((v) => v === 0), "appended channels are zero");
});

test("what the rewrite does not understand is left alone", () => {
  const spatialPad = graphOf(
    [{ opType: "Pad", name: "pad", inputs: ["x", "p"], outputs: ["y"], attributes: [] }],
    [{ name: "p", dataType: "int64", dims: [8], data: BigInt64Array.from([0n, 0n, 1n, 1n, 0n, 0n, 1n, 1n]) }],
    [1, 8, 4, 4],
    [1, 8, 6, 6],
  );
  assert.deepEqual(rewriteForCpu(spatialPad).report, { prelu: 0, channelPads: 0, widened: 0, padsRemoved: 0 });
  const scalarSlope = graphOf(
    [{ opType: "PRelu", name: "prelu", inputs: ["x", "a"], outputs: ["y"], attributes: [] }],
    [{ name: "a", dataType: "float32", dims: [1], data: Float32Array.of(0.25) }],
    [1, 8, 4, 4],
    [1, 8, 4, 4],
  );
  assert.deepEqual(rewriteForCpu(scalarSlope).report, { prelu: 0, channelPads: 0, widened: 0, padsRemoved: 0 });
});

/** Deterministic weights in [-0.5, 0.5). */
function weights(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 8) / 16777216 - 0.5;
  });
}

test("channels widened to the NCHWc block: a BlazeFace-style residual block keeps its outputs, its channel Pad vanishes", async () => {
  // x(3) -conv3x3-> 12 -relu-> a -depthwise3x3-> 12 -conv1x1-> 14 (+ Pad(a) 12->14) -relu-> -conv1x1-> y(8)
  const conv = (name: string, x: string, w: string, b: string, y: string, k: number, group = 1): GraphNode => ({
    opType: "Conv",
    name,
    inputs: [x, w, b],
    outputs: [y],
    attributes: [ints("kernel_shape", [k, k]), ints("pads", [k >> 1, k >> 1, k >> 1, k >> 1]), ...(group > 1 ? [int("group", group)] : [])],
  });
  const f32 = (name: string, dims: number[], seed: number): Initializer => ({ name, dataType: "float32", dims, data: weights(dims.reduce((a, b) => a * b, 1), seed) });
  const model = graphOf(
    [
      conv("c0", "x", "w0", "b0", "h0", 3),
      { opType: "Relu", name: "r0", inputs: ["h0"], outputs: ["a0"], attributes: [] },
      conv("dw", "a0", "wd", "bd", "d0", 3, 12),
      conv("c1", "d0", "w1", "b1", "h1", 1),
      { opType: "Pad", name: "pad", inputs: ["a0", "p"], outputs: ["p0"], attributes: [str("mode", "constant")] },
      { opType: "Add", name: "add", inputs: ["h1", "p0"], outputs: ["s0"], attributes: [] },
      { opType: "Relu", name: "r1", inputs: ["s0"], outputs: ["a1"], attributes: [] },
      conv("c2", "a1", "w2", "b2", "y", 1),
    ],
    [
      f32("w0", [12, 3, 3, 3], 1), f32("b0", [12], 2), f32("wd", [12, 1, 3, 3], 3), f32("bd", [12], 4),
      f32("w1", [14, 12, 1, 1], 5), f32("b1", [14], 6), f32("w2", [8, 14, 1, 1], 7), f32("b2", [8], 8),
      { name: "p", dataType: "int64", dims: [8], data: BigInt64Array.from([0n, 0n, 0n, 0n, 0n, 2n, 0n, 0n]) },
    ],
    [2, 3, 9, 9],
    [2, 8, 9, 9],
  );
  const dims = [2, 3, 9, 9];
  const x = weights(dims.reduce((a, b) => a * b, 1), 9).map((v) => 4 * v);
  const before = await run(model, x, dims);
  for (const block of [8, 16]) {
    const { bytes, report } = rewriteForCpu(model, { block });
    // h0, a0, d0 (12 -> 16), h1, p0, s0, a1 (14 -> 16); y is the graph output and keeps 8.
    assert.deepEqual(report, { prelu: 0, channelPads: 0, widened: 7, padsRemoved: 1 }, `block ${block}`);
    assert.equal(opCounts(bytes).Pad, undefined);
    const after = await run(bytes, x, dims);
    assert.equal(after.length, before.length);
    // Same products of the original channels, summed in another order by the blocked kernels: float32 rounding.
    let max = 0;
    for (let i = 0; i < before.length; i++) max = Math.max(max, Math.abs(before[i] - after[i]));
    assert.ok(max < 1e-5, `block ${block}: max difference ${max}`);
  }
  // block 1: nothing to widen, the identity-conv rewrite of the Pad as before.
  assert.deepEqual(rewriteForCpu(model, { block: 1 }).report, { prelu: 0, channelPads: 1, widened: 0, padsRemoved: 0 });
});

test("real models: every PRelu and channel Pad is rewritten, outputs unchanged", async (t) => {
  const landmark = modelPath("face_landmark");
  const detector = modelPath("face_detection_short_range");
  for (const file of [landmark, detector]) assert.ok(existsSync(file), `${file} absent: the model build is incomplete (npm run build-models)`);
  // MEDIAPIPE.md section 2: face_landmark has PRELU 23 and PAD 3; the short-range detector PAD 11 and no PRelu.
  // face_landmark's channels are multiples of 16 already: nothing to widen.
  const lm = rewriteForCpu(readFileSync(landmark), { block: 16 });
  assert.deepEqual(lm.report, { prelu: 23, channelPads: 3, widened: 0, padsRemoved: 0 });
  assert.deepEqual(rewriteForCpu(readFileSync(detector), { block: 1 }).report, { prelu: 0, channelPads: 11, widened: 0, padsRemoved: 0 });
  // Widened to 16 (AVX-512): 7 of the 11 channel Pads (24->28, 28->32, 36->42, 42->48, 56->64, 72->80, 88->96)
  // fall inside one block and vanish; 32->36, 48->56, 64->72, 80->88 still append a block of zeros.
  const wide = rewriteForCpu(readFileSync(detector), { block: 16 });
  assert.equal(wide.report.padsRemoved, 7);
  assert.equal(wide.report.channelPads, 4);
  const ddims = [2, 3, 128, 128];
  const dx = probeInput(ddims.reduce((a, b) => a * b, 1)).map((v) => Math.min(1, Math.max(-1, v / 4)));
  for (const block of [8, 16]) {
    const original = await runAll(readFileSync(detector), dx, ddims);
    const widened = await runAll(rewriteForCpu(readFileSync(detector), { block }).bytes, dx, ddims);
    for (const name of ["regressors", "classificators"]) {
      assert.equal(widened[name].length, original[name].length, name);
      let max = 0;
      for (let i = 0; i < original[name].length; i++) max = Math.max(max, Math.abs(original[name][i] - widened[name][i]));
      // Measured 6e-5 (kernel summation order). Regressors are in 128-px input pixels, classificators are logits:
      // 1e-3 moves a box by a thousandth of a pixel and a score (sigmoid) by less than 2.5e-4.
      assert.ok(max < 1e-3, `block ${block}, ${name}: max difference ${max}`);
    }
  }

  const dims = [2, 3, 192, 192];
  const x = probeInput(dims.reduce((a, b) => a * b, 1)).map((v) => Math.min(1, Math.max(0, v / 8 + 0.5)));
  const before = await run(readFileSync(landmark), x, dims);
  const after = await run(lm.bytes, x, dims);
  // The rewritten operators are exact (tests above); what remains is onnxruntime summing convolutions in another
  // order once the whole graph runs in its blocked layout. Measured 5e-5 crop pixels; 1e-3 px (of a 192 px
  // crop) is 100x below any landmark difference anyone could see, and 20x the measured value.
  let max = 0;
  for (let i = 0; i < before.length; i++) max = Math.max(max, Math.abs(before[i] - after[i]));
  assert.ok(max < 1e-3, `max landmark difference ${max} crop px`);
});

test("webgpu gets face_landmark without PRelu and without widening; cuda and a disabled rewrite get the file", async (t) => {
  const landmark = modelPath("face_landmark");
  assert.ok(existsSync(landmark), `${landmark} absent: the model build is incomplete (npm run build-models)`);
  // The WebGPU provider has no PRelu kernel (it placed all 23 on the CPU on the lent H100): none may be left.
  const source = await modelSource(landmark, "webgpu", true);
  assert.ok(source instanceof Uint8Array, "webgpu gets rewritten bytes");
  const counts = opCounts(source);
  assert.equal(counts.PRelu, undefined, `PRelu left: ${counts.PRelu}`);
  assert.equal(counts.Pad, undefined, `channel Pads left: ${counts.Pad}`);
  assert.deepEqual(rewriteForWebGpu(readFileSync(landmark)).report, { prelu: 23, channelPads: 3, widened: 0, padsRemoved: 0 });
  assert.equal(await modelSource(landmark, "cuda", true), landmark);
  assert.equal(await modelSource(landmark, "webgpu", false), landmark);
  assert.equal(await modelSource(landmark, "cpu", false), landmark);

  // Same values as the original graph (run here on the CPU provider; on the H100's webgpu the rewritten graph
  // differed from the CPU run by at most 1.7e-4 crop px, the original graph by the same): tolerance as above.
  const dims = [2, 3, 192, 192];
  const x = probeInput(dims.reduce((a, b) => a * b, 1)).map((v) => Math.min(1, Math.max(0, v / 8 + 0.5)));
  const before = await run(readFileSync(landmark), x, dims);
  const after = await run(source, x, dims);
  let max = 0;
  for (let i = 0; i < before.length; i++) max = Math.max(max, Math.abs(before[i] - after[i]));
  assert.ok(max < 1e-3, `max landmark difference ${max} crop px`);
});

test("the attention model (refine_landmarks): CPU and webgpu rewrites keep all seven outputs", async (t) => {
  const file = modelPath("face_landmark_with_attention");
  if (!existsSync(file)) {
    t.skip("models/face_landmark_with_attention.onnx absent: run npm run build-models (postinstall)");
    return;
  }
  const bytes = readFileSync(file);
  // MEDIAPIPE.md section 2/7: PRELU 73, PAD 9 (channel zero-pads before residual Adds); channels are multiples of 16.
  const cpu = rewriteForCpu(bytes, { block: 16 });
  assert.deepEqual(cpu.report, { prelu: 73, channelPads: 9, widened: 0, padsRemoved: 0 });
  const webgpu = await modelSource(file, "webgpu", true);
  assert.ok(webgpu instanceof Uint8Array);
  const counts = opCounts(webgpu);
  assert.equal(counts.PRelu, undefined, `PRelu left for webgpu: ${counts.PRelu}`);
  assert.equal(counts.GridSample, 3, "the three feature-map crops stay GridSample");
  const dims = [2, 3, 192, 192];
  const x = probeInput(dims.reduce((a, b) => a * b, 1)).map((v) => Math.min(1, Math.max(0, v / 8 + 0.5)));
  const before = await runAll(bytes, x, dims);
  for (const [what, rewritten] of [["cpu", cpu.bytes], ["webgpu", webgpu]] as const) {
    const after = await runAll(rewritten, x, dims);
    for (const name of Object.keys(before)) {
      let max = 0;
      for (let i = 0; i < before[name].length; i++) max = Math.max(max, Math.abs(before[name][i] - after[name][i]));
      // As for face_landmark: convolution summation order only; outputs are crop pixels (face_flag a logit).
      assert.ok(max < 1e-3, `${what} ${name}: max difference ${max}`);
    }
  }
});
