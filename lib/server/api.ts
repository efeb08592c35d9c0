/**
 * What the endpoint handlers share: the configuration, the job records, the job runner, body limits, and the
 * request/response helpers. startServer (server.ts) makes one and hands it to every handler (endpoints.ts,
 * process_endpoint.ts); a handler needs nothing else, so each can be read (and tested) on its own.
 */
import { rm } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { sweepStale, sweepStaleTree } from "../atomic_file.js";
import type { ServerConfig } from "./config.js";
import { readFields, type BodyLimits, type Fields } from "./http_body.js";
import { HttpError } from "./http_error.js";
import { JobLog } from "./job_log.js";
import { JobManager, type JobRunner } from "./job_manager.js";
import { QueueJobRunner } from "./queue/queue_runner.js";
import { JobStore, type JobRecord } from "./job_store.js";

export const MAX_FIELDS = 200;

export interface ServerApi {
  config: ServerConfig;
  store: JobStore;
  manager: JobRunner;
  limits: BodyLimits;
  /** Drops finished jobs beyond the retention (records, logs, result folders). */
  prune(): Promise<void>;
  /** Forgets records' files: their logs and result folders. */
  deleteJobFiles(jobs: JobRecord[]): Promise<void>;
}

/** One request being answered. */
export interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** Path without trailing slashes, "/" for the root. */
  path: string;
  method: string;
  /** Fields from the body, plus the query string (handy for GET and for curl). */
  fields(): Promise<Fields>;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string, type = "text/plain"): void {
  res.writeHead(status, { "Content-Type": `${type}; charset=utf-8`, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function requireField(fields: Fields, name: string): string {
  const v = fields[name];
  if (v === undefined || v.trim() === "") throw new HttpError(400, `missing field '${name}'`, name);
  return v;
}

/** The record of the form's jobID, or 404. */
export function knownJob(api: ServerApi, fields: Fields): JobRecord {
  const key = requireField(fields, "jobID");
  const job = api.store.get(key);
  if (!job) throw new HttpError(404, `unknown jobID '${key}': no such job on this server`, "jobID");
  return job;
}

export function exchange(req: http.IncomingMessage, res: http.ServerResponse, limits: BodyLimits): Exchange {
  const url = new URL(req.url ?? "/", "http://server");
  return {
    req,
    res,
    url,
    path: url.pathname.replace(/\/+$/, "") || "/",
    method: req.method ?? "GET",
    fields: async () => ({ ...Object.fromEntries(url.searchParams), ...(await readFields(req, limits)) }),
  };
}

/**
 * Opens the job records and the runner; reports jobs the previous server left unfinished in their logs and
 * removes what their killed processes left behind (temporary files next to their outputs, in tmp_dir).
 */
export async function createApi(config: ServerConfig): Promise<ServerApi> {
  // In queue mode the jobs run on workers and outlive the server: its running jobs are still running.
  const store = new JobStore(path.join(config.logDir, "jobs.sqlite3"), { keepActive: config.queue !== undefined });
  for (const job of store.interrupted) new JobLog(job.logPath).critical(`Job failed with exception ${job.error}`);
  let manager: JobRunner;
  try {
    manager = config.queue ? await QueueJobRunner.open(config, store, config.queue) : new JobManager(config, store);
  } catch (err) {
    store.close();
    throw err;
  }
  const api: ServerApi = {
    config,
    store,
    manager,
    limits: { maxBodyBytes: config.maxBodyBytes, maxFields: MAX_FIELDS },
    async prune() {
      const dropped = store.prune({ count: config.jobRetentionCount, maxAgeMs: config.jobRetentionDays * 86_400_000 }, (k) => manager.isActive(k));
      await api.deleteJobFiles(dropped);
    },
    async deleteJobFiles(jobs) {
      for (const job of jobs) {
        // Another record may share the log (a refused request with the id of a kept job): keep it then.
        if (!store.get(job.jobKey)) await rm(job.logPath, { force: true }).catch(() => undefined);
        if (job.resultDir && path.dirname(job.resultDir) === config.tmpDir) await rm(job.resultDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
  await sweepStaleTree(config.tmpDir, 2);
  for (const job of store.interrupted) {
    let outputs: unknown;
    try {
      outputs = job.outputs ? JSON.parse(job.outputs) : [];
    } catch {
      outputs = [];
    }
    if (!Array.isArray(outputs)) continue;
    for (const f of outputs.filter((x): x is string => typeof x === "string")) {
      await sweepStale(path.dirname(f), { only: [path.basename(f), `${path.basename(f)}~`] }).catch(() => undefined);
    }
  }
  await api.prune();
  return api;
}
