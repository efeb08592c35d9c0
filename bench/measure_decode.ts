/**
 * A quick measurement (not a test): decode throughput of decodeFrames and the CPU time ffmpeg and Node spend per
 * frame, for several `-threads` settings; plus the cost of a fresh frame buffer per frame versus reusing one.
 *
 *   node dist/bench/measure_decode.js [video ...]     (default: ../shared/data/liveportrait/d12.mp4)
 *
 * ffmpeg's CPU time is read from this process's cutime/cstime in /proc/self/stat (the CPU time of children that
 * have been waited for), so it is Linux-only; elsewhere it prints n/a.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeFrames } from "../lib/video/decode.js";
import { probeVideo } from "../lib/video/probe.js";

/** CPU seconds used by reaped child processes (user + system), or undefined off Linux. */
function childCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ": state is field 3 (index 0 here); cutime, cstime are fields 16, 17.
    const ticks = Number(fields[16 - 3]) + Number(fields[17 - 3]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export interface DecodeMeasurement {
  file: string;
  threads: number | "auto";
  frames: number;
  wallSec: number;
  fps: number;
  /** ffmpeg's CPU seconds per wall second (1.0 = one core busy). */
  ffmpegCores?: number;
  ffmpegCpuMsPerFrame?: number;
  nodeCpuMsPerFrame: number;
}

export async function measureDecode(file: string, threads: number | "auto"): Promise<DecodeMeasurement> {
  const info = await probeVideo(file);
  const child0 = childCpuSeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let frames = 0;
  for await (const f of decodeFrames(file, info, threads === "auto" ? {} : { threads })) {
    if (f.data.length > 0) frames++;
  }
  const wallSec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const child1 = childCpuSeconds();
  const ffmpegCpu = child0 !== undefined && child1 !== undefined ? child1 - child0 : undefined;
  return {
    file,
    threads,
    frames,
    wallSec,
    fps: frames / wallSec,
    ffmpegCores: ffmpegCpu !== undefined ? ffmpegCpu / wallSec : undefined,
    ffmpegCpuMsPerFrame: ffmpegCpu !== undefined ? (ffmpegCpu * 1000) / frames : undefined,
    nodeCpuMsPerFrame: (cpu.user + cpu.system) / 1000 / frames,
  };
}

/**
 * Time per frame to move one frame of pipe chunks into (a) a fresh buffer each time, (b) the next buffer of a pool
 * of 51 (what a consumer holding batches of 50 frames would need); the last 50 frames are kept alive in both.
 */
export function measureBufferStrategies(frameBytes: number, frames: number): { freshMs: number; pooledMs: number } {
  const chunk = new Uint8Array(65536).fill(7);
  const fill = (dst: Uint8Array) => {
    for (let off = 0; off < frameBytes; off += chunk.length) dst.set(chunk.subarray(0, Math.min(chunk.length, frameBytes - off)), off);
  };
  const run = (next: () => Uint8Array) => {
    const held: Uint8Array[] = [];
    const t = performance.now();
    for (let i = 0; i < frames; i++) {
      const b = next();
      fill(b);
      held.push(b);
      if (held.length > 50) held.shift();
    }
    return (performance.now() - t) / frames;
  };
  const freshMs = run(() => new Uint8Array(frameBytes));
  const pool = Array.from({ length: 51 }, () => new Uint8Array(frameBytes));
  let k = 0;
  const pooledMs = run(() => pool[k++ % pool.length]!);
  return { freshMs, pooledMs };
}

async function main(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const files = process.argv.slice(2);
  if (files.length === 0) files.push(path.resolve(here, "../../../shared/data/liveportrait/d12.mp4"));
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "unknown"}), node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  for (const file of files) {
    await measureDecode(file, "auto"); // warm the page cache and the binary
    for (const threads of ["auto", 1, 2, 4] as const) {
      const runs: DecodeMeasurement[] = [];
      for (let r = 0; r < 3; r++) runs.push(await measureDecode(file, threads));
      runs.sort((a, b) => a.wallSec - b.wallSec);
      const m = runs[1]!; // median of 3
      const f = (v: number | undefined, d = 1) => (v === undefined ? "n/a" : v.toFixed(d));
      console.log(
        `${path.basename(file)} threads=${String(threads).padEnd(4)} ${m.frames} frames ${f(m.fps, 0).padStart(4)} frames/s; ` +
          `ffmpeg ${f(m.ffmpegCpuMsPerFrame, 2)} ms CPU/frame (${f(m.ffmpegCores, 2)} cores busy); node ${f(m.nodeCpuMsPerFrame, 2)} ms CPU/frame`,
      );
    }
  }
  const info = await probeVideo(files[0]!);
  const b = measureBufferStrategies(info.width * info.height * 3, 300);
  console.log(`frame buffer ${info.width}x${info.height}x3: fresh ${b.freshMs.toFixed(3)} ms/frame, pooled ${b.pooledMs.toFixed(3)} ms/frame`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
