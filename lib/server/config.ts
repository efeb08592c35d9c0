/**
 * Server configuration: defaults, environment variables and command-line flags, resolved the way DISCOVER does
 * it (a flag given on the command line wins, then the environment, then the default).
 *
 * Environment names: DISCOVER (hcmlab/discover, discover/utils/env.py) reads DISCOVER_HOST, DISCOVER_PORT,
 * DISCOVER_CML_DIR, DISCOVER_DATA_DIR, DISCOVER_CACHE_DIR, DISCOVER_TMP_DIR, DISCOVER_LOG_DIR, DISCOVER_USE_TLS,
 * DISCOVER_SSL_CERT and DISCOVER_SSL_KEY; its predecessor nova-server documented NOVA_SERVER_HOST,
 * NOVA_SERVER_PORT, NOVA_SERVER_CML_DIR, ... We accept both spellings, DISCOVER's first.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseQueueUrl, type QueueAddress } from "./queue/queue_url.js";

export interface ServerConfig {
  host: string;
  port: number;
  cmlDir: string;
  /** The first of dataDirs (where `db:` outputs go when no data folder holds the session yet). */
  dataDir: string;
  /** NOVA's data folders (`--data-dir a;b`, as DISCOVER_DATA_DIR): `db:` inputs are looked for in this order. */
  dataDirs: string[];
  /** How long a job waits for NOVA's MongoDB to answer (server selection and connect) before it fails. */
  dbTimeoutMs: number;
  cacheDir: string;
  tmpDir: string;
  logDir: string;
  useTls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  /** Jobs that may run at once; further jobs wait (WAITING). */
  jobs: number;
  /** Largest accepted /upload file. */
  maxUploadBytes: number;
  /** Largest accepted form / JSON body (everything but /upload files). */
  maxBodyBytes: number;
  /** V8 heap limit of each job process (MiB); undefined = Node's default. */
  jobMemoryMb?: number;
  /** How long a cancelled job may take to stop after SIGTERM before it gets SIGKILL. */
  cancelGraceMs: number;
  /** Where relative `file:` uris are resolved and job processes run: the server's working directory. */
  workDir: string;
  /**
   * --allowed-dirs: when set, every input and output path of a job must resolve (links followed) inside one of
   * these folders, the data folder or the tmp folder. Absent: any path the server's user can reach (DISCOVER's way).
   */
  allowedDirs?: string[];
  /** Open connections at most (all clients together), and per client address. */
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** A request's headers must arrive within this; its whole body within requestTimeoutMs; silence cuts a connection after idleTimeoutMs. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  /** Finished jobs kept in the job table (and their logs): at most this many, none older than this many days. */
  jobRetentionCount: number;
  jobRetentionDays: number;
  /** --queue: jobs go onto this BullMQ queue and run on `facemesh worker`s; absent: processes on this machine. */
  queue?: QueueAddress;
}

/** Flags as they come from the command line; absent = not given. */
export interface ServerFlags {
  host?: string;
  port?: number | string;
  cmlDir?: string;
  dataDir?: string;
  cacheDir?: string;
  tmpDir?: string;
  logDir?: string;
  useTls?: boolean | string;
  tlsCert?: string;
  tlsKey?: string;
  jobs?: number | string;
  maxUploadMb?: number | string;
  maxBodyMb?: number | string;
  jobMemoryMb?: number | string;
  allowedDirs?: string;
  maxConnections?: number | string;
  headersTimeoutS?: number | string;
  requestTimeoutS?: number | string;
  idleTimeoutS?: number | string;
  jobRetentionCount?: number | string;
  jobRetentionDays?: number | string;
  queue?: string;
}

type FlagName = keyof ServerFlags;

/** Environment variables per flag, first match wins. */
export const ENV_NAMES: Record<FlagName, string[]> = {
  host: ["DISCOVER_HOST", "NOVA_SERVER_HOST"],
  port: ["DISCOVER_PORT", "NOVA_SERVER_PORT"],
  cmlDir: ["DISCOVER_CML_DIR", "NOVA_SERVER_CML_DIR"],
  dataDir: ["DISCOVER_DATA_DIR", "NOVA_SERVER_DATA_DIR"],
  cacheDir: ["DISCOVER_CACHE_DIR", "NOVA_SERVER_CACHE_DIR"],
  tmpDir: ["DISCOVER_TMP_DIR", "NOVA_SERVER_TMP_DIR"],
  logDir: ["DISCOVER_LOG_DIR", "NOVA_SERVER_LOG_DIR"],
  useTls: ["DISCOVER_USE_TLS", "NOVA_SERVER_USE_TLS"],
  tlsCert: ["DISCOVER_SSL_CERT", "NOVA_SERVER_SSL_CERT", "NOVA_SERVER_TLS_CERT"],
  tlsKey: ["DISCOVER_SSL_KEY", "NOVA_SERVER_SSL_KEY", "NOVA_SERVER_TLS_KEY"],
  jobs: ["DISCOVER_JOBS", "NOVA_SERVER_JOBS"],
  maxUploadMb: ["DISCOVER_MAX_UPLOAD_MB", "NOVA_SERVER_MAX_UPLOAD_MB"],
  maxBodyMb: ["DISCOVER_MAX_BODY_MB", "NOVA_SERVER_MAX_BODY_MB"],
  jobMemoryMb: ["DISCOVER_JOB_MEMORY_MB", "NOVA_SERVER_JOB_MEMORY_MB"],
  allowedDirs: ["DISCOVER_ALLOWED_DIRS", "NOVA_SERVER_ALLOWED_DIRS"],
  maxConnections: ["DISCOVER_MAX_CONNECTIONS", "NOVA_SERVER_MAX_CONNECTIONS"],
  headersTimeoutS: ["DISCOVER_HEADERS_TIMEOUT_S", "NOVA_SERVER_HEADERS_TIMEOUT_S"],
  requestTimeoutS: ["DISCOVER_REQUEST_TIMEOUT_S", "NOVA_SERVER_REQUEST_TIMEOUT_S"],
  idleTimeoutS: ["DISCOVER_IDLE_TIMEOUT_S", "NOVA_SERVER_IDLE_TIMEOUT_S"],
  jobRetentionCount: ["DISCOVER_JOB_RETENTION_COUNT", "NOVA_SERVER_JOB_RETENTION_COUNT"],
  jobRetentionDays: ["DISCOVER_JOB_RETENTION_DAYS", "NOVA_SERVER_JOB_RETENTION_DAYS"],
  queue: ["DISCOVER_QUEUE", "NOVA_SERVER_QUEUE"],
};

/**
 * Defaults. Unlike DISCOVER (0.0.0.0) we listen on loopback unless asked: a job server that reads and writes
 * any path a client names should not be on the network by accident.
 */
export const DEFAULTS = {
  host: "127.0.0.1",
  port: 8080,
  cmlDir: "cml",
  dataDir: "data",
  cacheDir: "cache",
  tmpDir: "tmp",
  logDir: "log",
  useTls: false,
  maxUploadMb: 4096,
  maxBodyMb: 8,
  /** Generous for NOVA (one client, a few polls at a time), small enough that file descriptors never run out. */
  maxConnections: 256,
  /** Slow-client bounds, as production Node servers set them: headers in 20 s, a whole request (an upload of
   * GBs included) in 10 min, and no connection silent for more than 30 s. */
  headersTimeoutS: 20,
  requestTimeoutS: 600,
  idleTimeoutS: 30,
  jobRetentionCount: 1000,
  jobRetentionDays: 30,
} as const;

const MIB = 1024 * 1024;

/**
 * Peak resident memory of one facemesh job process, rounded up: 415 MB measured in detection mode with two
 * inference threads at batch_size 50 (lib/server/README.md has the figures).
 */
export const JOB_MEMORY_ESTIMATE_MB = 512;

/**
 * --jobs when not given: one job per two cores (a job keeps a decoder and an inference thread busy), and no more
 * than half the machine's memory holds at JOB_MEMORY_ESTIMATE_MB each; at least 1.
 */
export function defaultJobs(cores = os.availableParallelism(), totalBytes = os.totalmem()): number {
  const byMemory = Math.floor((0.5 * totalBytes) / (JOB_MEMORY_ESTIMATE_MB * MIB));
  return Math.max(1, Math.min(Math.floor(cores / 2), byMemory, 64));
}

/** Inference threads for each job when `jobs` run at once: the cores shared out, so copies of the model do not multiply. */
export function threadsPerJob(jobs: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / jobs));
}

export class ConfigError extends Error {}

function fromEnv(name: FlagName, env: NodeJS.ProcessEnv): { value: string; source: string } | undefined {
  for (const key of ENV_NAMES[name]) {
    const v = env[key];
    if (v !== undefined && v.trim() !== "") return { value: v.trim(), source: key };
  }
  return undefined;
}

function pick(name: FlagName, flags: ServerFlags, env: NodeJS.ProcessEnv): { value: unknown; source: string } | undefined {
  const given = flags[name];
  if (given !== undefined && given !== "") return { value: given, source: `--${kebab(name)}` };
  return fromEnv(name, env);
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function parseBool(value: unknown, what: string): boolean {
  if (typeof value === "boolean") return value;
  const s = String(value).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off", ""].includes(s)) return false;
  throw new ConfigError(`${what}: '${String(value)}' is not a boolean (use true or false)`);
}

function parseInteger(value: unknown, what: string, min: number, max: number): number {
  const s = String(value).trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${what}: '${s}' must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Resolves flags + environment + defaults into a complete configuration. Pure apart from reading `cwd`. */
export function resolveConfig(flags: ServerFlags, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): ServerConfig {
  const str = (name: FlagName, dflt: string) => {
    const p = pick(name, flags, env);
    return p === undefined ? dflt : String(p.value);
  };
  const int = (name: FlagName, dflt: number, min: number, max: number) => {
    const p = pick(name, flags, env);
    return p === undefined ? dflt : parseInteger(p.value, p.source, min, max);
  };
  const dir = (name: FlagName, dflt: string) => path.resolve(cwd, str(name, dflt));
  const tls = pick("useTls", flags, env);
  const cert = pick("tlsCert", flags, env);
  const key = pick("tlsKey", flags, env);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError("--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate");
  }
  const memory = pick("jobMemoryMb", flags, env);
  // DISCOVER splits its data dir on ';' on every platform (NOVA.md §8), so a POSIX path with ';' cannot be named.
  const dataDirs = str("dataDir", DEFAULTS.dataDir)
    .split(";")
    .map((d) => d.trim())
    .filter((d) => d !== "")
    .map((d) => path.resolve(cwd, d));
  if (dataDirs.length === 0) dataDirs.push(path.resolve(cwd, DEFAULTS.dataDir));
  const allowed = pick("allowedDirs", flags, env);
  const maxConnections = int("maxConnections", DEFAULTS.maxConnections, 1, 65536);
  return {
    host: str("host", DEFAULTS.host),
    port: int("port", DEFAULTS.port, 0, 65535),
    cmlDir: dir("cmlDir", DEFAULTS.cmlDir),
    dataDir: dataDirs[0],
    dataDirs,
    dbTimeoutMs: 10_000,
    cacheDir: dir("cacheDir", DEFAULTS.cacheDir),
    tmpDir: dir("tmpDir", DEFAULTS.tmpDir),
    logDir: dir("logDir", DEFAULTS.logDir),
    useTls: tls === undefined ? DEFAULTS.useTls : parseBool(tls.value, tls.source),
    tlsCert: cert === undefined ? undefined : path.resolve(cwd, String(cert.value)),
    tlsKey: key === undefined ? undefined : path.resolve(cwd, String(key.value)),
    jobs: int("jobs", defaultJobs(), 1, 64),
    maxUploadBytes: int("maxUploadMb", DEFAULTS.maxUploadMb, 1, 1024 * 1024) * MIB,
    maxBodyBytes: int("maxBodyMb", DEFAULTS.maxBodyMb, 1, 1024) * MIB,
    jobMemoryMb: memory === undefined ? undefined : parseInteger(memory.value, memory.source, 16, 1024 * 1024),
    cancelGraceMs: 500,
    workDir: cwd,
    allowedDirs: allowed === undefined ? undefined : parseDirList(String(allowed.value), allowed.source, cwd),
    maxConnections,
    // One client (address) may use at most a quarter of the connections, so one slow client cannot take them all.
    maxConnectionsPerClient: Math.max(1, Math.ceil(maxConnections / 4)),
    headersTimeoutMs: int("headersTimeoutS", DEFAULTS.headersTimeoutS, 1, 3600) * 1000,
    requestTimeoutMs: int("requestTimeoutS", DEFAULTS.requestTimeoutS, 1, 86400) * 1000,
    idleTimeoutMs: int("idleTimeoutS", DEFAULTS.idleTimeoutS, 1, 3600) * 1000,
    jobRetentionCount: int("jobRetentionCount", DEFAULTS.jobRetentionCount, 1, 1_000_000),
    jobRetentionDays: int("jobRetentionDays", DEFAULTS.jobRetentionDays, 1, 36500),
    queue: queueAddress(pick("queue", flags, env)),
  };
}

function queueAddress(given: { value: unknown; source: string } | undefined): QueueAddress | undefined {
  if (given === undefined) return undefined;
  try {
    return parseQueueUrl(String(given.value), given.source);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** `DIR[;DIR]` (`;` as in DISCOVER's lists; also the OS path delimiter) -> absolute folders that exist. */
function parseDirList(text: string, source: string, cwd: string): string[] {
  const dirs = text.split(/[;]/).map((d) => d.trim()).filter(Boolean).map((d) => path.resolve(cwd, d));
  if (dirs.length === 0) throw new ConfigError(`${source}: '${text}' names no folder (give DIR[;DIR])`);
  for (const d of dirs) {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new ConfigError(`${source}: ${d} is not a folder`);
  }
  return dirs;
}

/** Checks cml_dir and creates the folders the server writes to (as DISCOVER does for cache, tmp and log). */
export function prepareDirectories(config: ServerConfig): void {
  if (!existsSync(config.cmlDir) || !statSync(config.cmlDir).isDirectory()) {
    throw new ConfigError(`cml_dir ${config.cmlDir} is not a directory (set --cml-dir or DISCOVER_CML_DIR)`);
  }
  for (const d of [config.cacheDir, config.tmpDir, config.logDir]) mkdirSync(d, { recursive: true });
}
