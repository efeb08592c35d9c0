/**
 * MediaPipe's three custom TFLite operators of face_landmark_with_attention (version 2 of each), written as plain
 * ONNX operators so the whole model stays one graph with a dynamic batch:
 *
 * - Landmarks2TransformMatrix: from 3-D landmarks (x,y,z per point), a 4x4 matrix mapping pixels of a small output
 *   crop to the landmarks' pixel space. r = target_rotation - atan2(yR - yL, xR - xL) from two landmarks; the
 *   subset's points rotated by r give a bbox (centre c', size w,h); c = c' rotated back by -r; then
 *   T = Shift(c) · Rot(-r) · Scale(scale_x·w/out_w, scale_y·h/out_h) · Shift(-out_w/2, -out_h/2).
 *   atan2 is never needed: cos and sin of r follow from the normalized direction (dx, dy)/|d|.
 * - TransformTensorBilinear: output pixel (u,v) samples the feature map bilinearly at T·(u+0.5, v+0.5) - 0.5;
 *   a sample whose position lies outside [0, W-1] x [0, H-1] is 0 as a whole. GridSample (bilinear,
 *   align_corners=1) matches inside that box; samples outside it are sent far off the map so that they read 0
 *   (GridSample's "zeros" padding alone would blend the border instead).
 * - TransformLandmarks: (x, y) -> (m0·x + m1·y + m3, m4·x + m5·y + m7) for 2-D landmarks.
 *
 * Options come from the operators' custom_options flexbuffer (flatbuffers' own flexbuffers reader). Facts from
 * MediaPipe's operator definitions (../shared/docs/MEDIAPIPE.md §7); the code is ours.
 */
import { toObject } from "flatbuffers/mjs/flexbuffers.js";

import { type Attribute, int, ints } from "./graph.js";

export interface Landmarks2TransformMatrixOptions {
  /** Every landmark index of the bbox subset (MediaPipe reads the list as pairs; an odd last one pairs with itself). */
  subset: number[];
  leftRotationIdx: number;
  rightRotationIdx: number;
  targetRotationRadians: number;
  outputHeight: number;
  outputWidth: number;
  scaleX: number;
  scaleY: number;
}

export interface TransformTensorBilinearOptions {
  outputHeight: number;
  outputWidth: number;
}

/** Decodes a custom_options flexbuffer into a plain map; errors name `what`. */
export function readFlexbufferMap(bytes: Uint8Array | undefined, what: string): Record<string, unknown> {
  if (!bytes || bytes.length === 0) throw new Error(`${what}: custom_options are missing`);
  let value: unknown;
  try {
    // toObject wants an ArrayBuffer of exactly these bytes (the root is read from its end).
    value = toObject(bytes.slice().buffer);
  } catch (err) {
    throw new Error(`${what}: custom_options are not a valid flexbuffer (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: custom_options are not a flexbuffer map`);
  return value as Record<string, unknown>;
}

function intOption(map: Record<string, unknown>, key: string, what: string, min: number): number {
  const v = map[key];
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) throw new Error(`${what}: option ${key} = ${String(v)}; expected an integer >= ${min}`);
  return n;
}

function floatOption(map: Record<string, unknown>, key: string, what: string, dflt?: number): number {
  const v = map[key];
  // MediaPipe's parser reads an absent or null value with AsFloat(), which gives 0.
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`${what}: option ${key} = ${String(v)}; expected a number`);
  return n;
}

export function parseLandmarks2TransformMatrixOptions(bytes: Uint8Array | undefined, what: string): Landmarks2TransformMatrixOptions {
  const m = readFlexbufferMap(bytes, what);
  const subset = m.subset_idxs;
  if (!Array.isArray(subset) || subset.length === 0) throw new Error(`${what}: option subset_idxs is missing or empty`);
  const idx = subset.map((v) => (typeof v === "bigint" ? Number(v) : v));
  if (!idx.every((v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0)) {
    throw new Error(`${what}: option subset_idxs holds a value that is not a landmark index`);
  }
  const opts = {
    subset: idx,
    leftRotationIdx: intOption(m, "left_rotation_idx", what, 0),
    rightRotationIdx: intOption(m, "right_rotation_idx", what, 0),
    targetRotationRadians: floatOption(m, "target_rotation_radians", what, 0),
    outputHeight: intOption(m, "output_height", what, 1),
    outputWidth: intOption(m, "output_width", what, 1),
    scaleX: floatOption(m, "scale_x", what),
    scaleY: floatOption(m, "scale_y", what),
  };
  if (!(opts.scaleX > 0 && opts.scaleY > 0)) throw new Error(`${what}: scale_x ${opts.scaleX} and scale_y ${opts.scaleY} must be positive`);
  return opts;
}

export function parseTransformTensorBilinearOptions(bytes: Uint8Array | undefined, what: string): TransformTensorBilinearOptions {
  const m = readFlexbufferMap(bytes, what);
  return { outputHeight: intOption(m, "output_height", what, 1), outputWidth: intOption(m, "output_width", what, 1) };
}

/** What the operator builders need from the converter: node and constant emission with unique names. */
export interface OnnxEmitter {
  node(opType: string, inputs: string[], outputs: string[], attributes?: Attribute[]): void;
  fresh(base: string): string;
  floats(base: string, dims: number[], data: number[]): string;
  int64s(base: string, values: number[]): string;
}

/** Emits `op` with one fresh output named after `base`. */
function op(e: OnnxEmitter, opType: string, inputs: string[], base: string, attributes: Attribute[] = []): string {
  const out = e.fresh(base);
  e.node(opType, inputs, [out], attributes);
  return out;
}

/**
 * Landmarks2TransformMatrix: `landmarks` [B, N, 3] -> `out` [B, 4, 4]. Every intermediate keeps the batch in
 * dim 0, so any batch size runs.
 */
export function emitLandmarks2TransformMatrix(e: OnnxEmitter, landmarks: string, numLandmarks: number, o: Landmarks2TransformMatrixOptions, out: string, what: string): void {
  for (const i of [...o.subset, o.leftRotationIdx, o.rightRotationIdx]) {
    if (i >= numLandmarks) throw new Error(`${what}: landmark index ${i} is out of range for ${numLandmarks} landmarks`);
  }
  const b = `${out}/l2tm`;
  const axis2 = e.int64s(`${b}/axis2`, [2]);
  const axis1 = e.int64s(`${b}/axis1`, [1]);
  const zero = e.int64s(`${b}/0`, [0]);
  const one = e.int64s(`${b}/1`, [1]);
  const two = e.int64s(`${b}/2`, [2]);
  // x and y of the chosen points: [B, K, 1] each.
  const coord = (points: string, lo: string, hi: string, name: string) => op(e, "Slice", [points, lo, hi, axis2], `${b}/${name}`);
  const pair = op(e, "Gather", [landmarks, e.int64s(`${b}/rotation_idx`, [o.leftRotationIdx, o.rightRotationIdx])], `${b}/rotation_points`, [int("axis", 1)]);
  // d = right - left, [B, 1, 2]: row difference through a constant [1,-1] weighting over the pair axis.
  const pairXY = coord(pair, zero, two, "rotation_xy");
  const d = op(e, "ReduceSum", [op(e, "Mul", [pairXY, e.floats(`${b}/minus_left`, [1, 2, 1], [-1, 1])], `${b}/signed`), axis1], `${b}/d`, [int("keepdims", 1)]);
  const dx = coord(d, zero, one, "dx");
  const dy = coord(d, one, two, "dy");
  // cos a, sin a of a = atan2(dy, dx); a zero-length d gives a = 0 as atan2(0, 0) does.
  const len = op(e, "Sqrt", [op(e, "Add", [op(e, "Mul", [dx, dx], `${b}/dx2`), op(e, "Mul", [dy, dy], `${b}/dy2`)], `${b}/len2`)], `${b}/len`);
  const zeroLen = op(e, "Equal", [len, e.floats(`${b}/f0`, [], [0])], `${b}/zero_len`);
  const safeLen = op(e, "Where", [zeroLen, e.floats(`${b}/f1`, [], [1]), len], `${b}/safe_len`);
  const cosA = op(e, "Where", [zeroLen, e.floats(`${b}/f1b`, [], [1]), op(e, "Div", [dx, safeLen], `${b}/dx_len`)], `${b}/cos_a`);
  const sinA = op(e, "Div", [dy, safeLen], `${b}/sin_a`);
  // r = t - a: cos r = cos t·cos a + sin t·sin a, sin r = sin t·cos a - cos t·sin a.
  const ct = Math.cos(o.targetRotationRadians);
  const st = Math.sin(o.targetRotationRadians);
  const lin = (x: string, kx: number, y: string, ky: number, name: string) =>
    op(e, "Add", [op(e, "Mul", [x, e.floats(`${b}/${name}_kx`, [], [kx])], `${b}/${name}_x`), op(e, "Mul", [y, e.floats(`${b}/${name}_ky`, [], [ky])], `${b}/${name}_y`)], `${b}/${name}`);
  const c = lin(cosA, ct, sinA, st, "cos_r");
  const s = lin(cosA, st, sinA, -ct, "sin_r");
  // The subset rotated by r, then its bbox: [B, 1, 1] each.
  const subset = op(e, "Gather", [landmarks, e.int64s(`${b}/subset_idx`, o.subset)], `${b}/subset`, [int("axis", 1)]);
  const px = coord(subset, zero, one, "px");
  const py = coord(subset, one, two, "py");
  const rx = op(e, "Sub", [op(e, "Mul", [px, c], `${b}/px_c`), op(e, "Mul", [py, s], `${b}/py_s`)], `${b}/rx`);
  const ry = op(e, "Add", [op(e, "Mul", [px, s], `${b}/px_s`), op(e, "Mul", [py, c], `${b}/py_c`)], `${b}/ry`);
  // Opset 17: ReduceMax/ReduceMin take their axes as an attribute (ReduceSum as an input).
  const keep = [ints("axes", [1]), int("keepdims", 1)];
  const maxX = op(e, "ReduceMax", [rx], `${b}/max_x`, keep);
  const minX = op(e, "ReduceMin", [rx], `${b}/min_x`, keep);
  const maxY = op(e, "ReduceMax", [ry], `${b}/max_y`, keep);
  const minY = op(e, "ReduceMin", [ry], `${b}/min_y`, keep);
  const half = e.floats(`${b}/half`, [], [0.5]);
  const mx = op(e, "Mul", [op(e, "Add", [maxX, minX], `${b}/sum_x`), half], `${b}/mid_x`);
  const my = op(e, "Mul", [op(e, "Add", [maxY, minY], `${b}/sum_y`), half], `${b}/mid_y`);
  // Centre rotated back by -r.
  const cx = op(e, "Add", [op(e, "Mul", [mx, c], `${b}/mx_c`), op(e, "Mul", [my, s], `${b}/my_s`)], `${b}/cx`);
  const cy = op(e, "Sub", [op(e, "Mul", [my, c], `${b}/my_c`), op(e, "Mul", [mx, s], `${b}/mx_s`)], `${b}/cy`);
  const sx = op(e, "Mul", [op(e, "Sub", [maxX, minX], `${b}/w`), e.floats(`${b}/kx`, [], [o.scaleX / o.outputWidth])], `${b}/sx`);
  const sy = op(e, "Mul", [op(e, "Sub", [maxY, minY], `${b}/h`), e.floats(`${b}/ky`, [], [o.scaleY / o.outputHeight])], `${b}/sy`);
  // Rot(-r)·Scale = [[c·sx, s·sy], [-s·sx, c·sy]]; translation = centre + that · (-out_w/2, -out_h/2).
  const a00 = op(e, "Mul", [c, sx], `${b}/a00`);
  const a01 = op(e, "Mul", [s, sy], `${b}/a01`);
  const a10 = op(e, "Neg", [op(e, "Mul", [s, sx], `${b}/s_sx`)], `${b}/a10`);
  const a11 = op(e, "Mul", [c, sy], `${b}/a11`);
  const hw = e.floats(`${b}/half_w`, [], [-o.outputWidth / 2]);
  const hh = e.floats(`${b}/half_h`, [], [-o.outputHeight / 2]);
  const t0 = op(e, "Add", [cx, op(e, "Add", [op(e, "Mul", [a00, hw], `${b}/a00_hw`), op(e, "Mul", [a01, hh], `${b}/a01_hh`)], `${b}/t0_d`)], `${b}/t0`);
  const t1 = op(e, "Add", [cy, op(e, "Add", [op(e, "Mul", [a10, hw], `${b}/a10_hw`), op(e, "Mul", [a11, hh], `${b}/a11_hh`)], `${b}/t1_d`)], `${b}/t1`);
  // [B,1,6] · S[6,16] + E[16] places the six values and the constant 1s of the 4x4 matrix (row-major).
  const six = op(e, "Concat", [a00, a01, t0, a10, a11, t1], `${b}/six`, [int("axis", 2)]);
  const place = [0, 1, 3, 4, 5, 7];
  const S = new Array<number>(6 * 16).fill(0);
  place.forEach((p, k) => (S[k * 16 + p] = 1));
  const E = new Array<number>(16).fill(0);
  E[10] = 1;
  E[15] = 1;
  const flat = op(e, "Add", [op(e, "MatMul", [six, e.floats(`${b}/place`, [6, 16], S)], `${b}/placed`), e.floats(`${b}/identity_part`, [16], E)], `${b}/flat`);
  e.node("Reshape", [flat, e.int64s(`${b}/shape`, [0, 4, 4])], [out]);
}

/**
 * TransformTensorBilinear: `feature` [B, C, H, W] (NCHW) and `matrix` [B, 4, 4] -> `out` [B, C, outH, outW].
 */
export function emitTransformTensorBilinear(
  e: OnnxEmitter,
  feature: string,
  featureHW: [number, number],
  matrix: string,
  o: TransformTensorBilinearOptions,
  out: string,
): void {
  const [H, W] = featureHW;
  const b = `${out}/ttb`;
  // Rows 0,1 and columns 0,1,3 of the matrix, transposed: [B, 3, 2].
  const rows = op(e, "Slice", [matrix, e.int64s(`${b}/r0`, [0]), e.int64s(`${b}/r2`, [2]), e.int64s(`${b}/ax1`, [1])], `${b}/rows`);
  const affine = op(e, "Gather", [rows, e.int64s(`${b}/cols`, [0, 1, 3])], `${b}/affine`, [int("axis", 2)]);
  const affineT = op(e, "Transpose", [affine], `${b}/affine_t`, [ints("perm", [0, 2, 1])]);
  // Pixel centres (u+0.5, v+0.5, 1) in row-major order of the output (v outer, u inner).
  const G: number[] = [];
  for (let v = 0; v < o.outputHeight; v++) for (let u = 0; u < o.outputWidth; u++) G.push(u + 0.5, v + 0.5, 1);
  const pos = op(e, "Add", [op(e, "MatMul", [e.floats(`${b}/centres`, [o.outputHeight * o.outputWidth, 3], G), affineT], `${b}/mapped`), e.floats(`${b}/minus_half`, [], [-0.5])], `${b}/pos`);
  // Positions (x, y) in feature pixels -> GridSample's [-1, 1] with align_corners (x = -1 at pixel 0, 1 at W-1).
  const scale = e.floats(`${b}/to_grid_scale`, [2], [W > 1 ? 2 / (W - 1) : 0, H > 1 ? 2 / (H - 1) : 0]);
  const grid = op(e, "Add", [op(e, "Mul", [pos, scale], `${b}/scaled`), e.floats(`${b}/minus_one`, [], [-1])], `${b}/grid_flat`);
  // A sample outside [0, W-1] x [0, H-1] is 0 as a whole: its grid point is moved far outside the map, where all
  // four of GridSample's taps read its zero padding. (A mask multiplied after GridSample would do the same, but
  // would hide the crop's channel count from the CPU graph rewrite, inference/cpu_graph.ts.)
  const lo = op(e, "GreaterOrEqual", [pos, e.floats(`${b}/lo`, [], [0])], `${b}/ge0`);
  const hi = op(e, "LessOrEqual", [pos, e.floats(`${b}/hi`, [2], [W - 1, H - 1])], `${b}/le_max`);
  const insideXY = op(e, "Cast", [op(e, "And", [lo, hi], `${b}/inside_xy`)], `${b}/inside_xy_f`, [int("to", 1)]);
  const inside = op(e, "Cast", [op(e, "ReduceMin", [insideXY], `${b}/inside_f`, [ints("axes", [2]), int("keepdims", 1)])], `${b}/inside`, [int("to", 9)]);
  const masked = op(e, "Where", [inside, grid, e.floats(`${b}/far_outside`, [], [-10])], `${b}/grid_masked`);
  const grid4 = op(e, "Reshape", [masked, e.int64s(`${b}/grid_shape`, [0, o.outputHeight, o.outputWidth, 2])], `${b}/grid`);
  e.node("GridSample", [feature, grid4], [out], [
    { name: "mode", type: "string", value: "bilinear" },
    { name: "padding_mode", type: "string", value: "zeros" },
    int("align_corners", 1),
  ]);
}

/** TransformLandmarks (2-D): `landmarks` [B, N, 2] and `matrix` [B, 4, 4] -> `out` [B, N, 2]. */
export function emitTransformLandmarks(e: OnnxEmitter, landmarks: string, matrix: string, out: string): void {
  const b = `${out}/tl`;
  const ax1 = e.int64s(`${b}/ax1`, [1]);
  const ax2 = e.int64s(`${b}/ax2`, [2]);
  const rows = op(e, "Slice", [matrix, e.int64s(`${b}/r0`, [0]), e.int64s(`${b}/r2`, [2]), ax1], `${b}/rows`);
  const linear = op(e, "Slice", [rows, e.int64s(`${b}/c0`, [0]), e.int64s(`${b}/c2`, [2]), ax2], `${b}/linear`);
  const shift = op(e, "Slice", [rows, e.int64s(`${b}/c3`, [3]), e.int64s(`${b}/c4`, [4]), ax2], `${b}/shift`);
  const linearT = op(e, "Transpose", [linear], `${b}/linear_t`, [ints("perm", [0, 2, 1])]);
  const shiftT = op(e, "Transpose", [shift], `${b}/shift_t`, [ints("perm", [0, 2, 1])]);
  e.node("Add", [op(e, "MatMul", [landmarks, linearT], `${b}/mapped`), shiftT], [out]);
}
