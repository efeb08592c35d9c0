/**
 * Video mode against MediaPipe's video mode (the reference's `none` mode: face_landmark_front with tracking), frame
 * by frame: our rows from FaceMesh.run with tracking on and no bbox stream, MediaPipe's landmarks per frame.
 * Used by scripts/parity.ts (every frame of every shared video), scripts/make_mediapipe_fixture.ts and
 * test/pipeline_video_mode.test.ts (frozen frames). Rows of 468 or, with refine_landmarks, 478 points; with 478 the
 * iris centres (468, 473) are compared on their own too.
 */
import { FaceMesh } from "../lib/pipeline.js";
import type { RgbImage } from "../lib/types.js";
import { NUM_LANDMARKS } from "../lib/types.js";
import { rowDimFor, rowHasFace } from "../lib/rows.js";
import { agreementRate, meshDistance, pointDistance, summarize, type Summary } from "../lib/metrics.js";
import { HARNESS_FIRST_FRAME_CALLS } from "./mediapipe_reference.js";

/** The iris centres of a 478-point set: the first point of each iris (MediaPipe's refinement). */
export const IRIS_CENTRES = [468, 473] as const;

/** A row's landmarks (`points` per row) as (x, y, 0) triplets, the layout lib/metrics.ts compares. */
export function rowPoints(rows: Float32Array, index: number, points = NUM_LANDMARKS): Float32Array {
  const out = new Float32Array(points * 3);
  const o = index * rowDimFor(points);
  for (let i = 0; i < points; i++) {
    out[3 * i] = rows[o + 2 * i + 1];
    out[3 * i + 1] = rows[o + 2 * i];
  }
  return out;
}

/** The frames with the first one given `repeats` extra times in front (the reference harness's warm-up calls). */
export async function* withWarmup(frames: AsyncIterable<RgbImage>, repeats: number): AsyncGenerator<RgbImage> {
  let first = true;
  for await (const f of frames) {
    if (first) for (let k = 0; k < repeats; k++) yield { width: f.width, height: f.height, data: f.data.slice() };
    first = false;
    yield f;
  }
}

export interface RunRowsOptions {
  tracking: boolean;
  batchSize?: number;
  /** Leading rows to drop (frames withWarmup added). */
  drop?: number;
}

/** All rows of a run over `frames` (concatenated, mesh.rowDim values each). */
export async function runRows(mesh: FaceMesh, frames: AsyncIterable<RgbImage>, options: RunRowsOptions): Promise<{ rows: Float32Array; count: number }> {
  const dim = mesh.rowDim;
  const parts: Float32Array[] = [];
  let count = 0;
  for await (const b of mesh.run(frames, { batchSize: options.batchSize ?? 50, minScore: 0.5, noFace: "zeros", tracking: options.tracking })) {
    parts.push(b.rows.slice());
    count += b.count;
  }
  const all = new Float32Array(count * dim);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const drop = options.drop ?? 0;
  return { rows: all.subarray(drop * dim), count: count - drop };
}

/** Video mode over a reference input as MediaPipe's harness saw it: its warm-up calls on frame 0 first. */
export function videoModeRows(mesh: FaceMesh, frames: AsyncIterable<RgbImage>, batchSize = 50): Promise<{ rows: Float32Array; count: number }> {
  return runRows(mesh, withWarmup(frames, HARNESS_FIRST_FRAME_CALLS), { tracking: true, batchSize, drop: HARNESS_FIRST_FRAME_CALLS });
}

export interface FrameComparison {
  frame: number;
  mpFound: boolean;
  ourFound: boolean;
  /** Mean distance / MediaPipe's inter-ocular distance, when both found a face. */
  rel: number | null;
  /** 478 points: each iris centre's (IRIS_CENTRES) distance / inter-ocular distance, when both found a face. */
  iris?: [number, number] | null;
}

export interface ParitySummary {
  frames: number;
  mpFaces: number;
  ourFaces: number;
  agreement: number;
  rel: Summary;
  /** 478 points: the iris centres' distances (both eyes pooled). */
  iris?: Summary;
}

/**
 * Compares our row `frame` (`points` landmarks per row) with MediaPipe's landmarks (x, y, z per point,
 * normalized, as many points; null: no face).
 */
export function compareFrame(rows: Float32Array, frame: number, mp: ArrayLike<number> | null, width: number, height: number, points = NUM_LANDMARKS): FrameComparison {
  const dim = rowDimFor(points);
  const ourFound = rowHasFace(rows, frame * dim, dim);
  const ours = ourFound && mp ? rowPoints(rows, frame, points) : null;
  const rel = ours && mp ? meshDistance(ours, mp, width, height).relative : null;
  const c: FrameComparison = { frame, mpFound: mp !== null, ourFound, rel };
  if (points > NUM_LANDMARKS) c.iris = ours && mp ? [pointDistance(ours, mp, IRIS_CENTRES[0], width, height), pointDistance(ours, mp, IRIS_CENTRES[1], width, height)] : null;
  return c;
}

export function summarizeParity(c: readonly FrameComparison[]): ParitySummary {
  const s: ParitySummary = {
    frames: c.length,
    mpFaces: c.filter((x) => x.mpFound).length,
    ourFaces: c.filter((x) => x.ourFound).length,
    agreement: agreementRate(c.map((x) => x.mpFound), c.map((x) => x.ourFound)),
    rel: summarize(c.flatMap((x) => (x.rel === null ? [] : [x.rel]))),
  };
  if (c.some((x) => x.iris !== undefined)) s.iris = summarize(c.flatMap((x) => x.iris ?? []));
  return s;
}
