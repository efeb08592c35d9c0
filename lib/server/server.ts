/**
 * The NOVA-Server (DISCOVER) compatible HTTP(S) server: endpoints of NOVA.md §6 on node:http, bodies via
 * http_body.ts (busboy for multipart), jobs via job_manager.ts, records via job_store.ts.
 *
 * Why node:http + busboy rather than a framework: a dozen fixed routes need no router; the TLS front door
 * (tls.ts) hands raw sockets to the same request handler; and busboy is the multipart parser that the
 * frameworks' own plugins use, already a dependency. Nothing else is pulled in.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { ServerConfig } from "./config.js";
import { prepareDirectories } from "./config.js";
import { jobTablePage } from "./html.js";
import { readFields, readJsonObject, receiveUpload, type BodyLimits, type Fields } from "./http_body.js";
import { HttpError } from "./http_error.js";
import { JobLog } from "./job_log.js";
import { JobManager } from "./job_manager.js";
import { MAX_JOB_ID_LENGTH, safeJobName } from "./job_names.js";
import { parseDbPlan, type DbPlan } from "./db_sources.js";
import { checkAgainstManifest, mergeOptions, parseDataField, resolveDataEntries } from "./job_request.js";
import { discoverTime, JobStatus, JobStore, type JobRecord } from "./job_store.js";
import { summarize } from "./job_view.js";
import { findTrainers, loadModule, loadModuleAt, type LoadedModule } from "./modules.js";
import { collectSecretValues, redactForm } from "./secrets.js";
import { loadOrCreateCredentials, tlsFrontDoor } from "./tls.js";
import { parseTrainerXml, trainerIo } from "./trainer_info.js";
import { writeZip } from "./zip.js";

export interface RunningServer {
  /** Base URL, e.g. https://127.0.0.1:8443 */
  url: string;
  port: number;
  config: ServerConfig;
  manager: JobManager;
  store: JobStore;
  /** Stops listening, ends running jobs (they become ERROR), closes the job store. */
  close(): Promise<void>;
}

const MAX_FIELDS = 200;
/** After an error answer, at most this much of an unread request body is drained before the socket is dropped. */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: http.ServerResponse, status: number, text: string, type = "text/plain"): void {
  res.writeHead(status, { "Content-Type": `${type}; charset=utf-8`, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function requireField(fields: Fields, name: string): string {
  const v = fields[name];
  if (v === undefined || v.trim() === "") throw new HttpError(400, `missing field '${name}'`, name);
  return v;
}

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

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  prepareDirectories(config);
  const store = new JobStore(path.join(config.logDir, "jobs.sqlite3"));
  for (const job of store.interrupted) new JobLog(job.logPath).critical(`Job failed with exception ${job.error}`);
  const manager = new JobManager(config, store);
  const limits: BodyLimits = { maxBodyBytes: config.maxBodyBytes, maxFields: MAX_FIELDS };

  const knownJob = (fields: Fields): JobRecord => {
    const key = requireField(fields, "jobID");
    const job = store.get(key);
    if (!job) throw new HttpError(404, `unknown jobID '${key}': no such job on this server`, "jobID");
    return job;
  };

  async function processJob(fields: Fields): Promise<unknown> {
    const given = fields.jobID;
    const generated = given === undefined || given.trim() === "";
    const jobKey = generated ? `job-${randomUUID()}` : given;
    if (jobKey.length > MAX_JOB_ID_LENGTH) throw new HttpError(400, `field 'jobID' is longer than ${MAX_JOB_ID_LENGTH} characters`, "jobID");
    const existing = store.get(jobKey);
    if (existing && manager.isActive(jobKey)) {
      throw new HttpError(409, `job '${jobKey}' is still ${JobStatus[existing.status]}; cancel it first or use another jobID`, "jobID");
    }
    const safeName = safeJobName(jobKey);
    const log = new JobLog(path.join(config.logDir, `${safeName}.log`), collectSecretValues(fields));
    const details = JSON.stringify(redactForm(fields));
    const trainerField = fields.trainerFilePath ?? "";
    const base: Omit<JobRecord, "seq"> = {
      jobKey,
      safeName,
      jobType: "process",
      moduleName: trainerField.split(/[\\/]/).filter(Boolean)[0] ?? "",
      status: JobStatus.WAITING,
      progress: "",
      startTime: "",
      endTime: "",
      logPath: log.file,
      details,
      resultDir: "",
      error: "",
    };
    const resultDir = path.join(config.tmpDir, safeName);
    let mod: LoadedModule;
    let options: Record<string, unknown>;
    let resolved;
    let db: DbPlan | undefined;
    try {
      requireField(fields, "trainerFilePath");
      requireField(fields, "data");
      mod = await loadModule(config.cmlDir, trainerField);
      options = mergeOptions(fields);
      const entries = parseDataField(fields.data);
      await rm(resultDir, { recursive: true, force: true }); // results of an earlier job with this id
      resolved = resolveDataEntries(entries, { workDir: config.workDir, tmpDir: config.tmpDir, resultDir });
      checkAgainstManifest(resolved, mod.manifest.io, mod.manifest.name);
      if (resolved.db.inputs.length + resolved.db.outputs.length > 0) db = parseDbPlan(fields, resolved.db, config, Object.keys(resolved.outputs).length > 0);
      for (const file of Object.values(resolved.outputs)) await mkdir(path.dirname(file), { recursive: true });
    } catch (err) {
      if (err instanceof HttpError) {
        // Record the refusal too, so a client that polls /job_status and /log sees ERROR and the reason.
        store.put({ ...base, status: JobStatus.ERROR, endTime: discoverTime(), error: err.message });
        log.reset();
        log.info(`job received: ${details}`);
        log.critical(`Job failed with exception ${err.message}`);
      }
      throw err;
    }
    const hasRequestOutputs = Object.values(resolved.outputs).some((f) => path.dirname(f) === resultDir);
    store.put({ ...base, moduleName: mod.manifest.name, resultDir: hasRequestOutputs ? resultDir : "" });
    log.reset();
    log.info(`job received: ${details}`);
    log.info(`module ${mod.manifest.name} ${mod.manifest.version} (${mod.trainerRel}), queued`);
    manager.enqueue({
      jobKey,
      entryPath: mod.entryPath,
      request: { trainerPath: mod.trainerPath, options, inputs: resolved.inputs, outputs: resolved.outputs },
      envAllow: mod.manifest.permissions.env ?? [],
      log,
      db,
    });
    return generated ? { success: "True", jobID: jobKey } : { success: "True" };
  }

  async function cmlInfo(fields: Fields): Promise<unknown> {
    const inputFilter = parseFilter(fields, "input_filter");
    const outputFilter = parseFilter(fields, "output_filter");
    const trainerOk: Record<string, string> = {};
    const trainerFaulty: Record<string, string> = {};
    for (const rel of await findTrainers(config.cmlDir)) {
      const abs = path.join(config.cmlDir, ...rel.split("/"));
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
    return { chains_ok: {}, chains_faulty: {}, trainer_ok: trainerOk, trainer_faulty: trainerFaulty };
  }

  async function fetchResult(job: JobRecord, res: http.ServerResponse): Promise<void> {
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

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://server");
    const method = req.method ?? "GET";
    const p = url.pathname.replace(/\/+$/, "") || "/";
    const post = method === "POST";
    const get = method === "GET" || method === "HEAD";
    const allow = (ok: boolean, methods: string) => {
      if (!ok) {
        res.setHeader("Allow", methods);
        throw new HttpError(405, `${method} is not allowed on ${p}; use ${methods}`);
      }
    };
    /** Fields from the body, plus the query string (handy for GET and for curl). */
    const fields = async (): Promise<Fields> => ({ ...Object.fromEntries(url.searchParams), ...(await readFields(req, limits)) });

    if (p === "/") {
      allow(get, "GET");
      return sendText(res, 200, jobTablePage(store.all().map(summarize), "facemesh NOVA server: jobs"), "text/html");
    }
    if (p === "/process") {
      allow(post, "POST");
      return sendJson(res, 200, await processJob(await fields()));
    }
    if (p === "/job_status") {
      allow(post || get, "POST");
      return sendJson(res, 200, { status: knownJob(await fields()).status });
    }
    if (p === "/job_status_all") {
      allow(post || get, "GET");
      if (post) await fields();
      return sendJson(res, 200, store.all().map(summarize));
    }
    if (p === "/log") {
      allow(post, "POST");
      const job = knownJob(await fields());
      const text = existsSync(job.logPath) ? await readFile(job.logPath, "utf8") : "";
      return sendJson(res, 200, { message: text });
    }
    if (p.startsWith("/log/")) {
      allow(get, "GET");
      let key: string;
      try {
        key = decodeURIComponent(url.pathname.slice("/log/".length));
      } catch {
        throw new HttpError(400, "malformed job id in the URL");
      }
      const job = knownJob({ jobID: key });
      return sendText(res, 200, existsSync(job.logPath) ? await readFile(job.logPath, "utf8") : "");
    }
    if (p === "/cancel") {
      allow(post, "POST");
      const job = knownJob(await fields());
      const ok = await manager.cancel(job.jobKey);
      return sendJson(res, 200, { success: ok ? "true" : "false" });
    }
    if (p === "/fetch_result") {
      allow(post, "POST");
      return fetchResult(knownJob(await fields()), res);
    }
    if (p === "/upload") {
      allow(post, "POST");
      const { file } = await receiveUpload(req, limits, { field: "file", dir: config.tmpDir, maxFileBytes: config.maxUploadBytes });
      return sendText(res, 200, file.storedName);
    }
    if (p === "/cml_info") {
      allow(post || get, "POST");
      return sendJson(res, 200, await cmlInfo(await fields()));
    }
    if (p === "/api/update_progress") {
      allow(post, "POST");
      const body = await readJsonObject(req, limits);
      const key = body.job_key;
      const progress = body.progress;
      if (typeof key !== "string" || !key || progress === undefined || progress === null || progress === "") {
        return sendJson(res, 400, { success: false, error: "Missing job_key or progress" });
      }
      if (!store.get(key)) return sendJson(res, 404, { success: false, error: `unknown job_key '${key}'` });
      store.update(key, { progress: String(progress) });
      return sendJson(res, 200, { success: true });
    }
    throw new HttpError(404, `no endpoint ${p}`);
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${(err as Error)?.message ?? String(err)}`);
      if (!(err instanceof HttpError)) console.error(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!req.complete) {
        // The body was not read to the end (too large, or refused early): drain a bounded amount, then hang up.
        res.setHeader("Connection", "close");
        let drained = 0;
        req.on("data", (c: Buffer) => {
          drained += c.length;
          if (drained > MAX_DRAIN_BYTES) req.destroy();
        });
        req.resume();
      }
      sendJson(res, e.status, e.field ? { success: "False", error: e.message, field: e.field } : { success: "False", error: e.message });
    });
  };

  const serverOptions: http.ServerOptions = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 };
  let listener: net.Server;
  let httpServer: http.Server;
  let scheme: string;
  if (config.useTls) {
    const creds = await loadOrCreateCredentials(config);
    httpServer = https.createServer({ ...serverOptions, key: creds.key, cert: creds.cert }, handler);
    httpServer.on("tlsClientError", () => {
      /* a client that gave up on the handshake (e.g. rejected our self-signed cert) is not our error */
    });
    listener = tlsFrontDoor(httpServer as https.Server);
    scheme = "https";
  } else {
    httpServer = http.createServer(serverOptions, handler);
    listener = httpServer;
    scheme = "http";
  }
  const sockets = new Set<net.Socket>();
  listener.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(config.port, config.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const address = listener.address() as net.AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${hostForUrl}:${address.port}`,
    port: address.port,
    config,
    manager,
    store,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => listener.close(() => r()));
        for (const s of sockets) s.destroy();
        httpServer.closeAllConnections();
        await manager.close();
        await closed;
        store.close();
      })();
      return closing;
    },
  };
}
