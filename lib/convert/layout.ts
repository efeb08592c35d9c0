/**
 * Layouts and shapes shared by the converter and its operators: TFLite keeps activations NHWC, the ONNX graph
 * NCHW (rank 4) or TFLite's own order ("native", for memory-order ops such as RESHAPE).
 */
import type { TfliteTensor } from "./tflite_reader.js";

export type Layout = "nchw" | "native";

/** A runtime tensor. `shape` is TFLite's static shape (NHWC for rank 4, batch = 1). */
export interface ActivationValue {
  kind: "activation";
  name: string;
  layout: Layout;
  shape: number[];
}

/** A constant, decoded. float16 data only becomes usable as float32 through a DEQUANTIZE op. */
export interface ConstantValue {
  kind: "constant";
  tensor: TfliteTensor;
  dtype: "float32" | "float16" | "int32";
  data: Float32Array | Int32Array;
  shape: number[];
}

export type Value = ActivationValue | ConstantValue;

/** Output size and begin/end padding of one spatial dim, TFLite semantics. */
export interface SpatialPadding {
  out: number;
  before: number;
  after: number;
}

/**
 * TFLite's padding rule (ComputePaddingHeightWidth): SAME gives ceil(in/stride) outputs and splits the padding
 * with the odd pixel at the end (bottom/right); VALID pads nothing.
 */
export function spatialPadding(padding: "SAME" | "VALID", inSize: number, kernel: number, stride: number): SpatialPadding {
  if (padding === "VALID") return { out: Math.floor((inSize - kernel) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kernel - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** Permutes a dense row-major array: out.shape[i] = shape[perm[i]]. */
export function permute<T extends Float32Array | Int32Array>(data: T, shape: readonly number[], perm: readonly number[]): { data: T; shape: number[] } {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const strideForOut = perm.map((p) => inStrides[p]);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * strideForOut[d];
    out[o] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** NHWC position -> NCHW position of each NHWC axis. */
export const NHWC_AXIS_TO_NCHW = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];

export function onnxShape(shape: readonly number[], layout: Layout): number[] {
  return layout === "nchw" ? TO_NCHW.map((p) => shape[p]) : [...shape];
}

