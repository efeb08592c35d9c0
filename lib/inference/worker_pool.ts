/**
 * The inference threads (session_worker.js workers) and the sessions they host. Each thread owns its own copy
 * of a CPU session with one onnxruntime thread; a batch's chunks are shared out among the copies (data
 * parallelism beats onnxruntime's own intra-op threads on this small model: bench/README.md). Inputs are passed
 * through shared memory (allocateSharedFloat32), outputs are moved back without a copy.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Device } from "./devices.js";
import { balancedChunks, checkInput, checkOutputs, type ModelRun, type ModelSession, type OutputBuffers } from "./model_call.js";
import type { LoadSpec, RequestBody, WorkerReply, WorkerRequest } from "./worker_protocol.js";

/** At most this many copies of a CPU session (a batch of 50 in chunks of 8 has 7 chunks to share out). */
export const MAX_CPU_WORKERS = 8;

/**
 * How `threads` CPU threads are used on the inference threads: one session copy per thread (up to
 * MAX_CPU_WORKERS; `workers` overrides that, for measurements), each with threads / workers intra-op threads
 * (at least one). Single-threaded copies beat one copy with several intra-op threads, whose threads
 * synchronise after each of the graph's ~100 small operators (bench/README.md has the measurement).
 */
export function threadLayout(threads: number, workers = Math.min(threads, MAX_CPU_WORKERS)): { workers: number; intraOp: number } {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be a positive integer, got ${workers}`);
  return { workers, intraOp: Math.max(1, Math.floor(threads / workers)) };
}

const WORKER_URL = new URL("./session_worker.js", import.meta.url);

/**
 * The inference thread needs the compiled worker next to this module (dist/lib/inference/). Run from the
 * TypeScript sources (a TS loader), it is not there: sessions then stay on the calling thread.
 */
export function workerAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

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
 * A session hosted by the inference threads: one copy of the model per thread. A batch is cut into balanced
 * chunks of at most the model-call batch, each chunk goes to the thread with the fewest requests outstanding
 * (the first one on a tie, so a chain of single-face calls stays on one thread and its caches), and the
 * outputs are put back together in order. Only the first copy is loaded up front; the others load in the
 * background the first time a batch has chunks to share out, and take chunks once loaded. So a job that only
 * ever runs one face at a time (tracking) never pays for their start-up.
 */
export class WorkerSession implements ModelSession {
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
