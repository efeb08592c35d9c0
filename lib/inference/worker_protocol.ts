/**
 * The messages between the calling thread (worker_pool.ts) and an inference thread (session_worker.ts):
 * load -> loaded | failed; run -> result | failed; release -> released | failed. Types only: both sides import
 * this file, neither imports the other.
 */
import type * as ort from "onnxruntime-node";
import type { Device } from "./devices.js";
import type { OutputBuffers } from "./model_call.js";

/** Everything needed to create one session. */
export interface LoadSpec {
  modelPath: string;
  device: Device;
  options: ort.InferenceSession.SessionOptions;
  maxBatch: number;
  graphRewrite: boolean;
}

export type WorkerRequest =
  | ({ type: "load"; req: number } & LoadSpec)
  | { type: "run"; req: number; session: number; input: Float32Array; dims: number[]; into?: OutputBuffers }
  | { type: "release"; req: number; session: number };

export type WorkerReply =
  | { type: "loaded"; req: number; session: number; inputNames: string[]; outputNames: string[] }
  | { type: "result"; req: number; outputs: Record<string, Float32Array>; ms: number }
  | { type: "released"; req: number }
  | { type: "failed"; req: number; message: string };

/** A request without its id (the pool assigns it); distributes over the union's members. */
export type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, "req"> : never) : never;
