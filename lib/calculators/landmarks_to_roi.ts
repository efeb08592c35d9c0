/**
 * MediaPipe face_landmark_landmarks_to_roi (tracking: the next frame's ROI from this frame's landmarks):
 * LandmarksToDetectionCalculator (axis-aligned bbox of all landmarks), DetectionsToRectsCalculator (rotation from
 * landmark 33 to landmark 263, the outer eye corners, target 0°), RectTransformationCalculator (square_long,
 * scale 1.5).
 */
import type { Roi } from "../types.js";
import { rotationFromPoints, squareLongRoi } from "./rect_transformation.js";

const ROTATION_START = 33;
const ROTATION_END = 263;

/** points: normalized (x, y, z) triples, at least 264 of them (the 468-point mesh). Returns a ROI in source pixels. */
export function roiFromLandmarks(points: Float32Array, width: number, height: number): Roi {
  if (!(width > 0) || !(height > 0)) throw new RangeError(`roiFromLandmarks: image size must be positive, got ${width}x${height}`);
  const n = Math.floor(points.length / 3);
  if (points.length % 3 !== 0 || n <= ROTATION_END) {
    throw new RangeError(`roiFromLandmarks: points must be (x, y, z) triples including landmark ${ROTATION_END}, got ${points.length} values`);
  }
  let xmin = Infinity;
  let ymin = Infinity;
  let xmax = -Infinity;
  let ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[3 * i];
    const y = points[3 * i + 1];
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
  }
  if (!Number.isFinite(xmin + xmax + ymin + ymax)) throw new RangeError("roiFromLandmarks: points hold non-finite values");
  const rotation = rotationFromPoints(
    points[3 * ROTATION_START] * width,
    points[3 * ROTATION_START + 1] * height,
    points[3 * ROTATION_END] * width,
    points[3 * ROTATION_END + 1] * height,
  );
  if (!Number.isFinite(rotation)) throw new RangeError(`roiFromLandmarks: landmarks ${ROTATION_START}/${ROTATION_END} are not finite`);
  return squareLongRoi(((xmin + xmax) / 2) * width, ((ymin + ymax) / 2) * height, (xmax - xmin) * width, (ymax - ymin) * height, rotation);
}
