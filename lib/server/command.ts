/**
 * `facemesh serve` (registered by lib/cli.ts) and the stand-alone `facemesh-server` bin (main.ts): the options of
 * DISCOVER's app.py, each also read from the environment (config.ts ENV_NAMES). Flags are not given yargs
 * defaults so that resolveConfig can tell "given" from "absent" (flag > environment > default).
 */
import type { Argv, CommandModule } from "yargs";
import { ConfigError, DEFAULTS, defaultJobs, ENV_NAMES, resolveConfig, type ServerFlags } from "./config.js";

export interface ServeArgs {
  host?: string;
  port?: number;
  "cml-dir"?: string;
  "data-dir"?: string;
  "cache-dir"?: string;
  "tmp-dir"?: string;
  "log-dir"?: string;
  "use-tls"?: boolean;
  "tls-cert"?: string;
  "tls-key"?: string;
  jobs?: number;
  "max-upload-mb"?: number;
  "max-body-mb"?: number;
  "job-memory-mb"?: number;
  "allowed-dirs"?: string;
  "max-connections"?: number;
  "headers-timeout-s"?: number;
  "request-timeout-s"?: number;
  "idle-timeout-s"?: number;
  "job-retention-count"?: number;
  "job-retention-days"?: number;
  queue?: string;
}

const env = (k: keyof typeof ENV_NAMES) => `env ${ENV_NAMES[k].join(" | ")}`;

export function addServeOptions<T>(y: Argv<T>): Argv<T & ServeArgs> {
  return y
    .option("host", { type: "string", describe: `address to listen on; 0.0.0.0 exposes the server to the network (default ${DEFAULTS.host}; ${env("host")})` })
    .option("port", { type: "number", describe: `port, 0 = any free port (default ${DEFAULTS.port}; ${env("port")})` })
    .option("cml-dir", { type: "string", alias: "cml_dir", describe: `folder of modules, searched for **/*.trainer (default ${DEFAULTS.cmlDir}; ${env("cmlDir")})` })
    .option("data-dir", { type: "string", alias: "data_dir", describe: `NOVA data folder(s), several separated by ";" (default ${DEFAULTS.dataDir}; ${env("dataDir")})` })
    .option("cache-dir", { type: "string", alias: "cache_dir", describe: `cache, incl. the self-signed TLS certificate (default ${DEFAULTS.cacheDir}; ${env("cacheDir")})` })
    .option("tmp-dir", { type: "string", alias: "tmp_dir", describe: `uploads and request: results (default ${DEFAULTS.tmpDir}; ${env("tmpDir")})` })
    .option("log-dir", { type: "string", alias: "log_dir", describe: `job logs and the job database (default ${DEFAULTS.logDir}; ${env("logDir")})` })
    .option("use-tls", { type: "boolean", alias: "use_tls", describe: `serve HTTPS; plain HTTP gets 426 (${env("useTls")})` })
    .option("tls-cert", { type: "string", describe: `PEM certificate; without it a self-signed one is made in cache_dir (${env("tlsCert")})` })
    .option("tls-key", { type: "string", describe: `PEM private key for --tls-cert (${env("tlsKey")})` })
    .option("jobs", { type: "number", describe: `jobs that run at once; more wait (default: one per two cores, at most half the memory at ~512 MB each: ${defaultJobs()} here; ${env("jobs")})` })
    .option("max-upload-mb", { type: "number", describe: `largest /upload file in MiB (default ${DEFAULTS.maxUploadMb}; ${env("maxUploadMb")})` })
    .option("max-body-mb", { type: "number", describe: `largest form/JSON body in MiB (default ${DEFAULTS.maxBodyMb}; ${env("maxBodyMb")})` })
    .option("job-memory-mb", { type: "number", describe: `V8 heap limit of each job process in MiB (${env("jobMemoryMb")})` })
    .option("allowed-dirs", {
      type: "string",
      alias: "allowed_dirs",
      describe: `DIR[;DIR]: every input and output of a job must resolve (links followed) inside these folders, data_dir or tmp_dir; recommended for a server others can reach (default: off; ${env("allowedDirs")})`,
    })
    .option("max-connections", { type: "number", describe: `open connections at most; one client address gets a quarter (default ${DEFAULTS.maxConnections}; ${env("maxConnections")})` })
    .option("headers-timeout-s", { type: "number", describe: `a request's headers must arrive within this (default ${DEFAULTS.headersTimeoutS}; ${env("headersTimeoutS")})` })
    .option("request-timeout-s", { type: "number", describe: `a whole request, body included, within this (default ${DEFAULTS.requestTimeoutS}; ${env("requestTimeoutS")})` })
    .option("idle-timeout-s", { type: "number", describe: `a silent connection is closed after this (default ${DEFAULTS.idleTimeoutS}; ${env("idleTimeoutS")})` })
    .option("job-retention-count", { type: "number", describe: `finished jobs kept, with their logs (default ${DEFAULTS.jobRetentionCount}; ${env("jobRetentionCount")})` })
    .option("job-retention-days", { type: "number", describe: `finished jobs older than this are dropped (default ${DEFAULTS.jobRetentionDays}; ${env("jobRetentionDays")})` })
    .option("queue", {
      type: "string",
      describe: `redis://host:port[/db]: put jobs on this BullMQ queue for \`facemesh worker\`s on any machine, instead of running them here (default: run here; ${env("queue")})`,
    }) as Argv<T & ServeArgs>;
}

export function flagsFromArgs(a: ServeArgs): ServerFlags {
  return {
    host: a.host,
    port: a.port,
    cmlDir: a["cml-dir"],
    dataDir: a["data-dir"],
    cacheDir: a["cache-dir"],
    tmpDir: a["tmp-dir"],
    logDir: a["log-dir"],
    useTls: a["use-tls"],
    tlsCert: a["tls-cert"],
    tlsKey: a["tls-key"],
    jobs: a.jobs,
    maxUploadMb: a["max-upload-mb"],
    maxBodyMb: a["max-body-mb"],
    jobMemoryMb: a["job-memory-mb"],
    allowedDirs: a["allowed-dirs"],
    maxConnections: a["max-connections"],
    headersTimeoutS: a["headers-timeout-s"],
    requestTimeoutS: a["request-timeout-s"],
    idleTimeoutS: a["idle-timeout-s"],
    jobRetentionCount: a["job-retention-count"],
    jobRetentionDays: a["job-retention-days"],
    queue: a.queue,
  };
}

/** Starts the server and keeps it up until SIGINT/SIGTERM. */
export async function runServe(args: ServeArgs): Promise<void> {
  let server;
  try {
    server = await (await import("./server.js")).startServer(resolveConfig(flagsFromArgs(args), process.env));
  } catch (err) {
    if (err instanceof ConfigError || (err as NodeJS.ErrnoException).code === "EADDRINUSE" || (err as NodeJS.ErrnoException).code === "EACCES") {
      console.error(`facemesh server: ${(err as Error).message}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const c = server.config;
  const open = c.host === "0.0.0.0" || c.host === "::";
  // One write, so a supervisor reading stdout sees the whole block at once.
  console.log(
    `facemesh NOVA server listening on ${server.url}\n` +
      `  cml_dir ${c.cmlDir}\n  data_dir ${c.dataDirs.join(";")}\n  cache_dir ${c.cacheDir}\n  tmp_dir ${c.tmpDir}\n  log_dir ${c.logDir}\n  jobs ${c.queue ? "on the workers" : c.jobs}` +
      (c.allowedDirs ? `\n  allowed_dirs ${c.allowedDirs.join(";")}` : "") +
      (c.queue ? `\n  queue ${c.queue.display} (jobs run on \`facemesh worker\`s)` : "") +
      (open ? "\n  note: listening on all interfaces; anyone who can reach this port can run jobs and read files the server can read" : ""),
  );
  const stop = (signal: string) => {
    console.log(`facemesh server: ${signal}, stopping`);
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: "serve",
  describe: "Run a NOVA-Server (DISCOVER) compatible job server for modules with a nova-plugin.json",
  builder: (y) => addServeOptions(y),
  handler: (args) => runServe(args),
};
