/**
 * What servers and workers share about a queued job: its BullMQ data, and the few Redis keys beside BullMQ's own
 * that tie the parts of one job together (read by the server, written by the workers):
 *   ids       hash   jobKey -> queue id of the job's root (a server that restarts finds its jobs again)
 *   cancel:R  string set when job R is cancelled: every worker stops R's parts, and parts not started never start
 *   cancel    channel  R published on cancel, so workers stop running parts at once
 *   progress:R hash  d:<part>, t:<part> frames done and total of each part (or of the whole job)
 *   log:R     list   "LEVEL\tmessage" lines of all the job's processes, on any machine
 */
import type { JobRequest } from "../../nova/hooks.js";
import type { DbPlan } from "../db_sources.js";
import { QUEUE_NAME } from "./queue_connection.js";

/** A job as queued. Root jobs ("job") plan, wait for their parts ("part"), then join; "discard" cleans up. */
export interface QueueJobData {
  jobKey: string;
  /** Queue id of the root job this one belongs to (its own id for a root). */
  root: string;
  /** The trainer relative to cml_dir: each worker finds the module in its own cml_dir. */
  trainerRel: string;
  request: JobRequest;
  db?: DbPlan;
  /** Root: the parts plan answered (set once planned, so a retried root does not plan again). */
  parts?: unknown[];
  /** Root: "join" once its parts are queued. */
  step?: "join";
  /** Part: which one, of how many, and what plan said of it. */
  part?: { index: number; count: number; value: unknown };
}

/** What a part job returns (its parent reads it in join). */
export interface PartReturn {
  index: number;
  result: unknown;
}

export type QueueJobName = "job" | "part" | "discard";

const BASE = `facemesh:${QUEUE_NAME}`;

export const queueKeys = {
  ids: `${BASE}:ids`,
  /** How many of a job's log lines the server has copied into its log file. */
  logCopied: `${BASE}:log-copied`,
  cancelChannel: `${BASE}:cancel`,
  cancel: (root: string) => `${BASE}:cancel:${root}`,
  progress: (root: string) => `${BASE}:progress:${root}`,
  log: (root: string) => `${BASE}:log:${root}`,
};

/** Kept this long after a job ends (Redis expiry): cancel flags, progress, log lines. */
export const KEY_TTL_S = 7 * 86_400;

/** Log lines kept per job in Redis (the server's log file keeps them all). */
export const MAX_LOG_LINES = 20_000;

/** Attempts of a part or a join that fails (a worker killed mid-part is retried as a stalled job, not counted here). */
export const ATTEMPTS = 3;

/** Progress key of the whole job's total, set when it was split (plan's total, or the sessions): it wins over the parts' own totals. */
export const TOTAL_KEY = "all";

/** "done/total" from a job's progress hash (parts summed); "" when nothing was reported. */
export function progressText(fields: Record<string, string>): string {
  let done = 0;
  let total = 0;
  let any = false;
  for (const [k, v] of Object.entries(fields)) {
    const n = Number(v);
    if (!Number.isFinite(n)) continue;
    if (k.startsWith("d:")) (done += n), (any = true);
    else if (k.startsWith("t:") && k !== `t:${TOTAL_KEY}`) total += n;
  }
  const whole = Number(fields[`t:${TOTAL_KEY}`]);
  if (Number.isFinite(whole) && whole > 0) total = whole;
  return any ? `${done}/${total || "?"}` : "";
}

/** A unique queue id for a new job (BullMQ ids must not be plain integers nor contain ':'). */
export function newQueueId(): string {
  return `j${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
