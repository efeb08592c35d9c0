/**
 * ROIs from NOVA's face streams (bbox mode): a bbox row gives the ROI's centre and size (calculators/box_to_roi.ts);
 * its rotation comes from the keypoint row's eyes when there is one (MediaPipe's detection rule), else it is
 * tracking's to set.
 */
import type { RgbImage } from "../types.js";
import { roiFromBox, rotationFromPoints } from "../calculators/box_to_roi.js";
import { BBOX, BBOX_DIM, KEYPOINT, KEYPOINT_DIM, classifyBox } from "../ssi/bbox.js";
import { SKIP, type FramePlan } from "./frame_result.js";

/** Per-frame face boxes from NOVA streams (blazeface's layout). */
export interface BoxHints {
  /** BBOX_DIM values per frame: ymin, xmin, ymax, xmax (normalized), confidence. */
  boxes: Float32Array;
  /** Optional KEYPOINT_DIM values per frame: right eye y,x; left eye y,x; nose; mouth; right ear; left ear; confidence. */
  keypoints?: Float32Array;
}

/** Frames the bbox stream covers. */
export function hintRows(hints: BoxHints): number {
  return Math.floor(hints.boxes.length / BBOX_DIM);
}

/** The plan for frame `frame` of a bbox stream. */
export function planFromHints(hints: BoxHints, frame: number, image: RgbImage): FramePlan {
  const b = hints.boxes.subarray(frame * BBOX_DIM, frame * BBOX_DIM + BBOX_DIM);
  if (classifyBox(b) !== "ok") return SKIP;
  const box = { ymin: b[BBOX.ymin], xmin: b[BBOX.xmin], ymax: b[BBOX.ymax], xmax: b[BBOX.xmax] };
  const k0 = frame * KEYPOINT_DIM;
  const kp = hints.keypoints && k0 + KEYPOINT_DIM <= hints.keypoints.length ? hints.keypoints.subarray(k0, k0 + KEYPOINT_DIM) : null;
  if (kp && kp[KEYPOINT.conf] > 0 && kp.every(Number.isFinite)) {
    // BlazeFace keypoints 0 (right eye) and 1 (left eye): MediaPipe's detection ROI rotation.
    const rotation = rotationFromPoints(
      kp[KEYPOINT.rightEyeX] * image.width,
      kp[KEYPOINT.rightEyeY] * image.height,
      kp[KEYPOINT.leftEyeX] * image.width,
      kp[KEYPOINT.leftEyeY] * image.height,
    );
    return { kind: "roi", roi: roiFromBox(box, image.width, image.height, rotation), tracked: false };
  }
  return { kind: "roi", roi: roiFromBox(box, image.width, image.height, 0), tracked: true };
}
