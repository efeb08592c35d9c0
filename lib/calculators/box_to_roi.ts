/**
 * A NOVA bbox-stream row (ymin, xmin, ymax, xmax, normalized) to the landmark model's ROI, the MediaPipe way
 * (DetectionsToRectsCalculator + RectTransformationCalculator, as face_detection_front_detection_to_roi):
 * box centre, square on the long side in pixels, x1.5. The original module cropped the raw box stretched to
 * 192x192, which was its main source of error.
 *
 * The box carries no rotation; pass one (from BlazeFace keypoints or the previous frame's landmarks, see
 * rotationFromPoints) or get 0.
 */
import type { Roi } from "../types.js";
import { normalizeRadians, rotationFromPoints, squareLongRoi } from "./rect_transformation.js";

export { normalizeRadians, rotationFromPoints };

export interface NormalizedBox {
  ymin: number;
  xmin: number;
  ymax: number;
  xmax: number;
}

/** True when roiFromBox accepts the box: finite, not inverted, not empty in both directions. */
export function boxIsUsable(box: NormalizedBox): boolean {
  const { ymin, xmin, ymax, xmax } = box;
  return (
    Number.isFinite(ymin) && Number.isFinite(xmin) && Number.isFinite(ymax) && Number.isFinite(xmax) &&
    xmax >= xmin && ymax >= ymin && (xmax > xmin || ymax > ymin)
  );
}

/** Square ROI (source pixels) of 1.5x the box's long side in pixels, centred on the box. */
export function roiFromBox(box: NormalizedBox, width: number, height: number, rotation = 0): Roi {
  if (!boxIsUsable(box)) {
    throw new RangeError(`roiFromBox: unusable box ${JSON.stringify(box)} (needs finite values, xmax >= xmin, ymax >= ymin, not empty)`);
  }
  if (!(width > 0) || !(height > 0) || !Number.isFinite(width) || !Number.isFinite(height)) {
    throw new RangeError(`roiFromBox: image size must be positive, got ${width}x${height}`);
  }
  if (!Number.isFinite(rotation)) throw new RangeError(`roiFromBox: rotation must be finite, got ${rotation}`);
  return squareLongRoi(
    ((box.xmin + box.xmax) / 2) * width,
    ((box.ymin + box.ymax) / 2) * height,
    (box.xmax - box.xmin) * width,
    (box.ymax - box.ymin) * height,
    normalizeRadians(rotation),
  );
}
