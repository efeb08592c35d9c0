/**
 * A job on NOVA database sessions (NOVA.md §8), run in the job's process (job_worker.ts): the module is loaded
 * once, then predict + write run once per session, in order, each on that session's files; after each session
 * every `db:` output's Streams document is upserted so that NOVA lists it. Progress is sessions done / sessions.
 *
 * Everything the database can tell up front (dataset, sessions, stream names) is checked before the first
 * session runs; a session's files are looked up when its turn comes, so a job whose third session lacks a file
 * keeps what the first two wrote and says which session failed and why.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { HookContext, JobRequest, NovaModule } from "../nova/hooks.js";
import { readSsiHeader } from "../ssi/stream.js";
import { findInputFile, sessionOutputDir, streamFileName, type DbEntry, type DbPlan } from "./db_sources.js";
import { dbAddress, NovaDb, NovaDbError, type StreamDocument } from "./nova_db.js";

const quote = (names: readonly string[]) => names.map((n) => `'${n}'`).join(", ");

/** fileExt of each input stream name, from the Streams collection; unknown names are an error that lists the known ones. */
async function inputExtensions(db: NovaDb, plan: DbPlan): Promise<Map<string, string>> {
  const ext = new Map<string, string>();
  for (const e of plan.inputs) {
    if (ext.has(e.name)) continue;
    const doc = await db.stream(plan.dataset, e.name);
    if (!doc) {
      const known = await db.streamNames(plan.dataset);
      throw new NovaDbError(
        `unknown stream '${e.name}' (input '${e.id}') in dataset '${plan.dataset}': its Streams collection has no such name` +
          ` (it has: ${known.length ? quote(known) : "none"})`,
      );
    }
    if (typeof doc.fileExt !== "string" || doc.fileExt.trim() === "" || /[\\/\0]/.test(doc.fileExt)) {
      throw new NovaDbError(`stream '${e.name}' in dataset '${plan.dataset}': its Streams document has no usable fileExt (${JSON.stringify(doc.fileExt)})`);
    }
    ext.set(e.name, doc.fileExt.trim());
  }
  return ext;
}

/** The Streams document of an output just written: sample rate and media type from the stream's own header. */
async function outputDocument(file: string, entry: DbEntry, dimLabels: readonly string[] | undefined): Promise<StreamDocument> {
  const header = await readSsiHeader(file);
  const type = header.meta.type || entry.src.specific || entry.src.subType;
  const dimlabels = dimLabels && dimLabels.length === header.dim ? dimLabels.map((name, id) => ({ id, name })) : [];
  return { name: entry.name, fileExt: "stream", sr: header.sr, type, dimlabels, isValid: true };
}

function describe(files: Record<string, string>): string {
  return Object.entries(files)
    .map(([id, f]) => `${id}=${f}`)
    .join(", ");
}

export async function runOnSessions(
  mod: NovaModule,
  base: JobRequest,
  plan: DbPlan,
  context: HookContext,
  reportSessions: (done: number, total: number) => void,
): Promise<void> {
  const { logger } = context;
  const total = plan.sessions.length;
  const at = dbAddress(plan);
  logger.info(`NOVA database ${at}${plan.user ? ` as user '${plan.user}'` : " without authentication"}, dataset '${plan.dataset}', ${total} session(s): ${plan.sessions.join(", ")}`);
  const db = await NovaDb.connect({ host: plan.host, port: plan.port, user: plan.user, password: plan.password, timeoutMs: plan.timeoutMs });
  let model: unknown;
  let loaded = false;
  try {
    const missing = await db.missingSessions(plan.dataset, plan.sessions);
    if (missing.length > 0) {
      const known = await db.someSessionNames(plan.dataset);
      throw new NovaDbError(`unknown session${missing.length > 1 ? "s" : ""} ${quote(missing)} in dataset '${plan.dataset}' (its Sessions include: ${quote(known)})`);
    }
    const extensions = await inputExtensions(db, plan);
    reportSessions(0, total);
    for (const [k, session] of plan.sessions.entries()) {
      context.signal?.throwIfAborted();
      const label = `session ${k + 1}/${total} '${session}'`;
      try {
        const inputs = { ...base.inputs };
        for (const e of plan.inputs) inputs[e.id] = findInputFile(plan, session, e, extensions.get(e.name)!);
        const outDir = sessionOutputDir(plan, session);
        await mkdir(outDir, { recursive: true });
        const outputs = { ...base.outputs };
        for (const e of plan.outputs) outputs[e.id] = path.join(outDir, streamFileName(e.role, e.name, "stream"));
        const request: JobRequest = { ...base, inputs, outputs };
        logger.info(`${label}: inputs ${describe(inputs)}; outputs ${describe(outputs)}`);
        if (!loaded) {
          model = await mod.load(request, context);
          loaded = true;
        }
        const prediction = await mod.predict(model, request, context);
        context.signal?.throwIfAborted();
        await mod.write(model, prediction, request, context);
        for (const e of plan.outputs) {
          const doc = await outputDocument(outputs[e.id]!, e, mod.dimLabels?.(e.id, model));
          await db.upsertStream(plan.dataset, doc);
          logger.info(`${label}: Streams document '${e.name}' upserted (fileExt stream, sr ${doc.sr}, type ${doc.type}, ${doc.dimlabels?.length ?? 0} dim labels)`);
        }
      } catch (err) {
        if (context.signal?.aborted) throw err;
        const kept = k === 0 ? "" : k === 1 ? " (session 1 finished; its outputs are kept)" : ` (sessions 1-${k} finished; their outputs are kept)`;
        throw new Error(`${label} failed: ${(err as Error).message ?? String(err)}${kept}`, { cause: err });
      }
      reportSessions(k + 1, total);
      logger.info(`${label} done`);
    }
  } finally {
    try {
      if (loaded && mod.dispose) await mod.dispose(model);
    } finally {
      await db.close();
    }
  }
}
