/**
 * Operator mapping of our TFLite -> ONNX converter, one small case per operator or option.
 *
 * Each case writes a tiny .tflite file with the flatbuffers Builder (lib/convert/tflite_builder.ts), converts it
 * with the same path the build uses (readTflite -> convertTflite -> optimizeGraph -> encodeOnnx) and runs the
 * result in onnxruntime-node. Inputs and expected outputs are written in TFLite's NHWC order; the feed is
 * transposed to NCHW here (the converted graph's input layout). Expected values are hand-computed (the arithmetic
 * is spelled out next to each case) or, for multi-channel convolutions, come from a direct NHWC loop written from
 * TFLite's definition with the padding offsets derived by hand.
 *
 * Tolerance: inputs and weights are small integers or halves, so every result is exact in float32 except where
 * onnxruntime sums in a different order; 1e-5 absolute is a few ulps at these magnitudes (< 1000).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as flexbuffers from "flatbuffers/mjs/flexbuffers.js";
import * as ort from "onnxruntime-node";

import { convertTflite, type ConversionSpec } from "../lib/convert/convert.js";
import { halfToFloat } from "../lib/convert/fp16.js";
import type { Graph } from "../lib/convert/graph.js";
import { encodeOnnx } from "../lib/convert/onnx_writer.js";
import { optimizeGraph } from "../lib/convert/optimize.js";
import { buildTflite, type ModelDef, type TensorDef } from "../lib/convert/tflite_builder.js";
import type { BuiltinOptions } from "../lib/convert/tflite_reader.js";
import { readTflite } from "../lib/convert/tflite_reader.js";
import { Activation, BuiltinOperator as Op, Padding, TensorType } from "../lib/convert/tflite_schema.js";

const TOL = 1e-5;

// ---- helpers -------------------------------------------------------------------------------------------------

interface Feed {
  /** TFLite-order values (NHWC for rank 4). */
  data: number[] | Float32Array;
  /** TFLite shape with the batch first. */
  shape: number[];
}

function nhwcToNchw(data: ArrayLike<number>, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return out;
}

function convertDef(def: ModelDef, spec: Partial<ConversionSpec> = {}): Graph {
  const model = readTflite(buildTflite(def), "test.tflite");
  return optimizeGraph(convertTflite(model, { graphName: "test", ...spec }));
}

/** Converts and runs; returns outputs (as ONNX gives them: native TFLite order for default bindings) and the graph. */
async function run(def: ModelDef, feeds: Record<string, Feed>, spec: Partial<ConversionSpec> = {}) {
  const graph = convertDef(def, spec);
  const session = await ort.InferenceSession.create(encodeOnnx(graph, { producerVersion: "test" }));
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) {
    const isImage = f.shape.length === 4;
    const shape = isImage ? [f.shape[0], f.shape[3], f.shape[1], f.shape[2]] : f.shape;
    inputs[name] = new ort.Tensor("float32", isImage ? nhwcToNchw(f.data, f.shape) : Float32Array.from(f.data), shape);
  }
  const out = await session.run(inputs);
  await session.release();
  const result: Record<string, { data: number[]; dims: readonly number[] }> = {};
  for (const [k, v] of Object.entries(out)) result[k] = { data: Array.from(v.data as Float32Array), dims: v.dims };
  return { out: result, graph };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, message: string, tol = TOL): void {
  assert.equal(actual.length, expected.length, `${message}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${message}: [${i}] = ${actual[i]}, expected ${expected[i]}`);
  }
}

const f32 = (values: number[]) => Float32Array.from(values);
const i32 = (values: number[]) => Int32Array.from(values);
const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));
const act = (name: string, shape: number[]): TensorDef => ({ name, shape });

function conv(o: Partial<Extract<BuiltinOptions, { kind: "Conv2DOptions" }>>): BuiltinOptions {
  return { kind: "Conv2DOptions", padding: Padding.SAME, strideW: 1, strideH: 1, activation: Activation.NONE, dilationW: 1, dilationH: 1, ...o };
}

function depthwise(o: Partial<Extract<BuiltinOptions, { kind: "DepthwiseConv2DOptions" }>>): BuiltinOptions {
  return {
    kind: "DepthwiseConv2DOptions",
    padding: Padding.SAME,
    strideW: 1,
    strideH: 1,
    depthMultiplier: 1,
    activation: Activation.NONE,
    dilationW: 1,
    dilationH: 1,
    ...o,
  };
}

function pool(o: Partial<Extract<BuiltinOptions, { kind: "Pool2DOptions" }>>): BuiltinOptions {
  return { kind: "Pool2DOptions", padding: Padding.VALID, strideW: 2, strideH: 2, filterW: 2, filterH: 2, activation: Activation.NONE, ...o };
}

/** A single-conv model: input x [1,h,w,c], filter OHWI, bias. */
function convModel(h: number, w: number, c: number, filter: number[], filterShape: number[], bias: number[], options: BuiltinOptions, outShape: number[]): ModelDef {
  return {
    tensors: [
      act("x", [1, h, w, c]),
      { name: "w", shape: filterShape, data: f32(filter) },
      { name: "b", shape: [bias.length], data: f32(bias) },
      act("y", outShape),
    ],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: options.kind === "DepthwiseConv2DOptions" ? Op.DEPTHWISE_CONV_2D : Op.CONV_2D, inputs: ["x", "w", "b"], outputs: ["y"], options }],
  };
}

/**
 * Direct NHWC convolution as TFLite defines it: out[y][x][o] = b[o] + sum w[o][ky][kx][i] * in[y*s+ky-padTop][x*s+kx-padLeft][i],
 * zero outside the image. Pad offsets are passed in (derived by hand in each test).
 */
function referenceConv(
  input: ArrayLike<number>,
  [h, w, c]: number[],
  filter: ArrayLike<number>,
  [o, kh, kw]: number[],
  bias: number[],
  stride: number,
  padTop: number,
  padLeft: number,
  [oh, ow]: number[],
): number[] {
  const out: number[] = [];
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let oc = 0; oc < o; oc++) {
        let s = bias[oc];
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = y * stride + ky - padTop;
            const ix = x * stride + kx - padLeft;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let i = 0; i < c; i++) s += filter[((oc * kh + ky) * kw + kx) * c + i] * input[(iy * w + ix) * c + i];
          }
        out.push(s);
      }
  return out;
}

/** Small deterministic integers in [-3, 3] (exact in float32, products and sums too). */
function ints(n: number, seed: number): number[] {
  let s = seed;
  return range(n, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s % 7) - 3;
  });
}

// ---- CONV_2D -------------------------------------------------------------------------------------------------

test("CONV_2D SAME stride 2, odd input 5x5: one pixel of padding on each side", async () => {
  // in(y,x) = 5y+x+1; 3x3 ones kernel; SAME: out = ceil(5/2) = 3, total pad = (3-1)*2+3-5 = 2 -> 1 before, 1 after.
  // out(0,0) = rows 0..1 x cols 0..1 = 1+2+6+7 = 16; out(0,1) = rows 0..1 x cols 1..3 = 2+3+4+7+8+9 = 33;
  // out(0,2) = 4+5+9+10 = 28; out(1,0) = 6+7+11+12+16+17 = 69; out(1,1) = 7+8+9+12+13+14+17+18+19 = 117;
  // out(1,2) = 9+10+14+15+19+20 = 87; out(2,0) = 16+17+21+22 = 76; out(2,1) = 17+18+19+22+23+24 = 123;
  // out(2,2) = 19+20+24+25 = 88. Bias 0.5 on top.
  const def = convModel(5, 5, 1, range(9, () => 1), [1, 3, 3, 1], [0.5], conv({ strideH: 2, strideW: 2 }), [1, 3, 3, 1]);
  const { out } = await run(def, { x: { data: range(25, (i) => i + 1), shape: [1, 5, 5, 1] } });
  close(out.y.data, [16, 33, 28, 69, 117, 87, 76, 123, 88].map((v) => v + 0.5), "5x5 SAME stride 2");
});

test("CONV_2D SAME stride 2, even input 6x6: the odd padding pixel goes to the end (bottom/right)", async () => {
  // in(y,x) = 6y+x+1; 3x3 ones; out = 3, total pad = (3-1)*2+3-6 = 1 -> 0 before, 1 after (TFLite), so out(i,j)
  // covers rows 2i..2i+2, cols 2j..2j+2, row/col 6 being padding.
  // out(0,0) = (1+2+3)+(7+8+9)+(13+14+15) = 72; out(0,1) = 12+30+48 = 90; out(0,2) = (5+6)+(11+12)+(17+18) = 69;
  // out(1,0) = 42+60+78 = 180; out(1,1) = 48+66+84 = 198; out(1,2) = 35+47+59 = 141;
  // out(2,0) = 78+96 = 174; out(2,1) = 84+102 = 186; out(2,2) = 59+71 = 130.
  // (Padding at the start instead would make out(0,0) = 1+2+7+8 = 18.)
  const def = convModel(6, 6, 1, range(9, () => 1), [1, 3, 3, 1], [0], conv({ strideH: 2, strideW: 2 }), [1, 3, 3, 1]);
  const { out } = await run(def, { x: { data: range(36, (i) => i + 1), shape: [1, 6, 6, 1] } });
  close(out.y.data, [72, 90, 69, 180, 198, 141, 174, 186, 130], "6x6 SAME stride 2");
});

test("CONV_2D multi-channel OHWI filter on a non-square odd input (7x5, stride 2, SAME) matches a direct NHWC loop", async () => {
  // H 7: out 4, pad (4-1)*2+3-7 = 2 -> top 1; W 5: out 3, pad (3-1)*2+3-5 = 2 -> left 1.
  const [h, w, c, o] = [7, 5, 2, 3];
  const filter = ints(o * 3 * 3 * c, 7);
  const input = ints(h * w * c, 11);
  const bias = [1, -2, 0.5];
  const def = convModel(h, w, c, filter, [o, 3, 3, c], bias, conv({ strideH: 2, strideW: 2 }), [1, 4, 3, o]);
  const { out } = await run(def, { x: { data: input, shape: [1, h, w, c] } });
  close(out.y.data, referenceConv(input, [h, w, c], filter, [o, 3, 3], bias, 2, 1, 1, [4, 3]), "7x5x2 -> 4x3x3");
});

test("CONV_2D VALID with a 1x1 kernel and a 3x3 stride-3 head (the landmark model's two kinds)", async () => {
  const [c, o] = [3, 2];
  const filter = ints(o * c, 3);
  const input = ints(4 * 4 * c, 5);
  const def = convModel(4, 4, c, filter, [o, 1, 1, c], [0, 1], conv({ padding: Padding.VALID }), [1, 4, 4, o]);
  const { out } = await run(def, { x: { data: input, shape: [1, 4, 4, c] } });
  close(out.y.data, referenceConv(input, [4, 4, c], filter, [o, 1, 1], [0, 1], 1, 0, 0, [4, 4]), "1x1 VALID");

  // 3x3 map, 3x3 kernel, stride 3, VALID: one output per channel = full dot product.
  const head = ints(o * 9 * c, 9);
  const x3 = ints(9 * c, 13);
  const def3 = convModel(3, 3, c, head, [o, 3, 3, c], [0.25, 0], conv({ padding: Padding.VALID, strideH: 3, strideW: 3 }), [1, 1, 1, o]);
  const r3 = await run(def3, { x: { data: x3, shape: [1, 3, 3, c] } });
  const dot = (oc: number) => range(9 * c).reduce((s, k) => s + head[oc * 9 * c + k] * x3[k], 0);
  close(r3.out.y.data, [dot(0) + 0.25, dot(1)], "3x3 stride-3 head");
});

test("CONV_2D fused RELU and RELU6 become activation nodes after the Conv", async () => {
  // 1x1 conv, weight 2, bias -1: y = 2x - 1 for x = -1, 0, 1, 2, 4 -> -3, -1, 1, 3, 7.
  const x = { data: [-1, 0, 1, 2, 4], shape: [1, 1, 5, 1] };
  const relu = await run(convModel(1, 5, 1, [2], [1, 1, 1, 1], [-1], conv({ activation: Activation.RELU }), [1, 1, 5, 1]), { x });
  close(relu.out.y.data, [0, 0, 1, 3, 7], "RELU");
  const relu6 = await run(convModel(1, 5, 1, [2], [1, 1, 1, 1], [-1], conv({ activation: Activation.RELU6 }), [1, 1, 5, 1]), { x });
  close(relu6.out.y.data, [0, 0, 1, 3, 6], "RELU6");
  // The trailing Reshape presents the NCHW result [1,1,1,5] in TFLite's NHWC shape [1,1,5,1] (same memory order).
  assert.deepEqual(relu6.graph.nodes.map((n) => n.opType), ["Conv", "Clip", "Reshape"]);
});

// ---- DEPTHWISE_CONV_2D ---------------------------------------------------------------------------------------

test("DEPTHWISE_CONV_2D: per-channel 3x3 filters [1,H,W,C] -> ONNX group conv, SAME stride 1 and 2", async () => {
  // Channel 0: centre tap 1 (identity); channel 1: all ones (box sum); channel 2: centre tap 2 (doubling).
  // Filter layout [1,3,3,C]: tap (ky,kx) of channel k at (ky*3+kx)*3+k.
  const filter = new Array<number>(27).fill(0);
  for (let t = 0; t < 9; t++) filter[t * 3 + 1] = 1;
  filter[4 * 3 + 0] = 1;
  filter[4 * 3 + 2] = 2;
  const bias = [0, 0.5, -1];
  const [h, w] = [4, 5];
  const input = range(h * w * 3, (i) => (i % 3 === 1 ? 1 : i)); // channel 1 all ones: box sum = in-image tap count
  const def = convModel(h, w, 3, filter, [1, 3, 3, 3], bias, depthwise({}), [1, h, w, 3]);
  const { out, graph } = await run(def, { x: { data: input, shape: [1, h, w, 3] } });
  const conv = graph.nodes.find((n) => n.opType === "Conv");
  assert.deepEqual(conv?.attributes.find((a) => a.name === "group"), { name: "group", type: "int", value: 3 });
  const expected: number[] = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      // SAME stride 1, 3x3: one pixel of padding all round; the box over a ones channel counts in-image taps.
      const rows = 3 - (y === 0 ? 1 : 0) - (y === h - 1 ? 1 : 0);
      const cols = 3 - (x === 0 ? 1 : 0) - (x === w - 1 ? 1 : 0);
      const at = (y * w + x) * 3;
      expected.push(input[at] + 0, rows * cols + 0.5, 2 * input[at + 2] - 1);
    }
  close(out.y.data, expected, "depthwise stride 1");

  // Stride 2 on 6x6 (the model's 96 -> 48 case in small): pads 0 before, 1 after.
  const c = 2;
  const f2 = ints(9 * c, 21);
  const x2 = ints(36 * c, 23);
  const def2 = convModel(6, 6, c, f2, [1, 3, 3, c], [0, 0], depthwise({ strideH: 2, strideW: 2 }), [1, 3, 3, c]);
  const r2 = await run(def2, { x: { data: x2, shape: [1, 6, 6, c] } });
  // Each channel is a 1-in/1-out conv: reuse the NHWC loop per channel (filter of channel k at tap*c+k).
  const perChannel = range(c).map((k) =>
    referenceConv(range(36, (i) => x2[i * c + k]), [6, 6, 1], range(9, (t) => f2[t * c + k]), [1, 3, 3], [0], 2, 0, 0, [3, 3]),
  );
  close(r2.out.y.data, range(9 * c, (i) => perChannel[i % c][Math.floor(i / c)]), "depthwise stride 2");
});

// ---- PRELU, RELU, ADD, PAD ---------------------------------------------------------------------------------

test("PRELU with per-channel alpha [1,1,C]", async () => {
  // alpha = (0.5, 0.25, 2) per channel: y = x for x >= 0, alpha[c]*x otherwise.
  const def: ModelDef = {
    tensors: [act("x", [1, 2, 2, 3]), { name: "alpha", shape: [1, 1, 3], data: f32([0.5, 0.25, 2]) }, act("y", [1, 2, 2, 3])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.PRELU, inputs: ["x", "alpha"], outputs: ["y"] }],
  };
  const x = [-4, -4, -4, 3, 3, 3, -1, 2, -3, 0, -8, 5];
  const { out, graph } = await run(def, { x: { data: x, shape: [1, 2, 2, 3] } });
  close(out.y.data, [-2, -1, -8, 3, 3, 3, -0.5, 2, -6, 0, -2, 5], "PRELU");
  assert.deepEqual(graph.initializers.get("alpha")?.dims, [3, 1, 1]);
});

test("PAD on channels then ADD (the residual pattern) and RELU", async () => {
  // x [1,1,2,2] padded on channels by (1 before, 1 after) -> [1,1,2,4] = (0, x0, x1, 0); then + y; then RELU.
  const def: ModelDef = {
    tensors: [
      act("x", [1, 1, 2, 2]),
      act("y", [1, 1, 2, 4]),
      { name: "paddings", shape: [4, 2], type: TensorType.INT32, data: i32([0, 0, 0, 0, 0, 0, 1, 1]) },
      act("padded", [1, 1, 2, 4]),
      act("sum", [1, 1, 2, 4]),
      act("out", [1, 1, 2, 4]),
    ],
    inputs: ["x", "y"],
    outputs: ["out"],
    operators: [
      { op: Op.PAD, inputs: ["x", "paddings"], outputs: ["padded"] },
      { op: Op.ADD, inputs: ["padded", "y"], outputs: ["sum"], options: { kind: "AddOptions", activation: Activation.NONE } },
      { op: Op.RELU, inputs: ["sum"], outputs: ["out"] },
    ],
  };
  const x = [1, 2, 3, 4]; // pixel 0: (1,2); pixel 1: (3,4)
  const y = [10, -10, 10, -10, -1, -1, -5, 7];
  // pixel 0: (0,1,2,0) + (10,-10,10,-10) = (10,-9,12,-10) -> relu (10,0,12,0)
  // pixel 1: (0,3,4,0) + (-1,-1,-5,7) = (-1,2,-1,7) -> relu (0,2,0,7)
  const { out, graph } = await run(def, { x: { data: x, shape: [1, 1, 2, 2] }, y: { data: y, shape: [1, 1, 2, 4] } });
  close(out.out.data, [10, 0, 12, 0, 0, 2, 0, 7], "pad+add+relu");
  // No Transpose between Pad, Add and Relu; one at the end, as the test asks for the output in NHWC order.
  assert.deepEqual(graph.nodes.map((n) => n.opType), ["Pad", "Add", "Relu", "Transpose"]);
});

test("PAD on height and width maps NHWC widths to NCHW", async () => {
  // x [1,1,2,1] = (1,2); pad H (1 before, 0 after), W (0 before, 2 after) -> [1,2,4,1]:
  // row 0 all zero; row 1 = 1, 2, 0, 0.
  const def: ModelDef = {
    tensors: [
      act("x", [1, 1, 2, 1]),
      { name: "p", shape: [4, 2], type: TensorType.INT32, data: i32([0, 0, 1, 0, 0, 2, 0, 0]) },
      act("y", [1, 2, 4, 1]),
    ],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.PAD, inputs: ["x", "p"], outputs: ["y"] }],
  };
  const { out } = await run(def, { x: { data: [1, 2], shape: [1, 1, 2, 1] } });
  close(out.y.data, [0, 0, 0, 0, 1, 2, 0, 0], "spatial pad");
});

test("ADD with fused RELU and a per-channel constant operand", async () => {
  // x + c with c = (1, -5) per channel, then RELU: (2,3)->(3,0); (-2,10)->(0,5).
  const def: ModelDef = {
    tensors: [act("x", [1, 1, 2, 2]), { name: "c", shape: [2], data: f32([1, -5]) }, act("y", [1, 1, 2, 2])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.ADD, inputs: ["x", "c"], outputs: ["y"], options: { kind: "AddOptions", activation: Activation.RELU } }],
  };
  const { out } = await run(def, { x: { data: [2, 3, -2, 10], shape: [1, 1, 2, 2] } });
  close(out.y.data, [3, 0, 0, 5], "add relu");
});

// ---- MAX_POOL_2D ---------------------------------------------------------------------------------------------

test("MAX_POOL_2D 2x2 VALID: even input, and odd input (last row/col dropped)", async () => {
  // 4x4, in = 4y+x+1: each 2x2 window's max is its bottom-right: 6, 8, 14, 16.
  const mk = (n: number, o: number): ModelDef => ({
    tensors: [act("x", [1, n, n, 1]), act("y", [1, o, o, 1])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.MAX_POOL_2D, inputs: ["x"], outputs: ["y"], options: pool({ padding: Padding.VALID }) }],
  });
  const r4 = await run(mk(4, 2), { x: { data: range(16, (i) => i + 1), shape: [1, 4, 4, 1] } });
  close(r4.out.y.data, [6, 8, 14, 16], "4x4 VALID");
  // 5x5, in = 5y+x+1: out = floor((5-2)/2)+1 = 2; maxima at (1,1)=7, (1,3)=9, (3,1)=17, (3,3)=19.
  const r5 = await run(mk(5, 2), { x: { data: range(25, (i) => i + 1), shape: [1, 5, 5, 1] } });
  close(r5.out.y.data, [7, 9, 17, 19], "5x5 VALID");
});

test("MAX_POOL_2D 2x2 SAME stride 2 on an odd, all-negative input: padding is ignored, not zero", async () => {
  // 5x5, in = -(5y+x+1); SAME: out 3, total pad (3-1)*2+2-5 = 1 -> 0 before, 1 after. Window (i,j) covers rows
  // 2i..2i+1, cols 2j..2j+1 (clipped to the image); its max is the top-left cell -(10i+2j+1).
  // Zero padding would give 0 in the last row/col; padding at the start would give out(0,1) = -2.
  const def: ModelDef = {
    tensors: [act("x", [1, 5, 5, 1]), act("y", [1, 3, 3, 1])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.MAX_POOL_2D, inputs: ["x"], outputs: ["y"], options: pool({ padding: Padding.SAME }) }],
  };
  const { out } = await run(def, { x: { data: range(25, (i) => -(i + 1)), shape: [1, 5, 5, 1] } });
  close(out.y.data, [-1, -3, -5, -11, -13, -15, -21, -23, -25], "5x5 SAME");
});

// ---- RESHAPE, CONCATENATION ----------------------------------------------------------------------------------

test("RESHAPE flattens in NHWC memory order (anchor order y, x, anchor) with a dynamic batch", async () => {
  // x [1,2,2,3] with NHWC values 0..11: TFLite's reshape to [1,-1,3] keeps memory order, so row r = (3r, 3r+1, 3r+2).
  // A reshape of the NCHW tensor would give rows (0,3,6), ... instead.
  const mk = (withShapeInput: boolean): ModelDef => ({
    tensors: [
      act("x", [1, 2, 2, 3]),
      { name: "shape", shape: [3], type: TensorType.INT32, data: i32([1, -1, 3]) },
      act("y", [1, 4, 3]),
    ],
    inputs: ["x"],
    outputs: ["y"],
    operators: [
      withShapeInput
        ? { op: Op.RESHAPE, inputs: ["x", "shape"], outputs: ["y"] }
        : { op: Op.RESHAPE, inputs: ["x"], outputs: ["y"], options: { kind: "ReshapeOptions", newShape: [1, -1, 3] } },
    ],
  });
  for (const withShapeInput of [false, true]) {
    // Batch 2: sample 1 = sample 0 + 100.
    const data = [...range(12), ...range(12, (i) => i + 100)];
    const { out } = await run(mk(withShapeInput), { x: { data, shape: [2, 2, 2, 3] } });
    assert.deepEqual(out.y.dims, [2, 4, 3]);
    close(out.y.data, data, `reshape (${withShapeInput ? "shape input" : "new_shape option"})`);
  }
});

test("RESHAPE + CONCATENATION on axis 1: the detector head pattern, anchors of two maps back to back", async () => {
  // a [1,2,2,2] -> [1,8,1]; b [1,1,1,3] -> [1,3,1]; concat axis 1 -> [1,11,1] = a's NHWC values then b's.
  const def: ModelDef = {
    tensors: [act("a", [1, 2, 2, 2]), act("b", [1, 1, 1, 3]), act("ra", [1, 8, 1]), act("rb", [1, 3, 1]), act("y", [1, 11, 1])],
    inputs: ["a", "b"],
    outputs: ["y"],
    operators: [
      { op: Op.RESHAPE, inputs: ["a"], outputs: ["ra"], options: { kind: "ReshapeOptions", newShape: [1, -1, 1] } },
      { op: Op.RESHAPE, inputs: ["b"], outputs: ["rb"], options: { kind: "ReshapeOptions", newShape: [1, -1, 1] } },
      { op: Op.CONCATENATION, inputs: ["ra", "rb"], outputs: ["y"], options: { kind: "ConcatenationOptions", axis: 1, activation: 0 } },
    ],
  };
  const a = range(8, (i) => i + 1);
  const { out } = await run(def, { a: { data: a, shape: [1, 2, 2, 2] }, b: { data: [-1, -2, -3], shape: [1, 1, 1, 3] } });
  close(out.y.data, [...a, -1, -2, -3], "reshape+concat");
});

test("CONCATENATION of images on the channel axis (3 and -1) and the height axis (1)", async () => {
  const mk = (axis: number, bShape: number[], yShape: number[]): ModelDef => ({
    tensors: [act("a", [1, 2, 1, 1]), act("b", bShape), act("y", yShape)],
    inputs: ["a", "b"],
    outputs: ["y"],
    operators: [{ op: Op.CONCATENATION, inputs: ["a", "b"], outputs: ["y"], options: { kind: "ConcatenationOptions", axis, activation: 0 } }],
  });
  // a = (1),(2) per row; b has 2 channels per pixel: (10,11),(20,21). Channel concat -> (1,10,11),(2,20,21).
  for (const axis of [3, -1]) {
    const { out, graph } = await run(mk(axis, [1, 2, 1, 2], [1, 2, 1, 3]), {
      a: { data: [1, 2], shape: [1, 2, 1, 1] },
      b: { data: [10, 11, 20, 21], shape: [1, 2, 1, 2] },
    });
    close(out.y.data, [1, 10, 11, 2, 20, 21], `channel concat axis ${axis}`);
    assert.equal(graph.nodes.find((n) => n.opType === "Concat")?.attributes[0].value, 1, "NHWC channel axis -> NCHW axis 1");
  }
  // Height concat: a rows (1),(2) then b rows (3),(4),(5).
  const { out } = await run(mk(1, [1, 3, 1, 1], [1, 5, 1, 1]), {
    a: { data: [1, 2], shape: [1, 2, 1, 1] },
    b: { data: [3, 4, 5], shape: [1, 3, 1, 1] },
  });
  close(out.y.data, [1, 2, 3, 4, 5], "height concat");
});

// ---- RESIZE_BILINEAR ------------------------------------------------------------------------------------------

test("RESIZE_BILINEAR 2x up: half_pixel_centers, align_corners and neither", async () => {
  // in(y,x) = 10y + x on a 2x3 map, resized to 4x6. The input is linear in (y,x), so bilinear interpolation
  // returns 10*Y + X at the source coordinates (Y, X) each mode maps to, clamped to the map as TFLite clamps:
  //   half_pixel_centers: (o+0.5)/2-0.5 -> Y = 0, .25, .75, 1 (1.25 clamped); X = 0, .25, .75, 1.25, 1.75, 2
  //   align_corners:      o*(in-1)/(out-1) -> Y = 0, 1/3, 2/3, 1; X = 0, .4, .8, 1.2, 1.6, 2
  //   neither:            o/2 -> Y = 0, .5, 1, 1 (1.5 clamped); X = 0, .5, 1, 1.5, 2, 2 (2.5 clamped)
  const cases: Array<[string, boolean, boolean, number[], number[]]> = [
    ["half_pixel_centers", false, true, [0, 0.25, 0.75, 1], [0, 0.25, 0.75, 1.25, 1.75, 2]],
    ["align_corners", true, false, [0, 1 / 3, 2 / 3, 1], [0, 0.4, 0.8, 1.2, 1.6, 2]],
    ["neither", false, false, [0, 0.5, 1, 1], [0, 0.5, 1, 1.5, 2, 2]],
  ];
  for (const [label, alignCorners, halfPixelCenters, ys, xs] of cases) {
    const def: ModelDef = {
      tensors: [act("x", [1, 2, 3, 1]), { name: "size", shape: [2], type: TensorType.INT32, data: i32([4, 6]) }, act("y", [1, 4, 6, 1])],
      inputs: ["x"],
      outputs: ["y"],
      operators: [
        { op: Op.RESIZE_BILINEAR, inputs: ["x", "size"], outputs: ["y"], options: { kind: "ResizeBilinearOptions", alignCorners, halfPixelCenters } },
      ],
    };
    const { out } = await run(def, { x: { data: [0, 1, 2, 10, 11, 12], shape: [1, 2, 3, 1] } });
    close(out.y.data, ys.flatMap((y) => xs.map((x) => 10 * y + x)), label, 1e-4);
  }
});

// ---- DEQUANTIZE, float16 -------------------------------------------------------------------------------------

test("float16 decoding: normal, subnormal, extreme and special values", () => {
  // Bit patterns by hand: sign | 5 exponent bits (bias 15) | 10 fraction bits.
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0x3800), 0.5);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125); // exponent 13, fraction 341: (1 + 341/1024) / 4
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x03ff), 1023 * 2 ** -24);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x8000), -0);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test("DEQUANTIZE of float16 weights is folded into a float32 initializer", async () => {
  // 1x1 conv over 3 input channels; weights stored as float16 (1, 0.5, -2) = 0x3c00, 0x3800, 0xc000 and bias
  // 0x3555 = 0.333251953125 (float16 rounding of 1/3). x = (1, 2, 3) -> 1 + 1 - 6 + 0.333251953125.
  const half = (bits: number[]) => Uint8Array.from(bits.flatMap((b) => [b & 0xff, b >> 8]));
  const def: ModelDef = {
    tensors: [
      act("x", [1, 1, 1, 3]),
      { name: "w16", shape: [1, 1, 1, 3], type: TensorType.FLOAT16, data: half([0x3c00, 0x3800, 0xc000]) },
      { name: "b16", shape: [1], type: TensorType.FLOAT16, data: half([0x3555]) },
      act("w", [1, 1, 1, 3]),
      act("b", [1]),
      act("y", [1, 1, 1, 1]),
    ],
    inputs: ["x"],
    outputs: ["y"],
    operators: [
      { op: Op.DEQUANTIZE, inputs: ["w16"], outputs: ["w"] },
      { op: Op.DEQUANTIZE, inputs: ["b16"], outputs: ["b"] },
      { op: Op.CONV_2D, inputs: ["x", "w", "b"], outputs: ["y"], options: conv({ padding: Padding.VALID }) },
    ],
  };
  const { out, graph } = await run(def, { x: { data: [1, 2, 3], shape: [1, 1, 1, 3] } });
  close(out.y.data, [-4 + 0.333251953125], "fp16 conv", 1e-6);
  assert.deepEqual(graph.nodes.map((n) => n.opType), ["Conv"], "no node for DEQUANTIZE");
  assert.equal(graph.initializers.get("w")?.dataType, "float32");
});

// ---- graph shape: layout and batch ------------------------------------------------------------------------------

test("a conv stack has no Transpose, and a [1,1,1,N] head becomes one Reshape to the contract shape", async () => {
  // conv 3x3 SAME -> PRELU -> conv 3x3 VALID stride 3 (3x3 -> 1x1), output bound as [N]: like face_landmark.
  const def: ModelDef = {
    tensors: [
      act("x", [1, 3, 3, 2]),
      { name: "w1", shape: [2, 3, 3, 2], data: f32(ints(36, 1)) },
      { name: "b1", shape: [2], data: f32([0, 0]) },
      act("h1", [1, 3, 3, 2]),
      { name: "alpha", shape: [1, 1, 2], data: f32([0.5, 0.5]) },
      act("h2", [1, 3, 3, 2]),
      { name: "w2", shape: [4, 3, 3, 2], data: f32(ints(72, 2)) },
      { name: "b2", shape: [4], data: f32([0, 1, 2, 3]) },
      act("head", [1, 1, 1, 4]),
    ],
    inputs: ["x"],
    outputs: ["head"],
    operators: [
      { op: Op.CONV_2D, inputs: ["x", "w1", "b1"], outputs: ["h1"], options: conv({}) },
      { op: Op.PRELU, inputs: ["h1", "alpha"], outputs: ["h2"] },
      { op: Op.CONV_2D, inputs: ["h2", "w2", "b2"], outputs: ["head"], options: conv({ padding: Padding.VALID, strideH: 3, strideW: 3 }) },
    ],
  };
  const spec = { inputs: [{ tflite: "x", onnx: "input" }], outputs: [{ tflite: "head", onnx: "values", shape: [4] }] };
  const graph = convertDef(def, spec);
  assert.deepEqual(graph.nodes.map((n) => n.opType), ["Conv", "PRelu", "Conv", "Reshape"]);
  assert.deepEqual(graph.inputs, [{ name: "input", shape: ["batch", 2, 3, 3] }]);
  assert.deepEqual(graph.outputs, [{ name: "values", shape: ["batch", 4] }]);

  // Batch independence: 3 samples at once equal each sample alone.
  const session = await ort.InferenceSession.create(encodeOnnx(graph, { producerVersion: "test" }));
  const samples = Array.from({ length: 3 }, (_, s) => nhwcToNchw(ints(18, 40 + s), [1, 3, 3, 2]));
  const batched = await session.run({ input: new ort.Tensor("float32", Float32Array.from(samples.flatMap((s) => Array.from(s))), [3, 2, 3, 3]) });
  assert.deepEqual(batched.values.dims, [3, 4]);
  for (let s = 0; s < 3; s++) {
    const single = await session.run({ input: new ort.Tensor("float32", samples[s], [1, 2, 3, 3]) });
    close((batched.values.data as Float32Array).subarray(4 * s, 4 * s + 4), single.values.data as Float32Array, `sample ${s}`);
  }
  await session.release();
});

// ---- operator codes --------------------------------------------------------------------------------------------

test("operator codes: deprecated_builtin_code, builtin_code, and the 127 placeholder all resolve", () => {
  const def = (opcodeFields: ModelDef["opcodeFields"], op: number): ModelDef => ({
    tensors: [act("x", [1, 2, 2, 1]), act("y", [1, 2, 2, 1])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op, inputs: ["x"], outputs: ["y"] }],
    opcodeFields,
  });
  for (const style of ["both", "deprecated-only", "builtin-only"] as const) {
    assert.equal(readTflite(buildTflite(def(style, Op.RELU)), "t.tflite").subgraphs[0].operators[0].builtinCode, Op.RELU, style);
  }
  // GELU = 150 does not fit the byte field: writers store 127 there and 150 in builtin_code.
  assert.equal(readTflite(buildTflite(def("both", 150)), "t.tflite").subgraphs[0].operators[0].builtinCode, 150);
});

// ---- unsupported input --------------------------------------------------------------------------------------------

function unsupported(def: ModelDef, pattern: RegExp): void {
  assert.throws(() => convertDef(def), (err: Error) => {
    assert.match(err.message, /^test\.tflite: /, "names the model file");
    assert.match(err.message, pattern);
    return true;
  });
}

// ---- MUL, STRIDED_SLICE (attention model) ----------------------------------------------------------------------

test("MUL by a scalar constant, by a same-shape constant (the matrix mask) and by a per-channel constant on an image", async () => {
  // Landmarks [1,2,3] * 0.25 (the attention model's mesh -> feature-map scale).
  const scalar: ModelDef = {
    tensors: [act("x", [1, 2, 3]), { name: "k", shape: [1], data: f32([0.25]) }, act("y", [1, 2, 3])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.MUL, inputs: ["x", "k"], outputs: ["y"], options: { kind: "MulOptions", activation: Activation.NONE } }],
  };
  const r1 = await run(scalar, { x: { data: [4, 8, -12, 1, 2, 3], shape: [1, 2, 3] } });
  close(r1.out.y.data, [1, 2, -3, 0.25, 0.5, 0.75], "MUL scalar");
  // Matrix [1,2,2] * mask [1,2,2] elementwise, batch 2 (the constant broadcasts over the batch); fused RELU.
  const mask: ModelDef = {
    tensors: [act("m", [1, 2, 2]), { name: "k", shape: [1, 2, 2], data: f32([1, 4, 0.25, -1]) }, act("y", [1, 2, 2])],
    inputs: ["m"],
    outputs: ["y"],
    operators: [{ op: Op.MUL, inputs: ["k", "m"], outputs: ["y"], options: { kind: "MulOptions", activation: Activation.RELU } }],
  };
  const r2 = await run(mask, { m: { data: [2, 3, 8, 5, 1, -1, 4, -6], shape: [2, 2, 2] } });
  // (2,12,2,-5 -> 0) and (1,-4 -> 0,1,6)
  close(r2.out.y.data, [2, 12, 2, 0, 1, 0, 1, 6], "MUL mask + RELU");
  // Image [1,1,2,2] (NHWC) * per-channel [2]: the constant is permuted like the NCHW tensor.
  const image: ModelDef = {
    tensors: [act("x", [1, 1, 2, 2]), { name: "k", shape: [2], data: f32([10, -1]) }, act("y", [1, 1, 2, 2])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.MUL, inputs: ["x", "k"], outputs: ["y"] }],
  };
  const r3 = await run(image, { x: { data: [1, 2, 3, 4], shape: [1, 1, 2, 2] } });
  // Graph outputs come back in TFLite's NHWC order: pixel 0 = (1*10, 2*-1), pixel 1 = (3*10, 4*-1).
  close(r3.out.y.data, [10, -2, 30, -4], "MUL per channel");
});

test("STRIDED_SLICE: a full slice is an Identity; begin/end/strides with masks on an image and on a matrix", async () => {
  const begin = (v: number[]) => ({ name: "b", shape: [v.length], type: TensorType.INT32, data: i32(v) });
  const end = (v: number[]) => ({ name: "e", shape: [v.length], type: TensorType.INT32, data: i32(v) });
  const strides = (v: number[]) => ({ name: "s", shape: [v.length], type: TensorType.INT32, data: i32(v) });
  const options = (beginMask: number, endMask: number): Extract<BuiltinOptions, { kind: "StridedSliceOptions" }> => ({
    kind: "StridedSliceOptions",
    beginMask,
    endMask,
    ellipsisMask: 0,
    newAxisMask: 0,
    shrinkAxisMask: 0,
    offset: false,
  });
  const model = (inShape: number[], outShape: number[], b: number[], e: number[], s: number[], o: BuiltinOptions): ModelDef => ({
    tensors: [act("x", inShape), begin(b), end(e), strides(s), act("y", outShape)],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op: Op.STRIDED_SLICE, inputs: ["x", "b", "e", "s"], outputs: ["y"], options: o }],
  });
  // The attention model's output_mesh_identity: [1,1,1,6] from 0 to the end.
  const full = await run(model([1, 1, 1, 6], [1, 1, 1, 6], [0, 0, 0, 0], [1, 1, 1, 6], [1, 1, 1, 1], options(0, 0)), {
    x: { data: [1, 2, 3, 4, 5, 6], shape: [1, 1, 1, 6] },
  });
  close(full.out.y.data, [1, 2, 3, 4, 5, 6], "full slice");
  assert.ok(!full.graph.nodes.some((n) => n.opType === "Slice"), "a full slice emits no Slice");
  // Image [1,4,3,2] (NHWC, value = 100h + 10w + c): rows 1 and 3 (begin 1, stride 2), columns from -2 to the end
  // (end_mask bit 2), channel 1 only: [1,2,2,1].
  const x: number[] = [];
  for (let h = 0; h < 4; h++) for (let w = 0; w < 3; w++) for (let c = 0; c < 2; c++) x.push(100 * h + 10 * w + c);
  const img = await run(model([1, 4, 3, 2], [1, 2, 2, 1], [0, 1, -2, 1], [1, 4, 0, 2], [1, 2, 1, 1], options(0, 0b0100)), {
    x: { data: x, shape: [1, 4, 3, 2] },
  });
  close(img.out.y.data, [111, 121, 311, 321], "image slice");
  // Rank 3 [1,4,4] -> rows 0..1 (begin_mask on axis 1), columns 3..3: the matrix's translation column. Batch 2.
  const m = range(32, (i) => i);
  const mat = await run(model([1, 4, 4], [1, 2, 1], [0, 2, 3], [1, 2, 4], [1, 1, 1], options(0b010, 0)), { x: { data: m, shape: [2, 4, 4] } });
  close(mat.out.y.data, [3, 7, 19, 23], "matrix column, batch 2");
  assert.deepEqual(mat.out.y.dims, [2, 2, 1]);
  unsupported(model([1, 4, 4], [1, 2, 1], [0, 2, 3], [1, 2, 4], [1, 1, 1], { ...options(0, 0), shrinkAxisMask: 1 }), /STRIDED_SLICE.*shrink_axis_mask 1.*not supported/);
});

// ---- MediaPipe's custom operators ------------------------------------------------------------------------------

/** A one-custom-op model, version 2, options as a flexbuffer. */
function customModel(code: string, tensors: TensorDef[], inputs: string[], options: Record<string, unknown> | undefined): ModelDef {
  const out = tensors[tensors.length - 1].name;
  return {
    tensors,
    inputs,
    outputs: [out],
    operators: [{ op: Op.CUSTOM, customCode: code, version: 2, inputs, outputs: [out], customOptions: options ? flexbuffers.encode(options) : undefined }],
  };
}

test("Landmarks2TransformMatrix v2: hand-computed matrices, rotated and not, with a dynamic batch", async () => {
  // 4 landmarks (x, y, z; z is ignored), rotation from points 0 -> 1, bbox over all four, output 8x4, scale (2, 1).
  const options = { subset_idxs: [2, 0, 1, 3], left_rotation_idx: 0, right_rotation_idx: 1, target_rotation_radians: null, output_width: 8, output_height: 4, scale_x: 2, scale_y: 1 };
  const def = customModel("Landmarks2TransformMatrix", [act("l", [1, 4, 3]), act("m", [1, 4, 4])], ["l"], options);
  // Sample 0: eyes level (10,20) -> (30,20), rotation 0. bbox x 10..30, y 10..40: centre (20,25), w 20, h 30.
  //   scale (2*20/8, 1*30/4) = (5, 7.5); translation = centre - scale * (8/2, 4/2) = (20 - 20, 25 - 15) = (0, 10).
  // Sample 1: (0,0) -> (0,10) points straight down: atan2(10, 0) = pi/2, r = -pi/2 (cos 0, sin -1). Rotated by r
  //   (x' = y, y' = -x): (0,0), (10,0), (5,-4), (2,-2): bbox x' 0..10, y' -4..0, mid (5,-2), w 10, h 4, back-rotated
  //   centre (2,5). Rot(-r)·Scale = [[0, -1], [2.5, 0]] (scale (2*10/8, 1*4/4) = (2.5, 1)); translation =
  //   (2,5) + [[0,-1],[2.5,0]]·(-4,-2) = (4, -5).
  const l = [10, 20, 7, 30, 20, -3, 20, 10, 0, 20, 40, 99, 0, 0, 5, 0, 10, 5, 4, 5, 5, 2, 2, 5];
  const { out, graph } = await run(def, { l: { data: l, shape: [2, 4, 3] } });
  assert.ok(!graph.nodes.some((n) => n.opType === "Landmarks2TransformMatrix"), "plain ONNX operators only");
  close(out.m.data, [5, 0, 0, 0, 0, 7.5, 0, 10, 0, 0, 1, 0, 0, 0, 0, 1, 0, -1, 0, 4, 2.5, 0, 0, -5, 0, 0, 1, 0, 0, 0, 0, 1], "matrices");
  assert.deepEqual(out.m.dims, [2, 4, 4]);
  // target_rotation_radians = pi/2 on sample 1: r = 0, so the bbox is the plain one: x 0..4, y 0..10, centre (2,5),
  // scale (2*4/8, 1*10/4) = (1, 2.5), translation (2 - 4, 5 - 5) = (-2, 0). (pi/2 rounded to float32, as a TFLite
  // writer stores it; the flexbuffers reader of the flatbuffers package cannot read maps widened by a 64-bit double.)
  const turned = customModel("Landmarks2TransformMatrix", [act("l", [1, 4, 3]), act("m", [1, 4, 4])], ["l"], { ...options, target_rotation_radians: Math.fround(Math.PI / 2) });
  const r2 = await run(turned, { l: { data: l.slice(12), shape: [1, 4, 3] } });
  close(r2.out.m.data, [1, 0, 0, -2, 0, 2.5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], "target rotation", 1e-5);
  unsupported(customModel("Landmarks2TransformMatrix", [act("l", [1, 4, 3]), act("m", [1, 4, 4])], ["l"], { ...options, subset_idxs: [0, 7] }), /Landmarks2TransformMatrix.*landmark index 7 is out of range for 4/);
  unsupported(customModel("Landmarks2TransformMatrix", [act("l", [1, 4, 3]), act("m", [1, 4, 4])], ["l"], undefined), /Landmarks2TransformMatrix.*custom_options are missing/);
});

test("TransformTensorBilinear v2: pixel-centre sampling, bilinear, out-of-bounds samples are 0 as a whole", async () => {
  // Feature map 4x4x2 (NHWC): channel 0 = 10y + x (linear: bilinear reproduces it), channel 1 = x^2 - y.
  const f: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) f.push(10 * y + x, x * x - y);
  const def = customModel("TransformTensorBilinear", [act("f", [1, 4, 4, 2]), act("m", [1, 4, 4]), act("y", [1, 2, 2, 2])], ["f", "m"], { output_width: 2, output_height: 2 });
  const matrix = (a: number, b: number, tx: number, c: number, d: number, ty: number) => [a, b, 0, tx, c, d, 0, ty, 0, 0, 1, 0, 0, 0, 0, 1];
  // Output pixel (u,v) samples at T·(u+0.5, v+0.5) - 0.5.
  const cases: Array<{ m: number[]; expect: number[]; what: string }> = [
    // Identity: (u, v) itself.
    { m: matrix(1, 0, 0, 0, 1, 0), expect: [0, 0, 1, 1, 10, -1, 11, 0], what: "identity" },
    // Shift (1.25, 0.5): x = u + 1.25, y = v + 0.5. ch1 between x=1 and 2 at 0.25: 1 + 0.25·3 = 1.75, minus y.
    { m: matrix(1, 0, 1.25, 0, 1, 0.5), expect: [6.25, 1.25, 7.25, 4.75, 16.25, 0.25, 17.25, 3.75], what: "shift" },
    // Scale 2: x = 2u + 0.5, y = 2v + 0.5. ch1 at x 0.5: 0.5, at 2.5: (4+9)/2 = 6.5.
    { m: matrix(2, 0, 0, 0, 2, 0), expect: [5.5, 0, 7.5, 6, 25.5, -2, 27.5, 4], what: "scale" },
    // Rotation: x = 3 - (v + 0.5) - 0.5 = 2 - v, y = u.
    { m: matrix(0, -1, 3, 1, 0, 0), expect: [2, 4, 12, 3, 1, 1, 11, 0], what: "rotation" },
    // Shift (2.5, -0.25): x = u + 2.5 (u = 1 gives 3.5 > 3: 0), y = v - 0.25 (v = 0 gives -0.25 < 0: 0).
    // Only (0,1): x 2.5, y 0.75: ch0 7.5 + 2.5 = 10, ch1 (4+9)/2 - 0.75 = 5.75.
    { m: matrix(1, 0, 2.5, 0, 1, -0.25), expect: [0, 0, 0, 0, 10, 5.75, 0, 0], what: "out of bounds" },
  ];
  const { out, graph } = await run(def, {
    f: { data: [...f, ...f, ...f, ...f, ...f], shape: [5, 4, 4, 2] },
    m: { data: cases.flatMap((c) => c.m), shape: [5, 4, 4] },
  });
  assert.ok(graph.nodes.some((n) => n.opType === "GridSample"));
  assert.deepEqual(out.y.dims, [5, 2, 2, 2]);
  // Graph outputs come back in TFLite's NHWC order, as `expect` is written.
  cases.forEach((c, s) => close(out.y.data.slice(s * 8, s * 8 + 8), c.expect, c.what, 1e-4));
});

test("TransformLandmarks v2: 2-D affine map by the matrix's first two rows", async () => {
  const def = customModel("TransformLandmarks", [act("l", [1, 3, 2]), act("m", [1, 4, 4]), act("y", [1, 3, 2])], ["l", "m"], undefined);
  // m0 = 2, m1 = 0.5, m3 = 3; m4 = -1, m5 = 4, m7 = 7 (m2, m6 multiply z = 0 and are ignored).
  const m = [2, 0.5, 9, 3, -1, 4, 9, 7, 5, 5, 5, 5, 5, 5, 5, 5];
  const { out } = await run(def, { l: { data: [1, 2, 0, 0, -2, 0.5, 1, 2, 0, 0, -2, 0.5], shape: [2, 3, 2] }, m: { data: [...m, ...m.map((v, i) => (i === 3 ? 0 : v))], shape: [2, 4, 4] } });
  // (1,2) -> (2 + 1 + 3, -1 + 8 + 7) = (6, 14); (0,0) -> (3, 7); (-2, 0.5) -> (-4 + 0.25 + 3, 2 + 2 + 7) = (-0.75, 11).
  // Sample 1: m3 = 0, so x is 3 less.
  close(out.y.data, [6, 14, 3, 7, -0.75, 11, 3, 14, 0, 7, -3.75, 11], "landmarks");
  unsupported(customModel("TransformLandmarks", [act("l", [1, 3, 3]), act("m", [1, 4, 4]), act("y", [1, 3, 3])], ["l", "m"], undefined), /TransformLandmarks.*expected \[1,N,2\]/);
});

test("unsupported operators and options are rejected with the model, operator and option named", () => {
  const one = (op: number, options?: BuiltinOptions, customCode?: string): ModelDef => ({
    tensors: [act("x", [1, 4, 4, 1]), { name: "w", shape: [1, 3, 3, 1], data: f32(range(9)) }, act("y", [1, 4, 4, 1])],
    inputs: ["x"],
    outputs: ["y"],
    operators: [{ op, inputs: op === Op.CONV_2D ? ["x", "w", null] : ["x"], outputs: ["y"], options, customCode }],
  });
  unsupported(one(150), /operator #0 GELU \(output y\): operator is not supported/);
  unsupported(one(28), /operator #0 TANH/);
  unsupported(one(Op.CUSTOM, undefined, "MaxPoolingWithArgmax2D"), /CUSTOM\(MaxPoolingWithArgmax2D\).*custom operator "MaxPoolingWithArgmax2D" is not supported/);
  // Version 1 of MediaPipe's operators has other semantics.
  unsupported(one(Op.CUSTOM, undefined, "Landmarks2TransformMatrix"), /CUSTOM\(Landmarks2TransformMatrix\).*version 1 is not supported/);
  unsupported(one(Op.CONV_2D, conv({ dilationH: 2, dilationW: 2 })), /CONV_2D.*dilation 2x2 is not supported/);
  unsupported(one(Op.CONV_2D, conv({ activation: Activation.SIGN_BIT })), /CONV_2D.*fused_activation_function SIGN_BIT is not supported/);
  unsupported(one(Op.CONV_2D, conv({ padding: 7 })), /CONV_2D.*padding 7 is not supported/);
  unsupported(
    {
      ...one(Op.RESIZE_BILINEAR),
      tensors: [act("x", [1, 2, 2, 1]), { name: "s", shape: [2], type: TensorType.INT32, data: i32([4, 4]) }, act("y", [1, 4, 4, 1])],
      operators: [
        { op: Op.RESIZE_BILINEAR, inputs: ["x", "s"], outputs: ["y"], options: { kind: "ResizeBilinearOptions", alignCorners: true, halfPixelCenters: true } },
      ],
    },
    /RESIZE_BILINEAR.*align_corners and half_pixel_centers are both set/,
  );
  // A reshape that folds the batch into another dim would mix samples.
  unsupported(
    {
      tensors: [act("x", [1, 2, 2, 1]), act("y", [4])],
      inputs: ["x"],
      outputs: ["y"],
      operators: [{ op: Op.RESHAPE, inputs: ["x"], outputs: ["y"], options: { kind: "ReshapeOptions", newShape: [4] } }],
    },
    /RESHAPE.*moves the batch dimension/,
  );
  // int8 weights: only float16 dequantization is supported.
  unsupported(
    {
      tensors: [act("x", [1, 1, 1, 1]), { name: "q", shape: [1], type: TensorType.INT8, data: Uint8Array.from([3]) }, act("y", [1])],
      inputs: ["x"],
      outputs: ["y"],
      operators: [{ op: Op.DEQUANTIZE, inputs: ["q"], outputs: ["y"] }],
    },
    /DEQUANTIZE.*unsupported type INT8/,
  );
});

test("corrupt files are rejected with the file named", () => {
  const good = buildTflite({ tensors: [act("x", [1, 1, 1, 1])], inputs: ["x"], outputs: ["x"], operators: [] });
  assert.throws(() => readTflite(good.subarray(0, 40), "cut.tflite"), /^Error: cut\.tflite: invalid TFLite file: /);
  const wrongId = good.slice();
  wrongId[4] = "X".charCodeAt(0);
  assert.throws(() => readTflite(wrongId, "id.tflite"), /id\.tflite: invalid TFLite file: file identifier is "XFL3"/);
});
