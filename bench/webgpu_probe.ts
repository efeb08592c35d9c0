/**
 * Why is onnxruntime's WebGPU provider slow on face_landmark? One variant of its options per process, run by
 * bench/gpu.sh on the GPU machine:
 *
 *   node dist/bench/webgpu_probe.js --variant default|rewritten|novalidation|nchw|basic --crops DIR [--profile PREFIX] [--verbose]
 *                                   [--model face_landmark|face_landmark_with_attention|face_detection_short_range|face_detection_full_range]
 *                                   [--provider webgpu]   (cpu: to try the probe itself on a machine without a GPU)
 *
 * Each variant loads models/face_landmark.onnx on webgpu with plain onnxruntime-node (no inference thread, no
 * chunking: the provider alone), times faces/s at batch 1, 8, 50 and 256, and compares its landmarks on the real face
 * crops with a CPU session of the original file in the same process. Prints one JSON object.
 *
 * The options are session config entries that onnxruntime's WebGPU provider reads
 * ("ep.webgpuexecutionprovider.<key>", passed through `extra`): validationMode (Dawn's validation of every call),
 * preferredLayout (the provider rewrites convolutions to NHWC by default, inserting transposes).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { modelPath } from "../lib/convert/models.js";
import { rewriteForWebGpu } from "../lib/inference/cpu_graph.js";

/** Input side of each model. */
const SIDES: Record<string, number> = { face_landmark: 192, face_landmark_with_attention: 192, face_detection_short_range: 128, face_detection_full_range: 192 };

const VARIANTS: Record<string, { webgpu?: Record<string, string>; level?: "basic" | "all"; rewritten?: boolean }> = {
  default: {},
  // The graph webgpu gets since this probe (cpu_graph.ts rewriteForWebGpu: PRelu as Relu arithmetic).
  rewritten: { rewritten: true },
  novalidation: { webgpu: { validationMode: "disabled" } },
  nchw: { webgpu: { preferredLayout: "NCHW" } },
  basic: { level: "basic" },
};

function options(variant: string, provider: string, profile?: string): ort.InferenceSession.SessionOptions {
  const v = VARIANTS[variant];
  if (!v) throw new Error(`unknown variant ${variant} (${Object.keys(VARIANTS).join(", ")})`);
  return {
    executionProviders: [provider],
    graphOptimizationLevel: v.level ?? "all",
    ...(v.webgpu ? { extra: { ep: { webgpuexecutionprovider: v.webgpu } } } : {}),
    ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
  };
}

async function run(session: ort.InferenceSession, data: Float32Array, batch: number, side: number): Promise<Float32Array> {
  const x = new ort.Tensor("float32", data.subarray(0, batch * 3 * side * side), [batch, 3, side, side]);
  const out = await session.run({ [session.inputNames[0]]: x });
  return out[session.outputNames[0]].data as Float32Array;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { variant: { type: "string", default: "default" }, crops: { type: "string" }, profile: { type: "string" }, seconds: { type: "string", default: "3" }, provider: { type: "string", default: "webgpu" }, verbose: { type: "boolean", default: false }, model: { type: "string", default: "face_landmark" } } });
  const side = SIDES[values.model];
  if (!side) throw new Error(`unknown model ${values.model} (${Object.keys(SIDES).join(", ")})`);
  const file = modelPath(values.model as Parameters<typeof modelPath>[0]);
  const ITEM = 3 * side * side;
  if (!values.crops) throw new Error("usage: webgpu_probe.js --variant NAME --crops DIR [--profile PREFIX]");
  const bytes = readFileSync(path.join(values.crops, "crops.u8"));
  // The face crops' pixels, tiled (for a detector they are just realistic values of another shape).
  const count = Math.min(64, Math.floor(bytes.length / ITEM));
  const maxBatch = 256;
  const data = new Float32Array(maxBatch * ITEM);
  for (let i = 0; i < data.length; i++) data[i] = bytes[i % bytes.length] / 255;

  const result: Record<string, unknown> = { model: values.model, variant: values.variant, options: options(values.variant, values.provider) };
  const t0 = performance.now();
  // --verbose: onnxruntime's verbose log on stderr, which names the provider each node was placed on.
  const source = VARIANTS[values.variant]?.rewritten ? rewriteForWebGpu(readFileSync(file)).bytes : readFileSync(file);
  const session = await ort.InferenceSession.create(source, { ...options(values.variant, values.provider, values.profile), ...(values.verbose ? { logSeverityLevel: 0 as const } : {}) });
  result.loadMs = Math.round(performance.now() - t0);

  // Parity with the CPU provider: largest difference in the first output (face_landmark: crop pixels).
  const cpu = await ort.InferenceSession.create(file, { executionProviders: ["cpu"] });
  const ref = await run(cpu, data, count, side);
  const got = await run(session, data, count, side);
  let max = 0;
  for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ref[i] - got[i]));
  result.maxDiff = max;
  await cpu.release();

  const speed: Array<{ batch: number; calls: number; facesPerSecond: number; medianCallMs: number; firstCallMs: number }> = [];
  for (const batch of [1, 8, 50, 256]) {
    let t = performance.now();
    await run(session, data, batch, side);
    const firstCallMs = performance.now() - t;
    for (let i = 0; i < 2; i++) await run(session, data, batch, side);
    const times: number[] = [];
    const start = performance.now();
    while (times.length < 3 || (performance.now() - start < Number(values.seconds) * 1000 && times.length < 500)) {
      t = performance.now();
      await run(session, data, batch, side);
      times.push(performance.now() - t);
    }
    const total = (performance.now() - start) / 1000;
    times.sort((a, b) => a - b);
    speed.push({ batch, calls: times.length, facesPerSecond: (times.length * batch) / total, medianCallMs: times[times.length >> 1], firstCallMs });
  }
  result.speed = speed;
  // The provider writes the profile (per-node times) to PREFIX_<date>.json.
  if (values.profile) session.endProfiling();
  await session.release();
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  const at = process.argv.indexOf("--variant");
  const variant = at >= 0 ? process.argv[at + 1] : "default";
  console.log(JSON.stringify({ variant, error: (e as Error).message.slice(0, 600) }));
  process.exit(1);
});
