/**
 * Reads the part of a TFLite flatbuffer (schema v3) that the converter needs into plain objects.
 * Field ids and enum values: tflite_schema.ts. The flatbuffers package supplies the byte-level access
 * (ByteBuffer: vtable lookup, offsets, vectors); the table accessors are ours.
 *
 * Every offset we follow is checked against the file size first, so a truncated or corrupt file raises an error
 * naming the file instead of reading garbage.
 */
import { ByteBuffer } from "flatbuffers";

import {
  BuiltinOperator,
  BuiltinOptionsType,
  Field,
  TFLITE_FILE_IDENTIFIER,
  vtableSlot,
} from "./tflite_schema.js";

export interface TfliteTensor {
  index: number;
  name: string;
  /** Static shape; TFLite writes batch 1 for our models. */
  shape: number[];
  /** enum TensorType */
  type: number;
  /** Index into TfliteModel.buffers; 0 = no data (the schema's sentinel buffer). */
  buffer: number;
  /** True when the tensor carries quantization scales (we only convert float models). */
  quantized: boolean;
  isVariable: boolean;
  sparse: boolean;
}

export type Conv2DOptions = {
  kind: "Conv2DOptions";
  padding: number;
  strideW: number;
  strideH: number;
  activation: number;
  dilationW: number;
  dilationH: number;
};
export type DepthwiseConv2DOptions = {
  kind: "DepthwiseConv2DOptions";
  padding: number;
  strideW: number;
  strideH: number;
  depthMultiplier: number;
  activation: number;
  dilationW: number;
  dilationH: number;
};
export type Pool2DOptions = {
  kind: "Pool2DOptions";
  padding: number;
  strideW: number;
  strideH: number;
  filterW: number;
  filterH: number;
  activation: number;
};
export type ConcatenationOptions = { kind: "ConcatenationOptions"; axis: number; activation: number };
export type AddOptions = { kind: "AddOptions"; activation: number };
export type ResizeBilinearOptions = { kind: "ResizeBilinearOptions"; alignCorners: boolean; halfPixelCenters: boolean };
export type ReshapeOptions = { kind: "ReshapeOptions"; newShape: number[] | undefined };
export type MulOptions = { kind: "MulOptions"; activation: number };
export type StridedSliceOptions = {
  kind: "StridedSliceOptions";
  beginMask: number;
  endMask: number;
  ellipsisMask: number;
  newAxisMask: number;
  shrinkAxisMask: number;
  /** begin/end are offsets from begin (TFLite's "offset" flag); not supported by the converter. */
  offset: boolean;
};
/** Options tables without fields (PadOptions, DequantizeOptions) and absent options. */
export type EmptyOptions = { kind: "none" | "PadOptions" | "DequantizeOptions" };
/** An options table we do not decode; the converter rejects operators that carry one. */
export type OtherOptions = { kind: "other"; typeTag: number };

export type BuiltinOptions =
  | Conv2DOptions
  | DepthwiseConv2DOptions
  | Pool2DOptions
  | ConcatenationOptions
  | AddOptions
  | ResizeBilinearOptions
  | ReshapeOptions
  | MulOptions
  | StridedSliceOptions
  | EmptyOptions
  | OtherOptions;

export interface TfliteOperator {
  index: number;
  /** Resolved BuiltinOperator code (see resolveBuiltinCode). */
  builtinCode: number;
  customCode: string | undefined;
  /** Operator version from the operator code table. */
  version: number;
  /** Tensor indices; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  options: BuiltinOptions;
  /** The operator's custom_options bytes (a flexbuffer for MediaPipe's custom ops), when present. */
  customOptions: Uint8Array | undefined;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModel {
  /** File name or origin, used in every error message about this model. */
  source: string;
  version: number;
  description: string;
  subgraphs: TfliteSubgraph[];
  /** Raw data of each buffer (views into the file bytes; empty for the sentinel and for activations). */
  buffers: Uint8Array[];
}

/** A flatbuffer table: its position plus checked accessors by field id. */
class Table {
  constructor(
    private readonly file: FlatFile,
    readonly pos: number,
  ) {}

  private fieldPos(id: number): number {
    const rel = this.file.bb.__offset(this.pos, vtableSlot(id));
    return rel === 0 ? 0 : this.pos + rel;
  }

  has(id: number): boolean {
    return this.fieldPos(id) !== 0;
  }

  int8(id: number, dflt: number): number {
    const p = this.fieldPos(id);
    return p === 0 ? dflt : this.file.bb.readInt8(this.file.check(p, 1));
  }

  uint8(id: number, dflt: number): number {
    const p = this.fieldPos(id);
    return p === 0 ? dflt : this.file.bb.readUint8(this.file.check(p, 1));
  }

  bool(id: number, dflt: boolean): boolean {
    const p = this.fieldPos(id);
    return p === 0 ? dflt : this.file.bb.readUint8(this.file.check(p, 1)) !== 0;
  }

  int32(id: number, dflt: number): number {
    const p = this.fieldPos(id);
    return p === 0 ? dflt : this.file.bb.readInt32(this.file.check(p, 4));
  }

  uint32(id: number, dflt: number): number {
    const p = this.fieldPos(id);
    return p === 0 ? dflt : this.file.bb.readUint32(this.file.check(p, 4));
  }

  uint64(id: number, dflt: number): number {
    const p = this.fieldPos(id);
    if (p === 0) return dflt;
    const v = this.file.bb.readUint64(this.file.check(p, 8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.file.error(`64-bit field at ${p} is out of range`);
    return Number(v);
  }

  /** Follows the uoffset stored in the field; the pointed-to position. */
  private indirect(p: number): number {
    return this.file.check(p + this.file.bb.readUint32(this.file.check(p, 4)), 4);
  }

  string(id: number): string | undefined {
    const p = this.fieldPos(id);
    if (p === 0) return undefined;
    const at = this.indirect(p);
    const len = this.file.bb.readUint32(at);
    return new TextDecoder().decode(this.file.bytes.subarray(this.file.check(at + 4, len), at + 4 + len));
  }

  table(id: number): Table | undefined {
    const p = this.fieldPos(id);
    return p === 0 ? undefined : new Table(this.file, this.indirect(p));
  }

  /** Position of a vector's first element and its length, or undefined when the field is absent. */
  private vector(id: number, elemSize: number): { start: number; length: number } | undefined {
    const p = this.fieldPos(id);
    if (p === 0) return undefined;
    const at = this.indirect(p);
    const length = this.file.bb.readUint32(at);
    this.file.check(at + 4, length * elemSize);
    return { start: at + 4, length };
  }

  tables(id: number): Table[] {
    const v = this.vector(id, 4);
    if (!v) return [];
    const out: Table[] = [];
    for (let i = 0; i < v.length; i++) out.push(new Table(this.file, this.indirect(v.start + 4 * i)));
    return out;
  }

  int32s(id: number): number[] | undefined {
    const v = this.vector(id, 4);
    if (!v) return undefined;
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) out.push(this.file.bb.readInt32(v.start + 4 * i));
    return out;
  }

  floats(id: number): number[] | undefined {
    const v = this.vector(id, 4);
    if (!v) return undefined;
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) out.push(this.file.bb.readFloat32(v.start + 4 * i));
    return out;
  }

  bytes(id: number): Uint8Array | undefined {
    const v = this.vector(id, 1);
    return v ? this.file.bytes.subarray(v.start, v.start + v.length) : undefined;
  }
}

class FlatFile {
  readonly bb: ByteBuffer;
  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
  ) {
    this.bb = new ByteBuffer(bytes);
  }

  error(message: string): Error {
    return new Error(`${this.source}: invalid TFLite file: ${message}`);
  }

  /** Returns pos after checking that [pos, pos+size) lies inside the file. */
  check(pos: number, size: number): number {
    if (!Number.isInteger(pos) || pos < 0 || size < 0 || pos + size > this.bytes.length) {
      throw this.error(`offset ${pos} (+${size} bytes) lies outside the ${this.bytes.length}-byte file`);
    }
    return pos;
  }
}

/**
 * The operator's builtin code. Schema 3a added the int32 field builtin_code next to the old byte field
 * deprecated_builtin_code; writers fill both (the old one saturated at PLACEHOLDER_FOR_GREATER_OP_CODES = 127),
 * older writers only the byte. TFLite's own rule is the larger of the two, which handles all three cases.
 */
export function resolveBuiltinCode(deprecatedCode: number, builtinCode: number): number {
  return Math.max(deprecatedCode, builtinCode);
}

function readOptions(op: Table): BuiltinOptions {
  const tag = op.uint8(Field.Operator.builtin_options_type, BuiltinOptionsType.NONE);
  if (tag === BuiltinOptionsType.NONE) return { kind: "none" };
  const t = op.table(Field.Operator.builtin_options);
  if (!t) return { kind: "none" };
  switch (tag) {
    case BuiltinOptionsType.Conv2DOptions: {
      const f = Field.Conv2DOptions;
      return {
        kind: "Conv2DOptions",
        padding: t.int8(f.padding, 0),
        strideW: t.int32(f.stride_w, 0),
        strideH: t.int32(f.stride_h, 0),
        activation: t.int8(f.fused_activation_function, 0),
        dilationW: t.int32(f.dilation_w_factor, 1),
        dilationH: t.int32(f.dilation_h_factor, 1),
      };
    }
    case BuiltinOptionsType.DepthwiseConv2DOptions: {
      const f = Field.DepthwiseConv2DOptions;
      return {
        kind: "DepthwiseConv2DOptions",
        padding: t.int8(f.padding, 0),
        strideW: t.int32(f.stride_w, 0),
        strideH: t.int32(f.stride_h, 0),
        depthMultiplier: t.int32(f.depth_multiplier, 0),
        activation: t.int8(f.fused_activation_function, 0),
        dilationW: t.int32(f.dilation_w_factor, 1),
        dilationH: t.int32(f.dilation_h_factor, 1),
      };
    }
    case BuiltinOptionsType.Pool2DOptions: {
      const f = Field.Pool2DOptions;
      return {
        kind: "Pool2DOptions",
        padding: t.int8(f.padding, 0),
        strideW: t.int32(f.stride_w, 0),
        strideH: t.int32(f.stride_h, 0),
        filterW: t.int32(f.filter_width, 0),
        filterH: t.int32(f.filter_height, 0),
        activation: t.int8(f.fused_activation_function, 0),
      };
    }
    case BuiltinOptionsType.ConcatenationOptions: {
      const f = Field.ConcatenationOptions;
      return { kind: "ConcatenationOptions", axis: t.int32(f.axis, 0), activation: t.int8(f.fused_activation_function, 0) };
    }
    case BuiltinOptionsType.AddOptions:
      return { kind: "AddOptions", activation: t.int8(Field.AddOptions.fused_activation_function, 0) };
    case BuiltinOptionsType.ResizeBilinearOptions: {
      const f = Field.ResizeBilinearOptions;
      return {
        kind: "ResizeBilinearOptions",
        alignCorners: t.bool(f.align_corners, false),
        halfPixelCenters: t.bool(f.half_pixel_centers, false),
      };
    }
    case BuiltinOptionsType.ReshapeOptions:
      return { kind: "ReshapeOptions", newShape: t.int32s(Field.ReshapeOptions.new_shape) };
    case BuiltinOptionsType.MulOptions:
      return { kind: "MulOptions", activation: t.int8(Field.MulOptions.fused_activation_function, 0) };
    case BuiltinOptionsType.StridedSliceOptions: {
      const f = Field.StridedSliceOptions;
      return {
        kind: "StridedSliceOptions",
        beginMask: t.int32(f.begin_mask, 0),
        endMask: t.int32(f.end_mask, 0),
        ellipsisMask: t.int32(f.ellipsis_mask, 0),
        newAxisMask: t.int32(f.new_axis_mask, 0),
        shrinkAxisMask: t.int32(f.shrink_axis_mask, 0),
        offset: t.bool(f.offset, false),
      };
    }
    case BuiltinOptionsType.PadOptions:
      return { kind: "PadOptions" };
    case BuiltinOptionsType.DequantizeOptions:
      return { kind: "DequantizeOptions" };
    default:
      return { kind: "other", typeTag: tag };
  }
}

function readTensor(t: Table, index: number): TfliteTensor {
  const f = Field.Tensor;
  const q = t.table(f.quantization);
  // QuantizationParameters: min 0, max 1, scale 2, zero_point 3, details_type 4, details 5.
  const quantized = q !== undefined && ((q.floats(2)?.length ?? 0) > 0 || q.has(5));
  return {
    index,
    name: t.string(f.name) ?? `tensor#${index}`,
    shape: t.int32s(f.shape) ?? [],
    type: t.int8(f.type, 0),
    buffer: t.uint32(f.buffer, 0),
    quantized,
    isVariable: t.bool(f.is_variable, false),
    sparse: t.has(f.sparsity),
  };
}

/** Parses a .tflite file. `source` names the file in error messages. */
export function readTflite(bytes: Uint8Array, source: string): TfliteModel {
  const file = new FlatFile(bytes, source);
  if (bytes.length < 8) throw file.error(`only ${bytes.length} bytes`);
  const ident = String.fromCharCode(bytes[4], bytes[5], bytes[6], bytes[7]);
  if (ident !== TFLITE_FILE_IDENTIFIER) {
    throw file.error(`file identifier is ${JSON.stringify(ident)}, expected "${TFLITE_FILE_IDENTIFIER}" (schema v3)`);
  }
  const root = new Table(file, file.check(file.bb.readUint32(0), 4));
  const M = Field.Model;
  const version = root.uint32(M.version, 0);
  if (version !== 3) throw file.error(`schema version ${version}, only version 3 is supported`);

  const opcodes = root.tables(M.operator_codes).map((c) => {
    const f = Field.OperatorCode;
    return {
      builtinCode: resolveBuiltinCode(c.int8(f.deprecated_builtin_code, 0), c.int32(f.builtin_code, 0)),
      customCode: c.string(f.custom_code),
      version: c.int32(f.version, 1),
    };
  });

  const buffers = root.tables(M.buffers).map((b) => {
    const offset = b.uint64(Field.Buffer.offset, 0);
    if (offset > 1) {
      // Schema 3c: data of >2 GB models lives after the flatbuffer, addressed from the start of the file.
      const size = b.uint64(Field.Buffer.size, 0);
      file.check(offset, size);
      return bytes.subarray(offset, offset + size);
    }
    return b.bytes(Field.Buffer.data) ?? new Uint8Array(0);
  });

  const subgraphs = root.tables(M.subgraphs).map((g, gi): TfliteSubgraph => {
    const S = Field.SubGraph;
    const tensors = g.tables(S.tensors).map(readTensor);
    const operators = g.tables(S.operators).map((o, oi): TfliteOperator => {
      const O = Field.Operator;
      const opcodeIndex = o.uint32(O.opcode_index, 0);
      const code = opcodes[opcodeIndex];
      if (!code) throw file.error(`subgraph ${gi} operator ${oi} uses opcode_index ${opcodeIndex} of ${opcodes.length}`);
      const inputs = o.int32s(O.inputs) ?? [];
      const outputs = o.int32s(O.outputs) ?? [];
      for (const t of [...inputs, ...outputs]) {
        if (t < -1 || t >= tensors.length) throw file.error(`subgraph ${gi} operator ${oi} refers to tensor ${t} of ${tensors.length}`);
      }
      return {
        index: oi,
        builtinCode: code.builtinCode,
        customCode: code.builtinCode === BuiltinOperator.CUSTOM ? code.customCode : undefined,
        version: code.version,
        inputs,
        outputs,
        options: readOptions(o),
        customOptions: o.bytes(O.custom_options),
      };
    });
    for (const t of tensors) {
      if (t.buffer >= buffers.length) throw file.error(`tensor ${t.name} refers to buffer ${t.buffer} of ${buffers.length}`);
    }
    return {
      name: g.string(S.name) ?? "",
      tensors,
      inputs: g.int32s(S.inputs) ?? [],
      outputs: g.int32s(S.outputs) ?? [],
      operators,
    };
  });

  return { source, version, description: root.string(M.description) ?? "", subgraphs, buffers };
}
