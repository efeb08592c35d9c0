/**
 * What each device means to onnxruntime, in one table: its execution provider, the graph it is given
 * (cpu_graph.ts), how many items one model call takes, whether the CPU's several session copies apply, and what
 * to install when it does not load. Everything device-specific in the session code reads this table.
 *
 * "cuda": onnxruntime-node's CUDA provider; its libraries are installed only when the user opts in with
 * ONNXRUNTIME_NODE_INSTALL=cuda12 (`npm run install-cuda`). "webgpu": bundled with onnxruntime-node on Linux; needs a
 * Vulkan loader and a GPU.
 */
import { readFile } from "node:fs/promises";
import type * as ort from "onnxruntime-node";
import { rewriteForCpu, rewriteForWebGpu } from "./cpu_graph.js";
import { DEVICES, type Device } from "./devices.js";

/**
 * On the CPU, small model calls are faster per face than large ones: a chunk's activations stay in the caches
 * (bench/README.md: measured per batch size). The pipeline's batch_size still sets how many frames are
 * prepared and written together.
 */
export const CPU_MODEL_BATCH = 8;

export interface DeviceProfile {
  /** onnxruntime's name for the execution provider. */
  executionProvider: string;
  /**
   * The provider's equivalent graph (cpu_graph.ts): NCHWc-friendly on the CPU, PRelu-free on webgpu (which
   * leaves PRelu to the CPU otherwise). Absent: the model file as it is (CUDA has kernels for all our operators).
   */
  rewrite?: (bytes: Uint8Array) => { bytes: Uint8Array };
  /** Largest batch per model call unless the caller says otherwise. */
  modelBatch: number;
  /** Several single-threaded session copies on the inference threads (true), or one session with all threads. */
  copies: boolean;
  /** What to install or check when the provider does not load. */
  installHint: string;
}

export const DEVICE_PROFILES: Readonly<Record<Device, DeviceProfile>> = {
  cpu: {
    executionProvider: "cpu",
    rewrite: rewriteForCpu,
    modelBatch: CPU_MODEL_BATCH,
    copies: true,
    installHint: "the CPU provider ships with onnxruntime-node; reinstall with npm ci",
  },
  cuda: {
    executionProvider: "cuda",
    modelBatch: Number.POSITIVE_INFINITY,
    copies: false,
    installHint: "install onnxruntime-node's CUDA 12 libraries with `npm run install-cuda` after `npm ci` (it runs onnxruntime-node's own install script with ONNXRUNTIME_NODE_INSTALL=cuda12; needs network access, an NVIDIA driver and CUDA 12 / cuDNN 9 runtime)",
  },
  webgpu: {
    executionProvider: "webgpu",
    rewrite: rewriteForWebGpu,
    modelBatch: Number.POSITIVE_INFINITY,
    copies: false,
    installHint: "WebGPU needs a GPU with a Vulkan driver and the Vulkan loader (Debian: libvulkan1 and mesa-vulkan-drivers or the NVIDIA driver)",
  },
};

/** The table's row for `device`; an unknown name is an error that lists the valid ones. */
export function deviceProfile(device: string): DeviceProfile {
  if (!Object.hasOwn(DEVICE_PROFILES, device)) throw new Error(`unknown device '${device}' (valid: ${DEVICES.join(", ")})`);
  return DEVICE_PROFILES[device as Device];
}

/**
 * What onnxruntime is given for `modelPath` on `device`: the file itself, or (unless turned off) the bytes of
 * the provider's equivalent graph. Used on both threads.
 */
export async function modelSource(modelPath: string, device: Device, graphRewrite: boolean): Promise<string | Uint8Array> {
  const { rewrite } = deviceProfile(device);
  if (!rewrite || !graphRewrite) return modelPath;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (err) {
    throw new Error(`cannot read ${modelPath}: ${(err as Error).message}`, { cause: err });
  }
  return rewrite(bytes).bytes;
}

/** The model-call batch limit for a device: the caller's, else the table's. */
export function modelBatchFor(device: Device, modelBatch: number | undefined): number {
  if (modelBatch !== undefined) {
    if (!(Number.isInteger(modelBatch) || modelBatch === Number.POSITIVE_INFINITY) || modelBatch < 1) {
      throw new Error(`modelBatch must be a positive integer (or Infinity: no limit), got ${modelBatch}`);
    }
    return modelBatch;
  }
  return deviceProfile(device).modelBatch;
}

/**
 * Session options (bench/README.md has the measurements behind each choice):
 * - graph optimization "all": constant folding, Conv+Add fusion, and on x86 the NCHWc blocked layout;
 * - sequential execution, one inter-op thread: one model call at a time, nothing to run in parallel inside it;
 * - no spinning: by default onnxruntime's pool threads busy-wait between operators, which takes the core away
 *   from ffmpeg and from the JS thread preparing the next batch (a model measured alone gains from spinning,
 *   a whole job loses).
 */
export function sessionOptions(device: Device, settings: { threads: number; spinning?: boolean }): ort.InferenceSession.SessionOptions {
  const spin = settings.spinning === true ? "1" : "0";
  return {
    executionProviders: [deviceProfile(device).executionProvider],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    interOpNumThreads: 1,
    intraOpNumThreads: settings.threads,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
}
