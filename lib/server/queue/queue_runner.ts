/**
 * The server's job runner in queue mode (`--queue redis://...`): jobs go onto the BullMQ queue and run on
 * `facemesh worker` processes on any machine. The server's job store (SQLite) stays the record NOVA polls; a
 * sync loop brings it up to date from the queue (state, progress, reason) and copies the jobs' log lines from
 * Redis into the server's log files, so /job_status, /log and /job_status_all answer for jobs on any worker,
 * also after the server restarted (the store keeps running jobs, and Redis keeps jobKey -> queue id).
 */
import { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { ServerConfig } from "../config.js";
import { JobLog, type LogLevel } from "../job_log.js";
import type { JobRunner, QueuedJob } from "../job_manager.js";
import { discoverTime, JobStatus, type JobStore } from "../job_store.js";
import { connectRedis, QUEUE_NAME, whenReady, withinTime, type QueueAddress } from "./queue_connection.js";
import { KEY_TTL_S, newQueueId, progressText, queueKeys, type QueueJobData } from "./queue_jobs.js";

/** How often the store is brought up to date from the queue. */
export const SYNC_INTERVAL_MS = 500;
/** How long a request waits for Redis before it is answered with an error. */
const REDIS_ANSWER_MS = 10_000;
/** After a cancel, how long the server waits for the job's processes to stop, beyond their SIGKILL grace. */
const CANCEL_WAIT_MS = 15_000;

const LEVELS = new Set<LogLevel>(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]);

export class QueueJobRunner implements JobRunner {
  private readonly claimed = new Set<string>();
  /** jobKey -> queue id of its root (also in Redis, queueKeys.ids). */
  private readonly ids = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly config: ServerConfig,
    private readonly store: JobStore,
    private readonly address: QueueAddress,
    private readonly redis: Redis,
    private readonly queue: Queue<QueueJobData>,
  ) {}

  /** Connects to the queue (a clear error when Redis does not answer) and starts the sync loop. */
  static async open(config: ServerConfig, store: JobStore, address: QueueAddress): Promise<QueueJobRunner> {
    const redis = connectRedis(address, "facemesh-server", false);
    const queueConnection = connectRedis(address, "facemesh-server (queue)", false);
    const queue = new Queue<QueueJobData>(QUEUE_NAME, { connection: queueConnection });
    queue.on("error", () => undefined); // Redis away: the requests that need it say so
    try {
      await whenReady(redis, REDIS_ANSWER_MS, address);
      await whenReady(queueConnection, REDIS_ANSWER_MS, address);
      const known = await withinTime(redis.hgetall(queueKeys.ids), REDIS_ANSWER_MS, address, "reading the jobs");
      const runner = new QueueJobRunner(config, store, address, redis, queue);
      for (const [k, v] of Object.entries(known)) runner.ids.set(k, v);
      await runner.refresh();
      runner.timer = setInterval(() => void runner.refresh().catch(() => undefined), SYNC_INTERVAL_MS);
      runner.timer.unref();
      return runner;
    } catch (err) {
      redis.disconnect();
      await queue.close().catch(() => undefined);
      throw err;
    }
  }

  claim(jobKey: string): boolean {
    if (this.closed || this.isActive(jobKey)) return false;
    this.claimed.add(jobKey);
    return true;
  }

  release(jobKey: string): void {
    this.claimed.delete(jobKey);
  }

  isActive(jobKey: string): boolean {
    const status = this.store.get(jobKey)?.status;
    return this.claimed.has(jobKey) || status === JobStatus.WAITING || status === JobStatus.RUNNING;
  }

  get liveProcesses(): number {
    return 0;
  }

  pidOf(): number | undefined {
    return undefined;
  }

  async enqueue(job: QueuedJob): Promise<void> {
    const id = newQueueId();
    const data: QueueJobData = { jobKey: job.jobKey, root: id, trainerRel: job.trainerRel, request: job.request, db: job.db };
    // Once the request has been answered with an error, the steps still pending must not queue the job after all.
    let gaveUp = false;
    try {
      await withinTime(
        (async () => {
          await this.redis.hset(queueKeys.ids, job.jobKey, id);
          if (gaveUp) return;
          // One attempt: what fails in a root (plan, join, a whole job) fails again; a worker that dies mid-job is
          // BullMQ's stalled case, retried anyway. Parts get their own attempts (queue_worker.ts).
          await this.queue.add("job", data, { jobId: id, attempts: 1, removeOnComplete: { age: KEY_TTL_S }, removeOnFail: { age: KEY_TTL_S } });
        })(),
        REDIS_ANSWER_MS,
        this.address,
        "queueing the job",
      );
      this.ids.set(job.jobKey, id);
      job.log.info(`queued on ${this.address.display} as ${id}`);
    } catch (err) {
      gaveUp = true;
      const reason = (err as Error).message;
      this.store.update(job.jobKey, { status: JobStatus.ERROR, endTime: discoverTime(), error: reason });
      job.log.critical(`Job failed with exception ${reason}`);
      throw err;
    } finally {
      this.claimed.delete(job.jobKey);
    }
  }

  /** One pass of the sync loop (passes never overlap: a slow Redis delays the next one). */
  refresh(): Promise<void> {
    this.syncing ??= this.syncActive().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncActive(): Promise<void> {
    for (const rec of this.store.all()) {
      if (rec.status !== JobStatus.WAITING && rec.status !== JobStatus.RUNNING) continue;
      const id = this.ids.get(rec.jobKey);
      if (!id) continue; // being queued right now
      await this.syncJob(rec.jobKey, id, new JobLog(rec.logPath));
    }
  }

  private async syncJob(jobKey: string, id: string, log: JobLog): Promise<void> {
    const job = await Job.fromId<QueueJobData>(this.queue, id);
    // Lines are copied after the state is read: a worker writes a job's lines before it reports the job done, so
    // a finished job's log is complete before its verdict line.
    await this.copyLog(id, log);
    if (!job) {
      this.settle(jobKey, log, JobStatus.ERROR, `the job queue at ${this.address.display} no longer has job ${id} (was Redis restarted without saving its data?)`);
      return;
    }
    const state = await job.getState();
    const progress = progressText(await this.redis.hgetall(queueKeys.progress(id)));
    const rec = this.store.get(jobKey);
    if (!rec) return;
    if (state === "completed") {
      this.store.update(jobKey, { progress: progress || rec.progress });
      this.settle(jobKey, log, JobStatus.FINISHED, "");
      await this.forgetPassword(job);
    } else if (state === "failed") {
      // Read again: the job may have failed after it was read above, and its reason and parts are written then.
      const failed = (await Job.fromId<QueueJobData>(this.queue, id)) ?? job;
      if (await this.redis.exists(queueKeys.cancel(id))) this.settle(jobKey, log, JobStatus.CANCELED, "");
      else this.settle(jobKey, log, JobStatus.ERROR, await this.failureReason(failed));
      await this.discardParts(failed);
      await this.forgetPassword(failed);
    } else if (state === "active" || state === "waiting-children") {
      const change = rec.status === JobStatus.WAITING ? { status: JobStatus.RUNNING, startTime: discoverTime() } : {};
      this.store.update(jobKey, { ...change, progress }, rec.status === JobStatus.WAITING);
    } else if (state === "unknown") {
      this.settle(jobKey, log, JobStatus.ERROR, `the job queue at ${this.address.display} lost job ${id}`);
    }
  }

  /** A failed parent says only which child failed: the child's own reason is the one to show. */
  private async failureReason(job: Job<QueueJobData>): Promise<string> {
    const reason = job.failedReason || "the job failed";
    const child = /child\s+(?:\S*:)?([^\s:]+-p(\d+))\s+failed/.exec(reason);
    if (!child) return reason;
    const part = await Job.fromId<QueueJobData>(this.queue, child[1]!);
    const index = Number(child[2]);
    const parts = job.data.parts;
    const what = job.data.db ? `session ${index + 1} of ${parts?.length ?? "?"} '${String(parts?.[index])}'` : `part ${index + 1}${parts ? ` of ${parts.length}` : ""}`;
    return `${what} failed: ${part?.failedReason || reason}`;
  }

  /**
   * NOVA's database password travels in the job's data (a worker on another machine needs it), so it is in Redis
   * while the job runs; once the job has ended it is blanked in the job and in its parts.
   */
  private async forgetPassword(job: Job<QueueJobData>): Promise<void> {
    if (!job.data.db) return;
    const jobs: Array<Job<QueueJobData> | undefined> = [job];
    for (let i = 0; i < (job.data.parts?.length ?? 0); i++) jobs.push(await Job.fromId<QueueJobData>(this.queue, `${job.id}-p${i}`));
    for (const j of jobs) {
      const db = j?.data.db;
      if (j && db?.password) await j.updateData({ ...j.data, db: { ...db, password: "" } }).catch(() => undefined);
    }
  }

  /** A failed or cancelled job's finished parts are removed by a worker (the module knows where it put them). */
  private async discardParts(job: Job<QueueJobData>): Promise<void> {
    // A database job's parts are sessions, each complete in itself: they are kept (as the local runner keeps the
    // sessions before a failed one).
    if (!job.data.parts?.length || job.data.db) return;
    await this.queue.add("discard", { ...job.data, step: undefined }, { jobId: `${job.id}-discard`, attempts: 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: { age: KEY_TTL_S }, removeOnFail: { age: KEY_TTL_S } });
  }

  /** Copies the job's new log lines from Redis into its log file. */
  private async copyLog(id: string, log: JobLog): Promise<void> {
    const copied = Number((await this.redis.hget(queueKeys.logCopied, id)) ?? 0);
    const lines = await this.redis.lrange(queueKeys.log(id), copied, -1);
    if (lines.length === 0) return;
    for (const line of lines) {
      const tab = line.indexOf("\t");
      const level = line.slice(0, tab) as LogLevel;
      if (tab > 0 && LEVELS.has(level)) log.write(level, line.slice(tab + 1));
      else log.info(line);
    }
    await this.redis.hset(queueKeys.logCopied, id, copied + lines.length);
  }

  private settle(jobKey: string, log: JobLog, status: JobStatus, error: string): void {
    const rec = this.store.get(jobKey);
    if (!rec || rec.status >= JobStatus.FINISHED) return;
    // The record is final: the server needs the queue id no more (Redis expires the job's other keys).
    const id = this.ids.get(jobKey);
    this.ids.delete(jobKey);
    void this.redis.multi().hdel(queueKeys.ids, jobKey).hdel(queueKeys.logCopied, id ?? "").exec().catch(() => undefined);
    this.store.update(jobKey, { status, endTime: discoverTime(), error });
    if (status === JobStatus.FINISHED) log.info("job finished");
    else if (status === JobStatus.CANCELED) log.info("Action successfully canceled.");
    else log.critical(`Job failed with exception ${error}`);
  }

  /**
   * Cancels a job wherever it runs: the cancel flag stops parts not started, the message stops running ones
   * (SIGTERM, then SIGKILL); a job still waiting is taken off the queue. Resolves once the queue says the job
   * ended (or after a bounded wait).
   */
  async cancel(jobKey: string): Promise<boolean> {
    const id = this.ids.get(jobKey);
    if (!id || !this.isActive(jobKey)) return false;
    const log = new JobLog(this.store.get(jobKey)!.logPath);
    log.info("cancel requested");
    await withinTime(this.redis.set(queueKeys.cancel(id), "1", "EX", KEY_TTL_S), REDIS_ANSWER_MS, this.address, "cancelling the job");
    await this.redis.publish(queueKeys.cancelChannel, id);
    const job = await Job.fromId<QueueJobData>(this.queue, id);
    if (job && ["waiting", "delayed", "prioritized"].includes(await job.getState())) {
      // Fails when a worker took it meanwhile: then the message stops it.
      if (await job.remove().then(() => true, () => false)) {
        this.settle(jobKey, log, JobStatus.CANCELED, "");
        return true;
      }
    }
    const until = Date.now() + this.config.cancelGraceMs + CANCEL_WAIT_MS;
    while (Date.now() < until && this.isActive(jobKey)) {
      await this.refresh();
      if (!this.isActive(jobKey)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The processes were told; if the queue has not said so yet, the record says what was asked.
    if (this.isActive(jobKey)) this.settle(jobKey, log, JobStatus.CANCELED, "");
    return true;
  }

  /** Stops the sync loop and disconnects; the jobs go on running on the workers. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing?.catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    this.redis.disconnect();
  }
}
