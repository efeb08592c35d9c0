/**
 * The endpoints of NOVA.md §6, one handler each over the ServerApi (api.ts), and the route table server.ts
 * dispatches with. /process is in process_endpoint.ts.
 */
import { createReadStream, existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { knownJob, sendJson, sendText, type Exchange, type ServerApi } from "./api.js";
import { jobTablePage } from "./html.js";
import { readJsonObject, receiveUpload, type Fields } from "./http_body.js";
import { HttpError } from "./http_error.js";
import { JobStatus, type JobRecord } from "./job_store.js";
import { summarize } from "./job_view.js";
import { findTrainers, loadModuleAt } from "./modules.js";
import { processEndpoint } from "./process_endpoint.js";
import { parseTrainerXml, trainerIo } from "./trainer_info.js";
import { writeZip } from "./zip.js";

/** RFC 6266 attachment header that survives non-ASCII names. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Whether a cml_info filter entry matches an io's data type: super and sub type equal (case-insensitive) where the
 * filter gives them, and the filter's specific type a leading part of the io's (`feature;face;landmarks` matches
 * `feature;face;landmarks;facemesh`).
 */
export function dataTypeMatches(filter: string, ioData: string): boolean {
  const split = (s: string) => {
    const [sup = "", sub = "", ...rest] = s.split(":");
    return { sup: sup.trim().toLowerCase(), sub: sub.trim().toLowerCase(), specific: rest.join(":").trim().toLowerCase() };
  };
  const f = split(filter);
  const d = split(ioData);
  if (f.sup && f.sup !== d.sup) return false;
  if (f.sub && f.sub !== d.sub) return false;
  if (!f.specific) return true;
  const fs = f.specific.split(";");
  const ds = d.specific.split(";");
  return fs.every((part, i) => part === ds[i]);
}

function parseFilter(fields: Fields, name: string): string[] | undefined {
  const text = fields[name]?.trim();
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, `field '${name}' must be a JSON list of data types like ["stream:Video"]`, name);
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new HttpError(400, `field '${name}' must be a JSON list of strings`, name);
  return v.length ? (v as string[]) : undefined;
}

/** A whole number form field in [min, max], or the default when absent. */
function intField(fields: Fields, name: string, dflt: number, min: number, max: number): number {
  const text = fields[name]?.trim();
  if (!text) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new HttpError(400, `field '${name}' must be a whole number from ${min} to ${max}`, name);
  return n;
}

async function jobTable(api: ServerApi, ex: Exchange): Promise<void> {
  sendText(ex.res, 200, jobTablePage(api.store.all().map(summarize), "facemesh NOVA server: jobs"), "text/html");
}

async function jobStatus(api: ServerApi, ex: Exchange): Promise<void> {
  sendJson(ex.res, 200, { status: knownJob(api, await ex.fields()).status });
}

/** MAX_PAGE: a page of /job_status_all holds at most this many jobs. */
export const MAX_PAGE = 1000;

/**
 * DISCOVER's list of all jobs, oldest first. Paging (an addition): `offset` and `limit` select a slice; the
 * total is in the X-Total-Count header. Without them, all jobs (retention keeps the table bounded).
 */
async function jobStatusAll(api: ServerApi, ex: Exchange): Promise<void> {
  const fields = ex.method === "POST" ? await ex.fields() : Object.fromEntries(ex.url.searchParams);
  const all = api.store.all();
  const offset = intField(fields, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intField(fields, "limit", all.length, 1, Math.max(MAX_PAGE, all.length));
  sendJson(ex.res, 200, all.slice(offset, offset + limit).map(summarize), { "X-Total-Count": String(all.length) });
}

async function readLog(job: JobRecord): Promise<string> {
  return existsSync(job.logPath) ? readFile(job.logPath, "utf8") : "";
}

async function log(api: ServerApi, ex: Exchange): Promise<void> {
  sendJson(ex.res, 200, { message: await readLog(knownJob(api, await ex.fields())) });
}

async function logByUrl(api: ServerApi, ex: Exchange): Promise<void> {
  let key: string;
  try {
    key = decodeURIComponent(ex.url.pathname.slice("/log/".length));
  } catch {
    throw new HttpError(400, "malformed job id in the URL");
  }
  sendText(ex.res, 200, await readLog(knownJob(api, { jobID: key })));
}

async function cancel(api: ServerApi, ex: Exchange): Promise<void> {
  const job = knownJob(api, await ex.fields());
  // A queue that does not answer (queue mode) is the server's trouble, not the request's.
  const ok = await api.manager.cancel(job.jobKey).catch((err: unknown) => Promise.reject(new HttpError(503, `could not cancel '${job.jobKey}': ${(err as Error).message}`)));
  sendJson(ex.res, 200, { success: ok ? "true" : "false" });
}

async function fetchResult(api: ServerApi, ex: Exchange): Promise<void> {
  const job = knownJob(api, await ex.fields());
  const { res } = ex;
  if (job.status !== JobStatus.FINISHED) {
    throw new HttpError(409, `job '${job.jobKey}' is ${JobStatus[job.status]}; results can be fetched once it is FINISHED`, "jobID");
  }
  const dir = job.resultDir;
  const names = dir && existsSync(dir) ? (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith(".")).map((e) => e.name).sort() : [];
  if (names.length === 0) throw new HttpError(404, `job '${job.jobKey}' has no results to fetch (it had no request: outputs)`, "jobID");
  if (names.length === 1) {
    const file = path.join(dir, names[0]);
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Disposition": attachment(names[0]) });
    await pipeline(createReadStream(file), res);
    return;
  }
  res.writeHead(200, { "Content-Type": "application/zip", "Content-Disposition": attachment(`${job.safeName}.zip`) });
  await writeZip(res, names.map((n) => ({ name: n, file: path.join(dir, n) })));
  res.end();
}

async function upload(api: ServerApi, ex: Exchange): Promise<void> {
  const { file } = await receiveUpload(ex.req, api.limits, { field: "file", dir: api.config.tmpDir, maxFileBytes: api.config.maxUploadBytes });
  sendText(ex.res, 200, file.storedName);
}

async function cmlInfo(api: ServerApi, ex: Exchange): Promise<void> {
  const fields = await ex.fields();
  const inputFilter = parseFilter(fields, "input_filter");
  const outputFilter = parseFilter(fields, "output_filter");
  const trainerOk: Record<string, string> = {};
  const trainerFaulty: Record<string, string> = {};
  for (const rel of await findTrainers(api.config.cmlDir)) {
    const abs = path.join(api.config.cmlDir, ...rel.split("/"));
    try {
      const trainer = parseTrainerXml(await readFile(abs, "utf8"), rel);
      const io = trainerIo(trainer);
      const ins = io.filter((x) => x.type.toLowerCase() === "input");
      const outs = io.filter((x) => x.type.toLowerCase() === "output");
      if (inputFilter && !ins.every((x) => inputFilter.some((f) => dataTypeMatches(f, x.data)))) continue;
      if (outputFilter && !outs.some((x) => outputFilter.some((f) => dataTypeMatches(f, x.data)))) continue;
      await loadModuleAt(abs, rel); // a trainer this server cannot run is listed as faulty, with the reason
      trainerOk[rel] = JSON.stringify(trainer);
    } catch (err) {
      trainerFaulty[rel] = (err as Error).message;
    }
  }
  sendJson(ex.res, 200, { chains_ok: {}, chains_faulty: {}, trainer_ok: trainerOk, trainer_faulty: trainerFaulty });
}

async function updateProgress(api: ServerApi, ex: Exchange): Promise<void> {
  const body = await readJsonObject(ex.req, api.limits);
  const key = body.job_key;
  const progress = body.progress;
  if (typeof key !== "string" || !key || progress === undefined || progress === null || progress === "") {
    return sendJson(ex.res, 400, { success: false, error: "Missing job_key or progress" });
  }
  if (!api.store.get(key)) return sendJson(ex.res, 404, { success: false, error: `unknown job_key '${key}'` });
  api.store.update(key, { progress: String(progress).slice(0, 64) });
  sendJson(ex.res, 200, { success: true });
}

export type Handler = (api: ServerApi, ex: Exchange) => Promise<void>;

export interface Route {
  /** Methods answered; HEAD goes with GET. The first is named in a 405. */
  methods: string[];
  handler: Handler;
}

/** The fixed routes; `/log/<id>` is matched by prefix (routeFor). */
export const ROUTES: Record<string, Route> = {
  "/": { methods: ["GET"], handler: jobTable },
  "/process": { methods: ["POST"], handler: async (api, ex) => sendJson(ex.res, 200, await processEndpoint(api, ex)) },
  "/job_status": { methods: ["POST", "GET"], handler: jobStatus },
  "/job_status_all": { methods: ["GET", "POST"], handler: jobStatusAll },
  "/log": { methods: ["POST"], handler: log },
  "/cancel": { methods: ["POST"], handler: cancel },
  "/fetch_result": { methods: ["POST"], handler: fetchResult },
  "/upload": { methods: ["POST"], handler: upload },
  "/cml_info": { methods: ["POST", "GET"], handler: cmlInfo },
  "/api/update_progress": { methods: ["POST"], handler: updateProgress },
};

const LOG_BY_URL: Route = { methods: ["GET"], handler: logByUrl };

export function routeFor(p: string): Route | undefined {
  return ROUTES[p] ?? (p.startsWith("/log/") ? LOG_BY_URL : undefined);
}
