/**
 * Segment-batched tracking, end to end (`facemesh run --bbox`, process start to exit): the marginal throughput of
 * a looped clip against the clip itself (frames added / time added, so start-up cancels out), unsplit and with K
 * segments side by side (segment length = the looped clip's duration / K), rounds interleaved, medians.
 * Wall frames/s, and the CPU bound (cores x 1000 / CPU ms per added frame, the node process and its ffmpeg
 * children), which a busy machine does not distort as much as wall time.
 *
 *   node dist/bench/segment_speed.js [--rounds 3] [--ks 1,2,4,8] CLIP=CLIP_BBOX LOOPED=LOOPED_BBOX [MEDIAPIPE_FPS]
 *
 * bench.ts calls segmentSpeed() for its steady-state section.
 */
import { spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { probeVideo } from "../lib/video/probe.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, "../lib/cli.js");
const PROBE = path.resolve(HERE, "rss_probe.js");

interface Run {
  wallMs: number;
  cpuMs: number;
}

async function run(video: string, bbox: string, out: string, extra: string[]): Promise<Run> {
  const probeFile = path.join(os.tmpdir(), `facemesh-segspeed-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t0 = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", pathToFileURL(PROBE).href, CLI, "run", video, "--bbox", bbox, "--out", out, ...extra], {
      env: { ...process.env, BENCH_RSS_FILE: probeFile },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stderr: err }));
  });
  const wallMs = performance.now() - t0;
  if (code !== 0) throw new Error(`facemesh run ${video} ${extra.join(" ")}: exit ${code}\n${stderr}`);
  const probe = JSON.parse(await readFile(probeFile, "utf8")) as { cpuMs: number; childCpuMs: number | null };
  await rm(probeFile, { force: true });
  await rm(out, { force: true });
  await rm(`${out}~`, { force: true });
  return { wallMs, cpuMs: probe.cpuMs + (probe.childCpuMs ?? 0) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface SegmentSpeed {
  /** Segments side by side (1: unsplit). */
  k: number;
  /** Added frames / added wall time, frames/s (median over the rounds, each round against its own clip run). */
  marginalFps: number;
  /** cores x 1000 / CPU ms per added frame. */
  cpuBoundFps: number;
  rounds: number[];
}

/** See the file comment. */
export async function segmentSpeed(clip: { file: string; bbox: string }, looped: { file: string; bbox: string }, ks: number[], rounds: number, log: (m: string) => void = () => undefined): Promise<SegmentSpeed[]> {
  const [ci, li] = await Promise.all([probeVideo(clip.file), probeVideo(looped.file)]);
  const added = li.frameCount - ci.frameCount;
  const out = path.join(os.tmpdir(), `facemesh-segspeed-${process.pid}.stream`);
  const cores = os.cpus().length;
  const per = new Map<number, { fps: number[]; cpu: number[] }>(ks.map((k) => [k, { fps: [], cpu: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const k of ks) {
      // Interleaved: each configuration's looped run right after a run of the clip itself.
      const base = await run(clip.file, clip.bbox, out, ["--segment-seconds", "0"]);
      const seconds = k === 1 ? 0 : li.durationSec / k + 0.5 / li.fps;
      const long = await run(looped.file, looped.bbox, out, ["--segment-seconds", String(seconds), "--parallel-segments", String(k)]);
      const p = per.get(k)!;
      p.fps.push((added / (long.wallMs - base.wallMs)) * 1000);
      p.cpu.push((cores * 1000) / ((long.cpuMs - base.cpuMs) / added));
      log(`round ${r + 1}, K=${k}: ${p.fps.at(-1)!.toFixed(0)} frames/s marginal, CPU bound ${p.cpu.at(-1)!.toFixed(0)}`);
    }
  }
  return ks.map((k) => ({ k, marginalFps: median(per.get(k)!.fps), cpuBoundFps: median(per.get(k)!.cpu), rounds: per.get(k)!.fps }));
}

async function main(argv: string[]): Promise<void> {
  let rounds = 3;
  let ks = [1, 2, 4, 8];
  const pairs: Array<{ file: string; bbox: string }> = [];
  let mediapipeFps: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--rounds") rounds = Number(argv[++i]);
    else if (a === "--ks") ks = argv[++i]!.split(",").map(Number);
    else if (a.includes("=")) {
      const [file, bbox] = a.split("=");
      pairs.push({ file: file!, bbox: bbox! });
    } else mediapipeFps = Number(a);
  }
  if (pairs.length !== 2) throw new Error("usage: segment_speed.js [--rounds N] [--ks 1,2,4] CLIP=BBOX LOOPED=BBOX [MEDIAPIPE_FPS]");
  const results = await segmentSpeed(pairs[0]!, pairs[1]!, ks, rounds, (m) => console.error(m));
  for (const r of results) {
    const vs = mediapipeFps ? `, ${(r.marginalFps / mediapipeFps).toFixed(1)}x MediaPipe (${mediapipeFps.toFixed(1)} fps); CPU bound ${(r.cpuBoundFps / mediapipeFps).toFixed(1)}x` : "";
    console.log(`K=${r.k}: marginal ${r.marginalFps.toFixed(0)} frames/s (rounds ${r.rounds.map((x) => x.toFixed(0)).join(", ")}), CPU bound ${r.cpuBoundFps.toFixed(0)} frames/s${vs}`);
  }
}

if (process.argv[1]?.endsWith("segment_speed.js")) await main(process.argv.slice(2));
