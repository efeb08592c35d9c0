/**
 * The one pipeline. Video frames and bbox rows flow to ROIs, to 192x192 tensors, through the model, to
 * landmarks, to SSI rows:
 *
 *   frames ─┬─ bbox row (+ keypoint row | previous frame's landmarks) ─ roiFromBox ──────┐
 *           └─ (no bbox stream) letterbox ─ BlazeFace ─ NMS ─ roiFromDetection ──────────┴─ imageToTensor ─
 *           face_landmark ─ sigmoid(flag), projectLandmarks ─ rows (y,x pairs + score)
 *
 * Frames are processed in batches of `batchSize`. The models run on the inference threads (lib/inference/
 * session.ts), so the stages overlap: ffmpeg decodes ahead in its own process (the next batch is pulled from its
 * socket while we wait for the model); without tracking, the JS thread crops batch k+1 while batch k is in the
 * model; with tracking, frame i is cropped while frame i-1 is in the model (see below). Tensors, model outputs and
 * landmark buffers are allocated once per run, two sets; frame buffers go back to the decoder when their batch is
 * written (RunOptions.framesDone). Memory is bounded by the batch size: at most three batches of frames and two of
 * tensors, never by the length of the video.
 *
 * FACEMESH_TIMING=1 in the environment prints one `facemesh-timing {json}` line per run to stderr: where the time
 * went (see PipelineTiming); bench/bench.ts reads it.
 *
 * Tracking (bbox mode): MediaPipe takes the ROI's rotation from the previous frame's landmarks, a strictly
 * sequential dependency. We follow it frame by frame, one model call per frame (trackFrames): while frame i-1 is
 * in the model, frame i is cropped at the last rotation known then, and cropped again only when frame i-1's
 * landmarks give a rotation more than TRACKING_TOLERANCE away. The rows do not depend on batch_size (batches
 * only set how many frames are prepared and written together): test/pipeline_tracking.test.ts compares them with
 * a strictly sequential reference written from the spec.
 */
import type { Detection, FaceLandmarks, RgbImage, Roi } from "./types.js";
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS, ROW_DIM } from "./types.js";
import { imageToTensor, type ImageToTensorOptions } from "./calculators/image_to_tensor.js";
import { roiFromDetection } from "./calculators/detection_to_roi.js";
import { roiFromLandmarks } from "./calculators/landmarks_to_roi.js";
import { roiFromBox, rotationFromPoints, normalizeRadians } from "./calculators/box_to_roi.js";
import { projectLandmarks, sigmoid } from "./calculators/landmark_projection.js";
import { classifyBox } from "./ssi/bbox.js";
import { FaceDetector, type DetectorKind, type DetectorOutputs } from "./inference/face_detector.js";
import { LandmarkModel, LANDMARK_TENSOR_SIZE, LANDMARK_VALUES, type LandmarkBatch, type LandmarkOutputs } from "./inference/landmark_model.js";
import type { Device, SessionSettings, SessionThread } from "./inference/session.js";
import type { Padding } from "./calculators/letterbox.js";
import { writeEmptyRow, writeLandmarkRow, type NoFaceValue } from "./rows.js";

/**
 * Half a degree. Measured on a talking head (test/pipeline_tracking.test.ts): a 1-degree change of the ROI
 * rotation moves the landmarks by 0.30% of the inter-ocular distance on average (p95 0.43%), so half a degree
 * keeps a skipped re-run well inside the 0.5% parity budget.
 */
export const TRACKING_TOLERANCE = (1 * Math.PI) / 180;

/** MediaPipe keeps a face when its landmark score is strictly above this (the solution's min_tracking_confidence). */
export const DEFAULT_MIN_SCORE = 0.5;

export interface FaceMeshConfig {
  /** Preference list of devices (first that loads); default cpu. */
  devices?: Device[];
  /** CPU threads for inference; default: all cores (inference/session.ts defaultThreads and threadLayout). */
  threads?: number;
  /** BlazeFace variant used when there is no bbox stream: "short" (MediaPipe face mesh's own) or "full" (small faces). */
  detector?: DetectorKind;
  /**
   * Image-to-tensor sampling convention for the detector's letterbox and the landmark crop, see
   * calculators/image_to_tensor.ts. Default true: MediaPipe's GL converter (texel centres), which its web pipeline
   * uses; `npm run parity` measured it to reproduce MediaPipe's landmarks exactly, where false (the OpenCV CPU
   * mapping) leaves 0.7% of the inter-ocular distance median and 2% p95.
   */
  halfPixel?: boolean;
  onFallback?: (message: string) => void;
  /** Where the models run (default: the inference thread); "main" is for measurements, see session.ts. */
  thread?: SessionThread;
  /** onnxruntime thread spinning (default off), see session.ts. */
  spinning?: boolean;
  /** Largest batch per onnxruntime call (default: session.ts CPU_MODEL_BATCH on the CPU, unlimited on GPUs). */
  modelBatch?: number;
  /** The provider's equivalent graph (default on), see inference/cpu_graph.ts. */
  graphRewrite?: boolean;
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
  /**
   * Called with each batch's frames once the pipeline will not read them again (after the batch's rows were
   * yielded), e.g. to give their buffers back to the decoder's FramePool. Frames of a run that stops early are
   * not handed back (they are simply collected).
   */
  framesDone?: (frames: readonly RgbImage[]) => void;
}

export interface RowBatch {
  /** count * ROW_DIM values. */
  rows: Float32Array;
  count: number;
  /** Index of the batch's first frame in the video. */
  firstFrame: number;
  /**
   * Per frame, the landmarks its row carries (x, y, z: FaceLandmarks.points; the rows have no z), or null. Views
   * of the pipeline's buffers: valid until the consumer asks for the next batch (the head pose reads them then).
   */
  points?: Array<Float32Array | null>;
}

/**
 * Where a run's time went (FACEMESH_TIMING=1, or FaceMesh.lastTiming). JS-thread stages (crop, post, waits,
 * consumer) add up to about wallMs; the model times are spent on the inference thread and overlap them.
 */
export interface PipelineTiming {
  frames: number;
  batches: number;
  batchSize: number;
  /** run() start to its end. */
  wallMs: number;
  /** CPU time of this process (all threads: JS, inference thread, onnxruntime's pool) over the same span. */
  cpuMs: number;
  /** JS thread waiting for decoded frames (ffmpeg slower than the rest, or the pipe read). */
  decodeWaitMs: number;
  /** JS thread cropping: landmark crops and detector letterboxes (imageToTensor). */
  cropMs: number;
  /** JS thread after the models: detection decoding + NMS, ROIs, landmark projection, rows. */
  postMs: number;
  /** JS thread waiting for the model (the inference thread is the bottleneck). */
  modelWaitMs: number;
  /** Time the consumer held each yielded batch (writing the stream). */
  consumerMs: number;
  /** Inside onnxruntime, landmark model (inference thread). */
  landmarkModelMs: number;
  /** Crops run through the landmark model (one per frame with a face ROI). */
  landmarkCrops: number;
  /** Tracked frames cropped a second time: their speculative rotation was more than the tolerance off. */
  trackingRecrops: number;
  /** Inside onnxruntime, detector. */
  detectorModelMs: number;
  detectorFrames: number;
}

function newTiming(batchSize: number): PipelineTiming {
  return {
    frames: 0,
    batches: 0,
    batchSize,
    wallMs: 0,
    cpuMs: 0,
    decodeWaitMs: 0,
    cropMs: 0,
    postMs: 0,
    modelWaitMs: 0,
    consumerMs: 0,
    landmarkModelMs: 0,
    landmarkCrops: 0,
    trackingRecrops: 0,
    detectorModelMs: 0,
    detectorFrames: 0,
  };
}

/** Buffers of one batch in flight, allocated once per run and reused by every other batch. */
interface BatchBuffers {
  landmarkInput: Float32Array;
  /** The landmark model's outputs, written in place by the inference threads. */
  landmarkOutput: LandmarkOutputs;
  /** Letterboxed frames for the detector (detection mode only). */
  detectorInput: Float32Array | null;
  detectorOutput: DetectorOutputs | null;
  /** One 468x3 landmark array per batch slot. */
  points: Float32Array[];
}

/** What tracking carries from one frame to the next. */
interface TrackState {
  /** Rotation of the last frame's landmarks, or null when that frame had no face. */
  rotation: number | null;
  /** The last face rotation known before the last frame: the speculative rotation of the next frame's crop. */
  spec: number;
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
  /** detect()'s input buffer, reused while no other detect() call holds it. */
  private detectInput: Float32Array | null = null;
  private detectInputBusy = false;
  /** Timing of the last finished run(). */
  lastTiming: PipelineTiming | null = null;

  private readonly halfPixel: boolean;

  private constructor(
    private readonly landmarks: LandmarkModel,
    private readonly settings: SessionSettings,
    private readonly detectorKind: DetectorKind,
    halfPixel: boolean,
  ) {
    this.cropOptions = { range: { min: 0, max: 1 }, border: "replicate", halfPixel };
    this.halfPixel = halfPixel;
  }

  static async create(config: FaceMeshConfig = {}): Promise<FaceMesh> {
    const settings: SessionSettings = {
      devices: config.devices ?? ["cpu"],
      threads: config.threads,
      onFallback: config.onFallback,
      thread: config.thread,
      spinning: config.spinning,
      modelBatch: config.modelBatch,
      graphRewrite: config.graphRewrite,
    };
    const landmarks = await LandmarkModel.load(settings);
    // Once a device is chosen for the landmark model, the detector uses the same one.
    return new FaceMesh(landmarks, { ...settings, devices: [landmarks.device] }, config.detector ?? "short", config.halfPixel ?? true);
  }

  get device(): Device {
    return this.landmarks.device;
  }

  /** The detector is loaded on first use: bbox-stream jobs never need it. */
  private async faceDetector(): Promise<FaceDetector> {
    this.detector ??= await FaceDetector.load(this.detectorKind, this.settings, this.halfPixel);
    return this.detector;
  }

  /** Faces in each image, most confident first (normalized to each image). */
  async detect(images: readonly RgbImage[]): Promise<Detection[][]> {
    const detector = await this.faceDetector();
    // Reuse one buffer across calls (the detect command calls this once per batch); a concurrent call gets its own.
    const reuse = !this.detectInputBusy;
    let input: Float32Array;
    if (reuse) {
      if (!this.detectInput || this.detectInput.length < images.length * detector.tensorSize) this.detectInput = detector.allocateInput(images.length);
      input = this.detectInput;
      this.detectInputBusy = true;
    } else {
      input = detector.allocateInput(images.length);
    }
    try {
      const paddings: Padding[] = images.map((img, i) => detector.prepare(img, input, i));
      return await detector.run(input, images.length, paddings);
    } finally {
      if (reuse) this.detectInputBusy = false;
    }
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
    const timing = newTiming(batchSize);
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    const hints = options.hints;
    const rowLimit = hints ? Math.floor(hints.boxes.length / 5) : Number.POSITIVE_INFINITY;
    const detector = hints ? null : await this.faceDetector();
    // Two sets of buffers: one batch in the model while the next is prepared.
    const buffers: BatchBuffers[] = [0, 1].map(() => ({
      landmarkInput: LandmarkModel.allocateInput(Math.max(batchSize, 2)),
      landmarkOutput: LandmarkModel.allocateOutputs(Math.max(batchSize, 2)),
      detectorInput: detector ? detector.allocateInput(batchSize) : null,
      detectorOutput: detector ? detector.allocateOutputs(batchSize) : null,
      points: Array.from({ length: batchSize }, () => new Float32Array(NUM_LANDMARKS * 3)),
    }));
    let state: Promise<TrackState> = Promise.resolve({ rotation: null, spec: 0 });
    let inflight: { job: Promise<{ batch: RowBatch; state: TrackState }>; frames: RgbImage[] } | null = null;
    let next = 0;
    let parity = 0;
    // Read-ahead: the next batch is being decoded (its frames read from ffmpeg's socket) while we wait for the model.
    const source = batches(frames, batchSize)[Symbol.asyncIterator]();
    const pull = (): Promise<IteratorResult<RgbImage[]>> => {
      const p = source.next();
      p.catch(() => undefined); // handled when awaited
      return p;
    };
    let pending: Promise<IteratorResult<RgbImage[]>> | null = pull();
    try {
      while (pending) {
        let t = performance.now();
        const step: IteratorResult<RgbImage[]> = await pending;
        timing.decodeWaitMs += performance.now() - t;
        pending = null;
        if (step.done) break;
        if (options.signal?.aborted) throw new Error("cancelled");
        const batch = step.value;
        const usable = Math.min(batch.length, rowLimit - next);
        if (usable <= 0) break;
        const frameBatch = usable < batch.length ? batch.slice(0, usable) : batch;
        const job = this.processBatch(frameBatch, next, options, buffers[parity], state, timing);
        state = job.then((r) => r.state);
        // Keep the rejections handled until we await them below.
        job.catch(() => undefined);
        state.catch(() => undefined);
        next += frameBatch.length;
        parity ^= 1;
        if (usable === batch.length && next < rowLimit) pending = pull();
        if (inflight) yield* this.finishBatch(inflight, options, timing);
        inflight = { job, frames: frameBatch };
      }
      if (inflight) yield* this.finishBatch(inflight, options, timing);
    } finally {
      // Stops the decoder (kills ffmpeg) when we leave early; waits for a read-ahead still in progress.
      await source.return(undefined).catch(() => undefined);
    }
    timing.wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStart);
    timing.cpuMs = (cpu.user + cpu.system) / 1000;
    this.lastTiming = timing;
    if (process.env.FACEMESH_TIMING) process.stderr.write(`facemesh-timing ${JSON.stringify(timing)}\n`);
  }

  /** Waits for a batch in flight, yields its rows, then hands its frames back (framesDone). */
  private async *finishBatch(
    inflight: { job: Promise<{ batch: RowBatch }>; frames: RgbImage[] },
    options: RunOptions,
    timing: PipelineTiming,
  ): AsyncGenerator<RowBatch> {
    let t = performance.now();
    const done = await inflight.job;
    timing.modelWaitMs += performance.now() - t;
    t = performance.now();
    yield done.batch;
    timing.consumerMs += performance.now() - t;
    options.framesDone?.(inflight.frames);
  }

  private async processBatch(
    frames: RgbImage[],
    firstFrame: number,
    options: RunOptions,
    buffers: BatchBuffers,
    previous: Promise<TrackState>,
    timing: PipelineTiming,
  ): Promise<{ batch: RowBatch; state: TrackState }> {
    const n = frames.length;
    const results: FrameResult[] = new Array(n);
    const hints = options.hints;

    // 1. ROIs: from the bbox stream, or from the detector.
    if (hints) {
      for (let i = 0; i < n; i++) results[i] = this.roiFromHints(hints, firstFrame + i, frames[i]);
    } else {
      const detector = await this.faceDetector();
      const input = buffers.detectorInput!;
      let t = performance.now();
      const paddings: Padding[] = frames.map((img, i) => detector.prepare(img, input, i));
      timing.cropMs += performance.now() - t;
      const { detections, ms } = await detector.runTimed(input, n, paddings, buffers.detectorOutput!);
      timing.detectorModelMs += ms;
      timing.detectorFrames += n;
      t = performance.now();
      for (let i = 0; i < n; i++) {
        const best = detections[i][0];
        results[i] = { roi: best ? roiFromDetection(best, frames[i].width, frames[i].height) : null, tracked: false, points: null, score: 0 };
      }
      timing.postMs += performance.now() - t;
    }

    // 2. Landmarks. Tracking: frame by frame (trackFrames); otherwise the whole batch in one call.
    const trackingOn = options.tracking && hints !== undefined;
    let state: TrackState;
    if (trackingOn) {
      state = await this.trackFrames(frames, results, await previous, options.minScore, buffers, timing);
    } else {
      await this.runLandmarks(frames, results, results.map((_, i) => i).filter((i) => results[i].roi !== null), buffers, timing);
      state = { rotation: this.faceRotation(results[n - 1], frames[n - 1], options.minScore), spec: 0 };
    }
    const t = performance.now();

    // 3. Rows.
    const rows = new Float32Array(n * ROW_DIM);
    for (let i = 0; i < n; i++) {
      const r = results[i];
      if (r.points && r.score > options.minScore) writeLandmarkRow(rows, i * ROW_DIM, r.points, r.score);
      else writeEmptyRow(rows, i * ROW_DIM, r.score, options.noFace);
    }
    timing.postMs += performance.now() - t;
    timing.frames += n;
    timing.batches++;
    const points = results.map((r) => (r.points && r.score > options.minScore ? r.points : null));
    return { batch: { rows, count: n, firstFrame, points }, state };
  }

  /**
   * Tracking, MediaPipe's way: each tracked frame's ROI takes the rotation of the previous frame's landmarks, one
   * model call per frame. While frame i-1 is in the model, frame i is cropped at the last rotation known then
   * (frame i-2's, or the last face before it); when frame i-1's landmarks arrive and their rotation is more than
   * TRACKING_TOLERANCE away, frame i is cropped again. The result is exactly that of batch_size 1, whatever
   * batch_size is: batches only set how many frames are prepared and written together.
   */
  private async trackFrames(
    frames: RgbImage[],
    results: FrameResult[],
    start: TrackState,
    minScore: number,
    buffers: BatchBuffers,
    timing: PipelineTiming,
  ): Promise<TrackState> {
    const n = frames.length;
    const input = buffers.landmarkInput;
    const crop = (i: number, slot: number): void => {
      const t = performance.now();
      imageToTensor(frames[i], results[i].roi!, LANDMARK_INPUT_SIZE, input, slot * LANDMARK_TENSOR_SIZE, this.cropOptions);
      timing.cropMs += performance.now() - t;
    };
    const finish = async (i: number, call: Promise<LandmarkBatch>): Promise<void> => {
      let t = performance.now();
      const out = await call;
      timing.modelWaitMs += performance.now() - t;
      timing.landmarkModelMs += out.ms;
      timing.landmarkCrops++;
      t = performance.now();
      const r = results[i];
      r.points = projectLandmarks(out.landmarks, 0, r.roi!, frames[i].width, frames[i].height, LANDMARK_INPUT_SIZE, buffers.points[i]);
      r.score = sigmoid(out.logits[0]);
      timing.postMs += performance.now() - t;
    };
    let spec = start.spec; // last face rotation among the frames before the previous one
    let previous = start.rotation; // rotation of the previous frame's landmarks (null: no face)
    let pending: Promise<LandmarkBatch> | null = null; // frame i-1 in the model
    for (let i = 0; i < n; i++) {
      const r = results[i];
      const slot = i & 1;
      if (r.roi) {
        if (r.tracked) r.roi.rotation = spec;
        crop(i, slot);
      }
      if (i > 0) {
        if (pending) await finish(i - 1, pending);
        previous = this.faceRotation(results[i - 1], frames[i - 1], minScore);
      }
      if (r.roi && r.tracked) {
        const wanted = previous ?? 0;
        if (Math.abs(normalizeRadians(wanted - r.roi.rotation)) > TRACKING_TOLERANCE) {
          r.roi.rotation = wanted;
          crop(i, slot);
          timing.trackingRecrops++;
        }
      }
      if (previous !== null) spec = previous;
      // Outputs in slot `slot` too: frame i's are read (finish) before frame i+2 reuses the slot.
      const out = buffers.landmarkOutput;
      pending = r.roi
        ? this.landmarks.run(input.subarray(slot * LANDMARK_TENSOR_SIZE), 1, { landmarks: out.landmarks.subarray(slot * LANDMARK_VALUES), logits: out.logits.subarray(slot) })
        : null;
      pending?.catch(() => undefined);
    }
    if (pending) await finish(n - 1, pending);
    return { rotation: this.faceRotation(results[n - 1], frames[n - 1], minScore), spec };
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

  /** Crops, runs and projects the listed frames (one model call); landmarks go to the batch's point buffers, by frame. */
  private async runLandmarks(frames: RgbImage[], results: FrameResult[], which: number[], buffers: BatchBuffers, timing: PipelineTiming): Promise<void> {
    if (which.length === 0) return;
    const input = buffers.landmarkInput;
    let t = performance.now();
    which.forEach((i, slot) => imageToTensor(frames[i], results[i].roi!, LANDMARK_INPUT_SIZE, input, slot * LANDMARK_TENSOR_SIZE, this.cropOptions));
    timing.cropMs += performance.now() - t;
    const out = await this.landmarks.run(input, which.length, buffers.landmarkOutput);
    timing.landmarkModelMs += out.ms;
    timing.landmarkCrops += which.length;
    t = performance.now();
    which.forEach((i, slot) => {
      const r = results[i];
      r.points = projectLandmarks(out.landmarks, slot * LANDMARK_VALUES, r.roi!, frames[i].width, frames[i].height, LANDMARK_INPUT_SIZE, buffers.points[i]);
      r.score = sigmoid(out.logits[slot]);
    });
    timing.postMs += performance.now() - t;
  }

  async dispose(): Promise<void> {
    await this.landmarks.dispose();
    await this.detector?.dispose();
  }
}
