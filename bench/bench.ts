/**
 * `npm run bench`: facemesh's speed and memory, measured in one run beside its peers on the same machine.
 *
 *   node dist/bench/bench.js [--runs 3] [--seconds 2] [--no-long] [--quick] [--only SUBSTR] [--no-peers]
 *                            [--mediapipe-cache] [--tune | --tune-only | --model-only] [--out bench]
 *
 * --tune adds the measurements behind the session defaults (lib/inference/session.ts): model-only faces/s at
 * batch 50 for intra-op threads, thread spinning, model-call chunk size, inference thread vs JS thread and the
 * CPU graph rewrite, each changed alone from the defaults.
 *
 * What it measures (each in a fresh child process, `--runs` times, interleaved so that a burst of load from
 * elsewhere hits every variant alike; tables show medians and the min..max spread):
 * 1. Model only: faces/s of face_landmark in onnxruntime-node at batch 1, 8, 32, 50, 128, 256 (bench/model_speed.ts,
 *    the pipeline's own LandmarkModel), next to LiteRT.js running the same .tflite (scripts/litert-speed.ts, the
 *    plain and the threaded Wasm build; batch 1 only: LiteRT.js cannot batch these models); beside it the attention
 *    model of refine_landmarks (478 points). --model-only runs this part alone.
 * 2. End to end: `facemesh run` (the CLI, process start to exit) on every video, with a bbox stream and without
 *    (detection on every frame); the looped talking heads also with --refine-landmarks (bbox and video mode,
 *    beside the plain rows): wall-clock fps, steady-state fps of the pipeline itself (FACEMESH_TIMING), peak
 *    RSS (bench/rss_probe.ts) and where the time went. Next to MediaPipe's web pipeline (@mediapipe/face_mesh in
 *    headless Chromium, CPU inference, scripts/mediapipe_reference.ts), measured in every round when Chromium is
 *    installed (its frame rate moves with the machine's load as ours does: a cached figure from another hour
 *    is no comparison); --mediapipe-cache takes the per-frame graph times cached in .cache/mediapipe instead.
 * 3. Memory: peak RSS on a 10-minute 720p clip against a 10-second one (same content, looped).
 * 4. Stage costs on their own: decoding alone, one crop, one model call per face.
 * Results: bench/results.json (everything, every run) and bench/results.md (the tables). Both are git-ignored.
 * Needs dist/ built (npx tsc -p .) and models/ (npm install builds them). Shared videos are skipped when
 * ../shared/data is absent; the generated clips are always there.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { projectRoot } from "../lib/convert/models.js";
import type { PipelineTiming } from "../lib/pipeline.js";
import { imageToTensor } from "../lib/calculators/image_to_tensor.js";
import { letterboxRoi } from "../lib/calculators/letterbox.js";
import { decodeFrames } from "../lib/video/decode.js";
import { probeVideo } from "../lib/video/probe.js";
import { resolveTool, toolVersion } from "../lib/video/tools.js";
import type { RgbImage } from "../lib/types.js";
import { cachedReference, mediapipeReferences, type MpMode, type MpReference } from "../scripts/mediapipe_reference.js";
import { measureGeometryCost, type GeometryCost } from "./geometry_cost.js";
import { generatedVideos, loopedVideo, sharedVideos, type BenchVideo } from "./media.js";
import { segmentSpeed, type SegmentSpeed } from "./segment_speed.js";
import { queueSpeed, type QueueSpeedResult } from "./queue_speed.js";
import { DEFAULT_PARALLEL_SEGMENTS } from "../lib/segments.js";
import type { ModelSpeedOutput } from "./model_speed.js";

const ROOT = projectRoot();
const DIST = path.join(ROOT, "dist");
const CLI = path.join(DIST, "lib/cli.js");
const MODEL_SPEED = path.join(DIST, "bench/model_speed.js");
const RSS_PROBE = path.join(DIST, "bench/rss_probe.js");
const LITERT_SPEED = path.join(DIST, "scripts/litert-speed.js");
const CACHE = path.join(ROOT, ".cache/bench");
const SHARED_DATA = path.resolve(ROOT, "../shared/data");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const BATCHES = [1, 8, 32, 50, 128, 256];
/** Steady state: talking heads looped to at least this many frames (20 batches of 50). */
const STEADY_MIN_FRAMES = 1000;

// ---------------------------------------------------------------------------------------------------------------
// Small statistics.

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes.

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak RSS of the child node process (KiB), from rss_probe. */
  maxRssKb: number | null;
  /** CPU time of the child node process (all threads) and of its own children (ffmpeg, ffprobe), ms. */
  cpuMs: number | null;
  childCpuMs: number | null;
}

async function runChild(args: string[], opts: { timeoutMs: number; env?: Record<string, string>; rss?: boolean }): Promise<ChildResult> {
  const rssFile = path.join(os.tmpdir(), `facemesh-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const nodeArgs = opts.rss ? ["--import", pathToFileURL(RSS_PROBE).href, ...args] : args;
  const env = { ...process.env, ...opts.env, ...(opts.rss ? { BENCH_RSS_FILE: rssFile } : {}) };
  const t0 = performance.now();
  const result = await new Promise<Omit<ChildResult, "maxRssKb" | "cpuMs" | "childCpuMs">>((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-200_000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - t0 });
    });
  });
  let probe: { maxRssKb: number | null; cpuMs: number | null; childCpuMs: number | null } = { maxRssKb: null, cpuMs: null, childCpuMs: null };
  if (opts.rss) {
    try {
      probe = { ...probe, ...(JSON.parse(await readFile(rssFile, "utf8")) as typeof probe) };
    } catch {
      // no probe output: the child died before its exit handler
    }
    await rm(rssFile, { force: true });
  }
  return { ...result, ...probe };
}

function failure(what: string, r: ChildResult): Error {
  const tail = r.stderr.trim().split("\n").slice(-5).join("\n");
  return new Error(`${what}: exit ${r.code ?? "killed (timeout)"}${tail ? `\n${tail}` : ""}`);
}

function parseTiming(stderr: string): PipelineTiming | null {
  const line = stderr.split("\n").find((l) => l.startsWith("facemesh-timing "));
  return line ? (JSON.parse(line.slice("facemesh-timing ".length)) as PipelineTiming) : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Environment.

export interface Environment {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntimeNode: string;
  litertjs: string;
  ffmpeg: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  startedAt: string;
  finishedAt?: string;
  /** Processes other than ours using > 20% CPU when the bench started (the machine is shared). */
  busyNeighbours: string[];
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line) return line.split(":")[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? "unknown";
}

async function busyNeighbours(): Promise<string[]> {
  return new Promise((resolve) => {
    const child = spawn("ps", ["-eo", "pcpu,etime,args", "--sort=-pcpu"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.on("error", () => resolve([]));
    child.on("close", () =>
      resolve(
        out
          .split("\n")
          .slice(1)
          .map((l) => l.trim())
          .filter((l) => Number(l.split(/\s+/)[0]) > 20 && !l.includes("bench/bench.js") && !/\bps -eo\b/.test(l))
          .map((l) => l.slice(0, 160)),
      ),
    );
  });
}

async function environment(): Promise<Environment> {
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    onnxruntimeNode: packageVersion("onnxruntime-node"),
    litertjs: packageVersion("@litertjs/core"),
    ffmpeg: await toolVersion(await resolveTool("ffmpeg")).catch(() => "unknown"),
    loadAverageStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    startedAt: new Date().toISOString(),
    busyNeighbours: await busyNeighbours(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Model only.

interface LiteRtRun {
  variant: "plain" | "threaded";
  threads: number;
  perSecond: number;
  cpuMsPerCall: number | null;
}

async function ortModelRound(seconds: number): Promise<ModelSpeedOutput> {
  // The session defaults, which the pipeline uses too: all cores (as the threaded LiteRT.js build), one copy per core.
  const r = await runChild([MODEL_SPEED, "--batches", BATCHES.join(","), "--seconds", String(seconds)], { timeoutMs: 600_000 });
  if (r.code !== 0) throw failure("model_speed", r);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as ModelSpeedOutput;
}

/** The attention model (refine_landmarks) with the same session defaults. */
async function attentionModelRound(seconds: number): Promise<ModelSpeedOutput> {
  const r = await runChild([MODEL_SPEED, "--model", "face_landmark_with_attention", "--batches", BATCHES.join(","), "--seconds", String(seconds)], { timeoutMs: 600_000 });
  if (r.code !== 0) throw failure("model_speed (attention)", r);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as ModelSpeedOutput;
}

async function liteRtRound(variant: "plain" | "threaded", seconds: number): Promise<LiteRtRun> {
  const r = await runChild([LITERT_SPEED, "--model", "face_landmark", "--variant", variant, "--seconds", String(seconds), "--json"], { timeoutMs: 180_000 });
  if (r.code !== 0) throw failure(`LiteRT.js ${variant}`, r);
  const m = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as { threads: number; perSecond: number; cpuMsPerCall?: number };
  return { variant, threads: m.threads, perSecond: m.perSecond, cpuMsPerCall: m.cpuMsPerCall ?? null };
}

/** Section 1, one round: face_landmark and the attention model in onnxruntime, then LiteRT.js (peers). Errors are recorded, not thrown. */
async function modelOnlyRound(results: Results, seconds: number, peers: boolean): Promise<void> {
  try {
    results.modelOnly.ort.push(await ortModelRound(seconds));
  } catch (err) {
    results.errors.push(`model only (onnxruntime): ${(err as Error).message}`);
  }
  try {
    results.modelOnly.attention.push(await attentionModelRound(seconds));
  } catch (err) {
    results.errors.push(`model only (attention model): ${(err as Error).message}`);
  }
  if (!peers) return;
  for (const variant of ["plain", "threaded"] as const) {
    try {
      results.modelOnly.litert.push(await liteRtRound(variant, Math.max(2, seconds)));
    } catch (err) {
      results.errors.push(`LiteRT.js ${variant}: ${(err as Error).message}`);
    }
  }
}

/**
 * The --tune matrix, model only: each entry changes one setting from the base (the session defaults: all cores,
 * one session copy per core on its own inference thread).
 */
const ALL_CORES = String(os.availableParallelism());
const TUNE_CONFIGS: ReadonlyArray<{ name: string; args: string[] }> = [
  { name: "base (defaults: one session copy per core)", args: [] },
  { name: "one copy, intra-op threads: all cores (the default until session 2)", args: ["--workers", "1"] },
  { name: "one copy, one thread", args: ["--threads", "1"] },
  { name: "spinning on", args: ["--spinning"] },
  { name: "chunk 1", args: ["--model-batch", "1"] },
  { name: "chunk 4", args: ["--model-batch", "4"] },
  { name: "chunk 16", args: ["--model-batch", "16"] },
  { name: "no chunking (one call of 50)", args: ["--model-batch", "none"] },
  { name: "session on the JS thread (intra-op threads: all cores)", args: ["--threads", ALL_CORES, "--thread", "main"] },
  { name: "no CPU graph rewrite", args: ["--no-rewrite"] },
];

interface TuneRun {
  name: string;
  round: number;
  facesPerSecond: number;
  cpuMsPerFace: number;
}

async function tuneRound(round: number, seconds: number): Promise<TuneRun[]> {
  const out: TuneRun[] = [];
  for (const c of TUNE_CONFIGS) {
    const r = await runChild([MODEL_SPEED, "--batches", "50", "--seconds", String(seconds), ...c.args], { timeoutMs: 300_000 });
    if (r.code !== 0) throw failure(`model_speed ${c.name}`, r);
    const o = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as ModelSpeedOutput;
    out.push({ name: c.name, round, facesPerSecond: o.results[0].facesPerSecond, cpuMsPerFace: o.results[0].cpuMsPerFace });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. End to end.

/** bbox: with a bbox stream; video: no bbox stream, tracking (the default); detect: no bbox stream, --no-tracking (static mode). */
type Mode = "bbox" | "video" | "detect";

interface E2eRun {
  video: string;
  mode: Mode;
  /** --refine-landmarks: the attention model, 478 points (steady-state runs only). */
  refine?: boolean;
  round: number;
  frames: number;
  wallMs: number;
  /** frames / process wall time (start of node to exit: module loading, model loading, probing included). */
  wallFps: number;
  /** frames / pipeline time (first frame requested to last row written). */
  pipelineFps: number | null;
  maxRssKb: number | null;
  /** CPU time per frame of the whole job: the node process (start-up included) + ffmpeg/ffprobe, ms. */
  cpuMsPerFrame: number | null;
  /** CPU time per frame while frames flow: the node process during run() (FACEMESH_TIMING) + ffmpeg/ffprobe, ms. */
  pipelineCpuMsPerFrame: number | null;
  timing: PipelineTiming | null;
}

async function bboxStream(video: BenchVideo, log: (m: string) => void): Promise<{ file: string; detectRun?: { frames: number; wallMs: number } }> {
  const file = path.join(CACHE, "bbox", `${video.name.replace(/[/\\]/g, "__")}.bbox.stream`);
  const fresh = existsSync(file) && existsSync(`${file}~`) && (await stat(file)).mtimeMs >= (await stat(video.file)).mtimeMs;
  if (fresh) return { file };
  await mkdir(path.dirname(file), { recursive: true });
  log(`  facemesh detect ${video.name} -> bbox stream`);
  const r = await runChild([CLI, "detect", video.file, "--out", file], { timeoutMs: 900_000 });
  if (r.code !== 0) throw failure(`facemesh detect ${video.file}`, r);
  const rows = /: (\d+) rows/.exec(r.stdout);
  return { file, detectRun: { frames: rows ? Number(rows[1]) : NaN, wallMs: r.wallMs } };
}

async function e2eRun(video: BenchVideo, mode: Mode, bbox: string, round: number, timeoutMs: number, refine = false): Promise<E2eRun> {
  const out = path.join(CACHE, "out", `${video.name.replace(/[/\\]/g, "__")}.${mode}${refine ? ".refine" : ""}.stream`);
  await mkdir(path.dirname(out), { recursive: true });
  const args = [CLI, "run", video.file, "--out", out, ...(mode === "bbox" ? ["--bbox", bbox] : mode === "detect" ? ["--no-tracking"] : []), ...(refine ? ["--refine-landmarks"] : [])];
  const r = await runChild(args, { timeoutMs, env: { FACEMESH_TIMING: "1" }, rss: true });
  if (r.code !== 0) throw failure(`facemesh run ${mode} ${video.file}`, r);
  const timing = parseTiming(r.stderr);
  const rows = /: (\d+) rows x/.exec(r.stdout);
  const frames = timing?.frames ?? (rows ? Number(rows[1]) : NaN);
  await rm(out, { force: true });
  await rm(`${out}~`, { force: true });
  return {
    video: video.name,
    mode,
    ...(refine ? { refine } : {}),
    round,
    frames,
    wallMs: r.wallMs,
    wallFps: frames / (r.wallMs / 1000),
    pipelineFps: timing ? frames / (timing.wallMs / 1000) : null,
    maxRssKb: r.maxRssKb,
    cpuMsPerFrame: r.cpuMs !== null ? (r.cpuMs + (r.childCpuMs ?? 0)) / frames : null,
    pipelineCpuMsPerFrame: timing?.cpuMs !== undefined && r.childCpuMs !== null ? (timing.cpuMs + r.childCpuMs) / frames : null,
    timing,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// MediaPipe's web pipeline (per-frame graph times).

interface MpStats {
  mode: MpMode;
  source: "cache" | "run here";
  frames: number;
  medianMs: number;
  /** frames / sum of per-frame graph times: MediaPipe's throughput, its init excluded (median over the runs). */
  fps: number;
  /** fps of each run (one per round when measured in this bench run, else the cached one). */
  runs: number[];
  chromium: string | null;
  host: unknown;
}

function mpStats(ref: MpReference, source: MpStats["source"]): MpStats {
  const ms = ref.frames.map((f) => f.ms);
  const total = ms.reduce((a, b) => a + b, 0);
  const fps = (ms.length / total) * 1000;
  return { mode: ref.mode, source, frames: ms.length, medianMs: spread(ms).median, fps, runs: [fps], chromium: ref.harness.chromium, host: ref.harness.host };
}

/**
 * MediaPipe's timing on one video: measured now (fresh: the harness runs even when its landmarks are cached, so
 * that its frame rate and ours come from the same machine state), else from the cache, else measured once.
 */
async function mediapipeFor(video: BenchVideo, mode: MpMode, allowRun: boolean, fresh: boolean, log: (m: string) => void): Promise<MpStats | string> {
  const spec = { dataset: video.dataset, name: video.stem, file: video.file, kind: "video" as const };
  if (!fresh) {
    const cached = await cachedReference(spec, mode);
    if (cached) return mpStats(cached, "cache");
  }
  if (!existsSync(CHROMIUM)) return `not measured: ${fresh ? "" : "no cache and "}no Chromium at ${CHROMIUM}`;
  if (!allowRun) return "not measured: no cache (--no-peers)";
  try {
    log(`  MediaPipe (${mode}) on ${video.name}: running the harness`);
    const [ref] = await mediapipeReferences([spec], mode, { force: fresh, log: (m) => log(`    ${m}`) });
    return mpStats(ref, "run here");
  } catch (err) {
    return `not measured: ${(err as Error).message.split("\n")[0]}`;
  }
}

/** Several runs of one video and mode as one MpStats: fps is the median of the runs' fps. */
function mergeMp(runs: Array<MpStats | string>): MpStats | string {
  const ok = runs.filter((r): r is MpStats => typeof r === "object");
  if (ok.length === 0) return runs[0] ?? "not measured";
  const fps = ok.map((r) => r.fps);
  return { ...ok[0], fps: spread(fps).median, runs: fps, medianMs: spread(ok.map((r) => r.medianMs)).median };
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Stage costs on their own (in this process).

interface StageCosts {
  video: string;
  frames: number;
  /** decodeFrames alone (ffmpeg child + pipe reads), frames per second. */
  decodeFps: number;
  /** One 192x192 landmark crop (imageToTensor), CPU ms. */
  cropMs: number;
  /** One detector letterbox (128x128), CPU ms. */
  letterboxMs: number;
}

async function stageCosts(video: BenchVideo): Promise<StageCosts> {
  const info = await probeVideo(video.file);
  let first: RgbImage | null = null;
  let frames = 0;
  const t0 = performance.now();
  for await (const f of decodeFrames(video.file, info)) {
    first ??= f;
    frames++;
  }
  const decodeFps = frames / ((performance.now() - t0) / 1000);
  const img = first!;
  const out = new Float32Array(3 * 192 * 192);
  const side = Math.min(img.width, img.height) * 0.6;
  const roi = { cx: img.width / 2, cy: img.height / 2, width: side, height: side, rotation: 0.1 };
  const opts = { range: { min: 0, max: 1 }, border: "replicate" as const };
  const cpuMs = (fn: () => void, n: number): number => {
    for (let i = 0; i < 20; i++) fn();
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / n;
  };
  const cropMs = cpuMs(() => imageToTensor(img, roi, 192, out, 0, opts), 500);
  const lb = letterboxRoi(img.width, img.height);
  const lbOut = new Float32Array(3 * 128 * 128);
  const letterboxMs = cpuMs(() => imageToTensor(img, lb.roi, 128, lbOut, 0, { range: { min: -1, max: 1 }, border: "zero" }), 500);
  return { video: video.name, frames, decodeFps, cropMs, letterboxMs };
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

interface Results {
  environment: Environment;
  settings: { runs: number; seconds: number; long: boolean; batches: number[] };
  modelOnly: { ort: ModelSpeedOutput[]; litert: LiteRtRun[]; attention: ModelSpeedOutput[] };
  videos: Array<{ name: string; file: string; source: string; width: number; height: number; frames: number; codec: string; talkingHead512: boolean }>;
  detectCommand: Array<{ video: string; frames: number; wallMs: number }>;
  e2e: E2eRun[];
  longVideo: E2eRun[];
  /** The talking heads looped to at least STEADY_MIN_FRAMES frames (loopedVideo), both modes, every round. */
  steady: Array<E2eRun & { original: string; loops: number }>;
  /** Segment-batched tracking (bench/segment_speed.ts): each talking head looped 16x against the clip itself. */
  segmentBatched: Array<{ original: string; speeds: SegmentSpeed[] }>;
  /** Queue mode on this machine (bench/queue_speed.ts): a looped talking head on 1, 2 and 4 workers; absent without redis-server. */
  queue?: QueueSpeedResult;
  mediapipe: Record<string, Partial<Record<MpMode, MpStats | string>>>;
  stages: StageCosts[];
  /** The head pose's cost per frame (bench/geometry_cost.ts). */
  geometry?: GeometryCost;
  tuning: TuneRun[];
  errors: string[];
}

const f0 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(0));
const f1 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(1));
const f2 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(2));
const sp = (s: Spread, fmt = f0): string => (s.n === 0 ? "–" : s.n === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`);
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(1)}x` : "–");
const mib = (kb: number | null | undefined): number => (kb === null || kb === undefined ? NaN : kb / 1024);

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function markdown(r: Results): string {
  const e = r.environment;
  const out: string[] = [];
  out.push(`# facemesh benchmark (${e.startedAt})`, "");
  out.push(
    `${e.cpuModel}, ${e.cores} cores, ${e.memoryGiB} GiB, ${e.os}; Node ${e.node}, onnxruntime-node ${e.onnxruntimeNode}, @litertjs/core ${e.litertjs}; ${e.ffmpeg}.`,
    `Load average (1/5/15 min) at start ${e.loadAverageStart.join(" / ")}, at end ${e.loadAverageEnd?.join(" / ") ?? "?"}. ` +
      `Medians of ${r.settings.runs} run(s), (min–max) in brackets.`,
  );
  if (e.busyNeighbours.length > 0) out.push("", `Other busy processes at start (shared machine): ${e.busyNeighbours.map((b) => `\`${b}\``).join("; ")}`);

  // 1. Model only.
  const litert = (v: LiteRtRun["variant"]) => spread(r.modelOnly.litert.filter((x) => x.variant === v).map((x) => x.perSecond));
  const lp = litert("plain");
  const lt = litert("threaded");
  const bestLite = Math.max(lp.median || 0, lt.median || 0);
  const liteCpu = spread(r.modelOnly.litert.filter((x) => x.variant === "plain").map((x) => x.cpuMsPerCall ?? NaN));
  out.push("", "## Model only: face_landmark, faces per second", "");
  out.push(
    `LiteRT.js, same .tflite, batch 1 (it cannot batch): plain Wasm build (1 thread) ${sp(lp)}, threaded build (${r.modelOnly.litert.find((x) => x.variant === "threaded")?.threads ?? "?"} threads) ${sp(lt)}` +
      `; plain build CPU ${f2(liteCpu.median)} ms per face.`,
    "",
  );
  const rows: string[][] = [];
  const attention = (r.modelOnly.attention ?? []).length > 0;
  for (const b of r.settings.batches) {
    const runs = r.modelOnly.ort.flatMap((o) => o.results.filter((x) => x.batch === b));
    const fps = spread(runs.map((x) => x.facesPerSecond));
    const cpu = spread(runs.map((x) => x.cpuMsPerFace));
    const row = [String(b), sp(fps), ratio(fps.median, bestLite), ratio(fps.median, lp.median), f2(cpu.median), ratio(liteCpu.median, cpu.median)];
    if (attention) {
      const att = spread(r.modelOnly.attention.flatMap((o) => o.results.filter((x) => x.batch === b)).map((x) => x.facesPerSecond));
      row.push(sp(att), ratio(fps.median, att.median));
    }
    rows.push(row);
  }
  const heads = ["batch", "onnxruntime faces/s", "vs best LiteRT.js", "vs LiteRT.js plain", "CPU ms/face", "CPU efficiency vs LiteRT.js plain"];
  out.push(table(attention ? [...heads, "attention model (refine_landmarks) faces/s", "face_landmark / attention"] : heads, rows));
  const cfg = r.modelOnly.ort[0]?.config;
  if (cfg) out.push("", `onnxruntime: ${cfg.thread} thread${cfg.thread === "worker" ? "s" : ""}, threads ${cfg.threads ?? `default (all cores: ${os.availableParallelism()})`}${cfg.workers ? `, ${cfg.workers} session copies` : ""}, model calls of at most ${cfg.modelBatch ?? "the CPU default"} faces, CPU graph rewrite ${cfg.cpuGraphRewrite ? "on" : "off"}, spinning ${cfg.spinning ? "on" : "off"}.`);

  // 2. End to end.
  out.push("", "## End to end: `facemesh run`, frames per second", "");
  out.push(
    "wall = frames / (process start to exit: Node start, model load, ffprobe included); pipeline = frames / (first frame requested to last row written). " +
      "MediaPipe = frames / sum of its per-frame graph times (init, PNG decoding excluded): its tracking (video) mode beside our bbox mode and our video mode (no bbox stream, tracking), its static mode (detection every frame) beside our static mode (no bbox stream, --no-tracking).",
    "",
  );
  const e2eRows: string[][] = [];
  for (const v of r.videos) {
    const mp = r.mediapipe[v.name] ?? {};
    const mpFps = (m: MpMode) => (typeof mp[m] === "object" ? (mp[m] as MpStats).fps : NaN);
    const mpCell = (m: MpMode) => (typeof mp[m] === "object" ? sp(spread((mp[m] as MpStats).runs), f1) : "–");
    const cell = (mode: Mode) => {
      const runs = r.e2e.filter((x) => x.video === v.name && x.mode === mode);
      return { wall: spread(runs.map((x) => x.wallFps)), pipe: spread(runs.map((x) => x.pipelineFps ?? NaN)), rss: spread(runs.map((x) => mib(x.maxRssKb))) };
    };
    const b = cell("bbox");
    const vm = cell("video");
    const d = cell("detect");
    e2eRows.push([
      `${v.name}${v.talkingHead512 ? " *" : ""}`,
      `${v.width}x${v.height} ${v.codec}, ${v.frames}`,
      sp(b.wall),
      sp(b.pipe),
      mpCell("none"),
      `${ratio(b.wall.median, mpFps("none"))} / ${ratio(b.pipe.median, mpFps("none"))}`,
      sp(vm.wall),
      sp(vm.pipe),
      `${ratio(vm.wall.median, mpFps("none"))} / ${ratio(vm.pipe.median, mpFps("none"))}`,
      sp(d.wall),
      sp(d.pipe),
      mpCell("flush"),
      `${ratio(d.wall.median, mpFps("flush"))} / ${ratio(d.pipe.median, mpFps("flush"))}`,
      `${f0(b.rss.median)} / ${f0(d.rss.median)}`,
    ]);
  }
  out.push(
    table(
      ["video", "size, codec, frames", "bbox: wall fps", "bbox: pipeline fps", "MediaPipe tracking fps", "ratio wall / pipeline", "video mode: wall fps", "video mode: pipeline fps", "ratio to MediaPipe tracking, wall / pipeline", "static (detect): wall fps", "static: pipeline fps", "MediaPipe static fps", "ratio wall / pipeline", "peak RSS MiB bbox / detect"],
      e2eRows,
    ),
  );
  out.push("", "\\* the 512x512 talking-head videos the targets refer to (>= 10x MediaPipe with a bbox stream, >= 5x in detection mode).");
  out.push(
    "",
    "### CPU time per frame (load-independent)",
    "",
    `CPU ms per frame while frames flow (the facemesh process during the pipeline, all its threads, plus ffmpeg; start-up excluded), the whole job's (start-up included), and the frame rate the first gives on ${r.environment.cores} otherwise idle cores if the stages overlap perfectly (cores x 1000 / CPU ms): an upper bound, not a measurement. On a shared machine wall-clock fps mostly measures the neighbours; CPU time much less.`,
    "",
  );
  const cpuRows: string[][] = [];
  for (const v of r.videos) {
    const mp = r.mediapipe[v.name] ?? {};
    const mpFps = (m: MpMode) => (typeof mp[m] === "object" ? (mp[m] as MpStats).fps : NaN);
    const runs = (mode: Mode) => r.e2e.filter((x) => x.video === v.name && x.mode === mode);
    const pipe = (mode: Mode) => spread(runs(mode).map((x) => x.pipelineCpuMsPerFrame ?? NaN));
    const whole = (mode: Mode) => spread(runs(mode).map((x) => x.cpuMsPerFrame ?? NaN));
    const bound = (c: Spread) => (r.environment.cores * 1000) / c.median;
    const b = pipe("bbox");
    const vm = pipe("video");
    const d = pipe("detect");
    cpuRows.push([
      v.name,
      `${f2(b.median)} / ${f2(whole("bbox").median)}`,
      f0(bound(b)),
      ratio(bound(b), mpFps("none")),
      `${f2(vm.median)} / ${f2(whole("video").median)}`,
      f0(bound(vm)),
      ratio(bound(vm), mpFps("none")),
      `${f2(d.median)} / ${f2(whole("detect").median)}`,
      f0(bound(d)),
      ratio(bound(d), mpFps("flush")),
    ]);
  }
  out.push(table(["video", "bbox CPU ms/frame (flowing / whole job)", "bbox bound fps", "vs MediaPipe tracking", "video mode CPU ms/frame", "video bound fps", "vs MediaPipe tracking", "static CPU ms/frame (flowing / whole job)", "static bound fps", "vs MediaPipe static"], cpuRows));
  const notMeasured = Object.entries(r.mediapipe).flatMap(([v, m]) => Object.entries(m).filter(([, s]) => typeof s === "string").map(([mode, s]) => `${v} (${mode}): ${s as string}`));
  if (notMeasured.length > 0) out.push("", `MediaPipe ${notMeasured.join("; ")}`);
  const mpAny = Object.values(r.mediapipe).flatMap((m) => Object.values(m)).find((s): s is MpStats => typeof s === "object");
  if (mpAny) out.push("", `MediaPipe measured with Chromium ${mpAny.chromium ?? "?"} on ${JSON.stringify(mpAny.host)} (${mpAny.source === "run here" ? "in this bench run, once per round" : "cached timings from .cache/mediapipe"}).`);

  if (r.steady.length > 0) {
    out.push(
      "",
      "### Steady state: the talking heads looped (same content, stream copy)",
      "",
      `Each talking head looped to at least ${STEADY_MIN_FRAMES} frames, with a bbox stream of its own (\`facemesh detect\` on the looped clip). The clips above have 78 to 200 frames, 2 to 4 batches, so the pipeline's fill and drain and its warm-up weigh on them; here they weigh 5 to 13 times less. MediaPipe's figure is the same as above (its per-frame graph time on the original clip, which does not depend on length).`,
      "",
    );
    const sRows: string[][] = [];
    for (const name of [...new Set(r.steady.map((x) => x.original))]) {
      const mp = r.mediapipe[name] ?? {};
      const mpFps = (m: MpMode) => (typeof mp[m] === "object" ? (mp[m] as MpStats).fps : NaN);
      const runs = (mode: Mode) => r.steady.filter((x) => x.original === name && x.mode === mode && !x.refine);
      const pipe = (mode: Mode) => spread(runs(mode).map((x) => x.pipelineFps ?? NaN));
      const cpu = (mode: Mode) => spread(runs(mode).map((x) => x.pipelineCpuMsPerFrame ?? NaN));
      const b = pipe("bbox");
      const vm = pipe("video");
      const d = pipe("detect");
      const any = r.steady.find((x) => x.original === name)!;
      sRows.push([name, `x${any.loops}, ${any.frames}`, sp(b), ratio(b.median, mpFps("none")), f2(cpu("bbox").median), sp(vm), ratio(vm.median, mpFps("none")), f2(cpu("video").median), sp(d), ratio(d.median, mpFps("flush")), f2(cpu("detect").median)]);
    }
    out.push(table(["video", "loops, frames", "bbox: pipeline fps", "vs MediaPipe tracking", "bbox CPU ms/frame", "video mode: pipeline fps", "vs MediaPipe tracking", "video CPU ms/frame", "static: pipeline fps", "vs MediaPipe static", "static CPU ms/frame"], sRows));
    const refined = r.steady.filter((x) => x.refine);
    if (refined.length > 0) {
      out.push(
        "",
        "### refine_landmarks: the attention model end to end (478 points)",
        "",
        "The same looped talking heads with `--refine-landmarks`, beside the plain rows of the same rounds: pipeline frame rate and CPU ms per frame while frames flow; extra = refine minus plain (CPU ms per frame).",
        "",
      );
      const rRows: string[][] = [];
      for (const name of [...new Set(refined.map((x) => x.original))]) {
        for (const mode of ["bbox", "video"] as const) {
          const of = (refine: boolean) => r.steady.filter((x) => x.original === name && x.mode === mode && !!x.refine === refine);
          const fps = (refine: boolean) => spread(of(refine).map((x) => x.pipelineFps ?? NaN));
          const cpu = (refine: boolean) => spread(of(refine).map((x) => x.pipelineCpuMsPerFrame ?? NaN));
          if (of(true).length === 0) continue;
          rRows.push([name, mode, sp(fps(false)), sp(fps(true)), f2(cpu(false).median), f2(cpu(true).median), f2(cpu(true).median - cpu(false).median)]);
        }
      }
      out.push(table(["video", "mode", "plain: pipeline fps", "refine: pipeline fps", "plain CPU ms/frame", "refine CPU ms/frame", "extra CPU ms/frame"], rRows));
    }
  }

  if (r.segmentBatched.length > 0) {
    out.push(
      "",
      "### Segment-batched tracking (bbox mode, `facemesh run --parallel-segments K`)",
      "",
      "Each talking head looped 16x (stream copy) against the clip itself, rounds interleaved: marginal frames/s = frames added / wall time added, so start-up cancels out; K = 1 is the unsplit run, K > 1 splits the looped clip into K segments tracked side by side (one model call carries one face of each). CPU bound = cores x 1000 / CPU ms per added frame (node and ffmpeg).",
      "",
    );
    const segRows = r.segmentBatched.flatMap(({ original, speeds }) => {
      const mp = r.mediapipe[original]?.none;
      const mpFps = typeof mp === "object" ? mp.fps : NaN;
      return speeds.map((x) => [original, String(x.k), `${f0(x.marginalFps)} (${x.rounds.map(f0).join(", ")})`, ratio(x.marginalFps, mpFps), f0(x.cpuBoundFps), ratio(x.cpuBoundFps, mpFps)]);
    });
    out.push(table(["video", "K", "marginal fps (rounds)", "vs MediaPipe tracking", "CPU bound fps", "vs MediaPipe tracking"], segRows));
  }

  if (r.queue) {
    const q = r.queue;
    out.push(
      "",
      "### Queue mode on this machine (`facemesh serve --queue` + `facemesh worker`s, bench/queue_speed.ts)",
      "",
      `${path.basename(q.video)}: ${q.frames} frames in bbox mode, segment_seconds ${q.segmentSeconds} (${q.parts} parts), ${q.cores} cores; POST to FINISHED against an unsplit \`facemesh run\` (${f0(q.unsplit.fps)} fps, CPU ${f1(q.unsplit.cpuMs / 1000)} s). Rows compared byte for byte.`,
      "",
    );
    out.push(table(["workers", "wall s", "fps", "vs unsplit", "CPU s", "plan / parts / join s", "rows"], q.runs.map((x) => [String(x.workers), f1(x.wallMs / 1000), f0(x.fps), `${x.speedup.toFixed(2)}x`, f1(x.cpuMs / 1000), x.phasesS ? `${x.phasesS.plan} / ${x.phasesS.parts} / ${x.phasesS.join}` : "-", x.identical ? "identical" : "DIFFERENT"])));
  }

  // Where the time goes.
  out.push("", "## Where the time goes (per frame, ms; median run of each)", "");
  out.push(
    "JS thread: waiting for decoded frames, cropping (landmark crops + detector letterboxes), post-processing (decode of detections, projection, rows), waiting for the model, writing. " +
      "The model runs on the inference thread at the same time: model = time inside onnxruntime per frame (landmarks + detector); re-crops = tracked frames cropped a second time (speculative rotation off by more than the tolerance), per frame.",
    "",
  );
  const tRows: string[][] = [];
  for (const v of r.videos) {
    for (const mode of ["bbox", "video", "detect"] as const) {
      const runs = r.e2e.filter((x) => x.video === v.name && x.mode === mode && x.timing).sort((a, b) => a.wallMs - b.wallMs);
      const m = runs[runs.length >> 1];
      if (!m?.timing) continue;
      const t = m.timing;
      const pf = (x: number) => f2(x / t.frames);
      tRows.push([v.name, mode, pf(t.wallMs), pf(t.decodeWaitMs), pf(t.cropMs), pf(t.postMs), pf(t.modelWaitMs), pf(t.consumerMs), pf(t.landmarkModelMs + t.detectorModelMs), f2(t.trackingRecrops / t.frames)]);
    }
  }
  out.push(table(["video", "mode", "total", "decode wait", "crop", "post", "model wait", "write", "model (other thread)", "re-crops"], tRows));

  // Stage costs.
  if (r.stages.length > 0) {
    out.push("", "## Stage costs on their own", "");
    out.push(
      table(
        ["video", "decode alone fps (ffmpeg + pipe)", "192x192 crop CPU ms", "detector letterbox CPU ms"],
        r.stages.map((s) => [s.video, f0(s.decodeFps), f2(s.cropMs), f2(s.letterboxMs)]),
      ),
    );
  }
  if (r.geometry) {
    const g = r.geometry;
    out.push("", `Head pose (--head-pose-out; pose fit + angles per frame with a face, JS thread): ${f1(g.wallUsPerFrame)} µs/frame wall, ${f1(g.cpuUsPerFrame)} µs CPU (${g.frames} frames over ${g.faces} real faces).`);
  }

  // Memory.
  if (r.longVideo.length > 0) {
    out.push("", "## Memory: 10-minute vs 10-second 720p clip (peak RSS of the facemesh process)", "");
    const mRows: string[][] = [];
    for (const mode of ["bbox", "detect"] as const) {
      const short = spread(r.e2e.filter((x) => x.video === "generated/720p-10s" && x.mode === mode).map((x) => mib(x.maxRssKb)));
      const long = r.longVideo.find((x) => x.mode === mode);
      mRows.push([mode, f0(short.median), f0(mib(long?.maxRssKb)), ratio(mib(long?.maxRssKb), short.median), f0(long?.wallFps), f0(long?.pipelineFps)]);
    }
    out.push(table(["mode", "10 s MiB", "10 min MiB", "ratio (target <= 1.5x)", "10 min wall fps", "10 min pipeline fps"], mRows));
  }
  if (r.tuning.length > 0) {
    out.push("", "## Session settings (--tune): model only, batch 50, one setting changed at a time", "", "The pipeline uses the same defaults (all cores, one session copy each, spinning off).", "");
    const base = spread(r.tuning.filter((x) => x.name === TUNE_CONFIGS[0].name).map((x) => x.facesPerSecond));
    out.push(
      table(
        ["setting", "faces/s", "vs defaults", "CPU ms/face"],
        TUNE_CONFIGS.map((c) => {
          const runs = r.tuning.filter((x) => x.name === c.name);
          const fps = spread(runs.map((x) => x.facesPerSecond));
          return [c.name, sp(fps), ratio(fps.median, base.median), f2(spread(runs.map((x) => x.cpuMsPerFace)).median)];
        }),
      ),
    );
  }
  if (r.errors.length > 0) out.push("", "## Errors", "", ...r.errors.map((x) => `- ${x}`));
  return `${out.join("\n")}\n`;
}

const writeAtomic = (file: string, text: string): Promise<void> => writeFileAtomic(file, text);

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string" },
      seconds: { type: "string", default: "2" },
      "no-long": { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      "no-peers": { type: "boolean", default: false },
      "mediapipe-cache": { type: "boolean", default: false },
      tune: { type: "boolean", default: false },
      "tune-only": { type: "boolean", default: false },
      "model-only": { type: "boolean", default: false },
      out: { type: "string", default: path.join(ROOT, "bench") },
    },
  });
  const quick = values.quick;
  const runs = Number(values.runs ?? (quick ? 1 : 3));
  const seconds = Number(values.seconds);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
  if (!(seconds > 0)) throw new Error(`--seconds must be positive, got ${values.seconds}`);
  const long = !values["no-long"] && !quick;
  for (const f of [CLI, MODEL_SPEED, RSS_PROBE, LITERT_SPEED]) if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsc -p .)`);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;

  const env = await environment();
  log(`${env.cpuModel}, ${env.cores} cores, load ${env.loadAverageStart.join(" ")}`);
  if (env.busyNeighbours.length > 0) log(`busy neighbours: ${env.busyNeighbours.join(" | ")}`);
  const results: Results = {
    environment: env,
    settings: { runs, seconds, long, batches: BATCHES },
    modelOnly: { ort: [], litert: [], attention: [] },
    videos: [],
    detectCommand: [],
    e2e: [],
    longVideo: [],
    steady: [],
    segmentBatched: [],
    mediapipe: {},
    stages: [],
    tuning: [],
    errors: [],
  };

  if (values.tune || values["tune-only"]) {
    for (let round = 0; round < runs; round++) {
      log(`tuning round ${round + 1}/${runs} [${elapsed()}]`);
      try {
        results.tuning.push(...(await tuneRound(round, seconds)));
      } catch (err) {
        results.errors.push(`tuning: ${(err as Error).message}`);
      }
    }
    if (values["tune-only"]) {
      await finish(results, values.out, log, elapsed);
      return;
    }
  }

  if (values["model-only"]) {
    for (let round = 0; round < runs; round++) {
      log(`round ${round + 1}/${runs} [${elapsed()}]: model only`);
      await modelOnlyRound(results, seconds, !values["no-peers"]);
    }
    await finish(results, values.out, log, elapsed);
    return;
  }

  // Inputs.
  const shared = sharedVideos(SHARED_DATA);
  if (shared.length === 0) log(`${SHARED_DATA} absent: shared videos skipped, generated clips only`);
  const gen = await generatedVideos(CACHE, long, log);
  let videos = [...shared, gen.clip512, gen.clip720];
  if (values.only) videos = videos.filter((v) => v.name.includes(values.only!));
  const bboxes = new Map<string, string>();
  for (const v of videos) {
    const info = await probeVideo(v.file);
    results.videos.push({ name: v.name, file: path.relative(ROOT, v.file), source: v.source, width: info.width, height: info.height, frames: info.frameCount, codec: info.codec, talkingHead512: v.talkingHead512 });
    const b = await bboxStream(v, log);
    bboxes.set(v.name, b.file);
    if (b.detectRun) results.detectCommand.push({ video: v.name, ...b.detectRun });
  }

  // Steady state: each talking head looped to at least STEADY_MIN_FRAMES frames, with its own bbox stream.
  const steadyVideos: Array<{ video: BenchVideo; original: string; loops: number; bbox: string }> = [];
  for (const v of videos.filter((x) => x.talkingHead512)) {
    try {
      const frames = results.videos.find((x) => x.name === v.name)?.frames ?? 0;
      const looped = await loopedVideo(CACHE, v, frames, STEADY_MIN_FRAMES, log);
      const b = await bboxStream(looped, log);
      steadyVideos.push({ video: looped, original: v.name, loops: looped.loops, bbox: b.file });
    } catch (err) {
      results.errors.push(`steady state, ${v.name}: ${(err as Error).message}`);
    }
  }

  // MediaPipe is measured in every round, beside our runs (unless --mediapipe-cache: cached timings, or one run
  // where none is cached). Not on the 720p clip: the targets are about 512x512 talking heads, and 720p would cost
  // minutes of Chromium per round.
  const mpVideos = videos.filter((v) => v.name !== gen.clip720.name);
  const freshMp = !values["mediapipe-cache"] && !values["no-peers"] && existsSync(CHROMIUM);
  const mpRuns = new Map<string, Array<MpStats | string>>();
  const measureMp = async (): Promise<void> => {
    for (const v of mpVideos) {
      for (const mode of ["none", "flush"] as const) {
        const key = `${v.name}\u0000${mode}`;
        mpRuns.set(key, [...(mpRuns.get(key) ?? []), await mediapipeFor(v, mode, !values["no-peers"], freshMp, log)]);
      }
    }
  };

  // 1 + 2, interleaved round by round.
  for (let round = 0; round < runs; round++) {
    log(`round ${round + 1}/${runs} [${elapsed()}]: model only`);
    await modelOnlyRound(results, seconds, !values["no-peers"]);
    log(`round ${round + 1}/${runs} [${elapsed()}]: end to end`);
    for (const v of videos) {
      for (const mode of ["bbox", "video", "detect"] as const) {
        try {
          const r = await e2eRun(v, mode, bboxes.get(v.name)!, round, 300_000);
          results.e2e.push(r);
          log(`  ${v.name} ${mode}: ${r.frames} frames, ${f0(r.wallFps)} fps wall, ${f0(r.pipelineFps)} fps pipeline, ${f0(mib(r.maxRssKb))} MiB`);
        } catch (err) {
          results.errors.push(`${v.name} ${mode}: ${(err as Error).message}`);
        }
      }
    }
    for (const s of steadyVideos) {
      for (const mode of ["bbox", "video", "detect"] as const) {
        try {
          const r = await e2eRun(s.video, mode, s.bbox, round, 600_000);
          results.steady.push({ ...r, original: s.original, loops: s.loops });
          log(`  ${s.video.name} ${mode}: ${r.frames} frames, ${f0(r.pipelineFps)} fps pipeline`);
        } catch (err) {
          results.errors.push(`${s.video.name} ${mode}: ${(err as Error).message}`);
        }
      }
      // refine_landmarks beside the plain rows (issue 13): tracked modes, where it adds one model call per frame.
      for (const mode of ["bbox", "video"] as const) {
        try {
          const r = await e2eRun(s.video, mode, s.bbox, round, 600_000, true);
          results.steady.push({ ...r, original: s.original, loops: s.loops });
          log(`  ${s.video.name} ${mode} --refine-landmarks: ${r.frames} frames, ${f0(r.pipelineFps)} fps pipeline`);
        } catch (err) {
          results.errors.push(`${s.video.name} ${mode} --refine-landmarks: ${(err as Error).message}`);
        }
      }
    }
    if (freshMp || round === 0) {
      log(`round ${round + 1}/${runs} [${elapsed()}]: MediaPipe web pipeline (${freshMp ? "measured now" : "cache, or measured once"})`);
      await measureMp();
    }
  }
  for (const v of mpVideos) {
    results.mediapipe[v.name] = {};
    for (const mode of ["none", "flush"] as const) results.mediapipe[v.name][mode] = mergeMp(mpRuns.get(`${v.name}\u0000${mode}`) ?? []);
  }

  // Segment-batched tracking beside the steady state: the talking heads looped 16x against the clips themselves.
  for (const v of videos.filter((x) => x.talkingHead512)) {
    try {
      log(`[${elapsed()}] segment-batched tracking: ${v.name}`);
      const frames = results.videos.find((x) => x.name === v.name)?.frames ?? 0;
      const looped = await loopedVideo(CACHE, v, frames, frames * 16, log);
      const b = await bboxStream(looped, log);
      const speeds = await segmentSpeed({ file: v.file, bbox: bboxes.get(v.name)! }, { file: looped.file, bbox: b.file }, [1, Math.max(2, DEFAULT_PARALLEL_SEGMENTS)], runs, (m) => log(`  ${m}`));
      results.segmentBatched.push({ original: v.name, speeds });
    } catch (err) {
      results.errors.push(`segment-batched tracking, ${v.name}: ${(err as Error).message}`);
    }
  }

  // Queue mode on this machine: the first talking head looped to 10 000 frames, 5 segments, 1 / 2 / 4 workers.
  const head = videos.find((x) => x.talkingHead512);
  if (head && !values.quick) {
    try {
      log(`[${elapsed()}] queue mode: ${head.name}`);
      const frames = results.videos.find((x) => x.name === head.name)?.frames ?? 0;
      const looped = await loopedVideo(CACHE, head, frames, 10_000, log);
      const b = await bboxStream(looped, log);
      const seconds = Math.ceil((await probeVideo(looped.file)).durationSec / 5);
      results.queue = await queueSpeed(looped.file, b.file, { workers: [1, 2, 4], segmentSeconds: seconds, log: (m) => log(`  ${m}`) });
    } catch (err) {
      results.errors.push(`queue mode: ${(err as Error).message}`);
    }
  }

  // 3. The long clip: once per mode.
  if (gen.long720 && (!values.only || gen.long720.name.includes(values.only))) {
    log(`[${elapsed()}] 10-minute 720p clip`);
    try {
      const b = await bboxStream(gen.long720, log);
      if (b.detectRun) results.detectCommand.push({ video: gen.long720.name, ...b.detectRun });
      for (const mode of ["bbox", "detect"] as const) {
        const r = await e2eRun(gen.long720, mode, b.file, 0, 1_800_000);
        results.longVideo.push(r);
        log(`  ${mode}: ${r.frames} frames, ${f0(r.wallFps)} fps wall, ${f0(mib(r.maxRssKb))} MiB`);
      }
    } catch (err) {
      results.errors.push(`10-minute clip: ${(err as Error).message}`);
    }
  }

  // 4. Stage costs.
  log(`[${elapsed()}] stage costs`);
  for (const v of videos) {
    try {
      results.stages.push(await stageCosts(v));
    } catch (err) {
      results.errors.push(`stage costs ${v.name}: ${(err as Error).message}`);
    }
  }
  try {
    results.geometry = await measureGeometryCost();
  } catch (err) {
    results.errors.push(`head pose cost: ${(err as Error).message}`);
  }

  await finish(results, values.out, log, elapsed);
}

async function finish(results: Results, outDir: string, log: (m: string) => void, elapsed: () => string): Promise<void> {
  const env = results.environment;
  env.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  env.finishedAt = new Date().toISOString();
  await mkdir(outDir, { recursive: true });
  await writeAtomic(path.join(outDir, "results.json"), `${JSON.stringify(results, null, 1)}\n`);
  await writeAtomic(path.join(outDir, "results.md"), markdown(results));
  log(`[${elapsed()}] wrote ${path.join(outDir, "results.json")} and results.md`);
  if (results.errors.length > 0) {
    log(`${results.errors.length} error(s):\n${results.errors.join("\n")}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
