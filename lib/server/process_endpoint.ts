/**
 * POST /process: checks a job request completely before accepting it (shape and bounds, module, data entries,
 * where it writes), then records it WAITING and queues it. The jobID is claimed synchronously first, so two
 * concurrent requests with one id cannot both be accepted.
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { assertInsideAllowed, assertOutputsDistinct } from "../output_guard.js";
import { requireField, type Exchange, type ServerApi } from "./api.js";
import type { Fields } from "./http_body.js";
import { HttpError } from "./http_error.js";
import { JobLog } from "./job_log.js";
import { MAX_JOB_ID_LENGTH, safeJobName } from "./job_names.js";
import { parseDbPlan, type DbPlan } from "./db_sources.js";
import { checkAgainstManifest, mergeOptions, parseDataField, resolveDataEntries, type ResolvedData } from "./job_request.js";
import { discoverTime, JobStatus, type JobRecord } from "./job_store.js";
import { jobDetails } from "./job_view.js";
import { loadModule, type LoadedModule } from "./modules.js";
import { checkProcessForm } from "./request_limits.js";
import { collectSecretValues } from "./secrets.js";

/** Where a job may read and write, as a 400 naming the problem: outputs never over inputs; confinement when set. */
export function checkJobPaths(api: ServerApi, resolved: ResolvedData): void {
  const label = (_kind: string, id: string) => `'${id}'`;
  const inputs = Object.fromEntries(Object.entries(resolved.inputs).map(([id, f]) => [label("input", id), f]));
  const outputs = Object.fromEntries(Object.entries(resolved.outputs).map(([id, f]) => [label("output", id), f]));
  try {
    assertOutputsDistinct(inputs, outputs);
    const allowed = api.config.allowedDirs;
    if (allowed) assertInsideAllowed({ ...inputs, ...outputs }, [...allowed, ...api.config.dataDirs, api.config.tmpDir]);
  } catch (err) {
    throw new HttpError(400, (err as Error).message, "data");
  }
}

export async function processEndpoint(api: ServerApi, ex: Exchange): Promise<unknown> {
  const fields: Fields = await ex.fields();
  const { config, store, manager } = api;
  const given = fields.jobID;
  const generated = given === undefined || given.trim() === "";
  const jobKey = generated ? `job-${randomUUID()}` : given;
  if (jobKey.length > MAX_JOB_ID_LENGTH) throw new HttpError(400, `field 'jobID' is longer than ${MAX_JOB_ID_LENGTH} characters`, "jobID");
  if (!manager.claim(jobKey)) {
    const existing = store.get(jobKey);
    const state = existing ? JobStatus[existing.status] : "being submitted";
    throw new HttpError(409, `job '${jobKey}' is still ${state}; cancel it first or use another jobID`, "jobID");
  }
  let accepted = false;
  try {
    const safeName = safeJobName(jobKey);
    const log = new JobLog(path.join(config.logDir, `${safeName}.log`), collectSecretValues(fields));
    const details = jobDetails(fields);
    const trainerField = fields.trainerFilePath ?? "";
    const base: Omit<JobRecord, "seq"> = {
      jobKey,
      safeName,
      jobType: "process",
      moduleName: trainerField.split(/[\\/]/).filter(Boolean)[0]?.slice(0, 200) ?? "",
      status: JobStatus.WAITING,
      progress: "",
      startTime: "",
      endTime: "",
      logPath: log.file,
      details,
      resultDir: "",
      error: "",
      outputs: "",
    };
    const resultDir = path.join(config.tmpDir, safeName);
    let mod: LoadedModule;
    let options: Record<string, unknown>;
    let resolved: ResolvedData;
    let db: DbPlan | undefined;
    try {
      checkProcessForm(fields);
      requireField(fields, "trainerFilePath");
      requireField(fields, "data");
      mod = await loadModule(config.cmlDir, trainerField);
      options = mergeOptions(fields);
      const entries = parseDataField(fields.data);
      await rm(resultDir, { recursive: true, force: true }); // results of an earlier job with this id
      resolved = resolveDataEntries(entries, { workDir: config.workDir, tmpDir: config.tmpDir, resultDir });
      checkAgainstManifest(resolved, mod.manifest.io, mod.manifest.name);
      checkJobPaths(api, resolved);
      if (resolved.db.inputs.length + resolved.db.outputs.length > 0) db = parseDbPlan(fields, resolved.db, config, Object.keys(resolved.outputs).length > 0);
      for (const file of Object.values(resolved.outputs)) await mkdir(path.dirname(file), { recursive: true });
    } catch (err) {
      if (err instanceof HttpError) {
        // Kept in memory (bounded, capped), so a client that polls /job_status and /log sees ERROR and the reason.
        await api.deleteJobFiles(store.putRefused({ ...base, status: JobStatus.ERROR, endTime: discoverTime(), error: err.message }));
        log.reset();
        log.info(`job received: ${details}`);
        log.critical(`Job failed with exception ${err.message}`);
      }
      throw err;
    }
    const hasRequestOutputs = Object.values(resolved.outputs).some((f) => path.dirname(f) === resultDir);
    store.put({ ...base, moduleName: mod.manifest.name, resultDir: hasRequestOutputs ? resultDir : "", outputs: JSON.stringify(Object.values(resolved.outputs)) });
    log.reset();
    log.info(`job received: ${details}`);
    log.info(`module ${mod.manifest.name} ${mod.manifest.version} (${mod.trainerRel}), queued`);
    const queued = manager.enqueue({
      jobKey,
      entryPath: mod.entryPath,
      trainerRel: mod.trainerRel,
      request: { trainerPath: mod.trainerPath, options, inputs: resolved.inputs, outputs: resolved.outputs },
      envAllow: mod.manifest.permissions.env ?? [],
      log,
      db,
    });
    // The queue mode answers once the job is on the queue; a queue that does not answer is the server's trouble.
    if (queued) await queued.catch((err: unknown) => Promise.reject(new HttpError(503, (err as Error).message)));
    accepted = true;
  } finally {
    if (!accepted) manager.release(jobKey);
  }
  await api.prune();
  return generated ? { success: "True", jobID: jobKey } : { success: "True" };
}
