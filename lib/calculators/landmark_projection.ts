/**
 * MediaPipe TensorsToLandmarksCalculator (crop pixels / input size -> crop-normalized, z too) followed by
 * LandmarkProjectionCalculator (crop-normalized -> image-normalized through the ROI):
 *   x' = (cos a·(x - 0.5)·w - sin a·(y - 0.5)·h + cx) / W,  y' = (sin a·(x - 0.5)·w + cos a·(y - 0.5)·h + cy) / H,
 *   z' = z·w / W
 * with the ROI (cx, cy, w, h, a) in source pixels and the image W x H.
 *
 * This is the exact inverse of imageToTensor's mapping with halfPixel = false (crop pixel u <-> u/size).
 * MediaPipe's projection scales both rotated terms by the normalized ROI width/height instead, which is the same
 * thing whenever the ROI is square in pixels (every ROI our calculators build); for non-square rotated ROIs
 * ours stays consistent with the crop.
 */
import type { Roi } from "../types.js";
import { NUM_LANDMARKS } from "../types.js";

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * raw: model output (x, y, z in crop pixels of inputSize) at rawOffset, numLandmarks*3 values.
 * Returns normalized image landmarks (x, y, z), z scaled by the ROI width like MediaPipe. Writes into `out`
 * when given (it must hold numLandmarks*3 values).
 */
export function projectLandmarks(
  raw: Float32Array,
  rawOffset: number,
  roi: Roi,
  width: number,
  height: number,
  inputSize: number,
  out?: Float32Array,
  numLandmarks: number = NUM_LANDMARKS,
): Float32Array {
  const n = numLandmarks * 3;
  if (!Number.isInteger(rawOffset) || rawOffset < 0 || rawOffset + n > raw.length) {
    throw new RangeError(`projectLandmarks: raw (length ${raw.length}) lacks ${n} values at offset ${rawOffset}`);
  }
  if (!(width > 0) || !(height > 0)) throw new RangeError(`projectLandmarks: image size must be positive, got ${width}x${height}`);
  if (!(inputSize > 0)) throw new RangeError(`projectLandmarks: inputSize must be positive, got ${inputSize}`);
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError(`projectLandmarks: out holds ${dst.length} values, needs ${n}`);
  const cos = Math.cos(roi.rotation);
  const sin = Math.sin(roi.rotation);
  const inv = 1 / inputSize;
  // Crop-normalized (x, y) -> image-normalized, as an affine map.
  const axx = (cos * roi.width) / width;
  const axy = (-sin * roi.height) / width;
  const ayx = (sin * roi.width) / height;
  const ayy = (cos * roi.height) / height;
  const bx = roi.cx / width;
  const by = roi.cy / height;
  const zs = (roi.width / width) * inv;
  for (let i = 0; i < n; i += 3) {
    const x = raw[rawOffset + i] * inv - 0.5;
    const y = raw[rawOffset + i + 1] * inv - 0.5;
    dst[i] = axx * x + axy * y + bx;
    dst[i + 1] = ayx * x + ayy * y + by;
    dst[i + 2] = raw[rawOffset + i + 2] * zs;
  }
  return dst;
}
