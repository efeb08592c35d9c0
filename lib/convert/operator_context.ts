/**
 * The converter's context as operators see it (convert.ts implements it), and the window helpers the
 * convolution and pooling operators share.
 */
import type { Attribute } from "./graph.js";
import { spatialPadding, type ActivationValue, type ConstantValue, type Layout, type Value } from "./layout.js";
import type { OnnxEmitter } from "./mediapipe_ops.js";
import type { TfliteOperator, TfliteTensor } from "./tflite_reader.js";
import { Padding } from "./tflite_schema.js";

/** What an operator needs from the converter: operands, initializers, nodes, and failing with context. */
export interface OperatorContext {
  /** The operator being converted. */
  readonly op: TfliteOperator | undefined;
  fail(message: string): never;
  inputIndex(slot: number, what: string): number;
  value(index: number): Value;
  activation(slot: number, what?: string): ActivationValue;
  constant(slot: number, what: string, dtype: "float32" | "int32"): ConstantValue;
  optionalConstant(slot: number, what: string): ConstantValue | undefined;
  outputTensor(slot?: number): TfliteTensor;
  addInitializer(base: string, dims: number[], data: Float32Array | number[] | bigint[]): string;
  int64Initializer(base: string, values: number[]): string;
  inLayout(v: ActivationValue, layout: Layout): string;
  emit(opType: string, inputs: string[], attributes: Attribute[], activation: number, layout: Layout): void;
  checkOutputShape(expected: number[]): void;
  /** Records a value computed at conversion time (a folded constant) for a tensor index. */
  define(index: number, value: Value): void;
  /** Node-level emitting, for operators that become several ONNX nodes (mediapipe_ops.ts). */
  emitter(): OnnxEmitter;
  fresh(base: string): string;
  /** Makes `name` (in `layout`) the value of the TFLite tensor `t`. */
  setActivation(t: TfliteTensor, name: string, layout: Layout): void;
}

export function paddingMode(c: OperatorContext, padding: number): "SAME" | "VALID" {
  if (padding === Padding.SAME) return "SAME";
  if (padding === Padding.VALID) return "VALID";
  return c.fail(`padding ${padding} is not supported (SAME or VALID)`);
}

export function checkStrides(c: OperatorContext, strideH: number, strideW: number): void {
  if (!(strideH >= 1 && strideW >= 1)) c.fail(`strides ${strideH}x${strideW} are invalid`);
}

/** ONNX pads [top, left, bottom, right] and the output size for a 2-D window op. */
export function window(
  c: OperatorContext,
  padding: number,
  input: number[],
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
): { pads: number[]; outH: number; outW: number } {
  checkStrides(c, strideH, strideW);
  const mode = paddingMode(c, padding);
  const h = spatialPadding(mode, input[1], kernelH, strideH);
  const w = spatialPadding(mode, input[2], kernelW, strideW);
  if (h.out < 1 || w.out < 1) c.fail(`window ${kernelH}x${kernelW} does not fit the ${input[1]}x${input[2]} input`);
  return { pads: [h.before, w.before, h.after, w.after], outH: h.out, outW: w.out };
}

export function rank4(c: OperatorContext, v: ActivationValue, what: string): void {
  if (v.shape.length !== 4 || v.shape[0] !== 1) c.fail(`${what} ${v.name} has shape [${v.shape}]; expected [1,H,W,C]`);
}
