/**
 * One function per TFLite operator: checks its options and operands, emits the ONNX node(s) through the
 * converter's context (convert.ts), with weights permuted once and attributes mapped to NCHW. Anything outside
 * the supported subset fails through `c.fail`, which names the model, the operator and the problem.
 */
import { type Attribute, int, ints, product, str } from "./graph.js";
import { NHWC_AXIS_TO_NCHW, permute, spatialPadding, TO_NCHW, TO_NHWC, type ActivationValue, type ConstantValue, type Layout, type Value } from "./layout.js";
import {
  type OnnxEmitter,
  emitLandmarks2TransformMatrix,
  emitTransformLandmarks,
  emitTransformTensorBilinear,
  parseLandmarks2TransformMatrixOptions,
  parseTransformTensorBilinearOptions,
  readFlexbufferMap,
} from "./mediapipe_ops.js";
import type { Conv2DOptions, DepthwiseConv2DOptions, Pool2DOptions, StridedSliceOptions, TfliteOperator, TfliteTensor } from "./tflite_reader.js";
import { Activation, BuiltinOperator, Padding } from "./tflite_schema.js";

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

// ---- operators -----------------------------------------------------------------------------------------

export function conv2d(c: OperatorContext, o: Conv2DOptions): void {
  const x = c.activation(0);
  rank4(c, x, "input");
  const w = c.constant(1, "filter", "float32");
  const bias = c.optionalConstant(2, "bias");
  if (o.dilationH !== 1 || o.dilationW !== 1) c.fail(`dilation ${o.dilationH}x${o.dilationW} is not supported`);
  if (w.shape.length !== 4) c.fail(`filter ${w.tensor.name} has shape [${w.shape}]; expected [O,H,W,I]`);
  const [outC, kh, kw, inC] = w.shape;
  if (inC !== x.shape[3]) c.fail(`filter has ${inC} input channels, the input has ${x.shape[3]} (grouped CONV_2D is not supported)`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outC)) c.fail(`bias ${bias.tensor.name} has shape [${bias.shape}]; expected [${outC}]`);
  const win = window(c, o.padding, x.shape, kh, kw, o.strideH, o.strideW);
  c.checkOutputShape([1, win.outH, win.outW, outC]);
  const weight = permute(w.data as Float32Array, w.shape, [0, 3, 1, 2]); // OHWI -> OIHW
  const inputs = [c.inLayout(x, "nchw"), c.addInitializer(w.tensor.name, weight.shape, weight.data)];
  if (bias) inputs.push(c.addInitializer(bias.tensor.name, [outC], bias.data as Float32Array));
  c.emit(
    "Conv",
    inputs,
    [ints("kernel_shape", [kh, kw]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads), ints("dilations", [1, 1]), int("group", 1)],
    o.activation,
    "nchw",
  );
}

export function depthwiseConv2d(c: OperatorContext, o: DepthwiseConv2DOptions): void {
  const x = c.activation(0);
  rank4(c, x, "input");
  const w = c.constant(1, "filter", "float32");
  const bias = c.optionalConstant(2, "bias");
  if (o.dilationH !== 1 || o.dilationW !== 1) c.fail(`dilation ${o.dilationH}x${o.dilationW} is not supported`);
  if (w.shape.length !== 4 || w.shape[0] !== 1) c.fail(`filter ${w.tensor.name} has shape [${w.shape}]; expected [1,H,W,C]`);
  const [, kh, kw, outC] = w.shape;
  const inC = x.shape[3];
  // depth_multiplier itself is ignored by TFLite >= 2.0 kernels (schema comment); the shapes define it.
  if (outC % inC !== 0) c.fail(`filter has ${outC} channels, not a multiple of the input's ${inC}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outC)) c.fail(`bias ${bias.tensor.name} has shape [${bias.shape}]; expected [${outC}]`);
  const win = window(c, o.padding, x.shape, kh, kw, o.strideH, o.strideW);
  c.checkOutputShape([1, win.outH, win.outW, outC]);
  // [1,H,W,C*M] -> [C*M,1,H,W]: output channel c*M+m reads input channel c, as ONNX's group = C assigns it.
  const weight = permute(w.data as Float32Array, w.shape, [3, 0, 1, 2]);
  const inputs = [c.inLayout(x, "nchw"), c.addInitializer(w.tensor.name, weight.shape, weight.data)];
  if (bias) inputs.push(c.addInitializer(bias.tensor.name, [outC], bias.data as Float32Array));
  c.emit(
    "Conv",
    inputs,
    [ints("kernel_shape", [kh, kw]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads), ints("dilations", [1, 1]), int("group", inC)],
    o.activation,
    "nchw",
  );
}

export function maxPool2d(c: OperatorContext, o: Pool2DOptions): void {
  const x = c.activation(0);
  rank4(c, x, "input");
  if (!(o.filterH >= 1 && o.filterW >= 1)) c.fail(`filter ${o.filterH}x${o.filterW} is invalid`);
  const win = window(c, o.padding, x.shape, o.filterH, o.filterW, o.strideH, o.strideW);
  c.checkOutputShape([1, win.outH, win.outW, x.shape[3]]);
  // TFLite's SAME max pool ignores the padded cells; ONNX MaxPool's padding does the same.
  c.emit(
    "MaxPool",
    [c.inLayout(x, "nchw")],
    [ints("kernel_shape", [o.filterH, o.filterW]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads)],
    o.activation,
    "nchw",
  );
}

export function pad(c: OperatorContext): void {
  const x = c.activation(0);
  const p = c.constant(1, "paddings", "int32");
  const rank = x.shape.length;
  if (p.shape.length !== 2 || p.shape[0] !== rank || p.shape[1] !== 2) c.fail(`paddings have shape [${p.shape}]; expected [${rank},2]`);
  const widths = Array.from(p.data);
  if (widths.some((v) => v < 0)) c.fail(`negative paddings [${widths}] are not supported`);
  if (widths[0] !== 0 || widths[1] !== 0) c.fail(`padding the batch dimension ([${widths[0]},${widths[1]}]) is not supported`);
  const order = x.layout === "nchw" ? TO_NCHW : [...Array(rank).keys()];
  // ONNX pads: all begins, then all ends, in the tensor's own axis order.
  const pads = [...order.map((a) => widths[2 * a]), ...order.map((a) => widths[2 * a + 1])];
  c.checkOutputShape(x.shape.map((d, a) => d + widths[2 * a] + widths[2 * a + 1]));
  c.emit("Pad", [x.name, c.int64Initializer(`${p.tensor.name}/onnx`, pads)], [str("mode", "constant")], Activation.NONE, x.layout);
}

/** A constant operand for an elementwise op, made broadcastable against a tensor in `layout`. */
export function broadcastConstant(c: OperatorContext, k: ConstantValue, layout: Layout, rank: number): string {
  if (k.dtype !== "float32") c.fail(`constant ${k.tensor.name} is ${k.dtype}, expected float32`);
  if (k.shape.length > rank) c.fail(`constant ${k.tensor.name} of shape [${k.shape}] has a higher rank than the tensor (${rank})`);
  if (layout === "native") return c.addInitializer(k.tensor.name, [...k.shape], k.data as Float32Array);
  // Numpy broadcasting aligns trailing dims: pad to rank 4 in NHWC, then permute like the tensor.
  const nhwc = [...Array(4 - k.shape.length).fill(1), ...k.shape];
  const t = permute(k.data as Float32Array, nhwc, TO_NCHW);
  return c.addInitializer(k.tensor.name, t.shape, t.data);
}

/** ADD and MUL: elementwise with numpy broadcasting; at most one operand may be a constant. */
export function elementwise(c: OperatorContext, opType: "Add" | "Mul", activation: number): void {
  const operands = [c.value(c.inputIndex(0, "x")), c.value(c.inputIndex(1, "y"))];
  const acts = operands.filter((v): v is ActivationValue => v.kind === "activation");
  if (acts.length === 0) c.fail(`both operands are constants (constant folding of ${opType === "Add" ? "ADD" : "MUL"} is not supported)`);
  const rank = acts[0].shape.length;
  if (acts.some((a) => a.shape.length !== rank)) c.fail(`operands of different ranks [${acts.map((a) => `[${a.shape}]`).join(", ")}]`);
  const layout: Layout = rank === 4 && acts.some((a) => a.layout === "nchw") ? "nchw" : "native";
  const inputs = operands.map((v) => (v.kind === "activation" ? c.inLayout(v, layout) : broadcastConstant(c, v, layout, rank)));
  c.emit(opType, inputs, [], activation, layout);
}

/**
 * STRIDED_SLICE with constant begin/end/strides, positive strides, begin_mask/end_mask; the batch axis must be
 * kept whole (dynamic batch). A slice that keeps everything is an Identity.
 */
export function stridedSlice(c: OperatorContext, o: StridedSliceOptions): void {
  const x = c.activation(0);
  const rank = x.shape.length;
  const [begin, end, strides] = (["begin", "end", "strides"] as const).map((what, i) => {
    const k = c.constant(i + 1, what, "int32");
    if (k.data.length !== rank) c.fail(`${what} has ${k.data.length} values for a rank-${rank} input`);
    return Array.from(k.data);
  });
  if (o.ellipsisMask || o.newAxisMask || o.shrinkAxisMask || o.offset) {
    c.fail(`ellipsis_mask ${o.ellipsisMask}, new_axis_mask ${o.newAxisMask}, shrink_axis_mask ${o.shrinkAxisMask}, offset ${o.offset} are not supported (only begin_mask and end_mask)`);
  }
  const starts: number[] = [];
  const ends: number[] = [];
  const steps: number[] = [];
  const axes: number[] = [];
  const outShape: number[] = [];
  for (let a = 0; a < rank; a++) {
    const dim = x.shape[a];
    const step = strides[a];
    if (!(step >= 1)) c.fail(`stride ${step} on axis ${a} is not supported (positive strides only)`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const b = o.beginMask & (1 << a) ? 0 : clamp(begin[a]);
    const e = o.endMask & (1 << a) ? dim : clamp(end[a]);
    const count = Math.max(0, Math.ceil((e - b) / step));
    outShape.push(count);
    if (b === 0 && e === dim && step === 1) continue;
    if (a === 0) c.fail(`slicing the batch dimension (begin ${b}, end ${e}, stride ${step}) is not supported`);
    starts.push(b);
    ends.push(e);
    steps.push(step);
    axes.push(x.layout === "nchw" ? NHWC_AXIS_TO_NCHW[a] : a);
  }
  c.checkOutputShape(outShape);
  if (axes.length === 0) return c.emit("Identity", [x.name], [], Activation.NONE, x.layout);
  const name = c.outputTensor().name;
  const inputs = [x.name, c.int64Initializer(`${name}/starts`, starts), c.int64Initializer(`${name}/ends`, ends), c.int64Initializer(`${name}/axes`, axes), c.int64Initializer(`${name}/steps`, steps)];
  c.emit("Slice", inputs, [], Activation.NONE, x.layout);
}

/** MediaPipe's custom operators of the attention model (mediapipe_ops.ts), version 2 only. */
export function custom(c: OperatorContext, op: TfliteOperator): void {
  const code = op.customCode ?? "";
  // mediapipe_ops.ts prefixes its errors with `what`; the prefix is stripped again so c.fail names the operator once.
  const what = `CUSTOM(${code})`;
  const known = ["Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks"];
  if (!known.includes(code)) c.fail(`custom operator ${JSON.stringify(code)} is not supported (known: ${known.join(", ")})`);
  // Version 1 of each operator has other semantics (and options); MediaPipe's 2022 models use version 2.
  if (op.version !== 2) c.fail(`version ${op.version} is not supported (only version 2)`);
  const out = c.outputTensor();
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      return c.fail((err as Error).message.replace(`${what}: `, ""));
    }
  };
  if (code === "Landmarks2TransformMatrix") {
    const x = c.activation(0, "landmarks");
    if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 3) c.fail(`landmarks of shape [${x.shape}]; expected [1,N,3]`);
    c.checkOutputShape([1, 4, 4]);
    const opts = guard(() => parseLandmarks2TransformMatrixOptions(op.customOptions, what));
    const name = c.fresh(out.name);
    guard(() => emitLandmarks2TransformMatrix(c.emitter(), c.inLayout(x, "native"), x.shape[1], opts, name, what));
    c.setActivation(out, name, "native");
  } else if (code === "TransformTensorBilinear") {
    const x = c.activation(0, "feature map");
    rank4(c, x, "feature map");
    const m = c.activation(1, "matrix");
    if (m.shape.join(",") !== "1,4,4") c.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
    const opts = guard(() => parseTransformTensorBilinearOptions(op.customOptions, what));
    c.checkOutputShape([1, opts.outputHeight, opts.outputWidth, x.shape[3]]);
    const name = c.fresh(out.name);
    emitTransformTensorBilinear(c.emitter(), c.inLayout(x, "nchw"), [x.shape[1], x.shape[2]], c.inLayout(m, "native"), opts, name);
    c.setActivation(out, name, "nchw");
  } else {
    const x = c.activation(0, "landmarks");
    const m = c.activation(1, "matrix");
    if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 2) c.fail(`landmarks of shape [${x.shape}]; expected [1,N,2] (2-D landmarks)`);
    if (m.shape.join(",") !== "1,4,4") c.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
    // Version 2 takes its dimensions from the tensor; options, when a writer adds them, must agree.
    if (op.customOptions && op.customOptions.length > 0) {
      const dims = guard(() => readFlexbufferMap(op.customOptions, what)).dimensions;
      if (dims !== undefined && Number(dims) !== 2) c.fail(`option dimensions = ${String(dims)}; only 2 is supported`);
    }
    c.checkOutputShape(x.shape);
    const name = c.fresh(out.name);
    emitTransformLandmarks(c.emitter(), c.inLayout(x, "native"), c.inLayout(m, "native"), name);
    c.setActivation(out, name, "native");
  }
}

export function prelu(c: OperatorContext): void {
  const x = c.activation(0);
  const alpha = c.constant(1, "alpha", "float32");
  if (alpha.shape.length > x.shape.length) c.fail(`alpha of shape [${alpha.shape}] has a higher rank than the input`);
  let slope: string;
  if (x.layout === "nchw") {
    // [1,1,C] (per channel) -> NHWC [1,1,1,C] -> NCHW [1,C,1,1] -> [C,1,1], which ONNX broadcasts over N,H,W.
    const nhwc = [...Array(4 - alpha.shape.length).fill(1), ...alpha.shape];
    const t = permute(alpha.data as Float32Array, nhwc, TO_NCHW);
    slope = c.addInitializer(alpha.tensor.name, t.shape.slice(1), t.data);
  } else {
    slope = c.addInitializer(alpha.tensor.name, [...alpha.shape], alpha.data as Float32Array);
  }
  c.emit("PRelu", [x.name, slope], [], Activation.NONE, x.layout);
}

export function relu(c: OperatorContext): void {
  const x = c.activation(0);
  c.emit("Relu", [x.name], [], Activation.NONE, x.layout);
}

export function reshape(c: OperatorContext, newShapeOption: number[] | undefined): void {
  const x = c.activation(0);
  const out = c.outputTensor();
  let target: number[];
  const shapeInput = c.op!.inputs[1];
  if (shapeInput !== undefined && shapeInput >= 0) {
    const s = c.constant(1, "shape", "int32");
    if (s.shape.length !== 1) c.fail(`shape input has shape [${s.shape}]; expected a vector`);
    target = Array.from(s.data);
  } else if (newShapeOption && newShapeOption.length > 0) {
    target = newShapeOption;
  } else {
    target = out.shape;
  }
  const count = product(x.shape);
  const unknown = target.filter((d) => d === -1).length;
  if (unknown > 1 || target.some((d) => d < -1 || d === 0)) c.fail(`new shape [${target}] is not supported`);
  const known = product(target.filter((d) => d !== -1));
  const resolved = target.map((d) => (d === -1 ? count / known : d));
  if (product(resolved) !== count || !resolved.every(Number.isInteger)) c.fail(`cannot reshape [${x.shape}] to [${target}]`);
  if (out.shape.length > 0 && out.shape.join(",") !== resolved.join(",")) {
    c.fail(`new shape [${resolved}] differs from the output tensor's [${out.shape}]`);
  }
  // The batch must stay alone in dim 0: then "copy dim 0" (0 in ONNX Reshape) carries any batch size through.
  if (x.shape[0] !== 1 || resolved[0] !== 1) c.fail(`reshape [${x.shape}] -> [${resolved}] moves the batch dimension`);
  // TFLite reshapes in its own (NHWC) memory order, so the tensor goes back to that order first.
  const shape = c.int64Initializer(`${out.name}/shape`, [0, ...resolved.slice(1)]);
  c.emit("Reshape", [c.inLayout(x, "native"), shape], [], Activation.NONE, "native");
}

export function concatenation(c: OperatorContext, axisOption: number, activation: number): void {
  const op = c.op!;
  const parts = op.inputs.map((_, i) => c.activation(i, `part ${i}`));
  const rank = parts[0].shape.length;
  if (parts.some((p) => p.shape.length !== rank)) c.fail("inputs of different ranks");
  const axis = axisOption < 0 ? axisOption + rank : axisOption;
  if (axis < 0 || axis >= rank) c.fail(`axis ${axisOption} is out of range for rank ${rank}`);
  if (axis === 0) c.fail("concatenation along the batch axis is not supported");
  const layout: Layout = rank === 4 && parts.every((p) => p.layout === "nchw") ? "nchw" : "native";
  const onnxAxis = layout === "nchw" ? NHWC_AXIS_TO_NCHW[axis] : axis;
  const outShape = [...parts[0].shape];
  outShape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  c.checkOutputShape(outShape);
  c.emit("Concat", parts.map((p) => c.inLayout(p, layout)), [int("axis", onnxAxis)], activation, layout);
}

export function resizeBilinear(c: OperatorContext, alignCorners: boolean, halfPixelCenters: boolean): void {
  const x = c.activation(0);
  rank4(c, x, "input");
  const size = c.constant(1, "size", "int32");
  if (size.data.length !== 2) c.fail(`size has ${size.data.length} values; expected [new_height, new_width]`);
  if (alignCorners && halfPixelCenters) c.fail("align_corners and half_pixel_centers are both set (TFLite rejects this too)");
  const [newH, newW] = Array.from(size.data);
  const [, h, w, channels] = x.shape;
  c.checkOutputShape([1, newH, newW, channels]);
  // Scales rather than sizes: sizes would have to spell out the (dynamic) batch dimension.
  const scales = [1, 1, newH / h, newW / w];
  for (const [i, inSize, outSize] of [[2, h, newH], [3, w, newW]] as const) {
    if (Math.floor(inSize * Math.fround(scales[i])) !== outSize || Math.floor(inSize * scales[i]) !== outSize) {
      c.fail(`resize ${inSize} -> ${outSize} is not an exact float scale`);
    }
  }
  // Coordinate maps (TFLite -> ONNX): half_pixel_centers: in = (out+0.5)/scale-0.5, clamped at 0 = half_pixel;
  // align_corners: in = out*(in-1)/(out-1) = align_corners; neither: in = out/scale = asymmetric.
  const mode = halfPixelCenters ? "half_pixel" : alignCorners ? "align_corners" : "asymmetric";
  const scaleName = c.addInitializer(`${c.outputTensor().name}/scales`, [4], new Float32Array(scales));
  c.emit("Resize", [c.inLayout(x, "nchw"), "", scaleName], [str("mode", "linear"), str("coordinate_transformation_mode", mode)], Activation.NONE, "nchw");
}

export function dequantize(c: OperatorContext): void {
  const index = c.inputIndex(0, "input");
  const v = c.value(index);
  const out = c.outputTensor();
  if (v.kind !== "constant") c.fail(`dequantizing the runtime tensor ${v.name} is not supported (only float16 constants)`);
  if (v.dtype !== "float16") c.fail(`dequantizing ${v.dtype} constant ${v.tensor.name} is not supported (only float16)`);
  if (product(v.shape) !== product(out.shape)) c.fail(`output shape [${out.shape}] does not match input [${v.shape}]`);
  // Folded: the float16 weights become float32 constants, as TFLite's DEQUANTIZE produces at run time.
  c.define(out.index, { kind: "constant", tensor: out, dtype: "float32", data: v.data, shape: out.shape });
}

export function convertOperator(c: OperatorContext, op: TfliteOperator): void {
  const o = op.options;
  const expect = (kind: string): never =>
    c.fail(`builtin options: expected ${kind}, found ${o.kind === "other" ? `options type #${o.typeTag}` : o.kind}`);
  if (op.outputs.length !== 1) c.fail(`${op.outputs.length} outputs; expected 1`);
  switch (op.builtinCode) {
    case BuiltinOperator.CONV_2D:
      if (o.kind !== "Conv2DOptions") return expect("Conv2DOptions");
      return conv2d(c, o);
    case BuiltinOperator.DEPTHWISE_CONV_2D:
      if (o.kind !== "DepthwiseConv2DOptions") return expect("DepthwiseConv2DOptions");
      return depthwiseConv2d(c, o);
    case BuiltinOperator.MAX_POOL_2D:
      if (o.kind !== "Pool2DOptions") return expect("Pool2DOptions");
      return maxPool2d(c, o);
    case BuiltinOperator.PAD:
      if (o.kind !== "none" && o.kind !== "PadOptions") return expect("PadOptions");
      return pad(c);
    case BuiltinOperator.ADD:
      if (o.kind !== "none" && o.kind !== "AddOptions") return expect("AddOptions");
      return elementwise(c, "Add", o.kind === "AddOptions" ? o.activation : Activation.NONE);
    case BuiltinOperator.MUL:
      if (o.kind !== "none" && o.kind !== "MulOptions") return expect("MulOptions");
      return elementwise(c, "Mul", o.kind === "MulOptions" ? o.activation : Activation.NONE);
    case BuiltinOperator.STRIDED_SLICE:
      if (o.kind !== "StridedSliceOptions") return expect("StridedSliceOptions");
      return stridedSlice(c, o);
    case BuiltinOperator.PRELU:
      if (o.kind !== "none") return expect("none");
      return prelu(c);
    case BuiltinOperator.RELU:
      if (o.kind !== "none") return expect("none");
      return relu(c);
    case BuiltinOperator.RESHAPE:
      if (o.kind !== "none" && o.kind !== "ReshapeOptions") return expect("ReshapeOptions");
      return reshape(c, o.kind === "ReshapeOptions" ? o.newShape : undefined);
    case BuiltinOperator.CONCATENATION:
      if (o.kind !== "ConcatenationOptions") return expect("ConcatenationOptions");
      return concatenation(c, o.axis, o.activation);
    case BuiltinOperator.RESIZE_BILINEAR:
      if (o.kind !== "none" && o.kind !== "ResizeBilinearOptions") return expect("ResizeBilinearOptions");
      return o.kind === "ResizeBilinearOptions" ? resizeBilinear(c, o.alignCorners, o.halfPixelCenters) : resizeBilinear(c, false, false);
    case BuiltinOperator.DEQUANTIZE:
      if (o.kind !== "none" && o.kind !== "DequantizeOptions") return expect("DequantizeOptions");
      return dequantize(c);
    case BuiltinOperator.CUSTOM:
      return custom(c, op);
    default:
      return c.fail("operator is not supported");
  }
}

