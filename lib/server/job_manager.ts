/**
 * Runs jobs: a queue (jobs beyond --jobs wait), one forked process per job (job_worker.ts), cancel by SIGTERM
 * then SIGKILL, and the job's state, progress and log kept in the JobStore / JobLog.
 *
 * Guarantees: one job per jobID at a time (claim() reserves the id synchronously, before the request's awaits);
 * --jobs counts live processes; every path from queued to running ends in a state (an exception while starting
 * a job makes it ERROR and frees its slot, it never escapes into the server's event loop).
 */
import { fork, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sweepStale } from "../atomic_file.js";
import type { JobRequest } from "../nova/hooks.js";
import { threadsPerJob, type ServerConfig } from "./config.js";
import type { DbPlan } from "./db_sources.js";
import { JobLog } from "./job_log.js";
import { discoverTime, JobStatus, type JobRecord, type JobStore } from "./job_store.js";
import { isWorkerMessage, type RunMessage, type WorkerMessage } from "./worker_protocol.js";

export interface QueuedJob {
  jobKey: string;
  entryPath: string;
  request: JobRequest;
  /** Environment variables the module may see besides the basic ones (manifest permissions.env). */
  envAllow: string[];
  log: JobLog;
  /** NOVA database sessions to run on (`db:` entries); holds dbPassword, so it goes only to the job's process. */
  db?: DbPlan;
}

interface Running {
  job: QueuedJob;
  child: ChildProcess;
  finished: boolean;
  cancelling: boolean;
  /** Set when the server itself stops the job (shutdown): the job ends as ERROR with this reason. */
  stopReason?: string;
  outcome?: { ok: true } | { ok: false; reason: string };
  exited: Promise<void>;
  lastPersist: number;
}

/** Always passed to a job: what a process needs to find programs, the user's locale and temp dir. */
const BASE_ENV = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TEMP", "TMP", "NODE_ENV"];
const PROGRESS_PERSIST_MS = 1000;

/** The worker script next to this file: .js when compiled, .ts when run through a TypeScript loader. */
function workerScript(): { file: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  return { file: path.join(path.dirname(self), `job_worker${ext}`), execArgv: ext === ".ts" ? process.execArgv : [] };
}

export class JobManager {
  private readonly queue: QueuedJob[] = [];
  private readonly running = new Map<string, Running>();
  /** jobIDs reserved by a request that is still being checked (claim -> enqueue or release). */
  private readonly claimed = new Set<string>();
  /** Job processes alive now (a cancelled job counts until its process has exited). */
  private processes = 0;
  private closed = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly store: JobStore,
  ) {}

  /**
   * Reserves a jobID for a request being checked; false when that id is already active or reserved. Synchronous,
   * so two concurrent requests with one id cannot both pass. Follow with enqueue() or release().
   */
  claim(jobKey: string): boolean {
    if (this.closed || this.isActive(jobKey)) return false;
    this.claimed.add(jobKey);
    return true;
  }

  release(jobKey: string): void {
    this.claimed.delete(jobKey);
  }

  /** Queues a job whose record (WAITING) is already in the store. */
  enqueue(job: QueuedJob): void {
    this.claimed.delete(job.jobKey);
    if (this.closed) {
      this.settle(job, JobStatus.ERROR, "the server stopped before the job started");
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  isActive(jobKey: string): boolean {
    return this.claimed.has(jobKey) || this.running.has(jobKey) || this.queue.some((j) => j.jobKey === jobKey);
  }

  /** Job processes alive now (tests, diagnostics). */
  get liveProcesses(): number {
    return this.processes;
  }

  /** Pid of a running job's process (tests, diagnostics). */
  pidOf(jobKey: string): number | undefined {
    return this.running.get(jobKey)?.child.pid;
  }

  private pump(): void {
    while (!this.closed && this.processes < this.config.jobs && this.queue.length > 0) {
      const job = this.queue.shift()!;
      try {
        this.start(job);
      } catch (err) {
        // Whatever went wrong while starting (a message that cannot be serialised, a spawn failure): this job
        // is ERROR, its process (if any) is stopped, and the queue goes on.
        const reason = `could not start the job: ${(err as Error)?.message ?? String(err)}`;
        const run = this.running.get(job.jobKey);
        if (run) {
          run.stopReason = reason;
          this.stopProcess(run);
        } else {
          this.settle(job, JobStatus.ERROR, reason);
          job.log.critical(`Job failed with exception ${reason}`);
        }
      }
    }
  }

  private start(job: QueuedJob): void {
    const { file, execArgv } = workerScript();
    const env: NodeJS.ProcessEnv = {};
    for (const k of [...BASE_ENV, ...job.envAllow]) if (process.env[k] !== undefined) env[k] = process.env[k];
    env.TMPDIR = this.config.tmpDir;
    // A hint for modules: the inference threads this job should use, so N jobs at once share the cores instead of
    // each loading a model copy per core (facemesh.ts reads it).
    env.NOVA_JOB_THREADS = String(threadsPerJob(this.config.jobs));
    const argv = [...execArgv];
    if (this.config.jobMemoryMb) argv.push(`--max-old-space-size=${this.config.jobMemoryMb}`);
    this.store.update(job.jobKey, { status: JobStatus.RUNNING, startTime: discoverTime(), progress: "" });
    job.log.info(`job started (process for ${path.basename(job.entryPath)})`);
    const child = fork(file, [], { cwd: this.config.workDir, env, execArgv: argv, stdio: ["ignore", "pipe", "pipe", "ipc"], serialization: "json" });
    this.processes++;
    let resolveExit!: () => void;
    const run: Running = {
      job,
      child,
      finished: false,
      cancelling: false,
      exited: new Promise<void>((r) => (resolveExit = r)),
      lastPersist: 0,
    };
    this.running.set(job.jobKey, run);
    // What the module prints goes to the job's log: stdout as INFO, stderr (crashes, V8's out-of-memory report) as ERROR.
    createInterface({ input: child.stdout! }).on("line", (l) => job.log.info(l));
    createInterface({ input: child.stderr! }).on("line", (l) => job.log.error(l));
    child.on("message", (m: unknown) => {
      if (isWorkerMessage(m)) this.onMessage(run, m);
    });
    child.on("error", (err) => job.log.error(`job process error: ${err.message}`));
    child.on("exit", (code, signal) => {
      this.processes--;
      // Let the stdout/stderr readers drain before the final verdict line.
      setImmediate(() => {
        try {
          this.onExit(run, code, signal);
        } finally {
          resolveExit();
        }
      });
    });
    const msg: RunMessage = { type: "run", entryPath: job.entryPath, request: job.request, db: job.db };
    child.send(msg, (err) => {
      if (err && !run.finished) {
        run.stopReason ??= `could not hand the job to its process: ${err.message}`;
        this.stopProcess(run);
      }
    });
  }

  private onMessage(run: Running, m: WorkerMessage): void {
    const { job } = run;
    switch (m.type) {
      case "log":
        job.log.write(m.level, m.message);
        break;
      case "progress": {
        const now = Date.now();
        const persist = now - run.lastPersist >= PROGRESS_PERSIST_MS;
        if (persist) run.lastPersist = now;
        this.store.update(job.jobKey, { progress: `${m.done}/${m.total ?? "?"}` }, persist);
        break;
      }
      case "done":
        run.outcome = { ok: true };
        break;
      case "failed":
        run.outcome = { ok: false, reason: m.message };
        if (m.stack && !run.cancelling) job.log.error(m.stack);
        break;
    }
  }

  private onExit(run: Running, code: number | null, signal: NodeJS.Signals | null): void {
    const { job } = run;
    run.finished = true;
    this.running.delete(job.jobKey);
    void this.sweepOutputs(job);
    if (run.stopReason) {
      this.settle(job, JobStatus.ERROR, run.stopReason);
      job.log.critical(`Job failed with exception ${run.stopReason}`);
    } else if (run.cancelling) {
      this.settle(job, JobStatus.CANCELED, "");
      job.log.info("Action successfully canceled.");
    } else if (run.outcome?.ok && code === 0) {
      this.settle(job, JobStatus.FINISHED, "");
      job.log.info("job finished");
    } else {
      let reason: string;
      if (run.outcome && !run.outcome.ok) reason = run.outcome.reason;
      else if (signal) {
        reason = `the job process was killed by ${signal}` + (signal === "SIGKILL" ? " (killed from outside, or out of memory)" : signal === "SIGABRT" ? " (crashed; out of memory?)" : "");
      } else reason = `the job process exited with code ${code} before the job was done`;
      this.settle(job, JobStatus.ERROR, reason);
      job.log.critical(`Job failed with exception ${reason}`);
    }
    this.pump();
  }

  /** The job's process is gone: temporary files it left next to its outputs (killed mid-write) are removed. */
  private async sweepOutputs(job: QueuedJob): Promise<void> {
    const outputs = Object.values(job.request.outputs ?? {});
    const byDir = new Map<string, string[]>();
    for (const f of outputs) {
      const names = byDir.get(path.dirname(f)) ?? [];
      names.push(path.basename(f), `${path.basename(f)}~`);
      byDir.set(path.dirname(f), names);
    }
    for (const [dir, only] of byDir) await sweepStale(dir, { only }).catch(() => undefined);
  }

  private settle(job: QueuedJob, status: JobStatus, error: string): void {
    this.store.update(job.jobKey, { status, endTime: discoverTime(), error });
  }

  /**
   * Cancels a job. WAITING: dropped from the queue. RUNNING: SIGTERM (the module's signal aborts), SIGKILL after
   * the grace period; resolves once the process is gone. Returns false when the job was not active.
   */
  async cancel(jobKey: string): Promise<boolean> {
    const idx = this.queue.findIndex((j) => j.jobKey === jobKey);
    if (idx >= 0) {
      const [job] = this.queue.splice(idx, 1);
      this.settle(job, JobStatus.CANCELED, "");
      job.log.info("Action successfully canceled (before it started).");
      return true;
    }
    const run = this.running.get(jobKey);
    if (!run) return false;
    if (!run.cancelling) {
      run.cancelling = true;
      run.job.log.info("cancel requested");
      this.stopProcess(run);
    }
    await run.exited;
    return true;
  }

  private stopProcess(run: Running): void {
    run.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (!run.finished) run.child.kill("SIGKILL");
    }, this.config.cancelGraceMs);
    timer.unref();
  }

  /** Stops everything: waiting jobs and running ones become ERROR ("server stopped"). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      this.settle(job, JobStatus.ERROR, "the server stopped before the job started");
      job.log.critical("Job failed with exception the server stopped before the job started");
    }
    const runs = [...this.running.values()];
    for (const run of runs) {
      run.stopReason = "the server stopped while the job was running";
      this.stopProcess(run);
    }
    await Promise.all(runs.map((r) => r.exited));
  }

  /** Store record for a job (convenience for routes). */
  record(jobKey: string): JobRecord | undefined {
    return this.store.get(jobKey);
  }
}
