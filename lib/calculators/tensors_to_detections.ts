/**
 * MediaPipe TensorsToDetectionsCalculator with BlazeFace's options: num_coords 16, box at 0 in x, y, w, h order
 * (reverse_output_order), 6 keypoints at 4, all scales = input size, no exponential on sizes, fixed-size
 * anchors (w = h = 1), sigmoid scores with score_clipping_thresh, min_score_thresh, and the calculator's
 * check that drops boxes with negative or NaN sizes.
 */
import type { Detection } from "../types.js";
import { sigmoid } from "./landmark_projection.js";

export interface DetectorDecodeOptions {
  /** x/y/w/h_scale: the detector's input side in pixels. */
  inputSize: number;
  /** ssdAnchors() output: interleaved (x_center, y_center). */
  anchors: Float32Array;
  /** min_score_thresh: keep score >= this. */
  minScore: number;
  /** score_clipping_thresh: logits are clamped to [-scoreClip, scoreClip] before the sigmoid. */
  scoreClip: number;
}

/** face_detection_short_range.pbtxt. */
export const SHORT_RANGE_DECODE: Omit<DetectorDecodeOptions, "anchors"> = Object.freeze({
  inputSize: 128,
  minScore: 0.5,
  scoreClip: 100,
});

/** face_detection_full_range.pbtxt. */
export const FULL_RANGE_DECODE: Omit<DetectorDecodeOptions, "anchors"> = Object.freeze({
  inputSize: 192,
  minScore: 0.6,
  scoreClip: 100,
});

const NUM_COORDS = 16;
const NUM_KEYPOINTS = 6;
const KEYPOINT_OFFSET = 4;

/**
 * regressors: [numAnchors, 16] at regOffset, logits: [numAnchors] at logitOffset (one batch item).
 * Returns detections in the letterboxed tensor's normalized coordinates, in anchor order.
 */
export function decodeDetections(
  regressors: Float32Array,
  regOffset: number,
  logits: Float32Array,
  logitOffset: number,
  o: DetectorDecodeOptions,
): Detection[] {
  const numAnchors = o.anchors.length >> 1;
  if (o.anchors.length !== 2 * numAnchors || numAnchors === 0) {
    throw new RangeError(`decodeDetections: anchors must hold (x, y) pairs, got ${o.anchors.length} values`);
  }
  if (!(o.inputSize > 0)) throw new RangeError(`decodeDetections: inputSize must be positive, got ${o.inputSize}`);
  if (!Number.isInteger(regOffset) || regOffset < 0 || regOffset + numAnchors * NUM_COORDS > regressors.length) {
    throw new RangeError(
      `decodeDetections: regressors (length ${regressors.length}) lack ${numAnchors}x${NUM_COORDS} values at offset ${regOffset}`,
    );
  }
  if (!Number.isInteger(logitOffset) || logitOffset < 0 || logitOffset + numAnchors > logits.length) {
    throw new RangeError(
      `decodeDetections: logits (length ${logits.length}) lack ${numAnchors} values at offset ${logitOffset}`,
    );
  }
  const s = o.inputSize;
  const clip = o.scoreClip;
  const result: Detection[] = [];
  for (let i = 0; i < numAnchors; i++) {
    let logit = logits[logitOffset + i];
    if (logit < -clip) logit = -clip;
    else if (logit > clip) logit = clip;
    const score = sigmoid(logit);
    // NaN fails this comparison too, so a NaN logit is dropped (MediaPipe: NaN < thresh is false, but its
    // NaN score then never wins NMS; dropping it early is the useful reading).
    if (!(score >= o.minScore)) continue;
    const r = regOffset + i * NUM_COORDS;
    const ax = o.anchors[2 * i];
    const ay = o.anchors[2 * i + 1];
    const w = regressors[r + 2] / s;
    const h = regressors[r + 3] / s;
    if (!(w >= 0) || !(h >= 0)) continue; // negative or NaN size
    const xc = regressors[r] / s + ax;
    const yc = regressors[r + 1] / s + ay;
    const keypoints: Array<[number, number]> = new Array(NUM_KEYPOINTS);
    for (let k = 0; k < NUM_KEYPOINTS; k++) {
      const q = r + KEYPOINT_OFFSET + 2 * k;
      keypoints[k] = [regressors[q] / s + ax, regressors[q + 1] / s + ay];
    }
    result.push({ score, xmin: xc - w / 2, ymin: yc - h / 2, width: w, height: h, keypoints });
  }
  return result;
}
