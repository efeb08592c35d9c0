/**
 * MediaPipe RectTransformationCalculator as the face graphs use it (scale_x = scale_y = 1.5, square_long,
 * no shift), plus DetectionsToRectsCalculator's rotation (ComputeRotation) and NormalizeRadians.
 *
 * MediaPipe works on a NormalizedRect and squares it with the image size (long side in pixels); our Roi is in
 * pixels already, so "square" is plain here and the result is the same rectangle scaled by the image size.
 */
import type { Roi } from "../types.js";

/** MediaPipe's face ROI enlargement. */
export const FACE_ROI_SCALE = 1.5;

/** a - 2π·floor((a + π) / 2π): the angle in [-π, π). */
export function normalizeRadians(a: number): number {
  return a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
}

/**
 * DetectionsToRectsCalculator::ComputeRotation: normalize(target - atan2(-(y1 - y0), x1 - x0)), points in
 * pixels (image y down). With target 0 this is the angle that turns the ROI's x axis onto the line p0 -> p1.
 */
export function rotationFromPoints(x0: number, y0: number, x1: number, y1: number, targetAngle = 0): number {
  return normalizeRadians(targetAngle - Math.atan2(-(y1 - y0), x1 - x0));
}

/**
 * RectTransformationCalculator (square_long, scale, no shift): a rect centred at (cx, cy) of w x h pixels,
 * turned by rotation, becomes a square of side scale·max(w, h).
 */
export function squareLongRoi(cx: number, cy: number, w: number, h: number, rotation: number, scale = FACE_ROI_SCALE): Roi {
  const side = Math.max(w, h) * scale;
  return { cx, cy, width: side, height: side, rotation };
}
