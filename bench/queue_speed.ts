/**
 * Queue mode on one machine: one long video in bbox mode as one job of a `facemesh serve --queue` server, run by
 * 1, 2 and 4 `facemesh worker`s (each one job at a time), against an unsplit `facemesh run` of the same video in
 * the same round. Every run's stream is compared byte for byte with the unsplit one. Wall frames/s from the job's
 * POST to FINISHED, and the CPU all workers used (their job processes and ffmpeg included, from /proc).
 *
 *   node dist/bench/queue_speed.js VIDEO BBOX [--workers 1,2,4] [--segment-seconds 60] [--rounds 1] [--json FILE]
 *
 * Needs redis-server (Debian's package); bench.ts calls queueSpeed() when there is one.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { NovaClient } from "../lib/server/client.js";
import { JobStatus } from "../lib/server/job_store.js";
import { probeVideo } from "../lib/video/probe.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CLI = path.join(ROOT, "dist/lib/cli.js");
const CLK_TCK = 100;

export interface QueueSpeed {
  workers: number;
  wallMs: number;
  fps: number;
  /** CPU ms of all workers (their job processes and decoders included). */
  cpuMs: number;
  /** Wall time of the unsplit `facemesh run` / this. */
  speedup: number;
  /** The stream is byte for byte the unsplit run's. */
  identical: boolean;
  /** From the job's log (1-s resolution): planning (job start to split), parts (split to join), join (to the end). */
  phasesS: { plan: number; parts: number; join: number } | null;
}

/** Seconds between the log lines that start the phases (job started, split, joining, job finished). */
function phases(log: string): QueueSpeed["phasesS"] {
  const at = (pattern: RegExp) => {
    const line = log.split("\n").find((l) => pattern.test(l));
    const m = line && /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(line);
    return m ? Date.parse(m[1]!.replace(" ", "T")) / 1000 : undefined;
  };
  const [start, split, joining, end] = [at(/job started/), at(/split into \d+ parts/), at(/joining \d+ parts/), at(/job finished/)];
  if (start === undefined || split === undefined || joining === undefined || end === undefined) return null;
  return { plan: split - start, parts: joining - split, join: end - joining };
}

export interface QueueSpeedResult {
  video: string;
  frames: number;
  segmentSeconds: number;
  parts: number;
  cores: number;
  unsplit: { wallMs: number; fps: number; cpuMs: number };
  runs: QueueSpeed[];
}

function redisBinary(): string | undefined {
  const r = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** CPU ms of a process and its reaped children (utime + stime + cutime + cstime). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
}

function start(args: string[], cwd: string, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c;
      const m = ready.exec(out);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`facemesh ${args[0]} exited with ${code}:\n${out.slice(-2000)}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGKILL");
  return gone;
}

export async function queueSpeed(video: string, bbox: string, options: { workers: number[]; segmentSeconds: number; log: (m: string) => void }): Promise<QueueSpeedResult> {
  const redisBin = redisBinary();
  if (!redisBin) throw new Error("redis-server is not installed (apt-get install redis-server)");
  const info = await probeVideo(video);
  const frames = info.frameCount;
  const dir = mkdtempSync(path.join(os.tmpdir(), "facemesh-queue-bench-"));
  const children: ChildProcess[] = [];
  try {
    const cml = path.join(dir, "cml");
    mkdirSync(path.join(cml, "modules"), { recursive: true });
    symlinkSync(ROOT, path.join(cml, "modules", "facemesh"));
    // The unsplit reference: facemesh run with segments off.
    const reference = path.join(dir, "unsplit.stream");
    const cpuBefore = cpuMsOf(process.pid);
    const t0 = performance.now();
    const ref = spawnSync(process.execPath, [CLI, "run", video, "--bbox", bbox, "--out", reference, "--segment-seconds", "0"], { encoding: "utf8" });
    if (ref.status !== 0) throw new Error(`facemesh run: ${ref.stderr}`);
    const unsplitMs = performance.now() - t0;
    // Blocked in spawnSync, this process used next to nothing: the difference is the run's (reaped children).
    const unsplitCpuMs = cpuMsOf(process.pid) - cpuBefore;
    options.log(`unsplit facemesh run: ${frames} frames in ${(unsplitMs / 1000).toFixed(1)} s (${((frames * 1000) / unsplitMs).toFixed(0)} fps), CPU ${(unsplitCpuMs / 1000).toFixed(1)} s`);
    const refBytes = readFileSync(`${reference}~`);

    const port = await freePort();
    const redis = spawn(redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    children.push(redis);
    const url = `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 300));
    const server = await start(["serve", "--port", "0", "--queue", url, "--cml-dir", cml, "--tmp-dir", path.join(dir, "tmp"), "--log-dir", path.join(dir, "log"), "--cache-dir", path.join(dir, "cache")], dir, /listening on (http\S+)[\s\S]*\n {2}queue /);
    children.push(server.child);
    const client = new NovaClient(server.match[1]!);
    const runs: QueueSpeed[] = [];
    let parts = 0;
    for (const n of options.workers) {
      const workers = [];
      for (let i = 0; i < n; i++) {
        const w = await start(["worker", "--queue", url, "--cml-dir", cml, "--tmp-dir", path.join(dir, "tmp"), "--jobs", "1", "--name", `w${i + 1}`], dir, new RegExp(`facemesh worker w${i + 1} on`));
        workers.push(w.child);
        children.push(w.child);
      }
      const cpu0 = workers.map((w) => cpuMsOf(w.pid!));
      const out = path.join(dir, `queue-${n}.stream`);
      const jobID = `bench-${n}`;
      const data = JSON.stringify([
        { src: "file:stream:video", type: "input", id: "data", uri: video },
        { src: "file:stream:ssistream", type: "input", id: "bounding_box", uri: bbox },
        { src: "file:stream:ssistream", type: "output", id: "landmarks", uri: out },
      ]);
      const t1 = performance.now();
      const res = await client.post("/process", { jobID, trainerFilePath: "modules/facemesh/facemesh.trainer", data, options: JSON.stringify({ segment_seconds: options.segmentSeconds }) });
      if (res.status !== 200) throw new Error(`/process: ${res.text()}`);
      const status = await client.waitFor(jobID, [JobStatus.FINISHED, JobStatus.ERROR, JobStatus.CANCELED], 3_600_000, 100);
      const wallMs = performance.now() - t1;
      const log = await client.log(jobID);
      if (status !== JobStatus.FINISHED) throw new Error(`${n} workers: job ${JobStatus[status]}\n${log.slice(-3000)}`);
      parts = Number(/split into (\d+) parts/.exec(log)?.[1] ?? 1);
      const cpuMs = workers.reduce((s, w, i) => s + cpuMsOf(w.pid!) - cpu0[i]!, 0);
      const identical = readFileSync(`${out}~`).equals(refBytes);
      const run = { workers: n, wallMs, fps: (frames * 1000) / wallMs, cpuMs, speedup: unsplitMs / wallMs, identical, phasesS: phases(log) };
      runs.push(run);
      options.log(`${n} worker(s): ${parts} parts, ${(wallMs / 1000).toFixed(1)} s, ${run.fps.toFixed(0)} fps, CPU ${(cpuMs / 1000).toFixed(1)} s, x${run.speedup.toFixed(2)} the unsplit run, rows ${identical ? "identical" : "DIFFERENT"}; phases ${JSON.stringify(run.phasesS)} s`);
      for (const w of workers) await stop(w);
    }
    return { video, frames, segmentSeconds: options.segmentSeconds, parts, cores: os.availableParallelism(), unsplit: { wallMs: unsplitMs, fps: (frames * 1000) / unsplitMs, cpuMs: unsplitCpuMs }, runs };
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { workers: { type: "string", default: "1,2,4" }, "segment-seconds": { type: "string", default: "60" }, json: { type: "string" } },
  });
  const [video, bbox] = positionals;
  if (!video || !bbox) {
    console.error("usage: node dist/bench/queue_speed.js VIDEO BBOX [--workers 1,2,4] [--segment-seconds 60] [--json FILE]");
    process.exit(2);
  }
  const result = await queueSpeed(video, bbox, { workers: values.workers.split(",").map(Number), segmentSeconds: Number(values["segment-seconds"]), log: (m) => console.log(m) });
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
}
