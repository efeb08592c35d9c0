/**
 * The output row NOVA reads: 468 (y, x) pairs normalized to the frame (0,0 = top left), then the face score.
 * NOVA's renderer draws dims 0..935 as (y*height, x*width) pairs; LibreFace reads dim 936 as the confidence.
 * With refine_landmarks a row has 478 pairs (957 values): the same 468 first, then the irises (468..477).
 */
import { NUM_LANDMARKS, ROW_DIM } from "./types.js";

/** What a row carries when there is no face (or the score is below the threshold). */
export type NoFaceValue = "zeros" | "nan";

/** Values per row for `points` landmarks per face: 937 for 468, 957 for 478. */
export function rowDimFor(points: number): number {
  return points * 2 + 1;
}

/** Landmarks per face of a row of `dim` values (468 or 478), or null when `dim` is neither. */
export function pointsForRowDim(dim: number): number | null {
  return dim === ROW_DIM ? NUM_LANDMARKS : dim === rowDimFor(478) ? 478 : null;
}

/** Writes one row at `offset` of `out` from normalized x,y,z landmarks. */
export function writeLandmarkRow(out: Float32Array, offset: number, points: Float32Array, score: number, count = NUM_LANDMARKS): void {
  for (let i = 0; i < count; i++) {
    out[offset + 2 * i] = points[3 * i + 1];
    out[offset + 2 * i + 1] = points[3 * i];
  }
  out[offset + rowDimFor(count) - 1] = score;
}

/** Writes a row without landmarks: only the score (0 when no face was looked for). */
export function writeEmptyRow(out: Float32Array, offset: number, score: number, fill: NoFaceValue, dim = ROW_DIM): void {
  out.fill(fill === "nan" ? Number.NaN : 0, offset, offset + dim - 1);
  out[offset + dim - 1] = score;
}

/**
 * True when a row carries landmarks: a positive score and landmark values other than the zeros (or NaN) that
 * writeEmptyRow leaves. A row whose face scored at or below min_score_thresh keeps its score but has no landmarks,
 * so the score alone does not tell.
 */
export function rowHasFace(row: ArrayLike<number>, offset = 0, dim = ROW_DIM): boolean {
  const score = row[offset + dim - 1]!;
  if (!(Number.isFinite(score) && score > 0)) return false;
  for (let j = offset; j < offset + dim - 1; j++) if (row[j] !== 0) return Number.isFinite(row[j]!);
  return false;
}
