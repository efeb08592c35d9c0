/**
 * facemesh: the NOVA module's entry point (nova-plugin.json "entry"). A NOVA host calls
 *   load(request)                -> the trainer's options resolved and validated, the model sessions created once
 *   predict(model, request)      -> the inputs opened and checked; the rows, lazily (nothing decoded yet)
 *   write(model, rows, request)  -> the rows streamed into the output SSI stream, which appears atomically
 * so memory stays flat however long the video is. The hooks are a thin shell over lib/job.ts and lib/pipeline.ts.
 * A host that spreads a job over several machines calls plan, runPart (each part anywhere, after its own load),
 * join, and discardParts on failure (lib/nova/hooks.ts PartedModule; the work is lib/parts.ts).
 */
import { projectRoot } from "./lib/convert/models.js";
import type { HookContext, JobRequest } from "./lib/nova/hooks.js";
import { readManifest, resolveIoIds, type PluginManifest } from "./lib/nova/manifest.js";
import { readTrainer } from "./lib/nova/trainer.js";
import { resolveOptions, type FaceMeshOptions } from "./lib/nova/options.js";
import { FaceMesh } from "./lib/pipeline.js";
import { openInputs, predictRows, writeLandmarkStream, type JobInputs, type OpenedInputs } from "./lib/job.js";
import type { RowBatch } from "./lib/pipeline.js";
import { parseDevices } from "./lib/inference/devices.js";
import { NUM_LANDMARKS } from "./lib/types.js";
import { HEAD_POSE_FIELDS } from "./lib/geometry/head_pose.js";
import { discardParts as discardJobParts, joinParts, planParts, runPart as runJobPart, type JobFiles } from "./lib/parts.js";

export interface FaceMeshModel {
  mesh: FaceMesh;
  options: FaceMeshOptions;
  manifest: PluginManifest;
}

export interface FaceMeshPrediction {
  opened: OpenedInputs;
  rows: AsyncIterable<RowBatch>;
}

export async function load(request: JobRequest, context: HookContext): Promise<FaceMeshModel> {
  const manifest = await readManifest(projectRoot());
  const trainer = await readTrainer(request.trainerPath);
  const { options, warnings } = resolveOptions(trainer, request.options);
  for (const w of warnings) context.logger.warn(w);
  // A job server running several jobs says how many threads each gets (lib/server/job_manager.ts).
  const threadsHint = Number(process.env.NOVA_JOB_THREADS);
  const mesh = await FaceMesh.create({
    devices: parseDevices(options.device),
    refineLandmarks: options.refine_landmarks,
    threads: Number.isInteger(threadsHint) && threadsHint > 0 ? threadsHint : undefined,
    onFallback: (m) => context.logger.warn(m),
  });
  context.logger.info(`facemesh ${manifest.version}: ${JSON.stringify(options)} on ${mesh.device}`);
  return { mesh, options, manifest };
}

function requireId(ids: Record<string, string>, id: string, kind: string, manifest: PluginManifest): string {
  const value = ids[id];
  if (!value) {
    const spec = [...manifest.io.inputs, ...manifest.io.outputs].find((s) => s.id === id);
    const names = spec ? [spec.id, ...spec.aliases].map((n) => `'${n}'`).join(" or ") : `'${id}'`;
    throw new Error(`missing ${kind} ${names}`);
  }
  return value;
}

function jobInputs(model: FaceMeshModel, request: JobRequest): JobInputs {
  const inputs = resolveIoIds(model.manifest.io.inputs, request.inputs);
  return { video: requireId(inputs, "data", "input video", model.manifest), bbox: inputs.bounding_box, keypoints: inputs.keypoints };
}

function jobOutputs(model: FaceMeshModel, request: JobRequest): Omit<JobFiles, "inputs"> {
  const outputs = resolveIoIds(model.manifest.io.outputs, request.outputs);
  const out = requireId(outputs, "landmarks", "output", model.manifest);
  // The head pose is an optional second output, written with the landmarks (both or neither).
  return { out, headPose: outputs.head_pose ? { path: outputs.head_pose, noFace: model.options.no_face } : undefined };
}

function jobFiles(model: FaceMeshModel, request: JobRequest): JobFiles {
  return { inputs: jobInputs(model, request), ...jobOutputs(model, request) };
}

export async function predict(model: FaceMeshModel, request: JobRequest, context: HookContext): Promise<FaceMeshPrediction> {
  const opened = await openInputs(jobInputs(model, request), context.logger);
  if (!opened.hints) {
    context.logger.info(
      model.options.tracking
        ? "no bounding-box stream: video mode (faces detected where none is tracked, then followed from frame to frame)"
        : "no bounding-box stream, tracking off: static mode (faces detected on every frame)",
    );
  }
  return { opened, rows: predictRows(model.mesh, opened, { options: model.options }, context) };
}

export async function write(model: FaceMeshModel, prediction: FaceMeshPrediction, request: JobRequest, context: HookContext): Promise<void> {
  const { out, headPose } = jobOutputs(model, request);
  const header = await writeLandmarkStream(out, prediction.opened.video, prediction.rows, { points: model.mesh.pointsPerFace, headPose });
  context.logger.info(`${out}: ${header.rows} rows x ${header.dim} values at ${header.sr} Hz${headPose ? `; head pose in ${headPose.path}` : ""}`);
}

/** The job's parts, or null when it runs whole (a short video, video mode, a still image, no timestamps). */
export async function plan(model: FaceMeshModel, request: JobRequest, context: HookContext): Promise<unknown[] | null> {
  return planParts(jobFiles(model, request), { options: model.options }, context);
}

/** Runs one part on this machine; its rows go into the parts folder beside the output. */
export async function runPart(model: FaceMeshModel, request: JobRequest, part: unknown, context: HookContext): Promise<unknown> {
  return runJobPart(model.mesh, jobFiles(model, request), { options: model.options }, part, context);
}

/** Writes the outputs from the parts' results (in plan order): byte for byte what an unsplit run writes. */
export async function join(model: FaceMeshModel, request: JobRequest, results: unknown[], context: HookContext): Promise<void> {
  const files = jobFiles(model, request);
  const stats = { repairs: 0, repairedFrames: 0 };
  const header = await joinParts(model.mesh, files, { options: model.options }, results, context, stats);
  context.logger.info(`${files.out}: ${header.rows} rows x ${header.dim} values at ${header.sr} Hz from ${results.length} parts (${stats.repairs} repaired, ${stats.repairedFrames} frames run again)${files.headPose ? `; head pose in ${files.headPose.path}` : ""}`);
}

/** Removes the parts' files of a job that failed or was cancelled (needs no load). */
export async function discardParts(request: JobRequest, parts: unknown[]): Promise<void> {
  await discardJobParts(Object.values(request.outputs), parts);
}

/**
 * Dim labels NOVA stores with an output stream. The landmarks (id `landmarks` or an alias): the row layout of
 * lib/rows.ts, y0, x0, ..., y467, x467 (y477, x477 with refine_landmarks, which the loaded model tells), then the
 * face score. The head pose: pitch, yaw, roll, tx, ty, tz, score (lib/geometry/head_pose.ts).
 */
export function dimLabels(outputId: string, model?: FaceMeshModel): string[] | undefined {
  const key = outputId.toLowerCase();
  const spec = model?.manifest.io.outputs.find((o) => [o.id, ...o.aliases].some((n) => n.toLowerCase() === key));
  const id = spec?.id ?? outputId;
  if (id === "head_pose") return [...HEAD_POSE_FIELDS];
  if (id !== "landmarks" && id !== "output_stream") return undefined;
  const labels: string[] = [];
  for (let i = 0; i < (model?.mesh.pointsPerFace ?? NUM_LANDMARKS); i++) labels.push(`y${i}`, `x${i}`);
  labels.push("confidence");
  return labels;
}

export async function dispose(model: FaceMeshModel): Promise<void> {
  await model.mesh.dispose();
}
