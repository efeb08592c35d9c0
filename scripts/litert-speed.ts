/**
 * How fast Google's own runtime (LiteRT.js, XNNPack on WebAssembly) runs a MediaPipe model in this Node: a
 * baseline for the benchmarks, not a test. Each LiteRT.js build runs in its own child process, because the
 * library holds one global Wasm instance per process.
 *
 *   node dist/scripts/litert-speed.js [--model face_landmark] [--seconds 3] [--variant plain|threaded|compat]
 *
 * Without --variant it measures plain and threaded in turn and prints one line each. Timed calls go through
 * scripts/litert.ts's run() (tensor copy in, invoke, copy out), batch 1: the .tflite files have batch 1 fixed and
 * LiteRT.js cannot resize inputs, so a batch of N costs N of these calls.
 */
import { execFileSync } from "node:child_process";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { loadTfliteSource, type ModelName } from "../lib/convert/sources.js";
import { createLiteRt, type LiteRtVariant } from "./litert.js";

const MODELS: readonly ModelName[] = ["face_landmark", "face_detection_short_range", "face_detection_full_range"];
const VARIANTS: readonly LiteRtVariant[] = ["plain", "threaded", "compat"];

interface Measurement {
  variant: LiteRtVariant;
  threads: number;
  model: ModelName;
  calls: number;
  perSecond: number;
  medianMs: number;
  p90Ms: number;
  /**
   * Process CPU time (user + system, all threads) per call. On a shared machine wall time depends on what else
   * runs; this does much less, so it tells what an idle machine would give (1000 / cpuMsPerCall calls/s for the
   * one-thread build).
   */
  cpuMsPerCall: number;
}

/** Deterministic input in the model's range; XNNPack's speed does not depend on the pixel values. */
function syntheticInput(n: number): Float32Array {
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = s / 2 ** 32;
  }
  return x;
}

async function measure(variant: LiteRtVariant, model: ModelName, seconds: number): Promise<Measurement> {
  const runtime = await createLiteRt({ variant });
  const m = await runtime.loadTflite((await loadTfliteSource(model)).bytes);
  const input = syntheticInput(m.inputs[0].shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < 20; i++) await m.run(input); // warm-up: XNNPack packs weights and sets up on first calls
  const times: number[] = [];
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const t0 = performance.now();
    await m.run(input);
    times.push(performance.now() - t0);
  }
  const total = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  m.delete();
  times.sort((a, b) => a - b);
  return {
    variant,
    threads: runtime.threads,
    model,
    calls: times.length,
    perSecond: times.length / total,
    medianMs: times[Math.floor(times.length / 2)],
    p90Ms: times[Math.floor(times.length * 0.9)],
    cpuMsPerCall: (cpu.user + cpu.system) / 1000 / times.length,
  };
}

function describe(r: Measurement): string {
  return (
    `${r.model} LiteRT.js ${r.variant} (${r.threads} thread${r.threads === 1 ? "" : "s"}): ${r.perSecond.toFixed(1)} inferences/s, ` +
    `median ${r.medianMs.toFixed(2)} ms, p90 ${r.p90Ms.toFixed(2)} ms, CPU ${r.cpuMsPerCall.toFixed(2)} ms/call, ${r.calls} calls`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "face_landmark" },
      seconds: { type: "string", default: "3" },
      variant: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const model = values.model as ModelName;
  if (!MODELS.includes(model)) throw new Error(`--model must be one of ${MODELS.join(", ")}, got ${values.model}`);
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);

  if (values.variant !== undefined) {
    const variant = values.variant as LiteRtVariant;
    if (!VARIANTS.includes(variant)) throw new Error(`--variant must be one of ${VARIANTS.join(", ")}, got ${values.variant}`);
    const r = await measure(variant, model, seconds);
    console.log(values.json ? JSON.stringify(r) : describe(r));
    return;
  }

  const load = loadavg()[0].toFixed(1);
  console.log(`${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} cores, load average ${load}, Node ${process.version}`);
  for (const variant of ["plain", "threaded"] as const) {
    const args = [fileURLToPath(import.meta.url), "--model", model, "--seconds", String(seconds), "--variant", variant, "--json"];
    const out = execFileSync(process.execPath, args, { encoding: "utf8" });
    console.log(describe(JSON.parse(out.trim().split("\n").pop() ?? "") as Measurement));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
