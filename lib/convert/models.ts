/**
 * The ONNX model contract: what scripts/build-models.ts writes into models/ and what inference code reads.
 * All three graphs take NCHW float32 input with a dynamic first dimension named "batch"; every output is
 * batch-major, and row i of every output depends only on input i.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { ModelName } from "./sources.js";

export type { ModelName } from "./sources.js";

/** Name of the symbolic batch dimension of every input and output. */
export const BATCH_DIM = "batch";

export interface OutputSpec {
  name: string;
  /** Shape after the batch dimension. */
  shape: number[];
}

export interface ModelSpec {
  name: ModelName;
  /** File name inside models/. */
  file: string;
  inputName: string;
  /** Side of the square input; the input tensor is [batch, 3, inputSize, inputSize], RGB, planar (NCHW). */
  inputSize: number;
  /** Value range the model expects for the input pixels. */
  inputRange: { min: number; max: number };
  outputs: OutputSpec[];
}

export const FACE_LANDMARK: ModelSpec = {
  name: "face_landmark",
  file: "face_landmark.onnx",
  inputName: "input",
  inputSize: 192,
  inputRange: { min: 0, max: 1 },
  outputs: [
    // 468 x,y,z interleaved, in pixels of the 192x192 crop (z on the same scale as x).
    { name: "landmarks", shape: [1404] },
    // Face-presence logit: sigmoid(face_flag) > 0.5 keeps the face.
    { name: "face_flag", shape: [1] },
  ],
};

/**
 * MediaPipe's attention mesh (478 landmarks with refine_landmarks): the mesh as face_landmark gives it, plus
 * refined lips and eyes and the irises, x,y in pixels of the 192 crop. Which mesh point each refined point replaces:
 * lib/inference/refinement.ts.
 */
export const FACE_LANDMARK_WITH_ATTENTION: ModelSpec = {
  name: "face_landmark_with_attention",
  file: "face_landmark_with_attention.onnx",
  inputName: "input",
  inputSize: 192,
  inputRange: { min: 0, max: 1 },
  outputs: [
    { name: "landmarks", shape: [1404] },
    { name: "lips", shape: [160] },
    { name: "left_eye", shape: [142] },
    { name: "right_eye", shape: [142] },
    { name: "left_iris", shape: [10] },
    { name: "right_iris", shape: [10] },
    { name: "face_flag", shape: [1] },
  ],
};

export const FACE_DETECTION_SHORT_RANGE: ModelSpec = {
  name: "face_detection_short_range",
  file: "face_detection_short_range.onnx",
  inputName: "input",
  inputSize: 128,
  inputRange: { min: -1, max: 1 },
  outputs: [
    // Per anchor (order: y, x, anchor): box centre/size + 6 keypoints, in input pixels relative to the anchor.
    { name: "regressors", shape: [896, 16] },
    // Per anchor: score logit.
    { name: "classificators", shape: [896, 1] },
  ],
};

export const FACE_DETECTION_FULL_RANGE: ModelSpec = {
  name: "face_detection_full_range",
  file: "face_detection_full_range.onnx",
  inputName: "input",
  inputSize: 192,
  inputRange: { min: -1, max: 1 },
  outputs: [
    { name: "regressors", shape: [2304, 16] },
    { name: "classificators", shape: [2304, 1] },
  ],
};

export const MODEL_SPECS: Record<ModelName, ModelSpec> = {
  face_landmark: FACE_LANDMARK,
  face_landmark_with_attention: FACE_LANDMARK_WITH_ATTENTION,
  face_detection_short_range: FACE_DETECTION_SHORT_RANGE,
  face_detection_full_range: FACE_DETECTION_FULL_RANGE,
};

export const MODEL_NAMES = Object.keys(MODEL_SPECS) as ModelName[];

/** The models/ folder's manifest (written last by the build, so its presence means a finished build). */
export const MODELS_MANIFEST_FILE = "manifest.json";

let cachedRoot: string | undefined;

/**
 * The project root: the nearest folder at or above this file that holds package.json. Works both from the
 * TypeScript source (lib/convert/) and from the compiled file (dist/lib/convert/).
 */
export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return (cachedRoot = dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}: cannot locate the project root`);
    dir = parent;
  }
}

/** Absolute path of the models/ folder. */
export function modelsDir(): string {
  return path.join(projectRoot(), "models");
}

/** Absolute path of one converted model, e.g. <root>/models/face_landmark.onnx. */
export function modelPath(name: ModelName): string {
  const spec = MODEL_SPECS[name];
  if (!spec) throw new Error(`unknown model ${JSON.stringify(name)} (known: ${MODEL_NAMES.join(", ")})`);
  return path.join(modelsDir(), spec.file);
}
