/**
 * Job records that survive a restart (DISCOVER keeps them in memory only). SQLite via better-sqlite3: one small
 * table, written on every state change, read once at start. A job that was WAITING or RUNNING when the server
 * died cannot be resumed (its worker died with it), so opening the store marks it ERROR.
 */
import Database from "better-sqlite3";

export enum JobStatus {
  WAITING = 0,
  RUNNING = 1,
  FINISHED = 2,
  ERROR = 3,
  CANCELED = 4,
}

export interface JobRecord {
  jobKey: string;
  /** File-system-safe name derived from jobKey (job_names.ts): log file and result folder. */
  safeName: string;
  jobType: string;
  moduleName: string;
  status: JobStatus;
  /** "i/N" or "" */
  progress: string;
  /** DISCOVER's format "MM/DD/YYYY, HH:MM:SS" or "" */
  startTime: string;
  endTime: string;
  logPath: string;
  /** The request form with secrets masked, as JSON text. */
  details: string;
  /** Folder of the job's `request:` outputs, "" if none. */
  resultDir: string;
  /** Last reason of an ERROR, "" otherwise. */
  error: string;
  /** The job's output files as a JSON list ("" if none): where a killed job's leftovers are swept. */
  outputs: string;
  /** Submission order. */
  seq: number;
}

interface Row {
  job_key: string;
  safe_name: string;
  job_type: string;
  module_name: string;
  status: number;
  progress: string;
  start_time: string;
  end_time: string;
  log_path: string;
  details: string;
  result_dir: string;
  error: string;
  outputs: string;
  seq: number;
}

const toRecord = (r: Row): JobRecord => ({
  jobKey: r.job_key,
  safeName: r.safe_name,
  jobType: r.job_type,
  moduleName: r.module_name,
  status: r.status as JobStatus,
  progress: r.progress,
  startTime: r.start_time,
  endTime: r.end_time,
  logPath: r.log_path,
  details: r.details,
  resultDir: r.result_dir,
  error: r.error,
  outputs: r.outputs ?? "",
  seq: r.seq,
});

const toRow = (j: JobRecord): Row => ({
  job_key: j.jobKey,
  safe_name: j.safeName,
  job_type: j.jobType,
  module_name: j.moduleName,
  status: j.status,
  progress: j.progress,
  start_time: j.startTime,
  end_time: j.endTime,
  log_path: j.logPath,
  details: j.details,
  result_dir: j.resultDir,
  error: j.error,
  outputs: j.outputs,
  seq: j.seq,
});

/** DISCOVER's start/end time format (job_utils.py: "%m/%d/%Y, %H:%M:%S", local time). */
export function discoverTime(d: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}/${p(d.getDate())}/${d.getFullYear()}, ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A record's end time in ms (discoverTime is local time), or undefined when it has none. */
export function endTimeMs(job: JobRecord): number | undefined {
  const m = /^(\d\d)\/(\d\d)\/(\d{4}), (\d\d):(\d\d):(\d\d)$/.exec(job.endTime);
  if (!m) return undefined;
  return new Date(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
}

export interface Retention {
  /** Finished jobs kept at most. */
  count: number;
  /** Finished jobs older than this (by end time) are dropped. */
  maxAgeMs: number;
}

/** Refused requests kept (in memory only, so a client can read why): at most this many, oldest dropped first. */
export const MAX_REFUSED_RECORDS = 100;

export class JobStore {
  private readonly db: Database.Database;
  private readonly jobs = new Map<string, JobRecord>();
  private readonly upsert: Database.Statement<Row>;
  private readonly remove: Database.Statement<[string]>;
  /** Keys of refused requests (records not persisted), oldest first. */
  private readonly refused: string[] = [];
  private nextSeq = 1;

  /** Jobs that were WAITING/RUNNING when the previous server process ended (now ERROR). */
  readonly interrupted: JobRecord[] = [];

  /** `keepActive`: WAITING and RUNNING records stay so (their jobs run elsewhere: the queue mode). */
  constructor(file: string, options: { keepActive?: boolean } = {}) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      job_key TEXT PRIMARY KEY, safe_name TEXT NOT NULL, job_type TEXT NOT NULL, module_name TEXT NOT NULL,
      status INTEGER NOT NULL, progress TEXT NOT NULL, start_time TEXT NOT NULL, end_time TEXT NOT NULL,
      log_path TEXT NOT NULL, details TEXT NOT NULL, result_dir TEXT NOT NULL, error TEXT NOT NULL, seq INTEGER NOT NULL)`);
    // Added after the first release: old databases get the column.
    const columns = (this.db.prepare("PRAGMA table_info(jobs)").all() as Array<{ name: string }>).map((c) => c.name);
    if (!columns.includes("outputs")) this.db.exec("ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT ''");
    this.upsert = this.db.prepare(`INSERT INTO jobs (job_key, safe_name, job_type, module_name, status, progress, start_time,
      end_time, log_path, details, result_dir, error, outputs, seq) VALUES (@job_key, @safe_name, @job_type, @module_name,
      @status, @progress, @start_time, @end_time, @log_path, @details, @result_dir, @error, @outputs, @seq)
      ON CONFLICT(job_key) DO UPDATE SET safe_name=excluded.safe_name, job_type=excluded.job_type,
      module_name=excluded.module_name, status=excluded.status, progress=excluded.progress, start_time=excluded.start_time,
      end_time=excluded.end_time, log_path=excluded.log_path, details=excluded.details, result_dir=excluded.result_dir,
      error=excluded.error, outputs=excluded.outputs, seq=excluded.seq`);
    this.remove = this.db.prepare("DELETE FROM jobs WHERE job_key = ?");
    const rows = this.db.prepare("SELECT * FROM jobs ORDER BY seq").all() as Row[];
    for (const row of rows) {
      const job = toRecord(row);
      if (!options.keepActive && (job.status === JobStatus.WAITING || job.status === JobStatus.RUNNING)) {
        const was = JobStatus[job.status];
        job.status = JobStatus.ERROR;
        job.endTime = job.endTime || discoverTime();
        job.error = `the server stopped while the job was ${was}; it was not finished`;
        this.interrupted.push(job);
        this.upsert.run(toRow(job));
      }
      this.jobs.set(job.jobKey, job);
      this.nextSeq = Math.max(this.nextSeq, job.seq + 1);
    }
  }

  get(jobKey: string): JobRecord | undefined {
    return this.jobs.get(jobKey);
  }

  all(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Adds or replaces a job (a new submission with a finished job's id replaces it). */
  put(job: Omit<JobRecord, "seq">): JobRecord {
    const rec: JobRecord = { ...job, seq: this.nextSeq++ };
    this.forgetRefused(rec.jobKey);
    this.jobs.delete(rec.jobKey); // keep Map order = submission order
    this.jobs.set(rec.jobKey, rec);
    this.upsert.run(toRow(rec));
    return rec;
  }

  /**
   * Records a refused request in memory only (not in the database), so that a client polling its jobID reads
   * ERROR and the reason; at most MAX_REFUSED_RECORDS are kept. It replaces an earlier job of that id (the
   * caller checked that it is not active), as a new submission does. Returns the records dropped to make room
   * (their logs are the caller's to delete).
   */
  putRefused(job: Omit<JobRecord, "seq">): JobRecord[] {
    if (this.jobs.has(job.jobKey) && !this.refused.includes(job.jobKey)) this.remove.run(job.jobKey);
    this.forgetRefused(job.jobKey);
    const rec: JobRecord = { ...job, seq: this.nextSeq++ };
    this.jobs.delete(rec.jobKey);
    this.jobs.set(rec.jobKey, rec);
    this.refused.push(rec.jobKey);
    const dropped: JobRecord[] = [];
    while (this.refused.length > MAX_REFUSED_RECORDS) {
      const key = this.refused.shift()!;
      const old = this.jobs.get(key);
      this.jobs.delete(key);
      if (old) dropped.push(old);
    }
    return dropped;
  }

  private forgetRefused(jobKey: string): void {
    const i = this.refused.indexOf(jobKey);
    if (i >= 0) this.refused.splice(i, 1);
  }

  /**
   * Drops finished jobs (FINISHED, ERROR, CANCELED, not active) beyond the retention: the oldest beyond
   * `count`, and any that ended more than `maxAgeMs` ago. Returns them (their logs and results are the
   * caller's to delete).
   */
  prune(retention: Retention, isActive: (jobKey: string) => boolean, now = Date.now()): JobRecord[] {
    const done = this.all().filter((j) => j.status >= JobStatus.FINISHED && !isActive(j.jobKey) && !this.refused.includes(j.jobKey));
    const dropped = new Set<JobRecord>();
    for (const j of done) {
      const end = endTimeMs(j);
      if (end !== undefined && now - end > retention.maxAgeMs) dropped.add(j);
    }
    const kept = done.filter((j) => !dropped.has(j));
    for (const j of kept.slice(0, Math.max(0, kept.length - retention.count))) dropped.add(j);
    for (const j of dropped) {
      this.jobs.delete(j.jobKey);
      this.remove.run(j.jobKey);
    }
    return [...dropped];
  }

  /** Applies a change to a job; `persist: false` keeps it in memory only (frequent progress updates). */
  update(jobKey: string, change: Partial<Omit<JobRecord, "jobKey" | "seq">>, persist = true): JobRecord | undefined {
    const job = this.jobs.get(jobKey);
    if (!job) return undefined;
    Object.assign(job, change);
    if (persist && !this.refused.includes(jobKey)) this.upsert.run(toRow(job));
    return job;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
