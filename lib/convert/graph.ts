/**
 * The converter's intermediate representation: an ONNX graph as plain data (nodes, initializers, graph inputs and
 * outputs), plus the static shape of every value so the clean-up passes can reason about layouts.
 * convert.ts builds it from a TFLite model, optimize.ts rewrites it, onnx_writer.ts serializes it.
 */

/** A dimension: a fixed size, or a symbolic name (only "batch" here). */
export type Dim = number | string;

export type Attribute =
  | { name: string; type: "int"; value: number }
  | { name: string; type: "ints"; value: number[] }
  | { name: string; type: "float"; value: number }
  | { name: string; type: "string"; value: string };

export interface GraphNode {
  opType: string;
  name: string;
  /** Value names; "" marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
}

export type Initializer =
  | { name: string; dataType: "float32"; dims: number[]; data: Float32Array }
  | { name: string; dataType: "int64"; dims: number[]; data: BigInt64Array };

export interface GraphValue {
  name: string;
  shape: Dim[];
}

export interface Graph {
  name: string;
  inputs: GraphValue[];
  outputs: GraphValue[];
  nodes: GraphNode[];
  initializers: Map<string, Initializer>;
  /**
   * Static shape of every value the converter made, with the batch dimension (always dim 0) written as 1.
   * Not serialized; used by optimize.ts.
   */
  shapes: Map<string, number[]>;
  docString: string;
}

export const int = (name: string, value: number): Attribute => ({ name, type: "int", value });
export const ints = (name: string, value: number[]): Attribute => ({ name, type: "ints", value });
export const float = (name: string, value: number): Attribute => ({ name, type: "float", value });
export const str = (name: string, value: string): Attribute => ({ name, type: "string", value });

export function attribute(node: GraphNode, name: string): Attribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Node counts by op type and the number of float parameters: what the build prints and the manifest records. */
export interface GraphStats {
  nodes: number;
  byOp: Record<string, number>;
  params: number;
}

export function graphStats(graph: Graph): GraphStats {
  const byOp: Record<string, number> = {};
  for (const n of graph.nodes) byOp[n.opType] = (byOp[n.opType] ?? 0) + 1;
  let params = 0;
  for (const init of graph.initializers.values()) if (init.dataType === "float32") params += init.data.length;
  return { nodes: graph.nodes.length, byOp, params };
}
