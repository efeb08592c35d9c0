/**
 * Serializes the converter's graph as an ONNX ModelProto, with the protobufjs classes of the onnx-proto package
 * (ONNX 1.10 schema, IR version 8). Tensors are written as little-endian raw_data. The output is deterministic:
 * the same graph gives the same bytes, so the build can record and check its sha256.
 */
import onnxProto from "onnx-proto";

import type { Attribute, Dim, Graph, GraphValue, Initializer } from "./graph.js";

const { onnx } = onnxProto;

/** ONNX IR version 8 (ONNX 1.10) is the first to allow opset 17's companions; onnxruntime 1.23 reads up to 11. */
export const ONNX_IR_VERSION = 8;
/** Default-domain opset: all ops we emit (Conv, MaxPool, Pad, Resize, PRelu, Reshape...) are stable there. */
export const ONNX_OPSET = 17;

export interface WriteOptions {
  producerVersion: string;
  /** Free-form key/value pairs stored in the model (e.g. where the weights came from). */
  metadata?: Record<string, string>;
}

function dim(d: Dim): InstanceType<typeof onnx.TensorShapeProto.Dimension> {
  return typeof d === "number" ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d });
}

function valueInfo(v: GraphValue) {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: onnx.TensorShapeProto.create({ dim: v.shape.map(dim) }),
      }),
    }),
  });
}

function rawData(init: Initializer): Uint8Array {
  if (init.dataType === "float32") {
    const out = new Uint8Array(init.data.length * 4);
    const view = new DataView(out.buffer);
    init.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return out;
  }
  const out = new Uint8Array(init.data.length * 8);
  const view = new DataView(out.buffer);
  init.data.forEach((v, i) => view.setBigInt64(8 * i, v, true));
  return out;
}

function tensor(init: Initializer) {
  return onnx.TensorProto.create({
    name: init.name,
    dims: init.dims,
    dataType: init.dataType === "float32" ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
    rawData: rawData(init),
  });
}

function attribute(a: Attribute) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case "int":
      return onnx.AttributeProto.create({ name: a.name, type: T.INT, i: a.value });
    case "ints":
      return onnx.AttributeProto.create({ name: a.name, type: T.INTS, ints: a.value });
    case "float":
      return onnx.AttributeProto.create({ name: a.name, type: T.FLOAT, f: a.value });
    case "string":
      return onnx.AttributeProto.create({ name: a.name, type: T.STRING, s: new TextEncoder().encode(a.value) });
  }
}

/** The ONNX file bytes of `graph`. */
export function encodeOnnx(graph: Graph, options: WriteOptions): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: ONNX_OPSET })],
    producerName: "facemesh tflite2onnx",
    producerVersion: options.producerVersion,
    docString: graph.docString,
    graph: onnx.GraphProto.create({
      name: graph.name,
      node: graph.nodes.map((n) =>
        onnx.NodeProto.create({ name: n.name, opType: n.opType, input: n.inputs, output: n.outputs, attribute: n.attributes.map(attribute) }),
      ),
      initializer: [...graph.initializers.values()].map(tensor),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    }),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Parses ONNX bytes back (for tests and tools that inspect what the build wrote). */
export function decodeOnnx(bytes: Uint8Array) {
  return onnx.ModelProto.decode(bytes);
}
