/**
 * TFLite (NHWC) -> ONNX (NCHW) operator mapping.
 *
 * Activations of rank 4 are kept in NCHW ("nchw" layout) from the graph input on, so the conv stack needs no
 * Transpose at all: weights are permuted once here instead (CONV OHWI -> OIHW, DEPTHWISE [1,H,W,C] -> [C,1,H,W]
 * with group = C, PRELU alpha [1,1,C] -> [C,1,1]) and operator attributes are mapped (PAD widths, CONCATENATION
 * axis). Only ops that depend on memory order (RESHAPE) see the tensor in TFLite's own order ("native" layout),
 * through an explicit Transpose; optimize.ts turns the Transposes that only move size-1 dims into Reshapes.
 *
 * float16 weights (DEQUANTIZE of a constant) are folded into float32 initializers. The batch dimension is left
 * dynamic: TFLite writes 1 there, and every op that could mix samples (RESHAPE, CONCATENATION, PAD on dim 0) is
 * checked to keep the batch in dim 0 on its own.
 *
 * Anything outside the supported subset throws an Error that names the model, the operator and the option.
 */
import { decodeFloat16 } from "./fp16.js";
import {
  type OnnxEmitter,
  emitLandmarks2TransformMatrix,
  emitTransformLandmarks,
  emitTransformTensorBilinear,
  parseLandmarks2TransformMatrixOptions,
  parseTransformTensorBilinearOptions,
  readFlexbufferMap,
} from "./mediapipe_ops.js";
import { type Attribute, type Graph, type GraphNode, type Initializer, int, ints, product, str } from "./graph.js";
import type {
  Conv2DOptions,
  DepthwiseConv2DOptions,
  Pool2DOptions,
  StridedSliceOptions,
  TfliteModel,
  TfliteOperator,
  TfliteSubgraph,
  TfliteTensor,
} from "./tflite_reader.js";
import {
  ACTIVATION_NAMES,
  Activation,
  BuiltinOperator,
  Padding,
  TENSOR_TYPE_NAMES,
  TensorType,
  builtinOperatorName,
} from "./tflite_schema.js";

export interface InputBinding {
  /** Tensor name in the .tflite file. */
  tflite: string;
  /** ONNX graph input name. */
  onnx: string;
}

export interface OutputBinding {
  tflite: string;
  onnx: string;
  /** ONNX output shape after the batch dimension; the TFLite tensor is reshaped to it in its own (NHWC) order. */
  shape: number[];
}

export interface ConversionSpec {
  graphName: string;
  /** Graph inputs; default: every subgraph input under its TFLite name. Rank-4 inputs become NCHW. */
  inputs?: InputBinding[];
  /** Graph outputs; default: every subgraph output under its TFLite name, in its TFLite shape. */
  outputs?: OutputBinding[];
}

/** The symbolic name of the leading dimension of every graph input and output. */
export const BATCH = "batch";

type Layout = "nchw" | "native";

/** A runtime tensor. `shape` is TFLite's static shape (NHWC for rank 4, batch = 1). */
interface ActivationValue {
  kind: "activation";
  name: string;
  layout: Layout;
  shape: number[];
}

/** A constant, decoded. float16 data only becomes usable as float32 through a DEQUANTIZE op. */
interface ConstantValue {
  kind: "constant";
  tensor: TfliteTensor;
  dtype: "float32" | "float16" | "int32";
  data: Float32Array | Int32Array;
  shape: number[];
}

type Value = ActivationValue | ConstantValue;

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
const NHWC_AXIS_TO_NCHW = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

function onnxShape(shape: readonly number[], layout: Layout): number[] {
  return layout === "nchw" ? TO_NCHW.map((p) => shape[p]) : [...shape];
}

class Converter {
  private readonly sg: TfliteSubgraph;
  private readonly values = new Map<number, Value>();
  private readonly nodes: GraphNode[] = [];
  private readonly initializers = new Map<string, Initializer>();
  private readonly shapes = new Map<string, number[]>();
  private readonly used = new Set<string>();
  private readonly reserved = new Set<string>();
  /** "<value>|<layout>" -> name of the transposed copy, so a value is transposed at most once per layout. */
  private readonly relayouts = new Map<string, string>();
  private op: TfliteOperator | undefined;

  constructor(
    private readonly model: TfliteModel,
    private readonly spec: ConversionSpec,
  ) {
    if (model.subgraphs.length !== 1) {
      throw new Error(`${model.source}: ${model.subgraphs.length} subgraphs; only single-subgraph models are supported`);
    }
    this.sg = model.subgraphs[0];
  }

  // ---- errors and names ----------------------------------------------------------------------------------

  private fail(message: string): never {
    const op = this.op;
    if (!op) throw new Error(`${this.model.source}: ${message}`);
    const outName = op.outputs.length > 0 && op.outputs[0] >= 0 ? this.sg.tensors[op.outputs[0]].name : "?";
    const name = op.builtinCode === BuiltinOperator.CUSTOM ? `CUSTOM(${op.customCode ?? "?"})` : builtinOperatorName(op.builtinCode);
    throw new Error(`${this.model.source}: operator #${op.index} ${name} (output ${outName}): ${message}`);
  }

  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name) || this.reserved.has(name); i++) name = `${base}__${i}`;
    this.used.add(name);
    return name;
  }

  // ---- values --------------------------------------------------------------------------------------------

  private tensor(index: number): TfliteTensor {
    const t = this.sg.tensors[index];
    if (!t) this.fail(`tensor index ${index} out of range`);
    return t;
  }

  private constantOf(t: TfliteTensor): ConstantValue | undefined {
    const bytes = this.model.buffers[t.buffer];
    if (!bytes || bytes.length === 0) return undefined;
    const count = product(t.shape);
    const typeName = TENSOR_TYPE_NAMES[t.type] ?? `#${t.type}`;
    if (t.quantized) this.fail(`constant ${t.name} is quantized (${typeName}); only float models are supported`);
    const need = (size: number) => {
      if (bytes.length !== count * size) this.fail(`constant ${t.name}: ${bytes.length} bytes for shape [${t.shape}] of ${typeName}`);
    };
    // slice() copies into a fresh, aligned ArrayBuffer (buffers inside the flatbuffer need not be 4-aligned).
    switch (t.type) {
      case TensorType.FLOAT32:
        need(4);
        return { kind: "constant", tensor: t, dtype: "float32", data: new Float32Array(bytes.slice().buffer), shape: t.shape };
      case TensorType.FLOAT16:
        need(2);
        return { kind: "constant", tensor: t, dtype: "float16", data: decodeFloat16(bytes), shape: t.shape };
      case TensorType.INT32:
        need(4);
        return { kind: "constant", tensor: t, dtype: "int32", data: new Int32Array(bytes.slice().buffer), shape: t.shape };
      default:
        return this.fail(`constant ${t.name} has unsupported type ${typeName}`);
    }
  }

  private value(index: number): Value {
    const known = this.values.get(index);
    if (known) return known;
    const t = this.tensor(index);
    const c = this.constantOf(t);
    if (!c) this.fail(`input tensor ${t.name} is neither a constant nor produced by an earlier operator`);
    this.values.set(index, c);
    return c;
  }

  private inputIndex(slot: number, what: string): number {
    const op = this.op!;
    const index = op.inputs[slot];
    if (index === undefined || index < 0) this.fail(`missing input ${slot} (${what})`);
    return index;
  }

  private activation(slot: number, what = "input"): ActivationValue {
    const v = this.value(this.inputIndex(slot, what));
    if (v.kind !== "activation") this.fail(`input ${slot} (${what}) is the constant ${v.tensor.name}; a runtime tensor is expected`);
    return v;
  }

  /** A constant input, float32 (a float16 constant only after DEQUANTIZE) or int32 as asked. */
  private constant(slot: number, what: string, dtype: "float32" | "int32"): ConstantValue {
    const v = this.value(this.inputIndex(slot, what));
    if (v.kind !== "constant") this.fail(`input ${slot} (${what}) must be a constant, but is computed at run time (${v.name})`);
    if (v.dtype !== dtype) this.fail(`input ${slot} (${what}) ${v.tensor.name} is ${v.dtype}, expected ${dtype}`);
    return v;
  }

  private optionalConstant(slot: number, what: string): ConstantValue | undefined {
    const index = this.op!.inputs[slot];
    return index === undefined || index < 0 ? undefined : this.constant(slot, what, "float32");
  }

  private addInitializer(base: string, dims: number[], data: Float32Array | number[] | bigint[]): string {
    const name = this.fresh(base);
    if (data instanceof Float32Array) {
      this.initializers.set(name, { name, dataType: "float32", dims, data });
    } else if (data.length === 0 || typeof data[0] === "bigint") {
      this.initializers.set(name, { name, dataType: "int64", dims, data: BigInt64Array.from(data as bigint[]) });
    } else {
      this.initializers.set(name, { name, dataType: "float32", dims, data: Float32Array.from(data as number[]) });
    }
    return name;
  }

  private int64Initializer(base: string, values: number[]): string {
    return this.addInitializer(base, [values.length], values.map((v) => BigInt(v)));
  }

  private node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): void {
    this.nodes.push({ opType, name: outputs[0], inputs, outputs, attributes });
  }

  /** The value in the requested layout, inserting (once) a Transpose when it is held in the other one. */
  private inLayout(v: ActivationValue, layout: Layout): string {
    if (v.layout === layout) return v.name;
    if (v.shape.length !== 4) this.fail(`cannot use the rank-${v.shape.length} tensor ${v.name} as an NCHW image`);
    const key = `${v.name}|${layout}`;
    const cached = this.relayouts.get(key);
    if (cached) return cached;
    const name = this.fresh(`${v.name}/${layout === "nchw" ? "to_nchw" : "to_nhwc"}`);
    this.node("Transpose", [v.name], [name], [ints("perm", layout === "nchw" ? TO_NCHW : TO_NHWC)]);
    this.shapes.set(name, onnxShape(v.shape, layout));
    this.relayouts.set(key, name);
    return name;
  }

  private outputTensor(slot = 0): TfliteTensor {
    const index = this.op!.outputs[slot];
    if (index === undefined || index < 0) this.fail(`missing output ${slot}`);
    const t = this.tensor(index);
    if (t.type !== TensorType.FLOAT32) this.fail(`output ${t.name} has type ${TENSOR_TYPE_NAMES[t.type] ?? t.type}; only FLOAT32 activations are supported`);
    return t;
  }

  private setActivation(t: TfliteTensor, name: string, layout: Layout): void {
    if (layout === "nchw" && t.shape.length !== 4) this.fail(`internal: rank-${t.shape.length} tensor ${t.name} marked NCHW`);
    this.values.set(t.index, { kind: "activation", name, layout, shape: t.shape });
    this.shapes.set(name, onnxShape(t.shape, layout));
  }

  /**
   * Emits `opType` writing the op's output tensor, followed by the fused activation (TFLite folds activations
   * into CONV/ADD/POOL/CONCATENATION; ONNX needs separate nodes, which onnxruntime fuses back at load time).
   */
  private emit(opType: string, inputs: string[], attributes: Attribute[], activation: number, layout: Layout): void {
    const out = this.outputTensor();
    if (activation === Activation.NONE) {
      const name = this.fresh(out.name);
      this.node(opType, inputs, [name], attributes);
      this.setActivation(out, name, layout);
      return;
    }
    const pre = this.fresh(`${out.name}/pre_activation`);
    this.node(opType, inputs, [pre], attributes);
    this.shapes.set(pre, onnxShape(out.shape, layout));
    const name = this.fresh(out.name);
    switch (activation) {
      case Activation.RELU:
        this.node("Relu", [pre], [name]);
        break;
      case Activation.RELU6:
        this.node("Clip", [pre, this.scalar(0), this.scalar(6)], [name]);
        break;
      case Activation.RELU_N1_TO_1:
        this.node("Clip", [pre, this.scalar(-1), this.scalar(1)], [name]);
        break;
      case Activation.TANH:
        this.node("Tanh", [pre], [name]);
        break;
      default:
        this.fail(`fused_activation_function ${ACTIVATION_NAMES[activation] ?? activation} is not supported`);
    }
    this.setActivation(out, name, layout);
  }

  private readonly scalars = new Map<number, string>();
  private scalar(v: number): string {
    let name = this.scalars.get(v);
    if (!name) {
      name = this.addInitializer(`const_${v}`, [], new Float32Array([v]));
      this.scalars.set(v, name);
    }
    return name;
  }

  private checkOutputShape(expected: number[]): void {
    const out = this.outputTensor();
    if (out.shape.join(",") !== expected.join(",")) {
      this.fail(`computed output shape [${expected}] differs from the file's [${out.shape}] for ${out.name}`);
    }
  }

  private paddingMode(padding: number): "SAME" | "VALID" {
    if (padding === Padding.SAME) return "SAME";
    if (padding === Padding.VALID) return "VALID";
    return this.fail(`padding ${padding} is not supported (SAME or VALID)`);
  }

  private checkStrides(strideH: number, strideW: number): void {
    if (!(strideH >= 1 && strideW >= 1)) this.fail(`strides ${strideH}x${strideW} are invalid`);
  }

  /** ONNX pads [top, left, bottom, right] and the output size for a 2-D window op. */
  private window(
    padding: number,
    input: number[],
    kernelH: number,
    kernelW: number,
    strideH: number,
    strideW: number,
  ): { pads: number[]; outH: number; outW: number } {
    this.checkStrides(strideH, strideW);
    const mode = this.paddingMode(padding);
    const h = spatialPadding(mode, input[1], kernelH, strideH);
    const w = spatialPadding(mode, input[2], kernelW, strideW);
    if (h.out < 1 || w.out < 1) this.fail(`window ${kernelH}x${kernelW} does not fit the ${input[1]}x${input[2]} input`);
    return { pads: [h.before, w.before, h.after, w.after], outH: h.out, outW: w.out };
  }

  private rank4(v: ActivationValue, what: string): void {
    if (v.shape.length !== 4 || v.shape[0] !== 1) this.fail(`${what} ${v.name} has shape [${v.shape}]; expected [1,H,W,C]`);
  }

  // ---- operators -----------------------------------------------------------------------------------------

  private conv2d(o: Conv2DOptions): void {
    const x = this.activation(0);
    this.rank4(x, "input");
    const w = this.constant(1, "filter", "float32");
    const bias = this.optionalConstant(2, "bias");
    if (o.dilationH !== 1 || o.dilationW !== 1) this.fail(`dilation ${o.dilationH}x${o.dilationW} is not supported`);
    if (w.shape.length !== 4) this.fail(`filter ${w.tensor.name} has shape [${w.shape}]; expected [O,H,W,I]`);
    const [outC, kh, kw, inC] = w.shape;
    if (inC !== x.shape[3]) this.fail(`filter has ${inC} input channels, the input has ${x.shape[3]} (grouped CONV_2D is not supported)`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outC)) this.fail(`bias ${bias.tensor.name} has shape [${bias.shape}]; expected [${outC}]`);
    const win = this.window(o.padding, x.shape, kh, kw, o.strideH, o.strideW);
    this.checkOutputShape([1, win.outH, win.outW, outC]);
    const weight = permute(w.data as Float32Array, w.shape, [0, 3, 1, 2]); // OHWI -> OIHW
    const inputs = [this.inLayout(x, "nchw"), this.addInitializer(w.tensor.name, weight.shape, weight.data)];
    if (bias) inputs.push(this.addInitializer(bias.tensor.name, [outC], bias.data as Float32Array));
    this.emit(
      "Conv",
      inputs,
      [ints("kernel_shape", [kh, kw]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads), ints("dilations", [1, 1]), int("group", 1)],
      o.activation,
      "nchw",
    );
  }

  private depthwiseConv2d(o: DepthwiseConv2DOptions): void {
    const x = this.activation(0);
    this.rank4(x, "input");
    const w = this.constant(1, "filter", "float32");
    const bias = this.optionalConstant(2, "bias");
    if (o.dilationH !== 1 || o.dilationW !== 1) this.fail(`dilation ${o.dilationH}x${o.dilationW} is not supported`);
    if (w.shape.length !== 4 || w.shape[0] !== 1) this.fail(`filter ${w.tensor.name} has shape [${w.shape}]; expected [1,H,W,C]`);
    const [, kh, kw, outC] = w.shape;
    const inC = x.shape[3];
    // depth_multiplier itself is ignored by TFLite >= 2.0 kernels (schema comment); the shapes define it.
    if (outC % inC !== 0) this.fail(`filter has ${outC} channels, not a multiple of the input's ${inC}`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outC)) this.fail(`bias ${bias.tensor.name} has shape [${bias.shape}]; expected [${outC}]`);
    const win = this.window(o.padding, x.shape, kh, kw, o.strideH, o.strideW);
    this.checkOutputShape([1, win.outH, win.outW, outC]);
    // [1,H,W,C*M] -> [C*M,1,H,W]: output channel c*M+m reads input channel c, as ONNX's group = C assigns it.
    const weight = permute(w.data as Float32Array, w.shape, [3, 0, 1, 2]);
    const inputs = [this.inLayout(x, "nchw"), this.addInitializer(w.tensor.name, weight.shape, weight.data)];
    if (bias) inputs.push(this.addInitializer(bias.tensor.name, [outC], bias.data as Float32Array));
    this.emit(
      "Conv",
      inputs,
      [ints("kernel_shape", [kh, kw]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads), ints("dilations", [1, 1]), int("group", inC)],
      o.activation,
      "nchw",
    );
  }

  private maxPool2d(o: Pool2DOptions): void {
    const x = this.activation(0);
    this.rank4(x, "input");
    if (!(o.filterH >= 1 && o.filterW >= 1)) this.fail(`filter ${o.filterH}x${o.filterW} is invalid`);
    const win = this.window(o.padding, x.shape, o.filterH, o.filterW, o.strideH, o.strideW);
    this.checkOutputShape([1, win.outH, win.outW, x.shape[3]]);
    // TFLite's SAME max pool ignores the padded cells; ONNX MaxPool's padding does the same.
    this.emit(
      "MaxPool",
      [this.inLayout(x, "nchw")],
      [ints("kernel_shape", [o.filterH, o.filterW]), ints("strides", [o.strideH, o.strideW]), ints("pads", win.pads)],
      o.activation,
      "nchw",
    );
  }

  private pad(): void {
    const x = this.activation(0);
    const p = this.constant(1, "paddings", "int32");
    const rank = x.shape.length;
    if (p.shape.length !== 2 || p.shape[0] !== rank || p.shape[1] !== 2) this.fail(`paddings have shape [${p.shape}]; expected [${rank},2]`);
    const widths = Array.from(p.data);
    if (widths.some((v) => v < 0)) this.fail(`negative paddings [${widths}] are not supported`);
    if (widths[0] !== 0 || widths[1] !== 0) this.fail(`padding the batch dimension ([${widths[0]},${widths[1]}]) is not supported`);
    const order = x.layout === "nchw" ? TO_NCHW : [...Array(rank).keys()];
    // ONNX pads: all begins, then all ends, in the tensor's own axis order.
    const pads = [...order.map((a) => widths[2 * a]), ...order.map((a) => widths[2 * a + 1])];
    this.checkOutputShape(x.shape.map((d, a) => d + widths[2 * a] + widths[2 * a + 1]));
    this.emit("Pad", [x.name, this.int64Initializer(`${p.tensor.name}/onnx`, pads)], [str("mode", "constant")], Activation.NONE, x.layout);
  }

  /** A constant operand for an elementwise op, made broadcastable against a tensor in `layout`. */
  private broadcastConstant(c: ConstantValue, layout: Layout, rank: number): string {
    if (c.dtype !== "float32") this.fail(`constant ${c.tensor.name} is ${c.dtype}, expected float32`);
    if (c.shape.length > rank) this.fail(`constant ${c.tensor.name} of shape [${c.shape}] has a higher rank than the tensor (${rank})`);
    if (layout === "native") return this.addInitializer(c.tensor.name, [...c.shape], c.data as Float32Array);
    // Numpy broadcasting aligns trailing dims: pad to rank 4 in NHWC, then permute like the tensor.
    const nhwc = [...Array(4 - c.shape.length).fill(1), ...c.shape];
    const t = permute(c.data as Float32Array, nhwc, TO_NCHW);
    return this.addInitializer(c.tensor.name, t.shape, t.data);
  }

  /** ADD and MUL: elementwise with numpy broadcasting; at most one operand may be a constant. */
  private elementwise(opType: "Add" | "Mul", activation: number): void {
    const operands = [this.value(this.inputIndex(0, "x")), this.value(this.inputIndex(1, "y"))];
    const acts = operands.filter((v): v is ActivationValue => v.kind === "activation");
    if (acts.length === 0) this.fail(`both operands are constants (constant folding of ${opType === "Add" ? "ADD" : "MUL"} is not supported)`);
    const rank = acts[0].shape.length;
    if (acts.some((a) => a.shape.length !== rank)) this.fail(`operands of different ranks [${acts.map((a) => `[${a.shape}]`).join(", ")}]`);
    const layout: Layout = rank === 4 && acts.some((a) => a.layout === "nchw") ? "nchw" : "native";
    const inputs = operands.map((v) => (v.kind === "activation" ? this.inLayout(v, layout) : this.broadcastConstant(v, layout, rank)));
    this.emit(opType, inputs, [], activation, layout);
  }

  /**
   * STRIDED_SLICE with constant begin/end/strides, positive strides, begin_mask/end_mask; the batch axis must be
   * kept whole (dynamic batch). A slice that keeps everything is an Identity.
   */
  private stridedSlice(o: StridedSliceOptions): void {
    const x = this.activation(0);
    const rank = x.shape.length;
    const [begin, end, strides] = (["begin", "end", "strides"] as const).map((what, i) => {
      const c = this.constant(i + 1, what, "int32");
      if (c.data.length !== rank) this.fail(`${what} has ${c.data.length} values for a rank-${rank} input`);
      return Array.from(c.data);
    });
    if (o.ellipsisMask || o.newAxisMask || o.shrinkAxisMask || o.offset) {
      this.fail(`ellipsis_mask ${o.ellipsisMask}, new_axis_mask ${o.newAxisMask}, shrink_axis_mask ${o.shrinkAxisMask}, offset ${o.offset} are not supported (only begin_mask and end_mask)`);
    }
    const starts: number[] = [];
    const ends: number[] = [];
    const steps: number[] = [];
    const axes: number[] = [];
    const outShape: number[] = [];
    for (let a = 0; a < rank; a++) {
      const dim = x.shape[a];
      const step = strides[a];
      if (!(step >= 1)) this.fail(`stride ${step} on axis ${a} is not supported (positive strides only)`);
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const b = o.beginMask & (1 << a) ? 0 : clamp(begin[a]);
      const e = o.endMask & (1 << a) ? dim : clamp(end[a]);
      const count = Math.max(0, Math.ceil((e - b) / step));
      outShape.push(count);
      if (b === 0 && e === dim && step === 1) continue;
      if (a === 0) this.fail(`slicing the batch dimension (begin ${b}, end ${e}, stride ${step}) is not supported`);
      starts.push(b);
      ends.push(e);
      steps.push(step);
      axes.push(x.layout === "nchw" ? NHWC_AXIS_TO_NCHW[a] : a);
    }
    this.checkOutputShape(outShape);
    if (axes.length === 0) return this.emit("Identity", [x.name], [], Activation.NONE, x.layout);
    const name = this.outputTensor().name;
    const inputs = [x.name, this.int64Initializer(`${name}/starts`, starts), this.int64Initializer(`${name}/ends`, ends), this.int64Initializer(`${name}/axes`, axes), this.int64Initializer(`${name}/steps`, steps)];
    this.emit("Slice", inputs, [], Activation.NONE, x.layout);
  }

  private emitter(): OnnxEmitter {
    return {
      node: (opType, inputs, outputs, attributes = []) => this.node(opType, inputs, outputs, attributes),
      fresh: (base) => this.fresh(base),
      floats: (base, dims, data) => this.addInitializer(base, dims, Float32Array.from(data)),
      int64s: (base, values) => this.int64Initializer(base, values),
    };
  }

  /** MediaPipe's custom operators of the attention model (mediapipe_ops.ts), version 2 only. */
  private custom(op: TfliteOperator): void {
    const code = op.customCode ?? "";
    const what = `${this.model.source}: operator #${op.index} CUSTOM(${code})`;
    const known = ["Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks"];
    if (!known.includes(code)) this.fail(`custom operator ${JSON.stringify(code)} is not supported (known: ${known.join(", ")})`);
    // Version 1 of each operator has other semantics (and options); MediaPipe's 2022 models use version 2.
    if (op.version !== 2) this.fail(`version ${op.version} is not supported (only version 2)`);
    const out = this.outputTensor();
    const guard = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        return this.fail((err as Error).message.replace(`${what}: `, ""));
      }
    };
    if (code === "Landmarks2TransformMatrix") {
      const x = this.activation(0, "landmarks");
      if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 3) this.fail(`landmarks of shape [${x.shape}]; expected [1,N,3]`);
      this.checkOutputShape([1, 4, 4]);
      const opts = guard(() => parseLandmarks2TransformMatrixOptions(op.customOptions, what));
      const name = this.fresh(out.name);
      guard(() => emitLandmarks2TransformMatrix(this.emitter(), this.inLayout(x, "native"), x.shape[1], opts, name, what));
      this.setActivation(out, name, "native");
    } else if (code === "TransformTensorBilinear") {
      const x = this.activation(0, "feature map");
      this.rank4(x, "feature map");
      const m = this.activation(1, "matrix");
      if (m.shape.join(",") !== "1,4,4") this.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
      const opts = guard(() => parseTransformTensorBilinearOptions(op.customOptions, what));
      this.checkOutputShape([1, opts.outputHeight, opts.outputWidth, x.shape[3]]);
      const name = this.fresh(out.name);
      emitTransformTensorBilinear(this.emitter(), this.inLayout(x, "nchw"), [x.shape[1], x.shape[2]], this.inLayout(m, "native"), opts, name);
      this.setActivation(out, name, "nchw");
    } else {
      const x = this.activation(0, "landmarks");
      const m = this.activation(1, "matrix");
      if (x.shape.length !== 3 || x.shape[0] !== 1 || x.shape[2] !== 2) this.fail(`landmarks of shape [${x.shape}]; expected [1,N,2] (2-D landmarks)`);
      if (m.shape.join(",") !== "1,4,4") this.fail(`matrix of shape [${m.shape}]; expected [1,4,4]`);
      // Version 2 takes its dimensions from the tensor; options, when a writer adds them, must agree.
      if (op.customOptions && op.customOptions.length > 0) {
        const dims = guard(() => readFlexbufferMap(op.customOptions, what)).dimensions;
        if (dims !== undefined && Number(dims) !== 2) this.fail(`option dimensions = ${String(dims)}; only 2 is supported`);
      }
      this.checkOutputShape(x.shape);
      const name = this.fresh(out.name);
      emitTransformLandmarks(this.emitter(), this.inLayout(x, "native"), this.inLayout(m, "native"), name);
      this.setActivation(out, name, "native");
    }
  }

  private prelu(): void {
    const x = this.activation(0);
    const alpha = this.constant(1, "alpha", "float32");
    if (alpha.shape.length > x.shape.length) this.fail(`alpha of shape [${alpha.shape}] has a higher rank than the input`);
    let slope: string;
    if (x.layout === "nchw") {
      // [1,1,C] (per channel) -> NHWC [1,1,1,C] -> NCHW [1,C,1,1] -> [C,1,1], which ONNX broadcasts over N,H,W.
      const nhwc = [...Array(4 - alpha.shape.length).fill(1), ...alpha.shape];
      const t = permute(alpha.data as Float32Array, nhwc, TO_NCHW);
      slope = this.addInitializer(alpha.tensor.name, t.shape.slice(1), t.data);
    } else {
      slope = this.addInitializer(alpha.tensor.name, [...alpha.shape], alpha.data as Float32Array);
    }
    this.emit("PRelu", [x.name, slope], [], Activation.NONE, x.layout);
  }

  private relu(): void {
    const x = this.activation(0);
    this.emit("Relu", [x.name], [], Activation.NONE, x.layout);
  }

  private reshape(newShapeOption: number[] | undefined): void {
    const x = this.activation(0);
    const out = this.outputTensor();
    let target: number[];
    const shapeInput = this.op!.inputs[1];
    if (shapeInput !== undefined && shapeInput >= 0) {
      const s = this.constant(1, "shape", "int32");
      if (s.shape.length !== 1) this.fail(`shape input has shape [${s.shape}]; expected a vector`);
      target = Array.from(s.data);
    } else if (newShapeOption && newShapeOption.length > 0) {
      target = newShapeOption;
    } else {
      target = out.shape;
    }
    const count = product(x.shape);
    const unknown = target.filter((d) => d === -1).length;
    if (unknown > 1 || target.some((d) => d < -1 || d === 0)) this.fail(`new shape [${target}] is not supported`);
    const known = product(target.filter((d) => d !== -1));
    const resolved = target.map((d) => (d === -1 ? count / known : d));
    if (product(resolved) !== count || !resolved.every(Number.isInteger)) this.fail(`cannot reshape [${x.shape}] to [${target}]`);
    if (out.shape.length > 0 && out.shape.join(",") !== resolved.join(",")) {
      this.fail(`new shape [${resolved}] differs from the output tensor's [${out.shape}]`);
    }
    // The batch must stay alone in dim 0: then "copy dim 0" (0 in ONNX Reshape) carries any batch size through.
    if (x.shape[0] !== 1 || resolved[0] !== 1) this.fail(`reshape [${x.shape}] -> [${resolved}] moves the batch dimension`);
    // TFLite reshapes in its own (NHWC) memory order, so the tensor goes back to that order first.
    const shape = this.int64Initializer(`${out.name}/shape`, [0, ...resolved.slice(1)]);
    this.emit("Reshape", [this.inLayout(x, "native"), shape], [], Activation.NONE, "native");
  }

  private concatenation(axisOption: number, activation: number): void {
    const op = this.op!;
    const parts = op.inputs.map((_, i) => this.activation(i, `part ${i}`));
    const rank = parts[0].shape.length;
    if (parts.some((p) => p.shape.length !== rank)) this.fail("inputs of different ranks");
    const axis = axisOption < 0 ? axisOption + rank : axisOption;
    if (axis < 0 || axis >= rank) this.fail(`axis ${axisOption} is out of range for rank ${rank}`);
    if (axis === 0) this.fail("concatenation along the batch axis is not supported");
    const layout: Layout = rank === 4 && parts.every((p) => p.layout === "nchw") ? "nchw" : "native";
    const onnxAxis = layout === "nchw" ? NHWC_AXIS_TO_NCHW[axis] : axis;
    const outShape = [...parts[0].shape];
    outShape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
    this.checkOutputShape(outShape);
    this.emit("Concat", parts.map((p) => this.inLayout(p, layout)), [int("axis", onnxAxis)], activation, layout);
  }

  private resizeBilinear(alignCorners: boolean, halfPixelCenters: boolean): void {
    const x = this.activation(0);
    this.rank4(x, "input");
    const size = this.constant(1, "size", "int32");
    if (size.data.length !== 2) this.fail(`size has ${size.data.length} values; expected [new_height, new_width]`);
    if (alignCorners && halfPixelCenters) this.fail("align_corners and half_pixel_centers are both set (TFLite rejects this too)");
    const [newH, newW] = Array.from(size.data);
    const [, h, w, c] = x.shape;
    this.checkOutputShape([1, newH, newW, c]);
    // Scales rather than sizes: sizes would have to spell out the (dynamic) batch dimension.
    const scales = [1, 1, newH / h, newW / w];
    for (const [i, inSize, outSize] of [[2, h, newH], [3, w, newW]] as const) {
      if (Math.floor(inSize * Math.fround(scales[i])) !== outSize || Math.floor(inSize * scales[i]) !== outSize) {
        this.fail(`resize ${inSize} -> ${outSize} is not an exact float scale`);
      }
    }
    // Coordinate maps (TFLite -> ONNX): half_pixel_centers: in = (out+0.5)/scale-0.5, clamped at 0 = half_pixel;
    // align_corners: in = out*(in-1)/(out-1) = align_corners; neither: in = out/scale = asymmetric.
    const mode = halfPixelCenters ? "half_pixel" : alignCorners ? "align_corners" : "asymmetric";
    const scaleName = this.addInitializer(`${this.outputTensor().name}/scales`, [4], new Float32Array(scales));
    this.emit("Resize", [this.inLayout(x, "nchw"), "", scaleName], [str("mode", "linear"), str("coordinate_transformation_mode", mode)], Activation.NONE, "nchw");
  }

  private dequantize(): void {
    const index = this.inputIndex(0, "input");
    const v = this.value(index);
    const out = this.outputTensor();
    if (v.kind !== "constant") this.fail(`dequantizing the runtime tensor ${v.name} is not supported (only float16 constants)`);
    if (v.dtype !== "float16") this.fail(`dequantizing ${v.dtype} constant ${v.tensor.name} is not supported (only float16)`);
    if (product(v.shape) !== product(out.shape)) this.fail(`output shape [${out.shape}] does not match input [${v.shape}]`);
    // Folded: the float16 weights become float32 constants, as TFLite's DEQUANTIZE produces at run time.
    this.values.set(out.index, { kind: "constant", tensor: out, dtype: "float32", data: v.data, shape: out.shape });
  }

  private operator(op: TfliteOperator): void {
    this.op = op;
    const o = op.options;
    const expect = (kind: string): never =>
      this.fail(`builtin options: expected ${kind}, found ${o.kind === "other" ? `options type #${o.typeTag}` : o.kind}`);
    if (op.outputs.length !== 1) this.fail(`${op.outputs.length} outputs; expected 1`);
    switch (op.builtinCode) {
      case BuiltinOperator.CONV_2D:
        if (o.kind !== "Conv2DOptions") return expect("Conv2DOptions");
        return this.conv2d(o);
      case BuiltinOperator.DEPTHWISE_CONV_2D:
        if (o.kind !== "DepthwiseConv2DOptions") return expect("DepthwiseConv2DOptions");
        return this.depthwiseConv2d(o);
      case BuiltinOperator.MAX_POOL_2D:
        if (o.kind !== "Pool2DOptions") return expect("Pool2DOptions");
        return this.maxPool2d(o);
      case BuiltinOperator.PAD:
        if (o.kind !== "none" && o.kind !== "PadOptions") return expect("PadOptions");
        return this.pad();
      case BuiltinOperator.ADD:
        if (o.kind !== "none" && o.kind !== "AddOptions") return expect("AddOptions");
        return this.elementwise("Add", o.kind === "AddOptions" ? o.activation : Activation.NONE);
      case BuiltinOperator.MUL:
        if (o.kind !== "none" && o.kind !== "MulOptions") return expect("MulOptions");
        return this.elementwise("Mul", o.kind === "MulOptions" ? o.activation : Activation.NONE);
      case BuiltinOperator.STRIDED_SLICE:
        if (o.kind !== "StridedSliceOptions") return expect("StridedSliceOptions");
        return this.stridedSlice(o);
      case BuiltinOperator.PRELU:
        if (o.kind !== "none") return expect("none");
        return this.prelu();
      case BuiltinOperator.RELU:
        if (o.kind !== "none") return expect("none");
        return this.relu();
      case BuiltinOperator.RESHAPE:
        if (o.kind !== "none" && o.kind !== "ReshapeOptions") return expect("ReshapeOptions");
        return this.reshape(o.kind === "ReshapeOptions" ? o.newShape : undefined);
      case BuiltinOperator.CONCATENATION:
        if (o.kind !== "ConcatenationOptions") return expect("ConcatenationOptions");
        return this.concatenation(o.axis, o.activation);
      case BuiltinOperator.RESIZE_BILINEAR:
        if (o.kind !== "none" && o.kind !== "ResizeBilinearOptions") return expect("ResizeBilinearOptions");
        return o.kind === "ResizeBilinearOptions" ? this.resizeBilinear(o.alignCorners, o.halfPixelCenters) : this.resizeBilinear(false, false);
      case BuiltinOperator.DEQUANTIZE:
        if (o.kind !== "none" && o.kind !== "DequantizeOptions") return expect("DequantizeOptions");
        return this.dequantize();
      case BuiltinOperator.CUSTOM:
        return this.custom(op);
      default:
        return this.fail("operator is not supported");
    }
  }

  // ---- graph ---------------------------------------------------------------------------------------------

  private bindInputs(): Graph["inputs"] {
    const bindings = this.spec.inputs ?? this.sg.inputs.map((i) => ({ tflite: this.tensor(i).name, onnx: this.tensor(i).name }));
    const graphInputs: Graph["inputs"] = [];
    for (const index of this.sg.inputs) {
      const t = this.tensor(index);
      const b = bindings.find((x) => x.tflite === t.name);
      if (!b) this.fail(`model input ${t.name} has no binding (known: ${bindings.map((x) => x.tflite).join(", ")})`);
      if (t.type !== TensorType.FLOAT32) this.fail(`model input ${t.name} is ${TENSOR_TYPE_NAMES[t.type] ?? t.type}; only FLOAT32 is supported`);
      if (t.shape.length < 1 || t.shape[0] !== 1) this.fail(`model input ${t.name} has shape [${t.shape}]; expected batch 1 in dim 0`);
      const layout: Layout = t.shape.length === 4 ? "nchw" : "native";
      this.used.add(b.onnx);
      this.setActivation(t, b.onnx, layout);
      graphInputs.push({ name: b.onnx, shape: [BATCH, ...onnxShape(t.shape, layout).slice(1)] });
    }
    for (const b of bindings) {
      if (!this.sg.inputs.some((i) => this.tensor(i).name === b.tflite)) this.fail(`no model input named ${b.tflite}`);
    }
    return graphInputs;
  }

  private outputBindings(): OutputBinding[] {
    return (
      this.spec.outputs ??
      this.sg.outputs.map((i) => ({ tflite: this.tensor(i).name, onnx: this.tensor(i).name, shape: this.tensor(i).shape.slice(1) }))
    );
  }

  private bindOutputs(bindings: OutputBinding[], graphInputs: Graph["inputs"]): Graph["outputs"] {
    const outputs: Graph["outputs"] = [];
    for (const index of this.sg.outputs) {
      if (!bindings.some((b) => b.tflite === this.tensor(index).name)) this.fail(`model output ${this.tensor(index).name} has no binding`);
    }
    for (const b of bindings) {
      const index = this.sg.outputs.find((i) => this.tensor(i).name === b.tflite);
      if (index === undefined) {
        this.fail(`no model output named ${b.tflite} (outputs: ${this.sg.outputs.map((i) => this.tensor(i).name).join(", ")})`);
      }
      const v = this.values.get(index);
      if (!v || v.kind !== "activation") this.fail(`model output ${b.tflite} is not computed by any operator`);
      if (v.shape[0] !== 1 || product(v.shape) !== product(b.shape)) {
        this.fail(`model output ${b.tflite} of shape [${v.shape}] cannot be presented as [${BATCH},${b.shape}]`);
      }
      const native = this.inLayout(v, "native");
      const taken = outputs.some((o) => o.name === native) || graphInputs.some((i) => i.name === native);
      if (v.shape.slice(1).join(",") === b.shape.join(",") && !taken) {
        this.rename(native, b.onnx);
      } else if (v.shape.slice(1).join(",") === b.shape.join(",")) {
        this.used.add(b.onnx);
        this.node("Identity", [native], [b.onnx]);
        this.shapes.set(b.onnx, [1, ...b.shape]);
      } else {
        this.used.add(b.onnx);
        this.node("Reshape", [native, this.int64Initializer(`${b.onnx}/shape`, [0, ...b.shape])], [b.onnx]);
        this.shapes.set(b.onnx, [1, ...b.shape]);
      }
      outputs.push({ name: b.onnx, shape: [BATCH, ...b.shape] });
    }
    return outputs;
  }

  /** Renames a node-produced value everywhere (used to give graph outputs their contract names). */
  private rename(from: string, to: string): void {
    if (from === to) return;
    if (this.used.has(to)) this.fail(`output name ${to} collides with a tensor of the model`);
    this.used.add(to);
    for (const n of this.nodes) {
      n.inputs = n.inputs.map((i) => (i === from ? to : i));
      n.outputs = n.outputs.map((o) => (o === from ? to : o));
      if (n.name === from) n.name = to;
    }
    const shape = this.shapes.get(from);
    if (shape) this.shapes.set(to, shape);
    this.shapes.delete(from);
  }

  convert(): Graph {
    // Contract output names are reserved first, so no converted tensor takes one before the outputs are bound.
    const outputBindings = this.outputBindings();
    for (const b of outputBindings) this.reserved.add(b.onnx);
    const inputs = this.bindInputs();
    for (const op of this.sg.operators) this.operator(op);
    this.op = undefined;
    const outputs = this.bindOutputs(outputBindings, inputs);
    return {
      name: this.spec.graphName,
      inputs,
      outputs,
      nodes: this.nodes,
      initializers: this.initializers,
      shapes: this.shapes,
      docString: `Converted from ${this.model.source}${this.model.description ? ` (${this.model.description})` : ""}`,
    };
  }
}

/** Converts the model's only subgraph to an ONNX graph (not yet optimized; see optimize.ts). */
export function convertTflite(model: TfliteModel, spec: ConversionSpec): Graph {
  return new Converter(model, spec).convert();
}
