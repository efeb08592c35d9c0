/**
 * One device's part of bench/gpu.sh, run on the GPU machine (one process per device, so that a provider that
 * crashes or hangs cannot take the others with it):
 *
 *   node dist/bench/gpu_check.js --device cpu|cuda|webgpu --crops DIR [--ref cpu.bin] [--save cpu.bin]
 *                               [--batches 50,256] [--seconds 4] [--workers N] [--model face_landmark_with_attention]
 *
 * It loads face_landmark through lib/inference/session.ts (the pipeline's own path: inference thread, the
 * device's default model-call batch), times faces/s at each batch size on real face crops (made by
 * gpu_prepare.ts on the development machine; --model face_landmark_with_attention: the refine_landmarks model, whose
 * mesh output is compared the same way), and for parity runs the unique crops once: with --save it writes
 * the landmarks (the CPU reference), with --ref it compares against them (max/mean difference in crop pixels and
 * in frame pixels, via each crop's ROI side). Prints one JSON object on stdout.
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { allocateSharedFloat32, createSession, parseDevices, type ModelSession } from "../lib/inference/session.js";
import { modelPath } from "../lib/convert/models.js";

const SIZE = 192;
const ITEM = 3 * SIZE * SIZE;
const VALUES = 468 * 3;

export interface CropSet {
  count: number;
  /** ROI side in frame pixels for each crop (landmarks in crop pixels x side/192 = frame pixels). */
  sides: number[];
  sources: string[];
}

export interface DeviceCheck {
  device: string;
  loaded: boolean;
  error?: string;
  thread?: string;
  loadMs?: number;
  speed: Array<{ batch: number; calls: number; facesPerSecond: number; medianCallMs: number }>;
  parity?: {
    crops: number;
    maxCropPx: number;
    meanCropPx: number;
    maxFramePx: number;
    meanFramePx: number;
    maxScoreDiff: number;
  };
}

function loadCrops(dir: string): { set: CropSet; data: Float32Array } {
  const set = JSON.parse(readFileSync(path.join(dir, "crops.json"), "utf8")) as CropSet;
  const bytes = readFileSync(path.join(dir, "crops.u8"));
  if (bytes.length !== set.count * ITEM) throw new Error(`${dir}/crops.u8: ${bytes.length} bytes, expected ${set.count * ITEM}`);
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) data[i] = bytes[i] / 255;
  return { set, data };
}

/** Fills `n` crops by repeating the unique ones. */
function tile(data: Float32Array, count: number, n: number): Float32Array {
  const out = allocateSharedFloat32(n * ITEM);
  for (let i = 0; i < n; i++) out.set(data.subarray((i % count) * ITEM, (i % count + 1) * ITEM), i * ITEM);
  return out;
}

async function timeBatch(session: ModelSession, input: Float32Array, batch: number, seconds: number): Promise<DeviceCheck["speed"][number]> {
  const dims = [batch, 3, SIZE, SIZE];
  const x = input.subarray(0, batch * ITEM);
  for (let i = 0; i < 3; i++) await session.run(x, dims); // warm-up: kernel selection, buffers, shader compiles
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 5 || performance.now() - t0 < seconds * 1000) {
    const t = performance.now();
    await session.run(x, dims);
    times.push(performance.now() - t);
    if (times.length >= 1000) break;
  }
  const total = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  return { batch, calls: times.length, facesPerSecond: (times.length * batch) / total, medianCallMs: times[times.length >> 1] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      device: { type: "string" },
      crops: { type: "string" },
      ref: { type: "string" },
      save: { type: "string" },
      batches: { type: "string", default: "50,256" },
      seconds: { type: "string", default: "4" },
      workers: { type: "string" },
      model: { type: "string", default: "face_landmark" },
    },
  });
  const model = values.model;
  if (model !== "face_landmark" && model !== "face_landmark_with_attention") throw new Error(`--model must be face_landmark or face_landmark_with_attention, got ${model}`);
  if (!values.device || !values.crops) throw new Error("usage: gpu_check.js --device cpu|cuda|webgpu --crops DIR [--ref FILE | --save FILE]");
  const [device] = parseDevices(values.device);
  const { set, data } = loadCrops(values.crops);
  const batches = values.batches.split(",").map(Number);
  const result: DeviceCheck = { device, loaded: false, speed: [] };
  let session: ModelSession | null = null;
  const t0 = performance.now();
  try {
    session = await createSession(modelPath(model), { devices: [device], threads: device === "cpu" ? os.availableParallelism() : undefined, workers: values.workers ? Number(values.workers) : undefined });
    await session.loadAll();
  } catch (err) {
    result.error = (err as Error).message;
  }
  if (session) {
    result.loaded = true;
    result.thread = session.thread;
    result.loadMs = performance.now() - t0;
    try {
      // Parity first: it is the part that must not be skipped if the timing runs long.
      const unique = tile(data, set.count, set.count);
      const { outputs } = await session.run(unique, [set.count, 3, SIZE, SIZE]);
      const landmarks = outputs.landmarks;
      const flags = outputs.face_flag;
      if (values.save) writeFileSync(values.save, Buffer.concat([Buffer.from(landmarks.buffer, landmarks.byteOffset, landmarks.byteLength), Buffer.from(flags.buffer, flags.byteOffset, flags.byteLength)]));
      if (values.ref) {
        const raw = readFileSync(values.ref);
        const ref = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        let maxC = 0;
        let sumC = 0;
        let maxF = 0;
        let sumF = 0;
        let maxS = 0;
        for (let k = 0; k < set.count; k++) {
          const scale = set.sides[k] / SIZE;
          for (let p = 0; p < 468; p++) {
            const o = k * VALUES + 3 * p;
            const d = Math.hypot(landmarks[o] - ref[o], landmarks[o + 1] - ref[o + 1]);
            maxC = Math.max(maxC, d);
            sumC += d;
            maxF = Math.max(maxF, d * scale);
            sumF += d * scale;
          }
          const sig = (v: number) => 1 / (1 + Math.exp(-v));
          maxS = Math.max(maxS, Math.abs(sig(flags[k]) - sig(ref[set.count * VALUES + k])));
        }
        const n = set.count * 468;
        result.parity = { crops: set.count, maxCropPx: maxC, meanCropPx: sumC / n, maxFramePx: maxF, meanFramePx: sumF / n, maxScoreDiff: maxS };
      }
      const input = tile(data, set.count, Math.max(...batches));
      for (const b of batches) result.speed.push(await timeBatch(session, input, b, Number(values.seconds)));
    } catch (err) {
      result.error = `after loading: ${(err as Error).message}`;
    } finally {
      await session.release();
    }
  }
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ loaded: false, error: (e as Error).message, speed: [] }));
  process.exit(1);
});
