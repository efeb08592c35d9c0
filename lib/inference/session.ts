/**
 * One onnxruntime-node session per model, created once and reused for every batch.
 *
 * Devices: "cpu" (always there), "cuda" (onnxruntime-node's CUDA provider; its libraries are installed only when
 * the user opts in with ONNXRUNTIME_NODE_INSTALL=cuda12 at `npm ci`), "webgpu" (bundled with onnxruntime-node on
 * Linux; needs a Vulkan loader and a GPU). A device *list* such as "cuda,cpu" means "the first that loads":
 * the fallback is announced, never silent. A single device that cannot load is an error.
 */
import os from "node:os";
import * as ort from "onnxruntime-node";

export type Device = "cpu" | "cuda" | "webgpu";
export const DEVICES: readonly Device[] = ["cpu", "cuda", "webgpu"];

export interface SessionSettings {
  /** Preference list, first that loads wins. */
  devices: Device[];
  /** Intra-op threads for the CPU provider; default: all cores. */
  threads?: number;
  /** Told about a fallback from a preferred device to the next. */
  onFallback?: (message: string) => void;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  device: Device;
}

/** Parses "cpu", "cuda,cpu", "auto" (= cuda,webgpu,cpu). */
export function parseDevices(spec: string): Device[] {
  const text = spec.trim().toLowerCase();
  if (text === "auto") return ["cuda", "webgpu", "cpu"];
  const list = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new Error(`device: empty value (use one of ${DEVICES.join(", ")}, a list like "cuda,cpu", or "auto")`);
  for (const d of list) {
    if (!(DEVICES as readonly string[]).includes(d)) {
      throw new Error(`device: unknown device '${d}' (use one of ${DEVICES.join(", ")}, a list like "cuda,cpu", or "auto")`);
    }
  }
  return list as Device[];
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

function sessionOptions(device: Device, threads: number | undefined): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    graphOptimizationLevel: "all",
    // One model call at a time per session: inter-op parallelism only adds thread contention on small CPUs.
    executionMode: "sequential",
    interOpNumThreads: 1,
    intraOpNumThreads: threads ?? Math.max(1, os.availableParallelism()),
  };
}

/** Creates a session on the first device of the list that loads. */
export async function createSession(modelPath: string, settings: SessionSettings): Promise<LoadedSession> {
  const failures: string[] = [];
  for (const device of settings.devices) {
    try {
      const session = await ort.InferenceSession.create(modelPath, sessionOptions(device, settings.threads));
      if (failures.length > 0) settings.onFallback?.(`${failures.join("; ")}; using ${device}`);
      return { session, device };
    } catch (err) {
      const reason = (err as Error).message.split("\n")[0];
      failures.push(`device ${device} could not load ${modelPath}: ${reason} (${providerHint(device)})`);
    }
  }
  throw new Error(failures.join("; "));
}
