/**
 * `facemesh worker`: one machine's share of a queue-mode server (README "Several machines"). It needs the same
 * modules (cml_dir) and sees the same data folders, at the same paths, as the server that queues the jobs.
 */
import path from "node:path";
import type { Argv, CommandModule } from "yargs";
import { ConfigError, defaultJobs, ENV_NAMES } from "../config.js";
import { existsSync, mkdirSync, statSync } from "node:fs";
import os from "node:os";
import { parseQueueUrl, QueueUrlError } from "./queue_url.js";
import type { QueueWorkerConfig } from "./queue_worker.js";

/** How long a job's lock lasts without renewal (BullMQ's default): a dead worker's jobs go to others after about this. */
export const DEFAULT_LOCK_MS = 30_000;

export interface WorkerArgs {
  queue?: string;
  "cml-dir"?: string;
  "tmp-dir"?: string;
  jobs?: number;
  name?: string;
  "lock-seconds"?: number;
  "job-memory-mb"?: number;
}

function fromEnv(names: readonly string[]): string | undefined {
  for (const n of names) if (process.env[n]?.trim()) return process.env[n]!.trim();
  return undefined;
}

/** Flags > the server's environment variables > defaults; a ConfigError names the flag. */
export function resolveWorkerConfig(a: WorkerArgs, cwd = process.cwd()): QueueWorkerConfig {
  const url = a.queue ?? fromEnv(ENV_NAMES.queue);
  if (!url) throw new ConfigError(`--queue: give the queue's address, redis://host:port[/db] (or set ${ENV_NAMES.queue.join(" or ")})`);
  let queue;
  try {
    queue = parseQueueUrl(url, a.queue ? "--queue" : "the queue address in the environment");
  } catch (err) {
    if (err instanceof QueueUrlError) throw new ConfigError(err.message);
    throw err;
  }
  const whole = (v: number | undefined, flag: string, min: number, max: number, dflt: number) => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`--${flag}: ${v} must be a whole number from ${min} to ${max}`);
    return v;
  };
  const lock = a["lock-seconds"];
  if (lock !== undefined && !(Number.isFinite(lock) && lock >= 1 && lock <= 3600)) throw new ConfigError(`--lock-seconds: ${lock} must be from 1 to 3600`);
  return {
    queue,
    cmlDir: path.resolve(cwd, a["cml-dir"] ?? fromEnv(ENV_NAMES.cmlDir) ?? "cml"),
    tmpDir: path.resolve(cwd, a["tmp-dir"] ?? fromEnv(ENV_NAMES.tmpDir) ?? "tmp"),
    workDir: cwd,
    jobs: whole(a.jobs, "jobs", 1, 64, defaultJobs()),
    name: a.name?.trim() || `${os.hostname()}:${process.pid}`,
    lockMs: lock === undefined ? DEFAULT_LOCK_MS : Math.round(lock * 1000),
    cancelGraceMs: 500,
    jobMemoryMb: a["job-memory-mb"] === undefined ? undefined : whole(a["job-memory-mb"], "job-memory-mb", 16, 1024 * 1024, 0),
  };
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: "worker",
  describe: "Run queued jobs of a `facemesh serve --queue` server on this machine",
  builder: (y: Argv) =>
    y
      .option("queue", { type: "string", describe: `the server's queue, redis://host:port[/db] (env ${ENV_NAMES.queue.join(" | ")})` })
      .option("cml-dir", { type: "string", alias: "cml_dir", describe: `modules folder, as the server's (default cml; env ${ENV_NAMES.cmlDir.join(" | ")})` })
      .option("tmp-dir", { type: "string", alias: "tmp_dir", describe: `temporary files of the jobs (default tmp; env ${ENV_NAMES.tmpDir.join(" | ")})` })
      .option("jobs", { type: "number", describe: `jobs or parts run at once on this machine (default: one per two cores, ${defaultJobs()} here)` })
      .option("name", { type: "string", describe: "this worker's name in the job logs (default host:pid)" })
      .option("lock-seconds", { type: "number", describe: `a worker that dies frees its jobs for others after about this long (default ${DEFAULT_LOCK_MS / 1000})` })
      .option("job-memory-mb", { type: "number", describe: "V8 heap limit of each job process in MiB" }) as Argv<WorkerArgs>,
  handler: async (args) => {
    let config: QueueWorkerConfig;
    try {
      config = resolveWorkerConfig(args);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`facemesh worker: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    // As the server does (config.ts prepareDirectories): modules must be there; the job processes' temp folder is made.
    if (!existsSync(config.cmlDir) || !statSync(config.cmlDir).isDirectory()) {
      console.error(`facemesh worker: cml_dir ${config.cmlDir} is not a directory (set --cml-dir or ${ENV_NAMES.cmlDir[0]})`);
      process.exitCode = 2;
      return;
    }
    mkdirSync(config.tmpDir, { recursive: true });
    // Imported here: the other commands start without BullMQ.
    const { startQueueWorker } = await import("./queue_worker.js");
    const worker = await startQueueWorker(config);
    console.log(`facemesh worker ${config.name} on ${config.queue.display}\n  cml_dir ${config.cmlDir}\n  tmp_dir ${config.tmpDir}\n  jobs ${config.jobs}`);
    let stopping = false;
    const stop = (signal: string) => {
      // First signal: finish what runs, take nothing new. Second: stop the running jobs too (they are retried elsewhere).
      const force = stopping;
      stopping = true;
      console.log(`facemesh worker: ${signal}, ${force ? "stopping its jobs" : "finishing its jobs (again to stop them)"}`);
      worker.close(force).then(() => process.exit(0), () => process.exit(1));
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  },
};
