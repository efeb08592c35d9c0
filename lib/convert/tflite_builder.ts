/**
 * Writes small TFLite flatbuffers (schema v3) with the flatbuffers Builder: the operator tests build one-op
 * models with it, so they exercise the whole path (reader, converter, writer) and not just onnxruntime.
 * Supports exactly what tflite_reader.ts reads.
 */
import { Builder } from "flatbuffers";

import type { BuiltinOptions } from "./tflite_reader.js";
import { BuiltinOperator, BuiltinOptionsType, Field, TFLITE_FILE_IDENTIFIER, TensorType } from "./tflite_schema.js";

export interface TensorDef {
  name: string;
  shape: number[];
  /** enum TensorType; default FLOAT32. */
  type?: number;
  /** Constant data: float32 values, int32 values, or raw bytes (e.g. float16 bit patterns, little-endian). */
  data?: Float32Array | Int32Array | Uint8Array;
}

export interface OperatorDef {
  /** BuiltinOperator code. */
  op: number;
  /** Tensor names; null = omitted optional input (-1). */
  inputs: Array<string | null>;
  outputs: string[];
  options?: BuiltinOptions;
  customCode?: string;
  /** Operator version in the operator code table (default 1). */
  version?: number;
  /** custom_options bytes (e.g. a flexbuffer made with flatbuffers' flexbuffers.encode). */
  customOptions?: Uint8Array;
}

export interface ModelDef {
  tensors: TensorDef[];
  inputs: string[];
  outputs: string[];
  operators: OperatorDef[];
  description?: string;
  /**
   * How operator codes are stored: "both" (current writers: byte field saturated at 127, int32 field exact),
   * "deprecated-only" (writers before schema 3a), "builtin-only" (byte field left at its default 0).
   */
  opcodeFields?: "both" | "deprecated-only" | "builtin-only";
}

function int32Vector(b: Builder, values: readonly number[]): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]);
  return b.endVector();
}

function offsetVector(b: Builder, offsets: readonly number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

function dataBytes(data: Float32Array | Int32Array | Uint8Array): Uint8Array {
  if (data instanceof Uint8Array) return data;
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v: number, i: number) => (data instanceof Float32Array ? view.setFloat32(4 * i, v, true) : view.setInt32(4 * i, v, true)));
  return out;
}

/** Writes an options table; returns [union type tag, offset]. */
function writeOptions(b: Builder, o: BuiltinOptions | undefined): [number, number] {
  if (!o || o.kind === "none") return [BuiltinOptionsType.NONE, 0];
  switch (o.kind) {
    case "Conv2DOptions": {
      const f = Field.Conv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, o.padding, 0);
      b.addFieldInt32(f.stride_w, o.strideW, 0);
      b.addFieldInt32(f.stride_h, o.strideH, 0);
      b.addFieldInt8(f.fused_activation_function, o.activation, 0);
      b.addFieldInt32(f.dilation_w_factor, o.dilationW, 1);
      b.addFieldInt32(f.dilation_h_factor, o.dilationH, 1);
      return [BuiltinOptionsType.Conv2DOptions, b.endObject()];
    }
    case "DepthwiseConv2DOptions": {
      const f = Field.DepthwiseConv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, o.padding, 0);
      b.addFieldInt32(f.stride_w, o.strideW, 0);
      b.addFieldInt32(f.stride_h, o.strideH, 0);
      b.addFieldInt32(f.depth_multiplier, o.depthMultiplier, 0);
      b.addFieldInt8(f.fused_activation_function, o.activation, 0);
      b.addFieldInt32(f.dilation_w_factor, o.dilationW, 1);
      b.addFieldInt32(f.dilation_h_factor, o.dilationH, 1);
      return [BuiltinOptionsType.DepthwiseConv2DOptions, b.endObject()];
    }
    case "Pool2DOptions": {
      const f = Field.Pool2DOptions;
      b.startObject(6);
      b.addFieldInt8(f.padding, o.padding, 0);
      b.addFieldInt32(f.stride_w, o.strideW, 0);
      b.addFieldInt32(f.stride_h, o.strideH, 0);
      b.addFieldInt32(f.filter_width, o.filterW, 0);
      b.addFieldInt32(f.filter_height, o.filterH, 0);
      b.addFieldInt8(f.fused_activation_function, o.activation, 0);
      return [BuiltinOptionsType.Pool2DOptions, b.endObject()];
    }
    case "ConcatenationOptions": {
      b.startObject(2);
      b.addFieldInt32(Field.ConcatenationOptions.axis, o.axis, 0);
      b.addFieldInt8(Field.ConcatenationOptions.fused_activation_function, o.activation, 0);
      return [BuiltinOptionsType.ConcatenationOptions, b.endObject()];
    }
    case "AddOptions": {
      b.startObject(2);
      b.addFieldInt8(Field.AddOptions.fused_activation_function, o.activation, 0);
      return [BuiltinOptionsType.AddOptions, b.endObject()];
    }
    case "ResizeBilinearOptions": {
      const f = Field.ResizeBilinearOptions;
      b.startObject(4);
      b.addFieldInt8(f.align_corners, o.alignCorners ? 1 : 0, 0);
      b.addFieldInt8(f.half_pixel_centers, o.halfPixelCenters ? 1 : 0, 0);
      return [BuiltinOptionsType.ResizeBilinearOptions, b.endObject()];
    }
    case "ReshapeOptions": {
      const shape = o.newShape ? int32Vector(b, o.newShape) : 0;
      b.startObject(1);
      if (shape) b.addFieldOffset(Field.ReshapeOptions.new_shape, shape, 0);
      return [BuiltinOptionsType.ReshapeOptions, b.endObject()];
    }
    case "MulOptions": {
      b.startObject(1);
      b.addFieldInt8(Field.MulOptions.fused_activation_function, o.activation, 0);
      return [BuiltinOptionsType.MulOptions, b.endObject()];
    }
    case "StridedSliceOptions": {
      const f = Field.StridedSliceOptions;
      b.startObject(6);
      b.addFieldInt32(f.begin_mask, o.beginMask, 0);
      b.addFieldInt32(f.end_mask, o.endMask, 0);
      b.addFieldInt32(f.ellipsis_mask, o.ellipsisMask, 0);
      b.addFieldInt32(f.new_axis_mask, o.newAxisMask, 0);
      b.addFieldInt32(f.shrink_axis_mask, o.shrinkAxisMask, 0);
      b.addFieldInt8(f.offset, o.offset ? 1 : 0, 0);
      return [BuiltinOptionsType.StridedSliceOptions, b.endObject()];
    }
    case "PadOptions":
    case "DequantizeOptions":
      b.startObject(0);
      return [o.kind === "PadOptions" ? BuiltinOptionsType.PadOptions : BuiltinOptionsType.DequantizeOptions, b.endObject()];
    case "other":
      b.startObject(0);
      return [o.typeTag, b.endObject()];
  }
}

/** Serializes `def` as a .tflite file. */
export function buildTflite(def: ModelDef): Uint8Array {
  const b = new Builder(1024);
  const tensorIndex = new Map(def.tensors.map((t, i) => [t.name, i]));
  const index = (name: string | null): number => {
    if (name === null) return -1;
    const i = tensorIndex.get(name);
    if (i === undefined) throw new Error(`buildTflite: unknown tensor ${name}`);
    return i;
  };

  // Buffers: 0 is the empty sentinel; each constant tensor gets its own.
  const bufferOffsets: number[] = [];
  const emptyBuffer = (() => {
    b.startObject(3);
    return b.endObject();
  })();
  bufferOffsets.push(emptyBuffer);
  const tensorBuffer: number[] = [];
  for (const t of def.tensors) {
    if (!t.data) {
      tensorBuffer.push(0);
      continue;
    }
    const bytes = b.createByteVector(dataBytes(t.data));
    b.startObject(3);
    b.addFieldOffset(Field.Buffer.data, bytes, 0);
    bufferOffsets.push(b.endObject());
    tensorBuffer.push(bufferOffsets.length - 1);
  }

  const tensorOffsets = def.tensors.map((t, i) => {
    const name = b.createString(t.name);
    const shape = int32Vector(b, t.shape);
    b.startObject(8);
    b.addFieldOffset(Field.Tensor.shape, shape, 0);
    b.addFieldInt8(Field.Tensor.type, t.type ?? TensorType.FLOAT32, 0);
    b.addFieldInt32(Field.Tensor.buffer, tensorBuffer[i], 0);
    b.addFieldOffset(Field.Tensor.name, name, 0);
    return b.endObject();
  });

  // One operator code per distinct (op, customCode, version).
  const codes: Array<{ op: number; customCode?: string; version: number }> = [];
  const codeIndex = (o: OperatorDef): number => {
    const version = o.version ?? 1;
    let i = codes.findIndex((c) => c.op === o.op && c.customCode === o.customCode && c.version === version);
    if (i < 0) i = codes.push({ op: o.op, customCode: o.customCode, version }) - 1;
    return i;
  };
  const opIndices = def.operators.map(codeIndex);
  const style = def.opcodeFields ?? "both";
  const codeOffsets = codes.map((c) => {
    const custom = c.customCode !== undefined ? b.createString(c.customCode) : 0;
    b.startObject(4);
    if (style !== "builtin-only") {
      b.addFieldInt8(Field.OperatorCode.deprecated_builtin_code, Math.min(c.op, BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES), 0);
    }
    if (custom) b.addFieldOffset(Field.OperatorCode.custom_code, custom, 0);
    b.addFieldInt32(Field.OperatorCode.version, c.version, 1);
    if (style !== "deprecated-only") b.addFieldInt32(Field.OperatorCode.builtin_code, c.op, 0);
    return b.endObject();
  });

  const operatorOffsets = def.operators.map((o, i) => {
    const inputs = int32Vector(b, o.inputs.map(index));
    const outputs = int32Vector(b, o.outputs.map(index));
    const [optionsType, options] = writeOptions(b, o.options);
    const custom = o.customOptions ? b.createByteVector(o.customOptions) : 0;
    b.startObject(6);
    b.addFieldInt32(Field.Operator.opcode_index, opIndices[i], 0);
    b.addFieldOffset(Field.Operator.inputs, inputs, 0);
    b.addFieldOffset(Field.Operator.outputs, outputs, 0);
    b.addFieldInt8(Field.Operator.builtin_options_type, optionsType, 0);
    if (options) b.addFieldOffset(Field.Operator.builtin_options, options, 0);
    if (custom) b.addFieldOffset(Field.Operator.custom_options, custom, 0);
    return b.endObject();
  });

  const tensors = offsetVector(b, tensorOffsets);
  const sgInputs = int32Vector(b, def.inputs.map(index));
  const sgOutputs = int32Vector(b, def.outputs.map(index));
  const operators = offsetVector(b, operatorOffsets);
  const sgName = b.createString("main");
  b.startObject(5);
  b.addFieldOffset(Field.SubGraph.tensors, tensors, 0);
  b.addFieldOffset(Field.SubGraph.inputs, sgInputs, 0);
  b.addFieldOffset(Field.SubGraph.outputs, sgOutputs, 0);
  b.addFieldOffset(Field.SubGraph.operators, operators, 0);
  b.addFieldOffset(Field.SubGraph.name, sgName, 0);
  const subgraph = b.endObject();

  const opcodes = offsetVector(b, codeOffsets);
  const subgraphs = offsetVector(b, [subgraph]);
  const description = b.createString(def.description ?? "facemesh test model");
  const buffers = offsetVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(Field.Model.version, 3, 0);
  b.addFieldOffset(Field.Model.operator_codes, opcodes, 0);
  b.addFieldOffset(Field.Model.subgraphs, subgraphs, 0);
  b.addFieldOffset(Field.Model.description, description, 0);
  b.addFieldOffset(Field.Model.buffers, buffers, 0);
  b.finish(b.endObject(), TFLITE_FILE_IDENTIFIER);
  return b.asUint8Array();
}
