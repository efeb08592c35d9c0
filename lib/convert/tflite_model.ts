/**
 * The TFLite model as the converter sees it: plain objects that tflite_reader.ts fills from the flatbuffer
 * (schema v3 subset; field ids and enum values in tflite_schema.ts).
 */
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
