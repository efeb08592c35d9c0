/**
 * What the ONNX-vs-LiteRT parity tests share: each model's outputs under both names, with the tolerance the
 * shared-image comparison (model_parity.test.ts) uses, and the largest-difference measure. Tolerances sit 3-5x
 * above the largest difference measured on the shared images (2-core AMD EPYC, onnxruntime-node 1.23, @litertjs/core
 * 2.5; the value is in each entry's comment); parity_packaged.test.ts keeps its own table for its inputs.
 */
import assert from "node:assert/strict";
import type { ModelName } from "../../lib/convert/sources.js";

/** One output compared between the runtimes. */
export interface OutputPair {
  onnx: string;
  tflite: string;
  /** Shape after the batch dimension, per the ONNX contract. */
  shape: number[];
  tolerance: number;
  units: string;
  /**
   * Compare after clamping both sides to [-clamp, clamp]. MediaPipe's TensorsToDetectionsCalculator clamps the
   * score logits to ±100 before the sigmoid, so values beyond that never matter; the short-range model puts
   * background anchors at -100 to -600, where float32 noise alone (a few 1e-6 relative) approaches 1e-3.
   */
  clamp?: number;
}

export interface ParityModel {
  name: ModelName;
  size: number;
  /** Input value range: [0,1] (landmarks) or [-1,1] (BlazeFace). */
  signed: boolean;
  outputs: OutputPair[];
}

// The ONNX contract (models/*.onnx: input [batch,3,S,S] NCHW RGB) and the matching .tflite output names.
export const LANDMARK: ParityModel = {
  name: "face_landmark",
  size: 192,
  signed: false,
  outputs: [
    { onnx: "landmarks", tflite: "conv2d_21", shape: [1404], tolerance: 5e-4 /* measured 1.53e-4 */, units: "px of the 192 crop (x, y, z)" },
    { onnx: "face_flag", tflite: "conv2d_31", shape: [1], tolerance: 1e-4 /* measured 3.05e-5 */, units: "logit" },
  ],
};
export const SHORT_RANGE: ParityModel = {
  name: "face_detection_short_range",
  size: 128,
  signed: true,
  outputs: [
    { onnx: "regressors", tflite: "regressors", shape: [896, 16], tolerance: 5e-4 /* measured 1.68e-4 */, units: "px of the 128 input, anchor-relative" },
    { onnx: "classificators", tflite: "classificators", shape: [896, 1], tolerance: 1.5e-3 /* measured 4.04e-4 */, units: "logit", clamp: 100 },
  ],
};
export const FULL_RANGE: ParityModel = {
  name: "face_detection_full_range",
  size: 192,
  signed: true,
  outputs: [
    { onnx: "regressors", tflite: "reshaped_regressor_face_4", shape: [2304, 16], tolerance: 5e-4 /* measured 1.11e-4 */, units: "px of the 192 input, anchor-relative" },
    { onnx: "classificators", tflite: "reshaped_classifier_face_4", shape: [2304, 1], tolerance: 5e-5 /* measured 1.43e-5 */, units: "logit", clamp: 100 },
  ],
};

export interface Difference {
  /** Largest |actual - expected| (Infinity when either side is NaN). */
  max: number;
  /** The reference value where it occurs. */
  at: number;
}

/** Largest elementwise difference, both sides first clamped to [-limit, limit]. */
export function largestDifference(actual: Float32Array, expected: Float32Array, limit = Infinity): Difference {
  assert.equal(actual.length, expected.length);
  const clamp = (v: number): number => Math.min(Math.max(v, -limit), limit);
  let worst: Difference = { max: 0, at: Number.NaN };
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(clamp(actual[i]) - clamp(expected[i]));
    const dist = Number.isNaN(d) ? Infinity : d;
    if (dist > worst.max) worst = { max: dist, at: expected[i] };
  }
  return worst;
}

