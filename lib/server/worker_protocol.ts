/** Messages between a job's host (job_manager.ts, queue/queue_worker.ts) and the job's own process (job_worker.ts), over Node's IPC channel. */
import type { JobRequest } from "../nova/hooks.js";
import type { DbPlan } from "./db_sources.js";

/**
 * What the process runs. `whole` (the default): load -> predict -> write. The others serve hosts that run one job
 * as parts on several machines (the queue mode, lib/nova/hooks.ts PartedModule): `plan` answers the parts, or runs
 * the job whole and answers null when the module does not split it; `part` runs one, `join` merges the parts'
 * results into the outputs, `discard` removes what parts left.
 */
export type RunStage =
  | { kind: "whole" }
  | { kind: "plan" }
  | { kind: "part"; part: unknown }
  | { kind: "join"; results: unknown[] }
  | { kind: "discard"; parts: unknown[] };

/** Host -> process: the one job (or stage of a job) this process runs. */
export interface RunMessage {
  type: "run";
  entryPath: string;
  request: JobRequest;
  /** Set when the request has `db:` entries: run once per session (db_job.ts). Only with stage `whole`. */
  db?: DbPlan;
  /** Absent: `whole`. */
  stage?: RunStage;
}

export type WorkerMessage =
  | { type: "log"; level: "INFO" | "WARNING" | "ERROR"; message: string }
  | { type: "progress"; done: number; total: number | null }
  /** `result`: what `plan` or `part` returned (JSON). */
  | { type: "done"; result?: unknown }
  | { type: "failed"; message: string; stack?: string };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === "object" && m !== null && typeof (m as { type?: unknown }).type === "string";
}
