/**
 * What the pipeline knows about one frame, stage by stage, as discriminated unions (no half-filled records):
 * a FramePlan says where to look before the model runs, a FrameResult what the model found.
 */
import type { FaceLandmarks, Roi } from "../types.js";
import { ROW_DIM } from "../types.js";
import { writeEmptyRow, writeLandmarkRow, type NoFaceValue } from "../rows.js";

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

/** The SSI rows of a batch of results. */
export function resultRows(results: readonly FrameResult[], minScore: number, noFace: NoFaceValue): Float32Array {
  const rows = new Float32Array(results.length * ROW_DIM);
  results.forEach((r, i) => {
    const face = faceOf(r, minScore);
    if (face) writeLandmarkRow(rows, i * ROW_DIM, face.points, face.score);
    else writeEmptyRow(rows, i * ROW_DIM, r.kind === "landmarks" ? r.landmarks.score : 0, noFace);
  });
  return rows;
}
