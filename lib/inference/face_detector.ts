/**
 * BlazeFace (MediaPipe's face_detection_short_range / _full_range graphs), batched:
 * letterbox each image to the model's square input (ImageToTensorCalculator, keep_aspect_ratio, zero border,
 * range [-1,1]), run, decode against SSD anchors (TensorsToDetectionsCalculator), weighted NMS
 * (NonMaxSuppressionCalculator) and undo the letterbox (DetectionLetterboxRemovalCalculator).
 */
import type { Detection, RgbImage, Roi } from "../types.js";
import { modelPath } from "../convert/models.js";
import { imageToTensor } from "../calculators/image_to_tensor.js";
import { letterboxRoi, removeLetterbox, type Padding } from "../calculators/letterbox.js";
import { FULL_RANGE_ANCHOR_OPTIONS, SHORT_RANGE_ANCHOR_OPTIONS, ssdAnchors } from "../calculators/ssd_anchors.js";
import { decodeDetections, FULL_RANGE_DECODE, SHORT_RANGE_DECODE, type DetectorDecodeOptions } from "../calculators/tensors_to_detections.js";
import { weightedNms } from "../calculators/non_max_suppression.js";
import { allocateSharedFloat32, createSession, type Device, type ModelSession, type SessionSettings } from "./session.js";

export type DetectorKind = "short" | "full";

/** Reusable raw output buffers (allocateOutputs). */
export interface DetectorOutputs {
  regressors: Float32Array;
  classificators: Float32Array;
}

interface DetectorSpec {
  model: "face_detection_short_range" | "face_detection_full_range";
  inputSize: number;
  decode: DetectorDecodeOptions;
}

function spec(kind: DetectorKind): DetectorSpec {
  if (kind === "short") {
    return { model: "face_detection_short_range", inputSize: 128, decode: { ...SHORT_RANGE_DECODE, anchors: ssdAnchors(SHORT_RANGE_ANCHOR_OPTIONS) } };
  }
  return { model: "face_detection_full_range", inputSize: 192, decode: { ...FULL_RANGE_DECODE, anchors: ssdAnchors(FULL_RANGE_ANCHOR_OPTIONS) } };
}

const DETECTOR_RANGE = { min: -1, max: 1 };
const NO_PADDING: Padding = Object.freeze({ left: 0, top: 0, right: 0, bottom: 0 });

export class FaceDetector {
  readonly tensorSize: number;
  private readonly numAnchors: number;

  private constructor(
    private readonly session: ModelSession,
    private readonly spec: DetectorSpec,
    private readonly halfPixel: boolean,
  ) {
    this.tensorSize = 3 * spec.inputSize * spec.inputSize;
    this.numAnchors = spec.decode.anchors.length / 2;
  }

  /** halfPixel: the letterbox's sampling convention (see calculators/image_to_tensor.ts); MediaPipe's web pipeline samples at texel centres. */
  static async load(kind: DetectorKind, settings: SessionSettings, halfPixel = true): Promise<FaceDetector> {
    const s = spec(kind);
    return new FaceDetector(await createSession(modelPath(s.model), settings), s, halfPixel);
  }

  get device(): Device {
    return this.session.device;
  }

  /** A buffer for up to `capacity` letterboxed images (shared memory, see LandmarkModel.allocateInput): allocate once, reuse. */
  allocateInput(capacity: number): Float32Array {
    return allocateSharedFloat32(capacity * this.tensorSize);
  }

  /** Letterboxes `image` into slot `slot` of `input`; returns the padding needed to undo it. */
  prepare(image: RgbImage, input: Float32Array, slot: number): Padding {
    const { roi, padding } = letterboxRoi(image.width, image.height);
    imageToTensor(image, roi, this.spec.inputSize, input, slot * this.tensorSize, { range: DETECTOR_RANGE, border: "zero", halfPixel: this.halfPixel });
    return padding;
  }

  /**
   * Crops region `roi` of `image` (turned by roi.rotation, zero border; calculators/turned_region.ts) into slot
   * `slot`. Its detections come out normalized to the region: map them with detectionFromRegion.
   */
  prepareRegion(image: RgbImage, roi: Roi, input: Float32Array, slot: number): Padding {
    imageToTensor(image, roi, this.spec.inputSize, input, slot * this.tensorSize, { range: DETECTOR_RANGE, border: "zero", halfPixel: this.halfPixel });
    return NO_PADDING;
  }

  /** Detects faces in the first `count` prepared slots; detections normalized to each original image, best first. */
  async run(input: Float32Array, count: number, paddings: readonly Padding[]): Promise<Detection[][]> {
    return (await this.runTimed(input, count, paddings)).detections;
  }

  /** Output buffers for up to `capacity` images on shared memory, written in place (see LandmarkModel.allocateOutputs). */
  allocateOutputs(capacity: number): DetectorOutputs {
    return { regressors: allocateSharedFloat32(capacity * this.numAnchors * 16), classificators: allocateSharedFloat32(capacity * this.numAnchors) };
  }

  /** run(), plus the time the model call spent inside onnxruntime (ms); with `into`, the raw outputs go there. */
  async runTimed(input: Float32Array, count: number, paddings: readonly Padding[], into?: DetectorOutputs): Promise<{ detections: Detection[][]; ms: number }> {
    const size = this.spec.inputSize;
    const buffers = into ? { regressors: into.regressors.subarray(0, count * this.numAnchors * 16), classificators: into.classificators.subarray(0, count * this.numAnchors) } : undefined;
    const { outputs, ms } = await this.session.run(input.subarray(0, count * this.tensorSize), [count, 3, size, size], buffers);
    const regressors = outputs.regressors;
    const logits = outputs.classificators;
    const result: Detection[][] = [];
    for (let i = 0; i < count; i++) {
      const raw = decodeDetections(regressors, i * this.numAnchors * 16, logits, i * this.numAnchors, this.spec.decode);
      result.push(weightedNms(raw).map((d) => removeLetterbox(d, paddings[i])).sort((a, b) => b.score - a.score));
    }
    return { detections: result, ms };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
