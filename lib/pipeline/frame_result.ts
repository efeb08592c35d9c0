/**
 * What the pipeline knows about one frame, stage by stage, as discriminated unions (no half-filled records):
 * a FramePlan says where to look before the model runs, a FrameResult what the model found.
 */
import type { FaceLandmarks, Roi } from "../types.js";
import { NUM_LANDMARKS } from "../types.js";
import { rowDimFor, writeEmptyRow, writeLandmarkRow, type NoFaceValue } from "../rows.js";

export type FramePlan =
  /** Nothing to look at: no usable box, or no detection. The row gets score 0. */
  | { kind: "skip" }
  /** Run the landmark model on `roi`; `tracked`: its rotation is tracking's to set (bbox rows without keypoints). */
  | { kind: "roi"; roi: Roi; tracked: boolean };

export type FrameResult =
  | { kind: "skipped" }
  /** The model ran on `roi`; the face counts when landmarks.score > min_score_thresh. */
  | { kind: "landmarks"; roi: Roi; landmarks: FaceLandmarks };

export const SKIP: FramePlan = Object.freeze({ kind: "skip" });
export const SKIPPED: FrameResult = Object.freeze({ kind: "skipped" });

/** The face a result holds when its score passes minScore (MediaPipe's strict `>`), else null. */
export function faceOf(r: FrameResult, minScore: number): FaceLandmarks | null {
  return r.kind === "landmarks" && r.landmarks.score > minScore ? r.landmarks : null;
}

/** The SSI rows of a batch of results, `points` landmarks per face (rowDimFor(points) values per row). */
export function resultRows(results: readonly FrameResult[], minScore: number, noFace: NoFaceValue, points = NUM_LANDMARKS): Float32Array {
  const dim = rowDimFor(points);
  const rows = new Float32Array(results.length * dim);
  results.forEach((r, i) => {
    const face = faceOf(r, minScore);
    if (face) writeLandmarkRow(rows, i * dim, face.points, face.score, points);
    else writeEmptyRow(rows, i * dim, r.kind === "landmarks" ? r.landmarks.score : 0, noFace, dim);
  });
  return rows;
}
