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
 *
 * This file holds the converter's state (values, nodes, initializers, names) and the graph's inputs and outputs;
 * each operator's mapping is in operators.ts, the layouts and shapes in layout.ts.
 */
import { decodeFloat16 } from "./fp16.js";
import { onnxShape, TO_NCHW, TO_NHWC, type ActivationValue, type ConstantValue, type Layout, type Value } from "./layout.js";
import type { OnnxEmitter } from "./mediapipe_ops.js";
import { convertOperator, type OperatorContext } from "./operators.js";
import { type Attribute, type Graph, type GraphNode, type Initializer, ints, product } from "./graph.js";
import type { TfliteModel, TfliteOperator, TfliteSubgraph, TfliteTensor } from "./tflite_reader.js";
import { ACTIVATION_NAMES, Activation, BuiltinOperator, TENSOR_TYPE_NAMES, TensorType, builtinOperatorName } from "./tflite_schema.js";

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

export { permute, spatialPadding, type SpatialPadding } from "./layout.js";

class Converter implements OperatorContext {
  private readonly sg: TfliteSubgraph;
  private readonly values = new Map<number, Value>();
  private readonly nodes: GraphNode[] = [];
  private readonly initializers = new Map<string, Initializer>();
  private readonly shapes = new Map<string, number[]>();
  private readonly used = new Set<string>();
  private readonly reserved = new Set<string>();
  /** "<value>|<layout>" -> name of the transposed copy, so a value is transposed at most once per layout. */
  private readonly relayouts = new Map<string, string>();
  op: TfliteOperator | undefined;

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

  fail(message: string): never {
    const op = this.op;
    if (!op) throw new Error(`${this.model.source}: ${message}`);
    const outName = op.outputs.length > 0 && op.outputs[0] >= 0 ? this.sg.tensors[op.outputs[0]].name : "?";
    const name = op.builtinCode === BuiltinOperator.CUSTOM ? `CUSTOM(${op.customCode ?? "?"})` : builtinOperatorName(op.builtinCode);
    throw new Error(`${this.model.source}: operator #${op.index} ${name} (output ${outName}): ${message}`);
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

  value(index: number): Value {
    const known = this.values.get(index);
    if (known) return known;
    const t = this.tensor(index);
    const c = this.constantOf(t);
    if (!c) this.fail(`input tensor ${t.name} is neither a constant nor produced by an earlier operator`);
    this.values.set(index, c);
    return c;
  }

  inputIndex(slot: number, what: string): number {
    const op = this.op!;
    const index = op.inputs[slot];
    if (index === undefined || index < 0) this.fail(`missing input ${slot} (${what})`);
    return index;
  }

  activation(slot: number, what = "input"): ActivationValue {
    const v = this.value(this.inputIndex(slot, what));
    if (v.kind !== "activation") this.fail(`input ${slot} (${what}) is the constant ${v.tensor.name}; a runtime tensor is expected`);
    return v;
  }

  /** A constant input, float32 (a float16 constant only after DEQUANTIZE) or int32 as asked. */
  constant(slot: number, what: string, dtype: "float32" | "int32"): ConstantValue {
    const v = this.value(this.inputIndex(slot, what));
    if (v.kind !== "constant") this.fail(`input ${slot} (${what}) must be a constant, but is computed at run time (${v.name})`);
    if (v.dtype !== dtype) this.fail(`input ${slot} (${what}) ${v.tensor.name} is ${v.dtype}, expected ${dtype}`);
    return v;
  }

  optionalConstant(slot: number, what: string): ConstantValue | undefined {
    const index = this.op!.inputs[slot];
    return index === undefined || index < 0 ? undefined : this.constant(slot, what, "float32");
  }

  addInitializer(base: string, dims: number[], data: Float32Array | number[] | bigint[]): string {
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

  int64Initializer(base: string, values: number[]): string {
    return this.addInitializer(base, [values.length], values.map((v) => BigInt(v)));
  }

  private node(opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): void {
    this.nodes.push({ opType, name: outputs[0], inputs, outputs, attributes });
  }

  /** The value in the requested layout, inserting (once) a Transpose when it is held in the other one. */
  inLayout(v: ActivationValue, layout: Layout): string {
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

  outputTensor(slot = 0): TfliteTensor {
    const index = this.op!.outputs[slot];
    if (index === undefined || index < 0) this.fail(`missing output ${slot}`);
    const t = this.tensor(index);
    if (t.type !== TensorType.FLOAT32) this.fail(`output ${t.name} has type ${TENSOR_TYPE_NAMES[t.type] ?? t.type}; only FLOAT32 activations are supported`);
    return t;
  }

  /** Node-level access for operators written as several ONNX nodes (MediaPipe's custom operators). */
  emitter(): OnnxEmitter {
    return {
      node: (opType, inputs, outputs, attributes = []) => this.node(opType, inputs, outputs, attributes),
      fresh: (base) => this.fresh(base),
      floats: (base, dims, data) => this.addInitializer(base, dims, Float32Array.from(data)),
      int64s: (base, values) => this.int64Initializer(base, values),
    };
  }

  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name) || this.reserved.has(name); i++) name = `${base}__${i}`;
    this.used.add(name);
    return name;
  }

  setActivation(t: TfliteTensor, name: string, layout: Layout): void {
    if (layout === "nchw" && t.shape.length !== 4) this.fail(`internal: rank-${t.shape.length} tensor ${t.name} marked NCHW`);
    this.values.set(t.index, { kind: "activation", name, layout, shape: t.shape });
    this.shapes.set(name, onnxShape(t.shape, layout));
  }

  /**
   * Emits `opType` writing the op's output tensor, followed by the fused activation (TFLite folds activations
   * into CONV/ADD/POOL/CONCATENATION; ONNX needs separate nodes, which onnxruntime fuses back at load time).
   */
  emit(opType: string, inputs: string[], attributes: Attribute[], activation: number, layout: Layout): void {
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

  define(index: number, value: Value): void {
    this.values.set(index, value);
  }

  checkOutputShape(expected: number[]): void {
    const out = this.outputTensor();
    if (out.shape.join(",") !== expected.join(",")) {
      this.fail(`computed output shape [${expected}] differs from the file's [${out.shape}] for ${out.name}`);
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
    for (const op of this.sg.operators) {
      this.op = op;
      convertOperator(this, op);
    }
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
