/**
 * `facemesh worker`: runs queued jobs (BullMQ) on this machine, each in its own job process (job_process.ts), as
 * the server's local runner does. A job whose module can run in parts (lib/nova/hooks.ts PartedModule) becomes a
 * BullMQ parent: its root plans the parts, queues them as children (any worker may take them), waits, and joins
 * their results; parts are retried elsewhere when a worker dies (BullMQ's stalled-job check) or fails. A job on
 * several sessions of a NOVA database is split the same way, one part per session (each writes its own outputs
 * and Streams entry, so there is nothing to join).
 *
 * Cancel: the server sets the job's cancel flag and publishes its id. Running parts of that job get SIGTERM
 * (then SIGKILL), parts not started yet fail at once when a worker takes them, and the parent fails with them.
 */
import { Job, Queue, UnrecoverableError, WaitingChildrenError, Worker } from "bullmq";
import { threadsPerJob } from "../config.js";
import { JobProcess, jobEnv, type LogLevel } from "../job_process.js";
import { loadModule, type LoadedModule } from "../modules.js";
import type { RunStage } from "../worker_protocol.js";
import { connectRedis, QUEUE_NAME, type QueueAddress } from "./queue_connection.js";
import { ATTEMPTS, KEY_TTL_S, MAX_LOG_LINES, queueKeys, TOTAL_KEY, type PartReturn, type QueueJobData } from "./queue_jobs.js";

export interface QueueWorkerConfig {
  queue: QueueAddress;
  cmlDir: string;
  tmpDir: string;
  workDir: string;
  /** Jobs (or parts) this worker runs at once. */
  jobs: number;
  /** Shown in the job logs: which machine ran what. */
  name: string;
  /** How long a job's lock lasts without renewal: a worker that dies frees its jobs after about this long. */
  lockMs: number;
  /** How long a cancelled job process gets after SIGTERM before SIGKILL. */
  cancelGraceMs: number;
  jobMemoryMb?: number;
}

export interface RunningWorker {
  /** Stops taking jobs; `force` also stops the running ones (they go back to the queue for another worker). */
  close(force?: boolean): Promise<void>;
}

/** Starts a worker on the queue; resolves once it is connected. */
export async function startQueueWorker(config: QueueWorkerConfig): Promise<RunningWorker> {
  const redis = connectRedis(config.queue, `facemesh-worker ${config.name}`);
  const subscriber = connectRedis(config.queue, `facemesh-worker ${config.name} (cancel)`);
  const queue = new Queue(QUEUE_NAME, { connection: connectRedis(config.queue, `facemesh-worker ${config.name} (queue)`) });
  /** Job processes running here, by the root job they belong to (what a cancel message names). */
  const byRoot = new Map<string, Set<JobProcess>>();
  await subscriber.subscribe(queueKeys.cancelChannel);
  subscriber.on("message", (_channel: string, root: string) => {
    for (const proc of byRoot.get(root) ?? []) proc.stop(config.cancelGraceMs);
  });

  /** Log writes not yet acknowledged: a job's are awaited before it is reported done (the server reads them then). */
  const pending = new Set<Promise<unknown>>();
  const log = (root: string, level: LogLevel, message: string) => {
    const write = redis
      .multi()
      .rpush(queueKeys.log(root), `${level}\t${message}`)
      .ltrim(queueKeys.log(root), -MAX_LOG_LINES, -1)
      .expire(queueKeys.log(root), KEY_TTL_S)
      .exec()
      .catch(() => undefined);
    pending.add(write);
    void write.finally(() => pending.delete(write));
  };
  const logsWritten = () => Promise.all([...pending]);
  const cancelled = async (root: string) => (await redis.exists(queueKeys.cancel(root))) === 1;

  /** Runs one stage of a job in a job process here; its result, or an error (UnrecoverableError: do not retry). */
  const runStage = async (job: Job<QueueJobData>, mod: LoadedModule, stage: RunStage, label: string, progressKey?: string): Promise<unknown> => {
    const { root } = job.data;
    // Removing a cancelled job's parts is what cancel wants: that stage is not stopped by it.
    const stoppable = stage.kind !== "discard";
    const request = { ...job.data.request, trainerPath: mod.trainerPath };
    const env = jobEnv(mod.manifest.permissions.env ?? [], { TMPDIR: config.tmpDir, NOVA_JOB_THREADS: String(threadsPerJob(config.jobs)) });
    const proc = JobProcess.start(
      { type: "run", entryPath: mod.entryPath, request, db: job.data.db, stage },
      {
        cwd: config.workDir,
        env,
        memoryMb: config.jobMemoryMb,
        onLog: (level, message) => log(root, level, `[${config.name}] ${label}: ${message}`),
        onProgress: (done, total) => {
          if (!progressKey) return;
          const fields: Record<string, number> = { [`d:${progressKey}`]: done };
          if (total !== null) fields[`t:${progressKey}`] = total;
          void redis.multi().hset(queueKeys.progress(root), fields).expire(queueKeys.progress(root), KEY_TTL_S).exec().catch(() => undefined);
        },
      },
    );
    const mine = byRoot.get(root) ?? new Set<JobProcess>();
    if (stoppable) mine.add(proc);
    byRoot.set(root, mine);
    // A cancel published between the check in the processor and this registration is caught here.
    if (stoppable && (await cancelled(root))) proc.stop(config.cancelGraceMs);
    const outcome = await proc.outcome;
    mine.delete(proc);
    if (mine.size === 0) byRoot.delete(root);
    if (stoppable && (await cancelled(root))) throw new UnrecoverableError("job cancelled");
    if (!outcome.ok) {
      if (outcome.stack) log(root, "ERROR", `[${config.name}] ${label}: ${outcome.stack}`);
      throw new Error(outcome.reason);
    }
    return outcome.result;
  };

  /**
   * The module's parts for a job; null when it is not split, and then the job has run whole in the same process.
   * What fails there (plan checks the inputs) fails on any worker: not retried.
   */
  const planOrRun = async (job: Job<QueueJobData>, mod: LoadedModule): Promise<unknown[] | null> => {
    let planned: unknown;
    try {
      planned = await runStage(job, mod, { kind: "plan" }, "job", TOTAL_KEY);
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      throw new UnrecoverableError((err as Error).message);
    }
    return Array.isArray(planned) ? planned : null;
  };

  const processor = async (job: Job<QueueJobData>, token?: string): Promise<unknown> => {
    try {
      return await processJob(job, token);
    } catch (err) {
      if (!(err instanceof WaitingChildrenError)) {
        // Said here, not in the worker's "failed" event, so that the line is in Redis before the job's state is.
        const retry = !(err instanceof UnrecoverableError) && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
        const what = job.name === "part" && job.data.part ? `part ${job.data.part.index + 1}/${job.data.part.count}` : job.name;
        log(job.data.root, retry ? "WARNING" : "ERROR", `[${config.name}] ${what} failed: ${(err as Error).message}${retry ? "; it will be tried again" : ""}`);
      }
      throw err;
    } finally {
      await logsWritten();
    }
  };

  /** One part (a segment, or one session of a database job); returns its result for the parent's join. */
  const partJob = async (job: Job<QueueJobData>, mod: LoadedModule, part: NonNullable<QueueJobData["part"]>, attempt: string): Promise<PartReturn> => {
    const { data } = job;
    const { root } = data;
    const { index, count, value } = part;
    const label = data.db ? `session ${index + 1}/${count} '${String(value)}'` : `part ${index + 1}/${count}`;
    log(root, "INFO", `[${config.name}] ${label} started${attempt}`);
    // A session of a NOVA database job is a whole job on that one session (its outputs and Streams entry).
    const stage: RunStage = data.db ? { kind: "whole" } : { kind: "part", part: value };
    const result = await runStage(job, mod, stage, label, `p${index}`);
    log(root, "INFO", `[${config.name}] ${label} done`);
    // Another part failed the job meanwhile: its parts are being discarded, and this one came after.
    const parent = await Job.fromId<QueueJobData>(queue, root);
    if (!data.db && (!parent || (await parent.getState()) === "failed")) {
      await runStage(job, mod, { kind: "discard", parts: parent?.data.parts ?? [value] }, "discard");
      throw new UnrecoverableError("the job failed while this part ran; its parts were removed");
    }
    return { index, result };
  };

  /**
   * A root job's first run: the parts are planned once (kept in its data, so a retried root does not plan again)
   * and queued as its children; the root then waits for them (WaitingChildrenError). A job that is not split has
   * run whole in planOrRun (null). Returns the parts when BullMQ says the children are all done already: join at once.
   */
  const splitJob = async (job: Job<QueueJobData>, mod: LoadedModule, token: string | undefined, attempt: string): Promise<unknown[] | null> => {
    const { data } = job;
    const { root } = data;
    let parts = data.parts;
    if (!parts) {
      log(root, "INFO", `[${config.name}] job started${attempt}`);
      if (data.db && data.db.sessions.length < 2) {
        await runStage(job, mod, { kind: "whole" }, "job", "whole");
        return null;
      }
      const planned = data.db ? data.db.sessions : await planOrRun(job, mod);
      if (!planned) return null;
      parts = planned;
      if (data.db) await redis.multi().hset(queueKeys.progress(root), { [`d:${TOTAL_KEY}`]: 0, [`t:${TOTAL_KEY}`]: parts.length }).expire(queueKeys.progress(root), KEY_TTL_S).exec();
      await job.updateData({ ...data, parts });
      log(root, "INFO", `[${config.name}] split into ${parts.length} ${data.db ? "sessions" : "parts"}; any worker may take them`);
    }
    const count = parts.length;
    // Ids from the root's: queueing them again (a retried root) adds nothing.
    await queue.addBulk(
      parts.map((value, index) => ({
        name: "part",
        data: { ...data, parts: undefined, step: undefined, part: { index, count, value }, db: data.db && { ...data.db, sessions: [String(value)] } },
        opts: {
          jobId: `${job.id}-p${index}`,
          parent: { id: job.id!, queue: job.queueQualifiedName },
          failParentOnFailure: true,
          attempts: ATTEMPTS,
          backoff: { type: "exponential", delay: 1000 },
          // Kept as long as the job's other keys (the parent holds its children's results itself).
          removeOnComplete: { age: KEY_TTL_S },
          removeOnFail: { age: KEY_TTL_S },
        },
      })),
    );
    await job.updateData({ ...data, parts, step: "join" });
    if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    return parts;
  };

  /** A root job whose parts are all done: their results, in plan order, joined into the outputs. */
  const joinJob = async (job: Job<QueueJobData>, mod: LoadedModule, parts: unknown[]): Promise<void> => {
    const { data } = job;
    const values = Object.values(await job.getChildrenValues<PartReturn>());
    const count = parts.length;
    const results: unknown[] = new Array(count);
    for (const v of values) if (v && Number.isInteger(v.index) && v.index >= 0 && v.index < count) results[v.index] = v.result;
    const missing = [...results.keys()].filter((i) => !(i in results));
    if (missing.length > 0 || values.length !== count) throw new Error(`the results of parts ${missing.map((i) => i + 1).join(", ")} of ${count} are missing`);
    if (data.db) {
      log(data.root, "INFO", `[${config.name}] all ${count} sessions done`);
      return;
    }
    log(data.root, "INFO", `[${config.name}] joining ${count} parts`);
    await runStage(job, mod, { kind: "join", results }, "join");
  };

  const processJob = async (job: Job<QueueJobData>, token?: string): Promise<unknown> => {
    const { data } = job;
    if (job.name !== "discard" && (await cancelled(data.root))) throw new UnrecoverableError("job cancelled");
    let mod: LoadedModule;
    try {
      mod = await loadModule(config.cmlDir, data.trainerRel);
    } catch (err) {
      // The same on every try: this worker's cml_dir lacks the module.
      throw new UnrecoverableError(`worker ${config.name}: ${(err as Error).message}`);
    }
    const attempt = job.attemptsStarted > 1 ? ` (attempt ${job.attemptsStarted})` : "";
    if (job.name === "part" && data.part) return partJob(job, mod, data.part, attempt);
    if (job.name === "discard") {
      await runStage(job, mod, { kind: "discard", parts: data.parts ?? [] }, "discard");
      return null;
    }
    if (data.step === "join" && !data.parts) throw new UnrecoverableError(`job ${job.id} is to join, but its data has no parts`);
    const parts = data.step === "join" ? data.parts! : await splitJob(job, mod, token, attempt);
    if (parts) await joinJob(job, mod, parts);
    return null;
  };

  const worker = new Worker<QueueJobData>(QUEUE_NAME, processor, {
    connection: connectRedis(config.queue, `facemesh-worker ${config.name} (jobs)`),
    concurrency: config.jobs,
    name: config.name,
    lockDuration: config.lockMs,
    stalledInterval: Math.max(500, Math.round(config.lockMs / 2)),
    // A part whose worker died goes back to the queue (twice at most), then fails.
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on("error", () => undefined); // connection errors: BullMQ retries; the job's outcome tells the rest
  await worker.waitUntilReady();
  void worker.run();
  return {
    async close(force = false) {
      if (force) for (const set of byRoot.values()) for (const p of set) p.stop(config.cancelGraceMs);
      await worker.close(force);
      await queue.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
