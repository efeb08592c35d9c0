/** Messages between the server (job_manager.ts) and a job's own process (job_worker.ts), over Node's IPC channel. */
import type { JobRequest } from "../nova/hooks.js";
import type { DbPlan } from "./db_sources.js";

/** Server -> worker: the one job this process runs. */
export interface RunMessage {
  type: "run";
  entryPath: string;
  request: JobRequest;
  /** Set when the request has `db:` entries: run once per session (db_job.ts). */
  db?: DbPlan;
}

export type WorkerMessage =
  | { type: "log"; level: "INFO" | "WARNING" | "ERROR"; message: string }
  | { type: "progress"; done: number; total: number | null }
  | { type: "done" }
  | { type: "failed"; message: string; stack?: string };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === "object" && m !== null && typeof (m as { type?: unknown }).type === "string";
}
