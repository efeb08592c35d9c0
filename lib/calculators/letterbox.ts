/**
 * Letterboxing for the square BlazeFace input, both directions:
 * - letterboxRoi: ImageToTensorCalculator with keep_aspect_ratio = true (its PadRoi step). The ROI is the whole
 *   image, grown on its short side to the tensor's aspect ratio (square), centred; the padding says which
 *   fraction of the tensor on each side is border.
 * - removeLetterbox: DetectionLetterboxRemovalCalculator, mapping detections from the letterboxed tensor's
 *   normalized coordinates back to the image's.
 */
import type { Detection, Roi } from "../types.js";

/** Fractions of the tensor's width (left, right) and height (top, bottom) that are letterbox border, as MediaPipe. */
export interface Padding {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The square ROI (source pixels) that letterboxes a width x height image, and the padding it introduces. */
export function letterboxRoi(width: number, height: number): { roi: Roi; padding: Padding } {
  if (!(width > 0) || !(height > 0) || !Number.isFinite(width) || !Number.isFinite(height)) {
    throw new RangeError(`letterboxRoi: image size must be positive, got ${width}x${height}`);
  }
  // PadRoi with a square tensor (tensor aspect 1): roi aspect = height / width.
  const aspect = height / width;
  let side: number;
  let horizontal = 0;
  let vertical = 0;
  if (aspect < 1) {
    side = width; // landscape: grow the height, pad top and bottom
    vertical = (1 - aspect) / 2;
  } else {
    side = height; // portrait (or square): grow the width, pad left and right
    horizontal = (1 - 1 / aspect) / 2;
  }
  return {
    roi: { cx: width / 2, cy: height / 2, width: side, height: side, rotation: 0 },
    padding: { left: horizontal, top: vertical, right: horizontal, bottom: vertical },
  };
}

/** Maps a detection from letterboxed-tensor coordinates to image coordinates (both normalized). Returns a new object. */
export function removeLetterbox(det: Detection, padding: Padding): Detection {
  const sx = 1 - padding.left - padding.right;
  const sy = 1 - padding.top - padding.bottom;
  if (!(sx > 0) || !(sy > 0)) {
    throw new RangeError(`removeLetterbox: padding leaves no image (${JSON.stringify(padding)})`);
  }
  return {
    score: det.score,
    xmin: (det.xmin - padding.left) / sx,
    ymin: (det.ymin - padding.top) / sy,
    width: det.width / sx,
    height: det.height / sy,
    keypoints: det.keypoints.map(([x, y]): [number, number] => [(x - padding.left) / sx, (y - padding.top) / sy]),
  };
}
