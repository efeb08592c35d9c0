/**
 * One job process (job_worker.ts) seen from its host: forked with a chosen environment, handed its RunMessage,
 * its log lines and progress passed on, stopped by SIGTERM then SIGKILL, and its end told as one outcome. The
 * server's local runner (job_manager.ts) and the queue worker (queue/queue_worker.ts) both run jobs through it.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isWorkerMessage, type RunMessage, type WorkerMessage } from "./worker_protocol.js";

export type LogLevel = "INFO" | "WARNING" | "ERROR";

export interface JobProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** V8 heap limit of the process in MiB. */
  memoryMb?: number;
  onLog(level: LogLevel, message: string): void;
  onProgress(done: number, total: number | null): void;
}

/** How a job process ended. `result`: what its stage answered (plan, part). */
export type ProcessOutcome = { ok: true; result?: unknown } | { ok: false; reason: string; stack?: string; signal?: NodeJS.Signals };

/** Always passed to a job: what a process needs to find programs, the user's locale and temp dir. */
export const BASE_ENV = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TEMP", "TMP", "NODE_ENV"];

/** The environment of a job process: the basic variables, those the module's manifest allows, and `extra`. */
export function jobEnv(envAllow: readonly string[], extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of [...BASE_ENV, ...envAllow]) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

/** The worker script next to this file: .js when compiled, .ts when run through a TypeScript loader. */
function workerScript(): { file: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  return { file: path.join(path.dirname(self), `job_worker${ext}`), execArgv: ext === ".ts" ? process.execArgv : [] };
}

export class JobProcess {
  /** Resolves once the process has exited and its output has been read. */
  readonly outcome: Promise<ProcessOutcome>;
  private finished = false;
  private readonly child: ChildProcess;

  private constructor(message: RunMessage, options: JobProcessOptions) {
    const { file, execArgv } = workerScript();
    const argv = [...execArgv];
    if (options.memoryMb) argv.push(`--max-old-space-size=${options.memoryMb}`);
    const child = fork(file, [], { cwd: options.cwd, env: options.env, execArgv: argv, stdio: ["ignore", "pipe", "pipe", "ipc"], serialization: "json" });
    this.child = child;
    let reported: WorkerMessage | undefined;
    let sendError: string | undefined;
    // What the module prints goes to the log: stdout as INFO, stderr (crashes, V8's out-of-memory report) as ERROR.
    createInterface({ input: child.stdout! }).on("line", (l) => options.onLog("INFO", l));
    createInterface({ input: child.stderr! }).on("line", (l) => options.onLog("ERROR", l));
    child.on("message", (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      if (m.type === "log") options.onLog(m.level, m.message);
      else if (m.type === "progress") options.onProgress(m.done, m.total);
      else reported = m;
    });
    child.on("error", (err) => options.onLog("ERROR", `job process error: ${err.message}`));
    this.outcome = new Promise<ProcessOutcome>((resolve) => {
      child.on("exit", (code, signal) => {
        this.finished = true;
        // Let the stdout/stderr readers drain before the verdict.
        setImmediate(() => {
          if (sendError) resolve({ ok: false, reason: sendError });
          else if (reported?.type === "done" && code === 0) resolve({ ok: true, result: reported.result });
          else if (reported?.type === "failed") resolve({ ok: false, reason: reported.message, stack: reported.stack, signal: signal ?? undefined });
          else if (signal) {
            const why = signal === "SIGKILL" ? " (killed from outside, or out of memory)" : signal === "SIGABRT" ? " (crashed; out of memory?)" : "";
            resolve({ ok: false, reason: `the job process was killed by ${signal}${why}`, signal });
          } else resolve({ ok: false, reason: `the job process exited with code ${code} before the job was done` });
        });
      });
    });
    const refuse = (err: Error) => {
      if (this.finished) return;
      sendError ??= `could not hand the job to its process: ${err.message}`;
      this.stop(0);
    };
    // A message that cannot be serialised throws here (a BigInt) or fails in the callback (too deep).
    try {
      child.send(message, (err) => err && refuse(err));
    } catch (err) {
      refuse(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Forks job_worker.ts and hands it `message`. Throws when the process cannot be started. */
  static start(message: RunMessage, options: JobProcessOptions): JobProcess {
    return new JobProcess(message, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.finished;
  }

  /** SIGTERM (the module's signal aborts), then SIGKILL after `graceMs` if it is still there. */
  stop(graceMs: number): void {
    if (this.finished) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (!this.finished) this.child.kill("SIGKILL");
    }, graceMs);
    timer.unref();
  }
}
