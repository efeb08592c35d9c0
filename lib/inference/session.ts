/**
 * One onnxruntime-node session per model, created once and reused for every batch: where it runs and on which
 * device. The device table is providers.ts, a model call and its chunks model_call.ts, the inference threads
 * worker_pool.ts (with session_worker.ts on the other side of worker_protocol.ts).
 *
 * A device *list* such as "cuda,cpu" means "the first that loads": the fallback is announced, never silent. A
 * single device that cannot load is an error.
 *
 * Where the model runs: onnxruntime-node computes `session.run` synchronously on the calling thread (the promise
 * it returns is settled after the work, from a setImmediate), so a session on the JS thread blocks everything
 * else (reading the decoder's pipe, cropping, writing) for the whole call. By default the sessions live on
 * inference threads and `run` is truly asynchronous: the pipeline crops batch k+1 while batch k is in the model.
 * `thread: "main"` keeps the session on the calling thread (for measurements).
 */
import os from "node:os";
import * as ort from "onnxruntime-node";
import type { Device } from "./devices.js";
import { runChunked, type ModelRun, type ModelSession, type OutputBuffers, type SessionThread } from "./model_call.js";
import { deviceProfile, modelBatchFor, modelSource, sessionOptions } from "./providers.js";
import { threadLayout, workerAvailable, WorkerSession } from "./worker_pool.js";
import type { LoadSpec } from "./worker_protocol.js";

export { DEVICES, parseDevices, type Device } from "./devices.js";
export { allocateSharedFloat32, balancedChunks, checkInput, runChunked, type ModelRun, type ModelSession, type OutputBuffers, type SessionThread } from "./model_call.js";
export { CPU_MODEL_BATCH, DEVICE_PROFILES, deviceProfile, modelBatchFor, modelSource, sessionOptions } from "./providers.js";
export { MAX_CPU_WORKERS, threadLayout } from "./worker_pool.js";

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
   * concatenated, results are the same). Default: the device table's (providers.ts).
   */
  modelBatch?: number;
  /** Give the provider its equivalent of the graph (providers.ts, cpu_graph.ts). Default true. */
  graphRewrite?: boolean;
}

/** Inference threads by default: all cores (bench/README.md measures the alternatives end to end). */
export function defaultThreads(): number {
  return os.availableParallelism();
}

/** Creates a session on the first device of the list that loads. */
export async function createSession(modelPath: string, settings: SessionSettings): Promise<ModelSession> {
  const failures: string[] = [];
  for (const device of settings.devices) {
    try {
      const threads = settings.threads ?? defaultThreads();
      const onWorker = (settings.thread ?? "worker") === "worker" && workerAvailable();
      // Copies of the session only where the table says so (the CPU): a GPU gets whole batches in one call.
      const { workers, intraOp } = onWorker && deviceProfile(device).copies ? threadLayout(threads, settings.workers) : { workers: 1, intraOp: threads };
      const options = sessionOptions(device, { threads: intraOp, spinning: settings.spinning });
      const maxBatch = modelBatchFor(device, settings.modelBatch);
      const load: LoadSpec = { modelPath, device, options, maxBatch, graphRewrite: settings.graphRewrite ?? true };
      const session = onWorker ? await WorkerSession.load(load, workers) : await MainThreadSession.load(load);
      if (failures.length > 0) settings.onFallback?.(`${failures.join("; ")}; using ${device}`);
      return session;
    } catch (err) {
      const reason = (err as Error).message.split("\n")[0];
      failures.push(`device ${device} could not load ${modelPath}: ${reason} (${deviceProfile(device).installHint})`);
    }
  }
  throw new Error(failures.join("; "));
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
