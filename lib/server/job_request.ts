/**
 * Turning a /process form (NOVA.md §6) into the JobRequest a module's hooks get (lib/nova/hooks.ts): options from
 * `options` (JSON) over `optStr` (k=v;k=v), and the `data` entries resolved to file paths.
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { IoSpec } from "../nova/manifest.js";
import { resolveIoIds } from "../nova/manifest.js";
import { parseSrc, type DataEntry, type ParsedSrc } from "./data_entry.js";
import { dbEntryOf, type DbEntry } from "./db_sources.js";
import { HttpError } from "./http_error.js";
import { safeFileLabel } from "./job_names.js";

export { parseSrc, type DataEntry, type ParsedSrc };

/** `k=v;k2=v2` -> {k: "v", k2: "v2"}; values stay text (the module validates and converts). */
export function parseOptStr(optStr: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of optStr.split(";")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new HttpError(400, `field 'optStr': '${pair}' is not of the form name=value`, "optStr");
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** Options as they arrived: the JSON `options` object merged over `optStr`. */
export function mergeOptions(form: Record<string, string>): Record<string, unknown> {
  const fromStr = form.optStr ? parseOptStr(form.optStr) : {};
  let fromJson: Record<string, unknown> = {};
  const text = form.options?.trim();
  if (text) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `field 'options' is not valid JSON: ${(err as Error).message}`, "options");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new HttpError(400, "field 'options' must be a JSON object like {\"batch_size\": 250}", "options");
    }
    fromJson = parsed as Record<string, unknown>;
  }
  return { ...fromStr, ...fromJson };
}

/** `active: false`, "False", "0", "no" -> inactive; anything else (or absent) -> active. */
export function isActive(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === "boolean") return value;
  return !["false", "0", "no", "off"].includes(String(value).trim().toLowerCase());
}

export function parseDataField(text: string | undefined): DataEntry[] {
  if (text === undefined || text.trim() === "") throw new HttpError(400, "missing field 'data' (a JSON list of data entries)", "data");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `field 'data' is not valid JSON: ${(err as Error).message}`, "data");
  }
  if (!Array.isArray(parsed)) throw new HttpError(400, "field 'data' must be a JSON list of data entries", "data");
  return parsed.map((e, i) => {
    const where = `field 'data', entry ${i}`;
    if (e === null || typeof e !== "object" || Array.isArray(e)) throw new HttpError(400, `${where} is not a JSON object`, "data");
    const o = e as Record<string, unknown>;
    if (typeof o.id !== "string" || o.id.trim() === "") throw new HttpError(400, `${where} needs a non-empty 'id'`, "data");
    const type = typeof o.type === "string" ? o.type.trim().toLowerCase() : "";
    if (type !== "input" && type !== "output") throw new HttpError(400, `${where} ('${o.id}'): 'type' must be input or output`, "data");
    if (typeof o.src !== "string" || o.src.trim() === "") throw new HttpError(400, `${where} ('${o.id}') needs a 'src' like file:stream:video`, "data");
    return { ...o, id: o.id, type, src: o.src } as DataEntry;
  });
}

export interface ResolveContext {
  /** The server's working directory: relative `file:` uris resolve against it. */
  workDir: string;
  /** Uploads live here; a bare input name is looked up here first. */
  tmpDir: string;
  /** `request:` outputs are written here (this job's own result folder). */
  resultDir: string;
}

export interface ResolvedData {
  inputs: Record<string, string>;
  outputs: Record<string, string>;
  /** `db:` entries: their files depend on the session and the database (db_job.ts resolves them per session). */
  db: { inputs: DbEntry[]; outputs: DbEntry[] };
}

/** Extension for a `request:` output without a uri, from its data type. */
function extensionFor(src: ParsedSrc): string {
  if (src.superType === "stream") return src.subType === "video" ? ".mp4" : src.subType === "audio" ? ".wav" : ".stream";
  if (src.superType === "annotation") return ".annotation";
  if (src.superType === "text") return ".txt";
  if (src.superType === "image") return ".png";
  if (src.superType === "table") return ".csv";
  return "";
}

function filePathOf(entry: DataEntry, ctx: ResolveContext, what: string): string {
  const raw = typeof entry.uri === "string" && entry.uri.trim() !== "" ? entry.uri.trim() : typeof entry.uri_template === "string" ? entry.uri_template.trim() : "";
  if (raw === "") throw new HttpError(400, `${what}: a file: entry needs 'uri' (or 'uri_template')`, "data");
  if (raw.includes("\0")) throw new HttpError(400, `${what}: uri contains a NUL character`, "data");
  if (/\{[^}]*\}/.test(raw)) throw new HttpError(400, `${what}: uri_template '${raw}' has placeholders; this server needs a concrete 'uri'`, "data");
  if (raw.toLowerCase().startsWith("file://")) {
    try {
      return fileURLToPath(raw);
    } catch (err) {
      // e.g. file://host/x: a file on another machine, which this server cannot open.
      throw new HttpError(400, `${what}: '${raw}' is not a local file URL: ${(err as Error).message}`, "data");
    }
  }
  if (/^[A-Za-z]:[\\/]/.test(raw) && path.sep === "/") {
    throw new HttpError(400, `${what}: '${raw}' is a Windows path; this server runs on ${process.platform}, send a path it can open (or upload the file)`, "data");
  }
  if (path.isAbsolute(raw)) return path.normalize(raw);
  const rel = path.sep === "/" ? raw.replace(/\\/g, "/") : raw;
  const bare = !/[\\/]/.test(rel);
  if (bare && entry.type === "input") {
    // A bare name is what /upload answers: it lives in tmp_dir. Otherwise it is relative to the working dir.
    const uploaded = path.join(ctx.tmpDir, rel);
    if (existsSync(uploaded)) return uploaded;
  }
  return path.resolve(ctx.workDir, rel);
}

/**
 * The paths of a job's data entries. Inactive entries are skipped; inputs must exist; `request:` outputs go to
 * the job's result folder; `db:` entries are collected for db_job.ts; `url:` sources are refused with a reason.
 */
export function resolveDataEntries(entries: DataEntry[], ctx: ResolveContext): ResolvedData {
  const inputs: Record<string, string> = {};
  const outputs: Record<string, string> = {};
  const usedNames = new Set<string>();
  const db: ResolvedData["db"] = { inputs: [], outputs: [] };
  for (const entry of entries) {
    const what = `data entry '${entry.id}' (${entry.type}, src ${entry.src})`;
    if (!isActive(entry.active)) continue;
    const src = parseSrc(entry.src);
    const target = entry.type === "input" ? inputs : outputs;
    if (entry.id in target || db[`${entry.type}s`].some((e) => e.id === entry.id)) throw new HttpError(400, `${what}: id '${entry.id}' appears twice among the ${entry.type}s`, "data");
    let file: string;
    switch (src.origin) {
      case "file":
        file = filePathOf(entry, ctx, what);
        break;
      case "request":
        if (entry.type === "output") {
          const base = typeof entry.uri === "string" && entry.uri.trim() ? path.basename(entry.uri.trim().replace(/\\/g, "/")) : `${entry.id}${extensionFor(src)}`;
          let name = safeFileLabel(base, "output");
          for (let i = 2; usedNames.has(name); i++) name = `${i}_${safeFileLabel(base, "output")}`;
          usedNames.add(name);
          file = path.join(ctx.resultDir, name);
        } else {
          // A request input is a file the client uploaded before (/upload): a bare name inside tmp_dir only.
          const name = typeof entry.uri === "string" ? entry.uri.trim() : "";
          if (!name || /[\\/]/.test(name) || name === "." || name === "..") {
            throw new HttpError(400, `${what}: a request: input needs 'uri' = the name /upload answered`, "data");
          }
          file = path.join(ctx.tmpDir, name);
        }
        break;
      case "db":
        db[`${entry.type}s`].push(dbEntryOf(entry, src, what));
        continue;
      case "url":
        throw new HttpError(400, `${what}: url: sources are not supported (this server does not download); upload the file instead`, "data");
      default:
        throw new HttpError(400, `${what}: unknown origin '${src.origin}' (expected file, request, db or url)`, "data");
    }
    if (entry.type === "input") {
      if (!existsSync(file)) throw new HttpError(400, `${what}: input file not found: ${file}`, "data");
      if (!statSync(file).isFile()) throw new HttpError(400, `${what}: input ${file} is not a file`, "data");
    }
    target[entry.id] = file;
  }
  return { inputs, outputs, db };
}

/** Checks the ids against the module's manifest: no slot named twice (id + alias), required inputs present. */
export function checkAgainstManifest(resolved: ResolvedData, io: { inputs: IoSpec[]; outputs: IoSpec[] }, moduleName: string): void {
  let canonicalInputs: Record<string, string>;
  try {
    // A db: entry fills its slot as a file: entry does; its path is known only per session.
    const withDb = (files: Record<string, string>, dbEntries: DbEntry[]) => ({ ...files, ...Object.fromEntries(dbEntries.map((e) => [e.id, `db:${e.name}`])) });
    canonicalInputs = resolveIoIds(io.inputs, withDb(resolved.inputs, resolved.db.inputs));
    resolveIoIds(io.outputs, withDb(resolved.outputs, resolved.db.outputs));
  } catch (err) {
    throw new HttpError(400, `module ${moduleName}: ${(err as Error).message}`, "data");
  }
  for (const spec of io.inputs) {
    if (spec.required && !(spec.id in canonicalInputs)) {
      const names = [spec.id, ...spec.aliases].map((n) => `'${n}'`).join(" or ");
      throw new HttpError(400, `module ${moduleName} needs input ${names} (${spec.data}); the request's data has none`, "data");
    }
  }
}
