/**
 * `db:` data entries (NOVA.md §8): what a /process request asks of NOVA's database, checked when the request
 * arrives (a DbPlan, or a 400 naming the field), and where a session's files are:
 *   input   <data_dir>/<dataset>/<session>/<role>.<name>.<fileExt>   (fileExt from the Streams collection)
 *   output  <data_dir>/<dataset>/<session>/<role>.<name>.stream
 * The database itself is read in the job's process (db_job.ts), so a slow or absent MongoDB never holds up the
 * HTTP server.
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { HttpError } from "./http_error.js";
import type { DataEntry, ParsedSrc } from "./data_entry.js";

export interface DbEntry {
  /** The io id as sent (canonical or alias). */
  id: string;
  /** NOVA's stream name (Streams collection) and the session role: together they name the file. */
  name: string;
  role: string;
  /** The entry's `super:sub:specific`, parsed; for outputs the specific part is the media type NOVA asked for. */
  src: ParsedSrc;
}

export interface DbPlan {
  host: string;
  port: number;
  user: string;
  /**
   * Travels only over the IPC channel to the job's process; never logged, never stored by the server. In queue
   * mode it is in the job's data in Redis until the job ends (queue/queue_runner.ts forgetPassword).
   */
  password: string;
  timeoutMs: number;
  /** The MongoDB database = NOVA's dataset (also the folder under each data dir). */
  dataset: string;
  sessions: string[];
  dataDirs: string[];
  inputs: DbEntry[];
  outputs: DbEntry[];
}

const MONGO_DEFAULT_PORT = 27017;

/** A name that becomes one path component: no separators, not "." or "..", no NUL. */
function pathComponent(value: unknown, what: string, field: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new HttpError(400, `${what} must be a non-empty string`, field);
  const v = value.trim();
  if (/[\\/\0]/.test(v) || v === "." || v === "..") throw new HttpError(400, `${what} '${v}' must not contain '/', '\\' or be '.' or '..'`, field);
  return v;
}

/** A `db:` entry's name and role; only streams (NOVA's annotations are not something this server writes or reads). */
export function dbEntryOf(entry: DataEntry, src: ParsedSrc, what: string): DbEntry {
  if (src.superType !== "stream") {
    throw new HttpError(400, `${what}: db:${src.superType} sources are not supported by this server (only db:stream)`, "data");
  }
  if (entry.type === "output" && src.subType !== "ssistream") {
    throw new HttpError(400, `${what}: db: outputs must be SSI streams (db:stream:SSIStream:<media type>); this server does not write ${src.subType || "untyped"} streams to NOVA's database`, "data");
  }
  return { id: entry.id, name: pathComponent(entry.name, `${what}: 'name'`, "data"), role: pathComponent(entry.role, `${what}: 'role'`, "data"), src };
}

function parseSessions(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") throw new HttpError(400, "missing field 'sessions' (a JSON list of session names); db: sources need it", "sessions");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // Not JSON: a comma-separated list, as a person may type it in a curl command.
    v = text.split(",").map((s) => s.trim());
  }
  if (!Array.isArray(v) || v.length === 0) throw new HttpError(400, "field 'sessions' must be a non-empty JSON list of session names", "sessions");
  const names = v.map((s, i) => pathComponent(s, `field 'sessions', entry ${i}`, "sessions"));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new HttpError(400, `field 'sessions' names session '${dup}' twice`, "sessions");
  return names;
}

/** MongoDB database names: no / \ . " $ space or NUL, under 64 bytes. */
function parseDataset(text: string | undefined): string {
  const v = text?.trim() ?? "";
  if (v === "") throw new HttpError(400, "missing field 'dataset' (NOVA's database name); db: sources need it", "dataset");
  if (/[/\\. "$\0]/.test(v) || Buffer.byteLength(v) >= 64) {
    throw new HttpError(400, `field 'dataset': '${v}' is not a MongoDB database name (no / \\ . " $ or spaces, under 64 bytes)`, "dataset");
  }
  return v;
}

function parseHost(text: string | undefined): string {
  const v = text?.trim().replace(/^\[(.*)\]$/, "$1") ?? "";
  if (v === "") throw new HttpError(400, "missing field 'dbHost' (NOVA's MongoDB host); db: sources need it", "dbHost");
  // The host goes into a mongodb:// URI: nothing that could add credentials, hosts or options to it.
  if (!/^[A-Za-z0-9._:-]+$/.test(v)) throw new HttpError(400, `field 'dbHost': '${v}' is not a host name or IP address`, "dbHost");
  return v;
}

function parsePort(text: string | undefined): number {
  const v = text?.trim() ?? "";
  if (v === "") return MONGO_DEFAULT_PORT;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new HttpError(400, `field 'dbPort': '${v}' is not a port number (1-65535)`, "dbPort");
  return n;
}

/**
 * The plan of a job with `db:` entries. `hasFileOutputs`: a `file:`/`request:` output would be overwritten by every
 * session, so with several sessions it is refused.
 */
export function parseDbPlan(
  fields: Record<string, string>,
  entries: { inputs: DbEntry[]; outputs: DbEntry[] },
  settings: { dataDirs: string[]; dbTimeoutMs: number },
  hasFileOutputs: boolean,
): DbPlan {
  const sessions = parseSessions(fields.sessions);
  if (hasFileOutputs && sessions.length > 1) {
    throw new HttpError(400, `${sessions.length} sessions with a file: or request: output: every session would overwrite it; use db: outputs (or one session per job)`, "data");
  }
  return {
    host: parseHost(fields.dbHost),
    port: parsePort(fields.dbPort),
    user: fields.dbUser?.trim() ?? "",
    password: fields.dbPassword ?? "",
    timeoutMs: settings.dbTimeoutMs,
    dataset: parseDataset(fields.dataset),
    sessions,
    dataDirs: settings.dataDirs,
    inputs: entries.inputs,
    outputs: entries.outputs,
  };
}

/** `<role>.<name>.<ext>` with the extension as NOVA stores it (no dot, e.g. "mp4", "stream"). */
export function streamFileName(role: string, name: string, fileExt: string): string {
  return `${role}.${name}.${fileExt.replace(/^\.+/, "")}`;
}

/** Where an input may be, in search order (one candidate per data dir). */
export function inputCandidates(plan: Pick<DbPlan, "dataDirs" | "dataset">, session: string, entry: DbEntry, fileExt: string): string[] {
  return plan.dataDirs.map((d) => path.join(d, plan.dataset, session, streamFileName(entry.role, entry.name, fileExt)));
}

/** The first existing candidate, or an error that lists every path looked at. */
export function findInputFile(plan: Pick<DbPlan, "dataDirs" | "dataset">, session: string, entry: DbEntry, fileExt: string): string {
  const candidates = inputCandidates(plan, session, entry, fileExt);
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (found) return found;
  throw new Error(`input '${entry.id}' (stream '${entry.name}', role '${entry.role}'): file not found; looked for ${candidates.join(" and ")}`);
}

/**
 * The session folder outputs go to: the first data dir that already holds `<dataset>/<session>` (where NOVA keeps
 * that session's other streams, so NOVA finds the new one beside them), else the first data dir.
 */
export function sessionOutputDir(plan: Pick<DbPlan, "dataDirs" | "dataset">, session: string): string {
  const holding = plan.dataDirs.find((d) => existsSync(path.join(d, plan.dataset, session)));
  return path.join(holding ?? plan.dataDirs[0], plan.dataset, session);
}
