/**
 * Clean-up passes over the converted graph, so onnxruntime sees no layout shuffles it does not need:
 * - a Transpose that only moves size-1 dims is a Reshape (e.g. the landmark head [b,1404,1,1] -> [b,1,1,1404]);
 * - Reshape(Reshape(x)) is one Reshape; a Reshape to the shape it already has is nothing;
 * - nodes and initializers nobody reads are dropped.
 * The batch dimension (dim 0) is treated as "not 1" everywhere, since it is dynamic at run time.
 */
import type { Graph, GraphNode, Initializer } from "./graph.js";

function consumers(graph: Graph): Map<string, GraphNode[]> {
  const map = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      const list = map.get(i);
      if (list) list.push(n);
      else map.set(i, [n]);
    }
  }
  return map;
}

function producers(graph: Graph): Map<string, GraphNode> {
  const map = new Map<string, GraphNode>();
  for (const n of graph.nodes) for (const o of n.outputs) map.set(o, n);
  return map;
}

function freshName(graph: Graph, base: string): string {
  const taken = new Set<string>([...graph.initializers.keys(), ...graph.inputs.map((i) => i.name)]);
  for (const n of graph.nodes) for (const o of n.outputs) taken.add(o);
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}__${i}`;
  return name;
}

function addShapeInitializer(graph: Graph, base: string, dims: number[]): string {
  const name = freshName(graph, base);
  const init: Initializer = { name, dataType: "int64", dims: [dims.length], data: BigInt64Array.from(dims.map((d) => BigInt(d))) };
  graph.initializers.set(name, init);
  return name;
}

/** Transpose -> Reshape when the permutation keeps dim 0 (batch) first and the other non-1 dims in order. */
function transposesToReshapes(graph: Graph): boolean {
  let changed = false;
  for (const n of graph.nodes) {
    if (n.opType !== "Transpose") continue;
    const perm = n.attributes.find((a) => a.name === "perm");
    const shape = graph.shapes.get(n.inputs[0]);
    if (!perm || perm.type !== "ints" || !shape || perm.value[0] !== 0) continue;
    const moved = perm.value.slice(1).filter((p) => shape[p] !== 1);
    if (moved.some((p, i) => i > 0 && p < moved[i - 1])) continue;
    const target = [0, ...perm.value.slice(1).map((p) => shape[p])];
    n.opType = "Reshape";
    n.attributes = [];
    n.inputs = [n.inputs[0], addShapeInitializer(graph, `${n.outputs[0]}/shape`, target)];
    changed = true;
  }
  return changed;
}

function reshapeTarget(graph: Graph, n: GraphNode): bigint[] | undefined {
  const init = graph.initializers.get(n.inputs[1]);
  return init && init.dataType === "int64" ? Array.from(init.data) : undefined;
}

/** Reshape(Reshape(x, a), b) -> Reshape(x, b) when the inner result has no other reader. */
function mergeReshapes(graph: Graph): boolean {
  const prod = producers(graph);
  const cons = consumers(graph);
  const outputs = new Set(graph.outputs.map((o) => o.name));
  let changed = false;
  for (const n of graph.nodes) {
    if (n.opType !== "Reshape") continue;
    const inner = prod.get(n.inputs[0]);
    if (!inner || inner.opType !== "Reshape" || outputs.has(inner.outputs[0])) continue;
    if ((cons.get(inner.outputs[0]) ?? []).length !== 1) continue;
    const target = reshapeTarget(graph, n);
    // A 0 past dim 0 would copy a dim of the intermediate, which may differ from x's.
    if (!target || target.slice(1).some((d) => d === 0n)) continue;
    n.inputs = [inner.inputs[0], n.inputs[1]];
    changed = true;
  }
  return changed;
}

/**
 * Drops Reshapes whose output has the input's static shape. When the output is a graph output, the producer of
 * the input writes it directly instead (if nothing else reads the input).
 */
function dropNoOpReshapes(graph: Graph): boolean {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  let changed = false;
  for (const n of [...graph.nodes]) {
    if (n.opType !== "Reshape") continue;
    const from = graph.shapes.get(n.inputs[0]);
    const to = graph.shapes.get(n.outputs[0]);
    if (!from || !to || from.join(",") !== to.join(",")) continue;
    const [input, output] = [n.inputs[0], n.outputs[0]];
    if (outputs.has(output)) {
      const producer = producers(graph).get(input);
      const readers = consumers(graph).get(input) ?? [];
      if (!producer || graphInputs.has(input) || outputs.has(input) || readers.length !== 1) continue;
      producer.outputs = producer.outputs.map((o) => (o === input ? output : o));
    } else {
      for (const m of graph.nodes) m.inputs = m.inputs.map((i) => (i === output ? input : i));
    }
    graph.nodes.splice(graph.nodes.indexOf(n), 1);
    changed = true;
  }
  return changed;
}

/** Removes nodes whose outputs reach no graph output, then initializers no node reads. */
function removeDeadCode(graph: Graph): boolean {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const keep: GraphNode[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.push(n);
    for (const input of n.inputs) if (input) needed.add(input);
  }
  keep.reverse();
  const changed = keep.length !== graph.nodes.length;
  graph.nodes = keep;
  for (const name of [...graph.initializers.keys()]) if (!needed.has(name)) graph.initializers.delete(name);
  return changed;
}

/** Runs all passes to a fixed point; rewrites `graph` in place and returns it. */
export function optimizeGraph(graph: Graph): Graph {
  for (let round = 0; round < 100; round++) {
    let changed = transposesToReshapes(graph);
    changed = mergeReshapes(graph) || changed;
    changed = dropNoOpReshapes(graph) || changed;
    changed = removeDeadCode(graph) || changed;
    if (!changed) return graph;
  }
  throw new Error(`optimizeGraph: no fixed point on graph ${graph.name}`);
}
