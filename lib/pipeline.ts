/**
 * The one pipeline, its public front. Video frames and bbox rows flow to ROIs, to 192x192 tensors, through the
 * model, to landmarks, to SSI rows:
 *
 *   frames ─┬─ bbox row (+ keypoint row | previous landmarks' eye line | BlazeFace's eyes) ─ roiFromBox ─┐
 *           ├─ (video mode) previous frame's landmarks ─ roiFromLandmarks ─────────────────────────────┤
 *           └─ (static mode; video mode without a track) BlazeFace ─ NMS ─ roiFromDetection ───────────┴─
 *           imageToTensor ─ face_landmark (or, refineLandmarks, the attention model) ─ sigmoid(flag),
 *           projectLandmarks ─ rows (y,x pairs + score)
 *
 * The rooms behind it (lib/pipeline/):
 *   scheduler.ts       batches, read-ahead, double buffers, frame hand-back (RunOptions.framesDone)
 *   batch.ts           one batch in one of the three modes (static, video, bbox): ROIs, landmarks, rows
 *   tracking.ts        the tracking state machine (rotation, re-crop decision, track lost), model injected
 *   face_finder.ts     where a track starts: BlazeFace, at the other quarter turns when upright finds nothing
 *   landmark_stage.ts  the seam around the landmark model: crop, infer, project
 *   box_rois.ts        ROIs from bbox and keypoint rows
 *   frame_result.ts    per-frame plans and results, rows
 *   timing.ts          where the time went (FACEMESH_TIMING=1 prints one `facemesh-timing {json}` line per run)
 *
 * Memory is bounded by the batch size: at most three batches of frames and two of tensors, never by the length
 * of the video.
 */
import type { Detection, FaceLandmarks, RgbImage, Roi } from "./types.js";
import { roiFromDetection } from "./calculators/detection_to_roi.js";
import { FaceDetector, type DetectorKind } from "./inference/face_detector.js";
import { LandmarkModel } from "./inference/landmark_model.js";
import type { Device, SessionSettings, SessionThread } from "./inference/session.js";
import { rowDimFor, type NoFaceValue } from "./rows.js";
import { hintRows, type BoxHints } from "./pipeline/box_rois.js";
import { BatchRunner, needsDetector, pipelineMode, type PipelineMode } from "./pipeline/batch.js";
import { LandmarkStage } from "./pipeline/landmark_stage.js";
import { JoinedLandmarkCalls } from "./pipeline/joined_calls.js";
import { ReusableBuffer, scheduleBatches, type RowBatch } from "./pipeline/scheduler.js";
import { RunTimer, type PipelineTiming } from "./pipeline/timing.js";
import { NO_TRACK, TRACKING_TOLERANCE, type TrackState } from "./pipeline/tracking.js";

export type { BoxHints, PipelineMode, PipelineTiming, RowBatch, JoinedLandmarkCalls, TrackState };
export { TRACKING_TOLERANCE, pipelineMode };

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
  /**
   * MediaPipe's refine_landmarks: the attention model, 478 points per face (irises 468..477), rows of
   * 478 * 2 + 1 values. Default false (face_landmark, 468 points).
   */
  refineLandmarks?: boolean;
}

export interface RunOptions {
  batchSize: number;
  /** Rows with score <= minScore carry the score but no landmarks. */
  minScore: number;
  noFace: NoFaceValue;
  /**
   * Without a bbox stream: video mode (true: the detector only when no face is tracked, each ROI from the previous
   * frame's landmarks) or static mode (false: the detector on every frame). With one: each ROI's rotation from
   * the previous frame's landmarks and, where a track starts, from the detector's eyes (true), or rotation 0 /
   * the keypoint row's eyes (false). See lib/pipeline/batch.ts.
   */
  tracking: boolean;
  /** Bbox mode: the ROIs' centres and sizes from these rows. Absent: faces come from the detector. */
  hints?: BoxHints;
  signal?: AbortSignal;
  /**
   * Index in the video of the first frame given (a segment's start, lib/segments.ts): the bbox rows are read from
   * there, and the row batches are numbered from there. Default 0.
   */
  firstFrame?: number;
  /**
   * Tracking's model calls joined with other runs' (FaceMesh.joinedCalls): runs side by side share each call. The
   * run joins when it starts and leaves when it ends.
   */
  joined?: JoinedLandmarkCalls;
  /**
   * Tracking's state before the first frame (default: no track): the state another run ended with on the frame
   * before (finalState), so that the two runs give the rows of one.
   */
  initialState?: TrackState;
  /** Told tracking's state after the last frame, once all rows were yielded. */
  finalState?: (state: TrackState) => void;
  /** Told tracking's state after each batch (the state before frame `next`), when its rows are yielded. */
  batchState?: (next: number, state: TrackState) => void;
  /**
   * Called with each batch's frames once the pipeline will not read them again (after the batch's rows were
   * yielded), e.g. to give their buffers back to the decoder's FramePool. Frames of a run that stops early are
   * not handed back (they are simply collected).
   */
  framesDone?: (frames: readonly RgbImage[]) => void;
}

export class FaceMesh {
  private detector: FaceDetector | null = null;
  /** detect()'s input buffer, reused while no other detect() call holds it. */
  private readonly detectInput = new ReusableBuffer();
  /** Timing of the last finished run(). */
  lastTiming: PipelineTiming | null = null;

  private constructor(
    private readonly stage: LandmarkStage,
    private readonly settings: SessionSettings,
    private readonly detectorKind: DetectorKind,
    private readonly halfPixel: boolean,
  ) {}

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
    const halfPixel = config.halfPixel ?? true;
    const landmarks = await LandmarkModel.load(settings, config.refineLandmarks ? "face_landmark_with_attention" : "face_landmark");
    // Once a device is chosen for the landmark model, the detector uses the same one.
    return new FaceMesh(new LandmarkStage(landmarks, halfPixel), { ...settings, devices: [landmarks.device] }, config.detector ?? "short", halfPixel);
  }

  get device(): Device {
    return this.stage.device;
  }

  /** Landmarks per face: 468, or 478 with refineLandmarks. */
  get pointsPerFace(): number {
    return this.stage.numLandmarks;
  }

  /** Values per output row: a y,x pair per landmark, then the score. */
  get rowDim(): number {
    return rowDimFor(this.stage.numLandmarks);
  }

  /** The detector is loaded on first use: bbox-stream jobs never need it. */
  private async faceDetector(): Promise<FaceDetector> {
    this.detector ??= await FaceDetector.load(this.detectorKind, this.settings, this.halfPixel);
    return this.detector;
  }

  /** Faces in each image, most confident first (normalized to each image). */
  async detect(images: readonly RgbImage[]): Promise<Detection[][]> {
    const detector = await this.faceDetector();
    return this.detectInput.with(
      images.length * detector.tensorSize,
      (length) => detector.allocateInput(length / detector.tensorSize),
      (input) => detector.run(input, images.length, images.map((img, i) => detector.prepare(img, input, i))),
    );
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

  /** A meeting point for runs side by side whose tracking calls are to be joined (RunOptions.joined). */
  joinedCalls(): JoinedLandmarkCalls {
    return new JoinedLandmarkCalls(this.stage);
  }

  /** Landmarks for one ROI per image (one batch). */
  async landmarksFor(images: readonly RgbImage[], rois: readonly Roi[]): Promise<FaceLandmarks[]> {
    const input = this.stage.allocateInput(images.length);
    images.forEach((img, i) => this.stage.crop(img, rois[i], input, i));
    const out = await this.stage.infer(input, images.length);
    return images.map((img, i) => this.stage.project(out, i, rois[i], img));
  }

  /**
   * Frames in, SSI rows out, batch by batch. Stops at the end of the frames or of the bbox rows, whichever
   * comes first (the caller compares counts and warns).
   */
  async *run(frames: AsyncIterable<RgbImage>, options: RunOptions): AsyncGenerator<RowBatch> {
    const { batchSize, hints } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch_size must be a positive integer, got ${batchSize}`);
    const timer = new RunTimer(batchSize);
    // Joined before the first await: the other runs must not start a call without this one.
    const leave = options.joined?.join();
    try {
      const detector = needsDetector(options) ? await this.faceDetector() : null;
      const runner = new BatchRunner(this.stage, detector, options, timer, options.joined);
      yield* scheduleBatches(
        frames,
        options.initialState ?? NO_TRACK,
        {
          batchSize,
          rowLimit: hints ? hintRows(hints) : Number.POSITIVE_INFINITY,
          firstFrame: options.firstFrame,
          signal: options.signal,
          framesDone: options.framesDone,
          finalState: options.finalState,
          batchState: options.batchState,
        },
        runner.process,
        timer,
      );
    } finally {
      leave?.();
    }
    this.lastTiming = timer.finish();
  }

  async dispose(): Promise<void> {
    await this.stage.dispose();
    await this.detector?.dispose();
  }
}
