/**
 * One model call: what a loaded model looks like to its users (ModelSession), its inputs and outputs, and how a
 * batch is cut into chunks, both for one session (runChunked, on whichever thread holds it) and across the
 * inference threads' copies (balancedChunks). Pure apart from onnxruntime's session.run.
 */
import * as ort from "onnxruntime-node";
import type { Device } from "./devices.js";

export type SessionThread = "worker" | "main";

/**
 * Where a call's outputs go, by output name: arrays of exactly batch x (values per item). On shared memory
 * (allocateSharedFloat32) the inference threads write them in place: nothing is allocated or moved per call on
 * the calling thread. Without them, each call returns new arrays.
 */
export type OutputBuffers = Record<string, Float32Array>;

/** One model call's outputs (by output name, batch-major) and how long the call took inside onnxruntime. */
export interface ModelRun {
  outputs: Record<string, Float32Array>;
  ms: number;
}

/** A loaded model, wherever it runs. */
export interface ModelSession {
  readonly device: Device;
  readonly thread: SessionThread;
  readonly inputName: string;
  readonly outputNames: readonly string[];
  /**
   * Runs the model on `input` (float32, shape `dims`). The input must not be written until the promise settles.
   * Inputs from allocateSharedFloat32 reach the inference thread without a copy.
   */
  run(input: Float32Array, dims: number[], into?: OutputBuffers): Promise<ModelRun>;
  /** Loads every copy of the model now (copies beyond the first are otherwise loaded on first need). */
  loadAll(): Promise<void>;
  /** Copies of the model loaded so far (one per inference thread that holds it). */
  readonly copies: number;
  release(): Promise<void>;
}

/** Checks that `input` holds exactly a [batch, ...] tensor of `dims`; returns the batch and the values per item. */
export function checkInput(input: Float32Array, dims: readonly number[]): { batch: number; item: number } {
  const batch = dims[0];
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`model input batch must be a positive integer, got ${batch}`);
  const item = dims.slice(1).reduce((a, b) => a * b, 1);
  if (input.length !== batch * item) throw new Error(`model input holds ${input.length} values, shape [${dims.join(",")}] needs ${batch * item}`);
  return { batch, item };
}

/** Checks that `into` has an array of whole items for every output of a batch of `batch`. */
export function checkOutputs(names: readonly string[], into: OutputBuffers, batch: number): void {
  for (const name of names) {
    if (!into[name] || into[name].length % batch !== 0) throw new Error(`output buffer ${name}: ${into[name]?.length ?? "none"} values for a batch of ${batch}`);
  }
}

/**
 * Runs `input` ([batch, ...dims]) through `session` in chunks of at most `maxBatch` items, concatenating each
 * output along the batch dimension. Shared-memory inputs (which onnxruntime-node refuses) are copied chunk by
 * chunk into `scratch.buffer`, which grows to one chunk and is then reused. Used on both threads.
 */
export async function runChunked(
  session: ort.InferenceSession,
  input: Float32Array,
  dims: readonly number[],
  maxBatch: number,
  scratch: { buffer: Float32Array },
  into?: OutputBuffers,
): Promise<ModelRun> {
  const { batch, item } = checkInput(input, dims);
  if (into) checkOutputs(session.outputNames, into, batch);
  const step = Math.min(maxBatch, batch);
  const inputName = session.inputNames[0];
  let outputs = into;
  let ms = 0;
  for (let start = 0; start < batch; start += step) {
    const n = Math.min(step, batch - start);
    const data = chunkOf(input, start, n, item, step, scratch);
    const t0 = performance.now();
    const out = await session.run({ [inputName]: new ort.Tensor("float32", data, [n, ...dims.slice(1)]) });
    ms += performance.now() - t0;
    if (!outputs && n === batch) {
      // One call and nowhere given to put it: hand onnxruntime's own output arrays over.
      return { outputs: Object.fromEntries(session.outputNames.map((name) => [name, out[name].data as Float32Array])), ms };
    }
    outputs ??= Object.fromEntries(session.outputNames.map((name) => [name, new Float32Array(((out[name].data as Float32Array).length / n) * batch)]));
    for (const name of session.outputNames) {
      const part = out[name].data as Float32Array;
      const perItem = outputs[name].length / batch;
      if (part.length !== perItem * n) throw new Error(`output ${name}: ${part.length} values for ${n} items, the buffer holds ${perItem} per item`);
      outputs[name].set(part, perItem * start);
    }
  }
  return { outputs: outputs!, ms };
}

/**
 * Items [start, start + n) of `input`, as onnxruntime-node accepts them: it refuses tensors over shared memory,
 * so those are copied into `scratch`, grown once to a chunk of `step` items and reused.
 */
function chunkOf(input: Float32Array, start: number, n: number, item: number, step: number, scratch: { buffer: Float32Array }): Float32Array {
  const data = input.subarray(start * item, (start + n) * item);
  if (!(data.buffer instanceof SharedArrayBuffer)) return data;
  if (scratch.buffer.length < data.length) scratch.buffer = new Float32Array(step * item);
  scratch.buffer.set(data);
  return scratch.buffer.subarray(0, data.length);
}

/**
 * Float32 memory for model inputs, backed by a SharedArrayBuffer so that the inference thread reads it in place.
 * Allocate once per batch buffer and reuse it.
 */
export function allocateSharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/**
 * Splits `batch` items into contiguous chunks of at most `maxChunk` for `workers` threads: the number of chunks
 * is the smallest multiple of `workers` that respects maxChunk (or batch, when smaller), and sizes differ by at
 * most one, e.g. 50 for 2 threads with chunks of at most 8: 8 chunks of 6 or 7. Every thread gets the same
 * number of chunks of about the same size, so the threads finish together.
 */
export function balancedChunks(batch: number, maxChunk: number, workers: number): Array<{ start: number; count: number }> {
  const perWorker = Math.ceil(batch / (workers * maxChunk));
  const parts = Math.min(batch, perWorker * workers);
  const chunks: Array<{ start: number; count: number }> = [];
  for (let p = 0; p < parts; p++) {
    const start = Math.floor((batch * p) / parts);
    chunks.push({ start, count: Math.floor((batch * (p + 1)) / parts) - start });
  }
  return chunks;
}
