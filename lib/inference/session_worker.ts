/**
 * An inference thread: a worker_threads worker that owns onnxruntime sessions and runs them on request
 * (in chunks of at most the session's model-call batch, see runChunked). worker_pool.ts starts one per CPU core
 * and shares each batch's chunks out among them.
 *
 * Why a thread: onnxruntime-node's `session.run` returns a promise but computes synchronously on the calling
 * thread (its backend wraps the native call in setImmediate), so on the JS thread it would stall decoding-pipe
 * reads, cropping and writing for the whole model call. Here the model runs while the JS thread prepares the
 * next batch.
 *
 * Inputs arrive as Float32Array views on SharedArrayBuffers (no copy through postMessage). onnxruntime-node
 * refuses tensors over shared memory ("Invalid argument"), so each chunk is copied once into a buffer this
 * thread owns and reuses (grown to one chunk, never allocated per call). Outputs are transferred back (no copy).
 *
 * The messages are worker_protocol.ts; the other side is worker_pool.ts.
 */
import { parentPort } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { runChunked } from "./model_call.js";
import { modelSource } from "./providers.js";
import type { WorkerReply, WorkerRequest } from "./worker_protocol.js";

interface Hosted {
  session: ort.InferenceSession;
  maxBatch: number;
  /** Reused copy target for the shared input (one chunk). */
  scratch: { buffer: Float32Array };
}

const port = parentPort;
if (!port) throw new Error("session_worker.js is a worker_threads entry point; it is started by lib/inference/worker_pool.ts");

const hosted = new Map<number, Hosted>();
let nextSession = 1;

async function handle(msg: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  switch (msg.type) {
    case "load": {
      const source = await modelSource(msg.modelPath, msg.device, msg.graphRewrite);
      const session = typeof source === "string" ? await ort.InferenceSession.create(source, msg.options) : await ort.InferenceSession.create(source, msg.options);
      const id = nextSession++;
      hosted.set(id, { session, maxBatch: msg.maxBatch, scratch: { buffer: new Float32Array(0) } });
      return { reply: { type: "loaded", req: msg.req, session: id, inputNames: [...session.inputNames], outputNames: [...session.outputNames] }, transfer: [] };
    }
    case "run": {
      const h = hosted.get(msg.session);
      if (!h) throw new Error(`no session ${msg.session} in the inference thread (released?)`);
      const { outputs, ms } = await runChunked(h.session, msg.input, msg.dims, h.maxBatch, h.scratch, msg.into);
      // Written in place on shared memory: nothing to send back.
      if (msg.into) return { reply: { type: "result", req: msg.req, outputs: {}, ms }, transfer: [] };
      const transfer: ArrayBuffer[] = [];
      for (const data of Object.values(outputs)) {
        // Each output owns its buffer (the binding copies out of onnxruntime); moving it back costs nothing.
        if (data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
      }
      return { reply: { type: "result", req: msg.req, outputs, ms }, transfer };
    }
    case "release": {
      const h = hosted.get(msg.session);
      hosted.delete(msg.session);
      await h?.session.release();
      return { reply: { type: "released", req: msg.req }, transfer: [] };
    }
  }
}

// Requests are handled one at a time, in arrival order: one model call at a time, like the JS-thread path.
let queue: Promise<void> = Promise.resolve();
port.on("message", (msg: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await handle(msg);
      port.postMessage(reply, transfer);
    } catch (err) {
      port.postMessage({ type: "failed", req: msg.req, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
});
