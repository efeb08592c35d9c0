/**
 * The one pipeline. Video frames and bbox rows flow to ROIs, to 192x192 tensors, through the model, to
 * landmarks, to SSI rows:
 *
 *   frames ─┬─ bbox row (+ keypoint row | previous frame's landmarks) ─ roiFromBox ──────┐
 *           └─ (no bbox stream) letterbox ─ BlazeFace ─ NMS ─ roiFromDetection ──────────┴─ imageToTensor ─
 *           face_landmark ─ sigmoid(flag), projectLandmarks ─ rows (y,x pairs + score)
 *
 * Frames are processed in batches of `batchSize`; while one batch is in the model (onnxruntime runs off the JS
 * thread) the next batch is decoded and cropped. Memory is bounded by two batches of frames and tensors,
 * never by the length of the video.
 *
 * Tracking (bbox mode): MediaPipe takes the ROI's rotation from the previous frame's landmarks, a strictly
 * sequential dependency that would force batch size 1. We keep batches: each frame is first run with the
 * rotation known when the batch was prepared; then, walking the batch in order, a frame whose previous frame's
 * landmarks give a rotation more than TRACKING_TOLERANCE away from the one used is run again with that
 * rotation. The previous frame's landmarks used for that check are its first-pass ones: the eye line barely
 * moves with the input rotation (the model is trained on rotated crops), and a test compares the result with
 * the strictly sequential batch-1 run.
 */
import type { Detection, FaceLandmarks, RgbImage, Roi } from "./types.js";
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS, ROW_DIM } from "./types.js";
import { imageToTensor, type ImageToTensorOptions } from "./calculators/image_to_tensor.js";
import { roiFromDetection } from "./calculators/detection_to_roi.js";
import { roiFromLandmarks } from "./calculators/landmarks_to_roi.js";
import { roiFromBox, rotationFromPoints, normalizeRadians } from "./calculators/box_to_roi.js";
import { projectLandmarks, sigmoid } from "./calculators/landmark_projection.js";
import { classifyBox } from "./ssi/bbox.js";
import { FaceDetector, type DetectorKind } from "./inference/face_detector.js";
import { LandmarkModel, LANDMARK_TENSOR_SIZE, LANDMARK_VALUES } from "./inference/landmark_model.js";
import type { Device, SessionSettings } from "./inference/session.js";
import type { Padding } from "./calculators/letterbox.js";
import { writeEmptyRow, writeLandmarkRow, type NoFaceValue } from "./rows.js";

/** 1 degree: below this a rotation change moves landmarks by well under 0.1% of the face size. */
export const TRACKING_TOLERANCE = Math.PI / 180;

/** MediaPipe keeps a face when its landmark score is strictly above this (the solution's min_tracking_confidence). */
export const DEFAULT_MIN_SCORE = 0.5;

export interface FaceMeshConfig {
  /** Preference list of devices (first that loads); default cpu. */
  devices?: Device[];
  /** CPU intra-op threads per model; default: all cores. */
  threads?: number;
  /** BlazeFace variant used when there is no bbox stream: "short" (MediaPipe face mesh's own) or "full" (small faces). */
  detector?: DetectorKind;
  /** Image-to-tensor sampling convention, see calculators/image_to_tensor.ts. */
  halfPixel?: boolean;
  onFallback?: (message: string) => void;
}

/** Per-frame face boxes from NOVA streams (blazeface's layout). */
export interface BoxHints {
  /** 5 values per frame: ymin, xmin, ymax, xmax (normalized), confidence. */
  boxes: Float32Array;
  /** Optional 13 values per frame: right eye y,x; left eye y,x; nose; mouth; right ear; left ear; confidence. */
  keypoints?: Float32Array;
}

export interface RunOptions {
  batchSize: number;
  /** Rows with score <= minScore carry the score but no landmarks. */
  minScore: number;
  noFace: NoFaceValue;
  /** Rotation from the previous frame's landmarks (bbox mode). */
  tracking: boolean;
  /** Absent: find faces with the detector (static mode: detection on every frame, the most confident face). */
  hints?: BoxHints;
  signal?: AbortSignal;
}

export interface RowBatch {
  /** count * ROW_DIM values. */
  rows: Float32Array;
  count: number;
  /** Index of the batch's first frame in the video. */
  firstFrame: number;
}

/** What tracking carries from one frame to the next. */
interface TrackState {
  /** Rotation of the last frame's landmarks, or null when that frame had no face. */
  rotation: number | null;
}

interface FrameResult {
  roi: Roi | null;
  /** True when the ROI's rotation came from tracking (may be corrected in the second pass). */
  tracked: boolean;
  points: Float32Array | null;
  score: number;
}

/** Pulls batches of up to `size` items. */
async function* batches<T>(source: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

export class FaceMesh {
  private detector: FaceDetector | null = null;
  private readonly cropOptions: ImageToTensorOptions;

  private constructor(
    private readonly landmarks: LandmarkModel,
    private readonly settings: SessionSettings,
    private readonly detectorKind: DetectorKind,
    halfPixel: boolean,
  ) {
    this.cropOptions = { range: { min: 0, max: 1 }, border: "replicate", halfPixel };
  }

  static async create(config: FaceMeshConfig = {}): Promise<FaceMesh> {
    const settings: SessionSettings = { devices: config.devices ?? ["cpu"], threads: config.threads, onFallback: config.onFallback };
    const landmarks = await LandmarkModel.load(settings);
    // Once a device is chosen for the landmark model, the detector uses the same one.
    return new FaceMesh(landmarks, { ...settings, devices: [landmarks.device] }, config.detector ?? "short", config.halfPixel ?? false);
  }

  get device(): Device {
    return this.landmarks.device;
  }

  /** The detector is loaded on first use: bbox-stream jobs never need it. */
  private async faceDetector(): Promise<FaceDetector> {
    this.detector ??= await FaceDetector.load(this.detectorKind, this.settings);
    return this.detector;
  }

  /** Faces in each image, most confident first (normalized to each image). */
  async detect(images: readonly RgbImage[]): Promise<Detection[][]> {
    const detector = await this.faceDetector();
    const input = detector.allocateInput(images.length);
    const paddings: Padding[] = images.map((img, i) => detector.prepare(img, input, i));
    return detector.run(input, images.length, paddings);
  }

  /**
   * Static mode on one image: detection, then landmarks of the most confident face. Null when no face is
   * detected or its landmark score is not above minScore (MediaPipe's rule).
   */
  async estimateStatic(image: RgbImage, minScore = DEFAULT_MIN_SCORE): Promise<FaceLandmarks | null> {
    const [detections] = await this.detect([image]);
    if (detections.length === 0) return null;
    const roi = roiFromDetection(detections[0], image.width, image.height);
    const [result] = await this.landmarksFor([image], [roi]);
    return result.score > minScore ? result : null;
  }

  /** Landmarks for one ROI per image (one batch). */
  async landmarksFor(images: readonly RgbImage[], rois: readonly Roi[]): Promise<FaceLandmarks[]> {
    const input = LandmarkModel.allocateInput(images.length);
    images.forEach((img, i) => imageToTensor(img, rois[i], LANDMARK_INPUT_SIZE, input, i * LANDMARK_TENSOR_SIZE, this.cropOptions));
    const out = await this.landmarks.run(input, images.length);
    return images.map((img, i) => ({
      points: projectLandmarks(out.landmarks, i * LANDMARK_VALUES, rois[i], img.width, img.height, LANDMARK_INPUT_SIZE),
      score: sigmoid(out.logits[i]),
    }));
  }

  /**
   * Frames in, SSI rows out, batch by batch. Stops at the end of the frames or of the bbox rows, whichever
   * comes first (the caller compares counts and warns).
   */
  async *run(frames: AsyncIterable<RgbImage>, options: RunOptions): AsyncGenerator<RowBatch> {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch_size must be a positive integer, got ${batchSize}`);
    const hints = options.hints;
    const rowLimit = hints ? Math.floor(hints.boxes.length / 5) : Number.POSITIVE_INFINITY;
    // Two sets of buffers: one batch in the model while the next is prepared.
    const buffers = [LandmarkModel.allocateInput(batchSize), LandmarkModel.allocateInput(batchSize)];
    let state: Promise<TrackState> = Promise.resolve({ rotation: null });
    // The latest rotation any finished batch has seen: the first-pass guess for the batch being prepared.
    const latest = { rotation: 0 };
    let inflight: Promise<RowBatch> | null = null;
    let next = 0;
    let parity = 0;
    for await (const batch of batches(frames, batchSize)) {
      if (options.signal?.aborted) throw new Error("cancelled");
      const usable = Math.min(batch.length, rowLimit - next);
      if (usable <= 0) break;
      const frameBatch = usable < batch.length ? batch.slice(0, usable) : batch;
      const job = this.processBatch(frameBatch, next, options, buffers[parity], state, latest.rotation);
      state = job.then((r) => {
        if (r.state.rotation !== null) latest.rotation = r.state.rotation;
        return r.state;
      });
      const rows = job.then((r) => r.batch);
      // Keep the rejection handled until we await it below.
      rows.catch(() => undefined);
      if (inflight) yield await inflight;
      inflight = rows;
      next += frameBatch.length;
      parity ^= 1;
      if (usable < batch.length) break;
    }
    if (inflight) yield await inflight;
  }

  private async processBatch(
    frames: RgbImage[],
    firstFrame: number,
    options: RunOptions,
    input: Float32Array,
    previous: Promise<TrackState>,
    rotationGuess: number,
  ): Promise<{ batch: RowBatch; state: TrackState }> {
    const n = frames.length;
    const results: FrameResult[] = new Array(n);
    const hints = options.hints;

    // 1. ROIs: from the bbox stream, or from the detector.
    if (hints) {
      for (let i = 0; i < n; i++) results[i] = this.roiFromHints(hints, firstFrame + i, frames[i]);
    } else {
      const detections = await this.detect(frames);
      for (let i = 0; i < n; i++) {
        const best = detections[i][0];
        results[i] = { roi: best ? roiFromDetection(best, frames[i].width, frames[i].height) : null, tracked: false, points: null, score: 0 };
      }
    }

    // 2. First pass. Tracked ROIs start from the latest rotation a finished batch has seen (the previous batch
    //    may still be in the model); the second pass corrects what matters.
    const trackingOn = options.tracking && hints !== undefined;
    if (trackingOn) for (const r of results) if (r.roi && r.tracked) r.roi.rotation = rotationGuess;
    await this.runLandmarks(frames, results, results.map((_, i) => i).filter((i) => results[i].roi !== null), input);

    // 3. Second pass (tracking): rotation from the previous frame's landmarks.
    let carried = (await previous).rotation;
    if (trackingOn) {
      const redo: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = results[i];
        if (r.roi && r.tracked) {
          const wanted = carried ?? 0;
          if (Math.abs(normalizeRadians(wanted - r.roi.rotation)) > TRACKING_TOLERANCE) {
            r.roi.rotation = wanted;
            redo.push(i);
          }
        }
        carried = this.faceRotation(r, frames[i], options.minScore);
      }
      if (redo.length > 0) await this.runLandmarks(frames, results, redo, input);
    }
    // The state handed on is the last frame's final result.
    const last = results[n - 1];
    const state: TrackState = { rotation: this.faceRotation(last, frames[n - 1], options.minScore) };

    // 4. Rows.
    const rows = new Float32Array(n * ROW_DIM);
    for (let i = 0; i < n; i++) {
      const r = results[i];
      if (r.points && r.score > options.minScore) writeLandmarkRow(rows, i * ROW_DIM, r.points, r.score);
      else writeEmptyRow(rows, i * ROW_DIM, r.score, options.noFace);
    }
    return { batch: { rows, count: n, firstFrame }, state };
  }

  /** The rotation tracking carries from a frame: its landmarks' eye line, when it has a face. */
  private faceRotation(r: FrameResult, frame: RgbImage, minScore: number): number | null {
    if (!r.points || !(r.score > minScore)) return null;
    return roiFromLandmarks(r.points, frame.width, frame.height).rotation;
  }

  private roiFromHints(hints: BoxHints, frame: number, image: RgbImage): FrameResult {
    const b = hints.boxes.subarray(frame * 5, frame * 5 + 5);
    if (classifyBox(b) !== "ok") return { roi: null, tracked: false, points: null, score: 0 };
    const box = { ymin: b[0], xmin: b[1], ymax: b[2], xmax: b[3] };
    const kp = hints.keypoints && frame * 13 + 13 <= hints.keypoints.length ? hints.keypoints.subarray(frame * 13, frame * 13 + 13) : null;
    if (kp && kp[12] > 0 && kp.every(Number.isFinite)) {
      // BlazeFace keypoints 0 (right eye) and 1 (left eye), stored y,x: MediaPipe's detection ROI rotation.
      const rotation = rotationFromPoints(kp[1] * image.width, kp[0] * image.height, kp[3] * image.width, kp[2] * image.height);
      return { roi: roiFromBox(box, image.width, image.height, rotation), tracked: false, points: null, score: 0 };
    }
    return { roi: roiFromBox(box, image.width, image.height, 0), tracked: true, points: null, score: 0 };
  }

  /** Crops, runs and projects the listed frames (one model call). */
  private async runLandmarks(frames: RgbImage[], results: FrameResult[], which: number[], input: Float32Array): Promise<void> {
    if (which.length === 0) return;
    which.forEach((i, slot) => imageToTensor(frames[i], results[i].roi!, LANDMARK_INPUT_SIZE, input, slot * LANDMARK_TENSOR_SIZE, this.cropOptions));
    const out = await this.landmarks.run(input, which.length);
    which.forEach((i, slot) => {
      const r = results[i];
      r.points = projectLandmarks(out.landmarks, slot * LANDMARK_VALUES, r.roi!, frames[i].width, frames[i].height, LANDMARK_INPUT_SIZE, r.points ?? new Float32Array(NUM_LANDMARKS * 3));
      r.score = sigmoid(out.logits[slot]);
    });
  }

  async dispose(): Promise<void> {
    await this.landmarks.dispose();
    await this.detector?.dispose();
  }
}
