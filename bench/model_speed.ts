/**
 * Model-only throughput of our face_landmark.onnx (or, with --model face_landmark_with_attention, the 478-point
 * attention model of refine_landmarks, its heads merged as the pipeline does) in onnxruntime-node (a child process of bench.ts, so every
 * configuration starts from a fresh process): faces per second at each batch size, through the same
 * LandmarkModel the pipeline uses (shared-memory input, inference thread unless --thread main).
 *
 *   node dist/bench/model_speed.js --batches 1,8,32,50,128,256 --seconds 2 [--threads N] [--thread worker|main]
 *     [--spinning] [--rounds 1] [--model-batch K|none] [--no-rewrite] [--workers N] [--model face_landmark|face_landmark_with_attention]
 *
 * Prints one JSON object: { config, results: [{ batch, round, calls, faces, seconds, facesPerSecond, modelMs }] }.
 * Timed calls include everything LandmarkModel.run does (hand-off to the inference thread, the copy of the input
 * there, onnxruntime, the outputs coming back); the input is filled once (crop cost is measured elsewhere).
 */
import { parseArgs } from "node:util";
import { LandmarkModel, type LandmarkModelName } from "../lib/inference/landmark_model.js";
import type { SessionThread } from "../lib/inference/session.js";

export interface ModelSpeedResult {
  batch: number;
  round: number;
  calls: number;
  faces: number;
  seconds: number;
  facesPerSecond: number;
  /** Time inside onnxruntime per face (ms), as the session reports it. */
  modelMsPerFace: number;
  /** CPU time of the whole process (all threads) per face (ms): less sensitive to other load than wall time. */
  cpuMsPerFace: number;
}

export interface ModelSpeedOutput {
  config: { model: LandmarkModelName; threads: number | null; workers: number | null; thread: SessionThread; spinning: boolean; modelBatch: number | null; cpuGraphRewrite: boolean; seconds: number };
  results: ModelSpeedResult[];
}

/** Deterministic values in [0, 1]: the speed of these kernels does not depend on the pixel values. */
function fill(x: Float32Array): void {
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s >>> 8) / 16777216;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batches: { type: "string", default: "1,8,32,50,128,256" },
      seconds: { type: "string", default: "2" },
      threads: { type: "string" },
      thread: { type: "string", default: "worker" },
      spinning: { type: "boolean", default: false },
      rounds: { type: "string", default: "1" },
      "model-batch": { type: "string" },
      "no-rewrite": { type: "boolean", default: false },
      workers: { type: "string" },
      model: { type: "string", default: "face_landmark" },
    },
  });
  const name = values.model as LandmarkModelName;
  if (name !== "face_landmark" && name !== "face_landmark_with_attention") throw new Error(`--model must be face_landmark or face_landmark_with_attention, got ${values.model}`);
  const batches = values.batches.split(",").map(Number);
  if (!batches.every((b) => Number.isInteger(b) && b > 0)) throw new Error(`--batches: positive integers, got ${values.batches}`);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  const thread = values.thread as SessionThread;
  if (thread !== "worker" && thread !== "main") throw new Error(`--thread must be worker or main, got ${values.thread}`);
  const modelBatch = values["model-batch"] === undefined ? undefined : values["model-batch"] === "none" ? Number.POSITIVE_INFINITY : Number(values["model-batch"]);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  const model = await LandmarkModel.load({ devices: ["cpu"], threads, workers, thread, spinning: values.spinning, modelBatch, graphRewrite: !values["no-rewrite"] }, name);
  await model.loadAll(); // measure every copy from the first call on
  const input = LandmarkModel.allocateInput(Math.max(...batches));
  fill(input);
  const results: ModelSpeedResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const batch of batches) {
      // Warm-up: onnxruntime sizes its buffers for a new batch shape on the first call.
      await model.run(input, batch);
      let calls = 0;
      let modelMs = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      while (calls < 3 || performance.now() - t0 < seconds * 1000) {
        modelMs += (await model.run(input, batch)).ms;
        calls++;
      }
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const faces = calls * batch;
      results.push({ batch, round, calls, faces, seconds: elapsed, facesPerSecond: faces / elapsed, modelMsPerFace: modelMs / faces, cpuMsPerFace: (cpu.user + cpu.system) / 1000 / faces });
    }
  }
  await model.dispose();
  const out: ModelSpeedOutput = { config: { model: name, threads: threads ?? null, workers: workers ?? null, thread, spinning: values.spinning, modelBatch: modelBatch === undefined || !Number.isFinite(modelBatch) ? null : modelBatch, cpuGraphRewrite: !values["no-rewrite"], seconds }, results };
  console.log(JSON.stringify(out));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
