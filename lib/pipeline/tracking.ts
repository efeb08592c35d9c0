/**
 * Tracking as a small state machine, free of models and buffers: what rotation a frame is cropped at, when a
 * speculative crop must be redone, when a track is lost. The model is injected (TrackingOps), so that tests can
 * drive it with a fake one.
 *
 * Bbox mode (MEDIAPIPE.md §4): a tracked frame's ROI takes the rotation of the previous frame's landmarks (eye
 * line, mesh 33 -> 263), a strictly sequential dependency. We follow it frame by frame, one model call per frame:
 * while frame i-1 is in the model, frame i is cropped at the last rotation known then (speculation), and cropped
 * again only when frame i-1's landmarks give a rotation more than TRACKING_TOLERANCE away. The state carries over
 * batch boundaries, so the rows do not depend on batch_size.
 */
import type { FaceLandmarks, Roi } from "../types.js";
import { normalizeRadians } from "../calculators/rect_transformation.js";
import { roiFromLandmarks } from "../calculators/landmarks_to_roi.js";
import type { FramePlan, FrameResult } from "./frame_result.js";
import { SKIPPED, faceOf } from "./frame_result.js";

/**
 * One degree. Measured on a talking head (test/pipeline_tracking.test.ts): a 1-degree change of the ROI
 * rotation moves the landmarks by 0.30% of the inter-ocular distance on average (p95 0.43%), inside the 0.5%
 * parity budget.
 */
export const TRACKING_TOLERANCE = (1 * Math.PI) / 180;

/** What tracking carries from one frame to the next. */
export interface TrackState {
  /** Rotation of the last frame's landmarks, or null when that frame had no face (the track is lost). */
  rotation: number | null;
  /** The last face rotation known before the last frame: the speculative rotation of the next frame's crop. */
  spec: number;
}

/** Before the first frame: no track. */
export const NO_TRACK: TrackState = Object.freeze({ rotation: null, spec: 0 });

/** A frame as the tracker sees it: its size (landmarks are normalized to it) and its plan. */
export interface TrackedFrame {
  width: number;
  height: number;
  plan: FramePlan;
}

/** The model, as tracking needs it; R is whatever the model call resolves to. */
export interface TrackingOps<R> {
  /** Crops `roi` of frame `frame` into input slot `slot` (0 or 1). */
  crop(frame: number, roi: Roi, slot: number): void;
  /** Starts the model on the crop in slot `slot`. */
  infer(slot: number): Promise<R>;
  /** Waits for a call started by infer and gives frame `frame`'s landmarks, projected through `roi`. */
  finish(frame: number, roi: Roi, call: Promise<R>): Promise<FaceLandmarks>;
  /** Told each time a speculative crop was redone. */
  recropped(): void;
}

/** The rotation a frame passes on to the next: its landmarks' eye line, or null when it has no face. */
export function carriedRotation(result: FrameResult, width: number, height: number, minScore: number): number | null {
  const face = faceOf(result, minScore);
  return face ? roiFromLandmarks(face.points, width, height).rotation : null;
}

/** True when a crop made at rotation `cropped` must be redone at `wanted`. */
export function needsRecrop(cropped: number, wanted: number): boolean {
  return Math.abs(normalizeRadians(wanted - cropped)) > TRACKING_TOLERANCE;
}

/**
 * Runs the landmark model on the frames' ROIs in order, one call per frame, with tracked rotations (see the file
 * comment). The plans' ROIs are not modified.
 */
export async function trackFrames<R>(
  frames: readonly TrackedFrame[],
  start: TrackState,
  minScore: number,
  ops: TrackingOps<R>,
): Promise<{ results: FrameResult[]; state: TrackState }> {
  const n = frames.length;
  const results: FrameResult[] = new Array<FrameResult>(n).fill(SKIPPED);
  let spec = start.spec; // last face rotation among the frames before the previous one
  let previous = start.rotation; // rotation of the previous frame's landmarks (null: no face)
  let pending: { roi: Roi; call: Promise<R> } | null = null; // frame i-1 in the model
  for (let i = 0; i < n; i++) {
    const plan = frames[i].plan;
    const slot = i & 1;
    const roi = plan.kind === "roi" ? { ...plan.roi } : null;
    if (roi && plan.kind === "roi") {
      if (plan.tracked) roi.rotation = spec;
      ops.crop(i, roi, slot);
    }
    if (i > 0) {
      if (pending) results[i - 1] = { kind: "landmarks", roi: pending.roi, landmarks: await ops.finish(i - 1, pending.roi, pending.call) };
      previous = carriedRotation(results[i - 1], frames[i - 1].width, frames[i - 1].height, minScore);
    }
    if (roi && plan.kind === "roi" && plan.tracked) {
      const wanted = previous ?? 0;
      if (needsRecrop(roi.rotation, wanted)) {
        roi.rotation = wanted;
        ops.crop(i, roi, slot);
        ops.recropped();
      }
    }
    if (previous !== null) spec = previous;
    pending = roi ? { roi, call: ops.infer(slot) } : null;
    pending?.call.catch(() => undefined);
  }
  if (pending) results[n - 1] = { kind: "landmarks", roi: pending.roi, landmarks: await ops.finish(n - 1, pending.roi, pending.call) };
  const last = n > 0 ? carriedRotation(results[n - 1], frames[n - 1].width, frames[n - 1].height, minScore) : start.rotation;
  return { results, state: { rotation: last, spec } };
}
