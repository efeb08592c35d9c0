/**
 * One onnxruntime-node session per model, created once and reused for every batch.
 *
 * Devices: "cpu" (always there), "cuda" (onnxruntime-node's CUDA provider; its libraries are installed only when
 * the user opts in with ONNXRUNTIME_NODE_INSTALL=cuda12 at `npm ci`), "webgpu" (bundled with onnxruntime-node on
 * Linux; needs a Vulkan loader and a GPU). A device *list* such as "cuda,cpu" means "the first that loads":
 * the fallback is announced, never silent. A single device that cannot load is an error.
 *
 * Where the model runs: onnxruntime-node computes `session.run` synchronously on the calling thread (the promise
 * it returns is settled after the work, from a setImmediate), so a session on the JS thread blocks everything
 * else (reading the decoder's pipe, cropping, writing) for the whole call. By default the sessions live on
 * inference threads (session_worker.ts) and `run` is truly asynchronous: the pipeline crops batch k+1 while
 * batch k is in the model. On the CPU there is one thread per core, each with its own copy of the session and
 * one onnxruntime thread (threadLayout), and a batch's chunks are shared out among them: data parallelism beats
 * onnxruntime's own intra-op threads on this small model. Inputs are passed through shared memory
 * (allocateSharedFloat32), outputs are moved back without a copy. `thread: "main"` keeps the session on the
 * calling thread (for measurements).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { rewriteForCpu, rewriteForWebGpu } from "./cpu_graph.js";
import type { WorkerReply, WorkerRequest } from "./session_worker.js";

import type { Device } from "./devices.js";
export { DEVICES, parseDevices, type Device } from "./devices.js";

export interface SessionSettings {
  /** Preference list, first that loads wins. */
  devices: Device[];
  /**
   * CPU threads for inference in total; default: all cores (defaultThreads). On the inference threads (thread
   * "worker") the CPU provider runs them as threadLayout says: several copies of the session, each with its own
   * thread, sharing the chunks of a batch. On the calling thread (thread "main") and on GPUs: one session with
   * this many intra-op threads.
   */
  threads?: number;
  /** Copies of a CPU session on inference threads, overriding threadLayout (for measurements). */
  workers?: number;
  /** Told about a fallback from a preferred device to the next. */
  onFallback?: (message: string) => void;
  /**
   * "worker" (default): the shared inference threads (the calling thread when the compiled worker is missing,
   * i.e. when running from the TypeScript sources); "main": the calling thread (blocks it during run).
   */
  thread?: SessionThread;
  /**
   * Whether onnxruntime's intra-op threads busy-wait for work between operators (its default). Default false:
   * see sessionOptions.
   */
  spinning?: boolean;
  /**
   * Largest batch handed to onnxruntime in one call; bigger batches are run in chunks of this size (outputs are
   * concatenated, results are the same). Default: CPU_MODEL_BATCH on the CPU, no limit on GPUs.
   */
  modelBatch?: number;
  /**
   * Give the provider its equivalent of the graph (cpu_graph.ts): on the CPU the NCHWc-friendly one, on webgpu
   * the one without PRelu (which that provider leaves to the CPU). Default true.
   */
  graphRewrite?: boolean;
}

/**
 * On the CPU, small model calls are faster per face than large ones: a chunk's activations stay in the caches
 * (bench/README.md: measured per batch size). The pipeline's batch_size still sets how many frames are
 * prepared and written together.
 */
export const CPU_MODEL_BATCH = 8;

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

/**
 * What onnxruntime is given for `modelPath` on `device`: the file itself, or (unless turned off) the bytes of
 * the provider's equivalent graph (cpu_graph.ts): NCHWc-friendly on the CPU, PRelu-free on webgpu. CUDA has
 * kernels for every operator of ours and gets the file. Used on both threads.
 */
export async function modelSource(modelPath: string, device: Device, graphRewrite: boolean): Promise<string | Uint8Array> {
  if (device === "cuda" || !graphRewrite) return modelPath;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (err) {
    throw new Error(`cannot read ${modelPath}: ${(err as Error).message}`);
  }
  return device === "cpu" ? rewriteForCpu(bytes).bytes : rewriteForWebGpu(bytes).bytes;
}

/** The model-call batch limit for a device (SessionSettings.modelBatch). */
export function modelBatchFor(device: Device, modelBatch: number | undefined): number {
  if (modelBatch !== undefined) {
    if (!(Number.isInteger(modelBatch) || modelBatch === Number.POSITIVE_INFINITY) || modelBatch < 1) {
      throw new Error(`modelBatch must be a positive integer (or Infinity: no limit), got ${modelBatch}`);
    }
    return modelBatch;
  }
  return device === "cpu" ? CPU_MODEL_BATCH : Number.POSITIVE_INFINITY;
}

/** Checks that `input` holds exactly a [batch, ...] tensor of `dims`; returns the batch and the values per item. */
export function checkInput(input: Float32Array, dims: readonly number[]): { batch: number; item: number } {
  const batch = dims[0];
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`model input batch must be a positive integer, got ${batch}`);
  const item = dims.slice(1).reduce((a, b) => a * b, 1);
  if (input.length !== batch * item) throw new Error(`model input holds ${input.length} values, shape [${dims.join(",")}] needs ${batch * item}`);
  return { batch, item };
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

/** Checks that `into` has an array of whole items for every output of a batch of `batch`. */
function checkOutputs(names: readonly string[], into: OutputBuffers, batch: number): void {
  for (const name of names) {
    if (!into[name] || into[name].length % batch !== 0) throw new Error(`output buffer ${name}: ${into[name]?.length ?? "none"} values for a batch of ${batch}`);
  }
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


function providerHint(device: Device): string {
  switch (device) {
    case "cuda":
      return "install onnxruntime-node's CUDA 12 libraries with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` (needs an NVIDIA driver and CUDA 12 / cuDNN 9 runtime)";
    case "webgpu":
      return "WebGPU needs a GPU with a Vulkan driver and the Vulkan loader (Debian: libvulkan1 and mesa-vulkan-drivers or the NVIDIA driver)";
    case "cpu":
      return "the CPU provider ships with onnxruntime-node; reinstall with npm ci";
  }
}


/** Inference threads by default: all cores (measured end to end in bench/README.md). */
export function defaultThreads(): number {
  return os.availableParallelism();
}

/** At most this many copies of a CPU session (a batch of 50 in chunks of 8 has 7 chunks to share out). */
export const MAX_CPU_WORKERS = 8;

/**
 * How `threads` CPU threads are used on the inference threads: one session copy per thread (up to
 * MAX_CPU_WORKERS; `workers` overrides that, for measurements), each with threads / workers intra-op threads
 * (at least one). Measured on 2 cores (bench/README.md): a
 * batch of 50 in chunks of 8 runs at ~1540 faces/s on two single-threaded copies against ~1150 on one copy
 * with two intra-op threads, whose threads synchronise after each of the graph's ~100 small operators.
 */
export function threadLayout(threads: number, workers = Math.min(threads, MAX_CPU_WORKERS)): { workers: number; intraOp: number } {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be a positive integer, got ${workers}`);
  return { workers, intraOp: Math.max(1, Math.floor(threads / workers)) };
}

/**
 * Session options. Each choice was measured on the 2-core bench machine (bench/README.md has the numbers):
 * - graph optimization "all" (constant folding, Conv+Add fusion, and on x86 the NCHWc blocked layout);
 * - sequential execution, one inter-op thread: one model call at a time, nothing to run in parallel inside it;
 * - no spinning: by default onnxruntime's pool threads busy-wait between operators, which takes the core away
 *   from ffmpeg and from the JS thread preparing the next batch (end to end on 2 quiet cores: detection mode
 *   204-242 vs 165-185 fps, a third less CPU; a model alone gains from it, 1.3x, when nothing else runs).
 */
export function sessionOptions(device: Device, settings: { threads: number; spinning?: boolean }): ort.InferenceSession.SessionOptions {
  const spin = settings.spinning === true ? "1" : "0";
  return {
    executionProviders: [device],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    interOpNumThreads: 1,
    intraOpNumThreads: settings.threads,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}

/** Creates a session on the first device of the list that loads. */
export async function createSession(modelPath: string, settings: SessionSettings): Promise<ModelSession> {
  const failures: string[] = [];
  for (const device of settings.devices) {
    try {
      const threads = settings.threads ?? defaultThreads();
      const onWorker = (settings.thread ?? "worker") === "worker" && workerAvailable();
      // Copies of the session only on the CPU: a GPU gets whole batches in one call.
      const { workers, intraOp } = onWorker && device === "cpu" ? threadLayout(threads, settings.workers) : { workers: 1, intraOp: threads };
      const options = sessionOptions(device, { threads: intraOp, spinning: settings.spinning });
      const maxBatch = modelBatchFor(device, settings.modelBatch);
      const load: LoadSpec = { modelPath, device, options, maxBatch, graphRewrite: settings.graphRewrite ?? true };
      const session = onWorker ? await WorkerSession.load(load, workers) : await MainThreadSession.load(load);
      if (failures.length > 0) settings.onFallback?.(`${failures.join("; ")}; using ${device}`);
      return session;
    } catch (err) {
      const reason = (err as Error).message.split("\n")[0];
      failures.push(`device ${device} could not load ${modelPath}: ${reason} (${providerHint(device)})`);
    }
  }
  throw new Error(failures.join("; "));
}

/** Everything needed to create one session. */
interface LoadSpec {
  modelPath: string;
  device: Device;
  options: ort.InferenceSession.SessionOptions;
  maxBatch: number;
  graphRewrite: boolean;
}

/** A session on the calling thread. */
class MainThreadSession implements ModelSession {
  readonly thread = "main";
  private readonly scratch = { buffer: new Float32Array(0) };

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly device: Device,
    private readonly maxBatch: number,
  ) {}

  static async load(spec: LoadSpec): Promise<MainThreadSession> {
    const source = await modelSource(spec.modelPath, spec.device, spec.graphRewrite);
    const session = typeof source === "string" ? await ort.InferenceSession.create(source, spec.options) : await ort.InferenceSession.create(source, spec.options);
    return new MainThreadSession(session, spec.device, spec.maxBatch);
  }

  get inputName(): string {
    return this.session.inputNames[0];
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  run(input: Float32Array, dims: number[], into?: OutputBuffers): Promise<ModelRun> {
    return runChunked(this.session, input, dims, this.maxBatch, this.scratch, into);
  }

  async loadAll(): Promise<void> {}

  readonly copies = 1;

  async release(): Promise<void> {
    await this.session.release();
  }
}

const WORKER_URL = new URL("./session_worker.js", import.meta.url);

/**
 * The inference thread needs the compiled worker next to this module (dist/lib/inference/). Run from the
 * TypeScript sources (a TS loader), it is not there: sessions then stay on the calling thread.
 */
function workerAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

/** A request without its id (the worker assigns it); distributes over the union's members. */
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, "req"> : never) : never;

type Pending = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

/**
 * One inference thread (a session_worker.js worker). It keeps the process alive only while a request is
 * outstanding, so a program that forgets to release its sessions still exits.
 */
class InferenceWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextReq = 1;
  dead: Error | undefined;

  constructor(private readonly onDeath: (w: InferenceWorker) => void) {
    // No inherited node flags: the worker is plain compiled JavaScript, and flags of the parent's own command
    // line (--input-type, --eval, a test runner's) can make a worker refuse to start.
    this.worker = new Worker(WORKER_URL, { execArgv: [] });
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => this.settle(reply));
    this.worker.on("error", (err) => this.fail(new Error(`inference thread failed: ${err.message}`)));
    this.worker.on("exit", (code) => this.fail(new Error(`inference thread exited (code ${code})`)));
  }

  /** Requests sent and not yet answered: the dispatcher's measure of how busy this thread is. */
  get outstanding(): number {
    return this.pending.size;
  }

  request(msg: RequestBody): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    const req = this.nextReq++;
    return new Promise<WorkerReply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(req, { resolve, reject });
      this.worker.postMessage({ ...msg, req } as WorkerRequest);
    });
  }

  async stop(): Promise<void> {
    this.dead ??= new Error("inference thread stopped");
    // A worker being terminated while it is busy (a model still loading) does not keep the event loop alive
    // until it has exited, even ref'd: a caller awaiting the release would find the loop empty and its promise
    // never settled (seen under load: a test file cancelled mid-release). A timer holds the loop meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await this.worker.terminate();
    } finally {
      clearInterval(keepAlive);
    }
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.req);
    if (!p) return;
    this.pending.delete(reply.req);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.type === "failed") p.reject(new Error(reply.message));
    else p.resolve(reply);
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.onDeath(this);
  }
}

/**
 * The process's inference threads, shared by all worker-hosted sessions (the detector and the landmark model
 * take turns on the same threads instead of competing for the cores). Threads start when first asked for; the
 * pool stops when its last session is released.
 */
class InferencePool {
  private static current: InferencePool | undefined;
  private readonly threads: InferenceWorker[] = [];
  private sessions = 0;
  private broken = false;

  static acquire(): InferencePool {
    const pool = InferencePool.current && !InferencePool.current.broken ? InferencePool.current : new InferencePool();
    InferencePool.current = pool;
    pool.sessions++;
    return pool;
  }

  /** Thread i (0-based), started now if it is not running yet. */
  thread(i: number): InferenceWorker {
    while (this.threads.length <= i) this.threads.push(new InferenceWorker(() => this.onDeath()));
    return this.threads[i];
  }

  /** Drops one session's hold; the last one stops the threads. */
  async releaseOne(): Promise<void> {
    if (--this.sessions > 0) return;
    if (InferencePool.current === this) InferencePool.current = undefined;
    this.broken = true;
    await Promise.all(this.threads.map((t) => t.stop()));
  }

  /** A thread died: sessions on it fail from now on, and new sessions get a fresh pool. */
  private onDeath(): void {
    this.broken = true;
    if (InferencePool.current === this) InferencePool.current = undefined;
  }
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

/**
 * A session hosted by the inference threads: one copy of the model per thread. A batch is cut into balanced
 * chunks of at most the model-call batch, each chunk goes to the thread with the fewest requests outstanding
 * (the first one on a tie, so a chain of single-face calls stays on one thread and its caches), and the
 * outputs are put back together in order. Only the first copy is loaded up front; the others load in the
 * background the first time a batch has chunks to share out, and take chunks once loaded. So a job that only
 * ever runs one face at a time (tracking) never pays for them: each copy costs ~0.1 s of start-up.
 */
class WorkerSession implements ModelSession {
  readonly thread = "worker";
  private released = false;
  /** Loads of the other copies, once started. */
  private more: Promise<void> | undefined;

  private constructor(
    private readonly pool: InferencePool,
    private readonly hosts: Array<{ thread: InferenceWorker; id: number }>,
    private readonly spec: LoadSpec,
    private readonly workers: number,
    readonly device: Device,
    readonly inputName: string,
    readonly outputNames: readonly string[],
  ) {}

  static async load(spec: LoadSpec, workers: number): Promise<WorkerSession> {
    const pool = InferencePool.acquire();
    try {
      const thread = pool.thread(0);
      const reply = await thread.request({ type: "load", ...spec });
      if (reply.type !== "loaded") throw new Error(`inference thread answered ${reply.type} to load`);
      return new WorkerSession(pool, [{ thread, id: reply.session }], spec, workers, spec.device, reply.inputNames[0], reply.outputNames);
    } catch (err) {
      await pool.releaseOne();
      throw err;
    }
  }

  /** Starts loading the copies not loaded yet (once); a copy that fails to load is left out. */
  private loadMore(): void {
    if (this.more || this.hosts.length >= this.workers) return;
    const loads = [];
    for (let i = this.hosts.length; i < this.workers; i++) {
      const thread = this.pool.thread(i);
      loads.push(
        thread.request({ type: "load", ...this.spec }).then(
          (reply) => {
            if (reply.type !== "loaded") return;
            // Released meanwhile: free the copy at once.
            if (this.released) void thread.request({ type: "release", session: reply.session }).catch(() => undefined);
            else this.hosts.push({ thread, id: reply.session });
          },
          () => undefined, // the first copy still serves every call
        ),
      );
    }
    this.more = Promise.all(loads).then(() => undefined);
  }

  async run(input: Float32Array, dims: number[], into?: OutputBuffers): Promise<ModelRun> {
    if (this.released) throw new Error("model session already released");
    const { batch, item } = checkInput(input, dims);
    const chunks = this.workers === 1 ? [{ start: 0, count: batch }] : balancedChunks(batch, this.maxBatch, this.workers);
    if (chunks.length > 1) this.loadMore();
    // Outputs on shared memory are written in place by the inference threads, chunk by chunk.
    const shared = into && Object.values(into).every((a) => a.buffer instanceof SharedArrayBuffer) ? into : undefined;
    if (shared) checkOutputs(this.outputNames, shared, batch);
    const calls = chunks.map(({ start, count }) => {
      const host = this.leastBusy();
      const part = shared ? Object.fromEntries(Object.entries(shared).map(([name, a]) => [name, a.subarray((a.length / batch) * start, (a.length / batch) * (start + count))])) : undefined;
      return host.thread.request({ type: "run", session: host.id, input: input.subarray(start * item, (start + count) * item), dims: [count, ...dims.slice(1)], into: part });
    });
    const replies = await Promise.all(calls);
    const results = replies.map((reply) => {
      if (reply.type !== "result") throw new Error(`inference thread answered ${reply.type} to run`);
      return reply;
    });
    const ms = results.reduce((sum, r) => sum + r.ms, 0);
    if (shared) return { outputs: shared, ms };
    if (into) {
      // Not on shared memory: put the returned arrays in place here.
      for (const name of this.outputNames) {
        const perItem = into[name].length / batch;
        results.forEach((r, c) => into[name].set(r.outputs[name], perItem * chunks[c].start));
      }
      return { outputs: into, ms };
    }
    if (results.length === 1) return { outputs: results[0].outputs, ms: results[0].ms };
    const outputs: Record<string, Float32Array> = {};
    for (const name of Object.keys(results[0].outputs)) {
      const perItem = results[0].outputs[name].length / chunks[0].count;
      const all = new Float32Array(perItem * batch);
      results.forEach((r, c) => all.set(r.outputs[name], perItem * chunks[c].start));
      outputs[name] = all;
    }
    // Time inside onnxruntime summed over the threads (CPU-like: may exceed the wall time of the call).
    return { outputs, ms };
  }

  async loadAll(): Promise<void> {
    this.loadMore();
    await this.more;
  }

  get copies(): number {
    return this.hosts.length;
  }

  private get maxBatch(): number {
    return this.spec.maxBatch;
  }

  private leastBusy(): { thread: InferenceWorker; id: number } {
    let best = this.hosts[0];
    for (const h of this.hosts) if (h.thread.outstanding < best.thread.outstanding) best = h;
    return best;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.more;
      await Promise.all(this.hosts.map((h) => h.thread.request({ type: "release", session: h.id })));
    } finally {
      await this.pool.releaseOne();
    }
  }
}
