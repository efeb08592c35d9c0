/**
 * One job's process. A host (the server's job_manager.ts, a queue worker) forks this script per job (or per stage of
 * a job run in parts) so that a module that crashes, runs out of memory or ignores cancellation only takes down its
 * own process. It imports the module's compiled entry and calls load -> predict -> write (-> dispose), or the stage
 * the message names, with a HookContext whose logger and progress go back over IPC and whose signal aborts on
 * SIGTERM (cancel).
 */
import { pathToFileURL } from "node:url";
import type { HookContext, NovaModule, PartedModule } from "../nova/hooks.js";
import { runOnSessions } from "./db_job.js";
import type { RunMessage, WorkerMessage } from "./worker_protocol.js";

/** After SIGTERM the module gets this long to notice the aborted signal and clean up, then the process exits. */
const EXIT_AFTER_ABORT_MS = 200;

const controller = new AbortController();

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function errorText(err: unknown): { message: string; stack?: string } {
  if (err instanceof Error) return { message: err.message || err.name, stack: err.stack };
  return { message: String(err) };
}

async function fail(err: unknown): Promise<never> {
  await send({ type: "failed", ...errorText(err) });
  process.exit(1);
}

function isModule(m: Record<string, unknown>): m is Record<string, unknown> & NovaModule {
  return typeof m.load === "function" && typeof m.predict === "function" && typeof m.write === "function";
}

/** One of the optional parted hooks (lib/nova/hooks.ts PartedModule), or an error naming the entry that lacks it. */
function hook<K extends keyof PartedModule>(mod: NovaModule, name: K, entryPath: string): NonNullable<PartedModule[K]> {
  const f = mod[name];
  if (typeof f !== "function") throw new Error(`${entryPath} has no ${name} hook, which running a job in parts needs`);
  return f.bind(mod) as NonNullable<PartedModule[K]>;
}

/** Runs the message's stage; returns what `plan` and `part` answer. */
async function run(msg: RunMessage): Promise<unknown> {
  const exports = (await import(pathToFileURL(msg.entryPath).href)) as Record<string, unknown>;
  // An entry may export the hooks directly or as its default export.
  const candidate = isModule(exports) ? exports : (exports.default as Record<string, unknown> | undefined);
  if (!candidate || !isModule(candidate)) {
    throw new Error(`${msg.entryPath} does not export load, predict and write functions (see lib/nova/hooks.ts)`);
  }
  const mod: NovaModule = candidate;
  const context: HookContext = {
    logger: {
      info: (m) => void send({ type: "log", level: "INFO", message: String(m) }),
      warn: (m) => void send({ type: "log", level: "WARNING", message: String(m) }),
      error: (m) => void send({ type: "log", level: "ERROR", message: String(m) }),
    },
    progress: (done, total) => void send({ type: "progress", done, total: total ?? null }),
    signal: controller.signal,
  };
  const request = msg.request;
  const stage = msg.stage ?? { kind: "whole" };
  if (msg.db) {
    if (stage.kind !== "whole") throw new Error(`a job on NOVA database sessions runs whole, not as '${stage.kind}'`);
    // Progress is sessions done / sessions (NOVA.md §8); a module's per-frame progress would overwrite it.
    const sessionContext: HookContext = { ...context, progress: undefined };
    return runOnSessions(mod, request, msg.db, sessionContext, (done, total) => void send({ type: "progress", done, total }));
  }
  // Removing parts needs no model.
  if (stage.kind === "discard") return hook(mod, "discardParts", msg.entryPath)(request, stage.parts);
  const model = await mod.load(request, context);
  const whole = async () => {
    const prediction = await mod.predict(model, request, context);
    controller.signal.throwIfAborted();
    await mod.write(model, prediction, request, context);
  };
  try {
    switch (stage.kind) {
      case "plan": {
        // A job that is not split runs whole here, on the model just loaded (not in a second process).
        const parts = typeof mod.plan === "function" ? await mod.plan(model, request, context) : null;
        if (parts && parts.length >= 2) return parts;
        await whole();
        return null;
      }
      case "part":
        return await hook(mod, "runPart", msg.entryPath)(model, request, stage.part, context);
      case "join":
        return await hook(mod, "join", msg.entryPath)(model, request, stage.results, context);
      case "whole":
        await whole();
        return undefined;
    }
  } finally {
    if (mod.dispose) await mod.dispose(model);
  }
}

process.on("SIGTERM", () => {
  controller.abort(new Error("job cancelled"));
  setTimeout(() => process.exit(143), EXIT_AFTER_ABORT_MS).unref();
});
// The server is gone (killed or crashed): nobody will read our results, so stop.
process.on("disconnect", () => process.exit(1));
process.on("uncaughtException", (err) => void fail(err));
process.on("unhandledRejection", (err) => void fail(err));

process.once("message", (msg: RunMessage) => {
  if (msg?.type !== "run") return void fail(new Error(`unexpected first message ${JSON.stringify(msg)}`));
  run(msg).then(
    async (result) => {
      await send(result === undefined ? { type: "done" } : { type: "done", result });
      // Modules may keep handles open (inference sessions, pools): the job is over, so end the process.
      process.exit(0);
    },
    (err) => void fail(err),
  );
});
