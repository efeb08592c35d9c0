/**
 * An equivalent form of our ONNX graphs for onnxruntime's CPU provider, made when a CPU session is created (the
 * files in models/ stay the faithful conversion of MediaPipe's models). The WebGPU provider gets the same PRelu
 * rewrite for another reason (rewriteForWebGpu).
 *
 * Why: on x86 onnxruntime runs convolutions in its blocked NCHWc layout, and converts a tensor back to plain NCHW
 * (ReorderOutput, then ReorderInput after) around every operator that has no NCHWc kernel. In the face_landmark
 * graph those are PRelu (23 of them) and the three channel zero-Pads before residual Adds, and the Pads also stop
 * the Adds from being fused into the convolutions. Profiled at batch 8, reorders took 32% of the model's time and
 * PRelu 11% (bench/README.md). Rewritten with operators that have NCHWc kernels, the whole graph stays in NCHWc:
 *
 * - PRelu(x, a), a per channel  ->  Relu(x) + DepthwiseConv1x1_{-a}(Relu(DepthwiseConv1x1_{-1}(x)))
 *   For x >= 0: x + (-a)·0 = x; for x < 0: 0 + (-a)·(-x) = a·x. Negation is exact and (-a)·(-x) rounds exactly
 *   like a·x, so the values equal PRelu's exactly (only a zero may change sign); the second Relu fuses into its
 *   convolution and the Add into the last one.
 * - Pad(x) that only appends zero channels (C -> C + k)  ->  Conv1x1 with weights [I_C; 0] (exact: 1·x plus zeros).
 *
 * Before those two, channel counts that are not a multiple of onnxruntime's NCHWc block (16 floats with AVX-512,
 * else 8) are widened to the next multiple (widenChannels): a Conv (or depthwise Conv) whose input or output
 * channels are not a multiple gets no NCHWc kernel, and the tensors around it are reordered. BlazeFace's 24..88
 * channels are mostly not multiples of 16; MediaPipe's face_landmark's all are. Widened channels carry exact zeros
 * (zero weights and biases; Relu, MaxPool, Add and Pad keep zeros zero), and later convolutions read them with
 * zero weights, so every value of the original channels is computed from the same products. A channel Pad whose
 * input and output widen to the same count disappears (the zeros it appends are already there): in BlazeFace
 * short-range, 6 of 11, which were a quarter of its time as identity convolutions.
 *
 * Anything else is left as it is; a node the rewrite does not understand is never touched.
 */
import { readFileSync } from "node:fs";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

type GraphProto = onnxProto.onnx.IGraphProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** protobufjs leaves repeated fields possibly null in its types; decoded messages always have them. */
function ins(node: NodeProto): string[] {
  return node.input ?? [];
}
function outs(node: NodeProto): string[] {
  return node.output ?? [];
}

export interface RewriteReport {
  prelu: number;
  channelPads: number;
  /** Tensors whose channel count was widened to a multiple of the NCHWc block. */
  widened: number;
  /** Channel Pads that became no-ops once widened. */
  padsRemoved: number;
}

/**
 * onnxruntime's NCHWc block on this CPU, in floats: 16 with AVX-512F, else 8 (MLAS picks the widest vectors the
 * CPU has). Read from /proc/cpuinfo; elsewhere 8, which is also a divisor of 16.
 */
export function nchwcBlockSize(): number {
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(readFileSync("/proc/cpuinfo", "utf8")) ? 16 : 8;
  } catch {
    return 8;
  }
}

function floatValues(t: TensorProto): Float32Array | null {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) return null;
  if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
  if (!t.rawData || t.rawData.length % 4 !== 0) return null;
  const raw = t.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Float32Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

function int64Values(t: TensorProto): number[] | null {
  if (t.dataType !== onnx.TensorProto.DataType.INT64) return null;
  if (t.int64Data && t.int64Data.length > 0) return t.int64Data.map((v) => Number(v));
  if (!t.rawData || t.rawData.length % 8 !== 0) return null;
  const raw = t.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
}

function floatTensor(name: string, data: Float32Array, dims: number[]): TensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, rawData: raw });
}

function conv1x1(name: string, input: string, weights: string, output: string, group: number): NodeProto {
  const T = onnx.AttributeProto.AttributeType;
  const attribute = [onnx.AttributeProto.create({ name: "kernel_shape", type: T.INTS, ints: [1, 1] })];
  if (group > 1) attribute.push(onnx.AttributeProto.create({ name: "group", type: T.INT, i: group }));
  return onnx.NodeProto.create({ name, opType: "Conv", input: [input, weights], output: [output], attribute });
}

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/**
 * Channel count of every 4-D value we can follow from the graph input (NCHW): through Conv (weights' first
 * dimension), channel-preserving operators, and channel Pads. Values we cannot follow are absent.
 */
function channelCounts(graph: GraphProto, inits: Map<string, TensorProto>): Map<string, number> {
  const channels = new Map<string, number>();
  for (const input of graph.input ?? []) {
    const dims = input.type?.tensorType?.shape?.dim;
    if (input.name && dims && dims.length === 4 && dims[1].dimValue) channels.set(input.name, Number(dims[1].dimValue));
  }
  // GridSample keeps its input's channels (the attention model's feature-map crops).
  const preserving = new Set(["Relu", "PRelu", "MaxPool", "AveragePool", "Resize", "Add", "Sigmoid", "Tanh", "Identity", "GridSample"]);
  for (const node of graph.node ?? []) {
    const [x, second] = ins(node);
    const [y] = outs(node);
    const c = channels.get(x);
    if (node.opType === "Conv") {
      const dims = inits.get(second)?.dims;
      if (dims && dims.length === 4) channels.set(y, Number(dims[0]));
    } else if (preserving.has(node.opType ?? "") && c !== undefined) {
      channels.set(y, c);
    } else if (node.opType === "Pad" && c !== undefined) {
      const pads = inits.get(second);
      const p = pads ? int64Values(pads) : null;
      if (p && p.length === 8) channels.set(y, c + p[1] + p[5]);
    }
  }
  return channels;
}

/** Per-channel slopes of a PRelu (shape [C,1,1] or [1,C,1,1] against an NCHW input), else null. */
function perChannelSlopes(slope: TensorProto | undefined, channels: number | undefined): Float32Array | null {
  if (!slope || channels === undefined) return null;
  const dims = (slope.dims ?? []).map(Number);
  const ok = (dims.length === 3 && dims[0] === channels && dims[1] === 1 && dims[2] === 1) || (dims.length === 4 && dims[0] === 1 && dims[1] === channels && dims[2] === 1 && dims[3] === 1);
  return ok ? floatValues(slope) : null;
}

/** True when a Pad only appends zeros along the channel axis (constant mode, value 0). */
function appendedChannels(node: NodeProto, inits: Map<string, TensorProto>): number | null {
  const mode = attr(node, "mode");
  if (mode && new TextDecoder().decode(mode.s ?? new Uint8Array()) !== "constant") return null;
  const input = ins(node);
  if (input.length > 3 && input[3]) return null; // axes
  if (input.length > 2 && input[2]) {
    const value = inits.get(input[2]);
    const v = value ? floatValues(value) : null;
    if (!v || v.length !== 1 || v[0] !== 0) return null;
  }
  const padsInit = inits.get(input[1]);
  const pads = padsInit ? int64Values(padsInit) : null;
  if (!pads || pads.length !== 8) return null;
  if (pads.some((p, i) => i !== 5 && p !== 0) || pads[5] <= 0) return null;
  return pads[5];
}

/** Operators through which a tensor's channel count passes unchanged, elementwise per channel (zeros stay zeros). */
const CHANNELWISE = new Set(["Relu", "MaxPool", "Add", "PRelu", "Resize"]);

/**
 * Widens the channels of 4-D tensors to multiples of `block` where every producer and consumer can follow
 * (file comment). Rewrites graph.node and adds initializers in place; returns how many tensors were widened and
 * how many Pads became Identity.
 */
export function widenChannels(graph: GraphProto, inits: Map<string, TensorProto>, block: number, fresh: (base: string) => string): { widened: number; padsRemoved: number } {
  const nodes = graph.node ?? [];
  const channels = channelCounts(graph, inits);
  const up = (c: number) => Math.ceil(c / block) * block;
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const x of ins(n)) consumers.set(x, [...(consumers.get(x) ?? []), n]);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  const kind = (n: NodeProto): "conv" | "depthwise" | "channelwise" | "pad" | null => {
    if (n.domain) return null;
    if (n.opType === "Conv") {
      const w = inits.get(ins(n)[1])?.dims?.map(Number);
      const group = Number(attr(n, "group")?.i ?? 1);
      if (!w || w.length !== 4) return null;
      if (group === 1) return "conv";
      return group === w[0] && w[1] === 1 && channels.get(ins(n)[0]) === group ? "depthwise" : null;
    }
    if (CHANNELWISE.has(n.opType ?? "")) {
      // Resize by explicit output sizes names the channel count; Add/Relu/MaxPool must see only activations
      // (an initializer broadcast against the channels would not match a widened tensor).
      if (n.opType === "Resize") return ins(n)[3] ? null : "channelwise";
      if (n.opType === "PRelu") return "channelwise";
      return ins(n).every((t) => channels.has(t)) ? "channelwise" : null;
    }
    if (n.opType === "Pad" && appendedChannels(n, inits) !== null) return "pad";
    return null;
  };
  // Candidates: produced by a node we can rewrite, channel count known and not a multiple of the block.
  const wide = new Set<string>();
  for (const n of nodes) {
    const [y] = outs(n);
    const c = channels.get(y);
    if (kind(n) !== null && c !== undefined && c % block !== 0 && !graphOutputs.has(y)) wide.add(y);
  }
  // Drop candidates until every node sees consistent widths.
  for (let changed = true; changed; ) {
    changed = false;
    const drop = (t: string) => {
      if (wide.delete(t)) changed = true;
    };
    for (const t of [...wide]) if ((consumers.get(t) ?? []).some((n) => kind(n) === null)) drop(t);
    for (const n of nodes) {
      const k = kind(n);
      const [x] = ins(n);
      const [y] = outs(n);
      if (k === "channelwise" || k === "depthwise") {
        // All 4-D tensors of the node (same channel count) widen together or not at all.
        const group = [...ins(n).filter((t) => channels.get(t) === channels.get(y)), y];
        if (group.some((t) => wide.has(t)) && !group.every((t) => wide.has(t) || channels.get(t)! % block === 0)) group.forEach(drop);
      } else if (k === "pad") {
        const cx = channels.get(x)!;
        const cy = channels.get(y)!;
        if ((wide.has(x) ? up(cx) : cx) > (wide.has(y) ? up(cy) : cy)) drop(x);
      }
    }
  }
  const width = (t: string): number => (wide.has(t) ? up(channels.get(t)!) : channels.get(t)!);
  let padsRemoved = 0;
  const rewritten: NodeProto[] = [];
  for (const n of nodes) {
    const k = kind(n);
    const [x, second, bias] = ins(n);
    const [y] = outs(n);
    const touches = wide.has(y) || wide.has(x);
    if (!touches || k === "channelwise" && n.opType !== "PRelu") {
      rewritten.push(n);
      continue;
    }
    if (k === "conv" || k === "depthwise") {
      const w = inits.get(second)!;
      const [o, i, kh, kw] = (w.dims ?? []).map(Number);
      const values = floatValues(w);
      if (!values) {
        rewritten.push(n);
        continue;
      }
      const o2 = width(y);
      const i2 = k === "depthwise" ? 1 : width(x);
      const w2 = new Float32Array(o2 * i2 * kh * kw);
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) w2.set(values.subarray((a * i + b) * kh * kw, (a * i + b + 1) * kh * kw), (a * i2 + b) * kh * kw);
      const wName = fresh(`${second}/widened`);
      graph.initializer!.push(floatTensor(wName, w2, [o2, i2, kh, kw]));
      const input = [x, wName];
      if (bias) {
        const b = inits.get(bias);
        const bv = b ? floatValues(b) : null;
        if (!bv) throw new Error(`widenChannels: bias ${bias} of ${n.name} is not a float initializer`);
        const b2 = new Float32Array(o2);
        b2.set(bv);
        const bName = fresh(`${bias}/widened`);
        graph.initializer!.push(floatTensor(bName, b2, [o2]));
        input.push(bName);
      }
      const attribute = (n.attribute ?? []).map((a) => (a.name === "group" && k === "depthwise" ? onnx.AttributeProto.create({ ...a, i: o2 }) : a));
      rewritten.push(onnx.NodeProto.create({ ...n, input, attribute }));
    } else if (k === "pad") {
      const extra = width(y) - width(x);
      if (extra === 0) {
        rewritten.push(onnx.NodeProto.create({ name: n.name, opType: "Identity", input: [x], output: [y] }));
        padsRemoved++;
      } else {
        const pName = fresh(`${second}/widened`);
        const pads = new BigInt64Array(8);
        pads[5] = BigInt(extra);
        graph.initializer!.push(onnx.TensorProto.create({ name: pName, dataType: onnx.TensorProto.DataType.INT64, dims: [8], rawData: new Uint8Array(pads.buffer) }));
        rewritten.push(onnx.NodeProto.create({ ...n, input: [x, pName, ...ins(n).slice(2)] }));
      }
    } else if (n.opType === "PRelu") {
      const slopes = perChannelSlopes(inits.get(second), channels.get(x));
      if (!slopes) throw new Error(`widenChannels: PRelu ${n.name} has no per-channel slopes`);
      const s2 = new Float32Array(width(x));
      s2.set(slopes);
      const sName = fresh(`${second}/widened`);
      graph.initializer!.push(floatTensor(sName, s2, [s2.length, 1, 1]));
      rewritten.push(onnx.NodeProto.create({ ...n, input: [x, sName] }));
    } else {
      rewritten.push(n);
    }
  }
  graph.node = rewritten;
  for (const t of graph.initializer ?? []) inits.set(t.name ?? "", t);
  return { widened: wide.size, padsRemoved };
}

/**
 * The graph for onnxruntime's WebGPU provider: the same exact PRelu (and channel Pad) rewrite, without widening
 * (the NCHWc block is the CPU's). That provider has no PRelu kernel, so it places every PRelu on the CPU, with a
 * copy from the GPU and back around each: face_landmark's 23 (its verbose log on the lent H100). Without them the
 * whole graph stays on the GPU: batch 50, 181 -> 2075 faces/s (bench/README.md, GPU check).
 */
export function rewriteForWebGpu(bytes: Uint8Array): { bytes: Uint8Array; report: RewriteReport } {
  return rewriteForCpu(bytes, { block: 1 });
}

/** Rewrites `bytes` (an ONNX model) as described in the file comment; returns the new bytes and what changed. */
export function rewriteForCpu(bytes: Uint8Array, options: { block?: number } = {}): { bytes: Uint8Array; report: RewriteReport } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error("ONNX model has no graph");
  graph.initializer ??= [];
  const initializers = graph.initializer;
  const inits = new Map(initializers.map((t) => [t.name ?? "", t]));
  const taken = new Set<string>([...inits.keys(), ...(graph.node ?? []).flatMap((n) => [...ins(n), ...outs(n)])]);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const { widened, padsRemoved } = widenChannels(graph, inits, options.block ?? nchwcBlockSize(), fresh);
  // Shapes recorded for the old widths would contradict the widened graph; onnxruntime infers them again.
  if (widened > 0) graph.valueInfo = [];
  const channels = channelCounts(graph, inits);
  const report: RewriteReport = { prelu: 0, channelPads: 0, widened, padsRemoved };
  const nodes: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    const [x, second] = ins(node);
    const [y] = outs(node);
    const label = node.name || y;
    if (node.opType === "PRelu" && !node.domain) {
      const c = channels.get(x);
      const slopes = perChannelSlopes(inits.get(second), c);
      if (slopes && c !== undefined) {
        const id = fresh(`${label}/nchwc`);
        const minusOne = fresh(`${id}/minus_one`);
        const minusSlope = fresh(`${id}/minus_slope`);
        initializers.push(floatTensor(minusOne, new Float32Array(c).fill(-1), [c, 1, 1, 1]));
        initializers.push(floatTensor(minusSlope, Float32Array.from(slopes, (a) => -a), [c, 1, 1, 1]));
        const pos = fresh(`${id}/relu`);
        const neg = fresh(`${id}/neg`);
        const negRelu = fresh(`${id}/neg_relu`);
        const scaled = fresh(`${id}/scaled`);
        nodes.push(onnx.NodeProto.create({ name: pos, opType: "Relu", input: [x], output: [pos] }));
        nodes.push(conv1x1(neg, x, minusOne, neg, c));
        nodes.push(onnx.NodeProto.create({ name: negRelu, opType: "Relu", input: [neg], output: [negRelu] }));
        nodes.push(conv1x1(scaled, negRelu, minusSlope, scaled, c));
        nodes.push(onnx.NodeProto.create({ name: fresh(`${id}/add`), opType: "Add", input: [scaled, pos], output: [y] }));
        report.prelu++;
        continue;
      }
    }
    if (node.opType === "Pad" && !node.domain) {
      const c = channels.get(x);
      const extra = appendedChannels(node, inits);
      if (c !== undefined && extra !== null) {
        const out = c + extra;
        const w = new Float32Array(out * c);
        for (let i = 0; i < c; i++) w[i * c + i] = 1;
        const weights = fresh(`${label}/identity_pad`);
        initializers.push(floatTensor(weights, w, [out, c, 1, 1]));
        nodes.push(conv1x1(fresh(`${label}/as_conv`), x, weights, y, 1));
        report.channelPads++;
        continue;
      }
    }
    nodes.push(node);
  }
  graph.node = nodes;
  // PRelu slopes and Pad amounts that no node reads any more would only draw onnxruntime warnings.
  const used = new Set(nodes.flatMap(ins));
  graph.initializer = initializers.filter((t) => used.has(t.name ?? ""));
  return { bytes: onnx.ModelProto.encode(model).finish(), report };
}
