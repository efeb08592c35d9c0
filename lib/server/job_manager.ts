/**
 * Runs jobs: a queue (jobs beyond --jobs wait), one forked process per job (job_worker.ts), cancel by SIGTERM
 * then SIGKILL, and the job's state, progress and log kept in the JobStore / JobLog.
 *
 * Guarantees: one job per jobID at a time (claim() reserves the id synchronously, before the request's awaits);
 * --jobs counts live processes; every path from queued to running ends in a state (an exception while starting
 * a job makes it ERROR and frees its slot, it never escapes into the server's event loop).
 */
import path from "node:path";
import { sweepStale } from "../atomic_file.js";
import type { JobRequest } from "../nova/hooks.js";
import { threadsPerJob, type ServerConfig } from "./config.js";
import type { DbPlan } from "./db_sources.js";
import { JobLog } from "./job_log.js";
import { JobProcess, jobEnv, type ProcessOutcome } from "./job_process.js";
import { discoverTime, JobStatus, type JobRecord, type JobStore } from "./job_store.js";

export interface QueuedJob {
  jobKey: string;
  entryPath: string;
  /** The trainer's path relative to cml_dir (a queue worker finds the module in its own cml_dir by it). */
  trainerRel: string;
  request: JobRequest;
  /** Environment variables the module may see besides the basic ones (manifest permissions.env). */
  envAllow: string[];
  log: JobLog;
  /** NOVA database sessions to run on (`db:` entries); holds dbPassword, so it goes only to the job's process. */
  db?: DbPlan;
}

/**
 * What the server's endpoints need from whatever runs its jobs: this file's JobManager (processes on this
 * machine) or queue/queue_runner.ts (BullMQ workers anywhere).
 */
export interface JobRunner {
  /** Reserves a jobID for a request being checked; false when that id is active or reserved. Synchronous. */
  claim(jobKey: string): boolean;
  release(jobKey: string): void;
  /** Queues a job whose record (WAITING) is in the store; rejects (and records ERROR) when it cannot be queued. */
  enqueue(job: QueuedJob): void | Promise<void>;
  isActive(jobKey: string): boolean;
  /** Cancels a job; resolves once it has stopped. False when it was not active. */
  cancel(jobKey: string): Promise<boolean>;
  /** Brings records up to date with where the jobs run (a no-op where the runner updates them itself). */
  refresh(): Promise<void>;
  /** Job processes alive on this machine (tests, diagnostics). */
  readonly liveProcesses: number;
  /** Pid of a running job's process on this machine (tests, diagnostics). */
  pidOf(jobKey: string): number | undefined;
  close(): Promise<void>;
}

interface Running {
  job: QueuedJob;
  process: JobProcess;
  cancelling: boolean;
  /** Set when the server itself stops the job (shutdown): the job ends as ERROR with this reason. */
  stopReason?: string;
  exited: Promise<void>;
  lastPersist: number;
}

const PROGRESS_PERSIST_MS = 1000;

export class JobManager implements JobRunner {
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

  get liveProcesses(): number {
    return this.processes;
  }

  pidOf(jobKey: string): number | undefined {
    return this.running.get(jobKey)?.process.pid;
  }

  /** Records are updated as the processes report. */
  async refresh(): Promise<void> {}

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
    // NOVA_JOB_THREADS: a hint for modules, the inference threads this job should use, so N jobs at once share the
    // cores instead of each loading a model copy per core (facemesh.ts reads it).
    const env = jobEnv(job.envAllow, { TMPDIR: this.config.tmpDir, NOVA_JOB_THREADS: String(threadsPerJob(this.config.jobs)) });
    this.store.update(job.jobKey, { status: JobStatus.RUNNING, startTime: discoverTime(), progress: "" });
    job.log.info(`job started (process for ${path.basename(job.entryPath)})`);
    let run: Running | undefined;
    const proc = JobProcess.start(
      { type: "run", entryPath: job.entryPath, request: job.request, db: job.db },
      {
        cwd: this.config.workDir,
        env,
        memoryMb: this.config.jobMemoryMb,
        onLog: (level, message) => job.log.write(level, message),
        onProgress: (done, total) => {
          if (!run) return;
          const now = Date.now();
          const persist = now - run.lastPersist >= PROGRESS_PERSIST_MS;
          if (persist) run.lastPersist = now;
          this.store.update(job.jobKey, { progress: `${done}/${total ?? "?"}` }, persist);
        },
      },
    );
    this.processes++;
    run = {
      job,
      process: proc,
      cancelling: false,
      lastPersist: 0,
      // Waits for the sweep of its temporary files too: close() awaits it, and the server exits next.
      exited: proc.outcome.then((outcome) => {
        this.processes--;
        return this.onExit(run!, outcome).catch(() => undefined);
      }),
    };
    this.running.set(job.jobKey, run);
  }

  /** Settles the job; returns the sweep of the temporary files its process left (killed mid-write). */
  private onExit(run: Running, outcome: ProcessOutcome): Promise<void> {
    const { job } = run;
    this.running.delete(job.jobKey);
    const swept = this.sweepOutputs(job);
    if (run.stopReason) {
      this.settle(job, JobStatus.ERROR, run.stopReason);
      job.log.critical(`Job failed with exception ${run.stopReason}`);
    } else if (run.cancelling) {
      this.settle(job, JobStatus.CANCELED, "");
      job.log.info("Action successfully canceled.");
    } else if (outcome.ok) {
      this.settle(job, JobStatus.FINISHED, "");
      job.log.info("job finished");
    } else {
      if (outcome.stack) job.log.error(outcome.stack);
      this.settle(job, JobStatus.ERROR, outcome.reason);
      job.log.critical(`Job failed with exception ${outcome.reason}`);
    }
    this.pump();
    return swept;
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
    run.process.stop(this.config.cancelGraceMs);
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
