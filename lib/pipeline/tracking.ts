/**
 * Tracking as a small state machine, free of models and buffers: what rotation a frame is cropped at, when a
 * speculative crop must be redone, when a track is lost. The model is injected (TrackingOps), so that tests can
 * drive it with a fake one.
 *
 * Bbox mode (MEDIAPIPE.md §4): a tracked frame's ROI takes the rotation of the previous frame's landmarks (eye
 * line, mesh 33 -> 263), a strictly sequential dependency. We follow it frame by frame, one model call per frame:
 * while frame i-1 is in the model, frame i is cropped at the last rotation known then (speculation), and cropped
 * again only when frame i-1's landmarks give a rotation more than TRACKING_TOLERANCE away. The state carries over
 * batch boundaries, so the rows do not depend on batch_size. A track starts (first frame, or after a frame
 * without a face) with the rotation of BlazeFace's eyes in the region around the box (face_finder.ts, quarter
 * turns included), as MediaPipe's detection ROI; when the detector finds no face there, with the quarter turn
 * where a track last held (0 before one did).
 *
 * Video mode (no bbox stream; MediaPipe's face_landmark_front with max_num_faces 1): the detector runs only when
 * no face is tracked; each next ROI comes from the landmarks (landmarks_to_roi: bbox of all points, eye-line
 * rotation, square, x1.5); the track is lost when the face score is min_score_thresh or below, and that frame
 * has no face. Strictly frame by frame (each ROI needs the previous frame's landmarks): exact, not speculative.
 */
import type { FaceLandmarks, Roi } from "../types.js";
import { turnRadians, type QuarterTurn } from "../calculators/turned_region.js";
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
  /** Video mode: the next frame's ROI, from the last frame's landmarks; null when no face is tracked. */
  roi: Roi | null;
  /** The quarter turn at which the detector last started a track that held (its score passed); null before one did. */
  turn: QuarterTurn | null;
}

/** Before the first frame: no track. */
export const NO_TRACK: TrackState = Object.freeze({ rotation: null, spec: 0, roi: null, turn: null });

/** Where a track starts: a ROI (video mode) or a rotation (bbox mode), and the detector's quarter turn. */
export interface TrackStart {
  roi: Roi;
  turn: QuarterTurn;
}

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
  /**
   * A track starts on frame `frame`: the detector's ROI there (bbox mode: around `near`, the box's ROI; video
   * mode: anywhere), trying `turn` first; null when it finds no face.
   */
  startTrack(frame: number, near: Roi | null, turn: QuarterTurn | null): Promise<TrackStart | null>;
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
  let turn = start.turn;
  let candidate: QuarterTurn | null = null; // the turn of a track started on the previous frame
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
      if (candidate !== null && previous !== null) turn = candidate;
      candidate = null;
    }
    if (roi && plan.kind === "roi" && plan.tracked) {
      let wanted = previous;
      if (wanted === null) {
        const found = await ops.startTrack(i, plan.roi, turn);
        candidate = found?.turn ?? null;
        // No face in the region: the turn that worked last (upright until one did).
        wanted = found?.roi.rotation ?? turnRadians(turn ?? 0);
      }
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
  if (candidate !== null && last !== null) turn = candidate;
  return { results, state: { rotation: last, spec, roi: null, turn } };
}

/** Video mode (see the file comment): the frames' landmarks, following one face from frame to frame. */
export async function followFaces<R>(
  frames: ReadonlyArray<{ width: number; height: number }>,
  start: TrackState,
  minScore: number,
  ops: TrackingOps<R>,
): Promise<{ results: FrameResult[]; state: TrackState }> {
  const results: FrameResult[] = new Array<FrameResult>(frames.length).fill(SKIPPED);
  let next = start.roi;
  let turn = start.turn;
  for (let i = 0; i < frames.length; i++) {
    let roi = next;
    let candidate: QuarterTurn | null = null;
    if (!roi) {
      const found = await ops.startTrack(i, null, turn);
      if (found) ({ roi, turn: candidate } = found);
    }
    next = null;
    if (!roi) continue;
    const slot = i & 1;
    ops.crop(i, roi, slot);
    const landmarks = await ops.finish(i, roi, ops.infer(slot));
    results[i] = { kind: "landmarks", roi, landmarks };
    if (landmarks.score > minScore) {
      next = roiFromLandmarks(landmarks.points, frames[i].width, frames[i].height);
      if (candidate !== null) turn = candidate;
    }
  }
  return { results, state: { rotation: next?.rotation ?? null, spec: 0, roi: next, turn } };
}
