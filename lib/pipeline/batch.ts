/**
 * One batch of frames to rows (the scheduler's BatchJob), in one of three modes:
 *   static  no bbox stream, tracking off: the detector on every frame (one call per batch), the most confident
 *           face's ROI, the whole batch through the landmark model in one call (MediaPipe's static_image_mode);
 *   video   no bbox stream, tracking on: tracking.ts followFaces, the detector only when no face is tracked;
 *   bbox    ROIs from the bbox rows; with tracking, their rotation from tracking.ts trackFrames, frame by frame.
 * Buffers are allocated once per run, one set per scheduler slot.
 */
import type { RgbImage, Roi } from "../types.js";
import { roiFromDetection } from "../calculators/detection_to_roi.js";
import type { Padding } from "../calculators/letterbox.js";
import type { FaceDetector, DetectorOutputs } from "../inference/face_detector.js";
import type { LandmarkBatch, LandmarkOutputs } from "../inference/landmark_model.js";
import type { NoFaceValue } from "../rows.js";
import { planFromHints, type BoxHints } from "./box_rois.js";
import { FaceFinder } from "./face_finder.js";
import { SKIP, SKIPPED, faceOf, resultRows, type FramePlan, type FrameResult } from "./frame_result.js";
import type { LandmarkStage } from "./landmark_stage.js";
import type { JoinedLandmarkCalls } from "./joined_calls.js";
import type { RowBatch } from "./scheduler.js";
import { timed, waited, type TimingRecorder } from "./timing.js";
import { carriedRotation, followFaces, trackFrames, type TrackState, type TrackedFrame, type TrackingOps } from "./tracking.js";

export interface BatchSettings {
  batchSize: number;
  minScore: number;
  noFace: NoFaceValue;
  tracking: boolean;
  hints?: BoxHints;
}

/** Buffers of one batch in flight. */
interface BatchBuffers {
  landmarkInput: Float32Array;
  /** The landmark model's outputs, written in place by the inference threads. */
  landmarkOutput: LandmarkOutputs;
  /** Letterboxed frames for the detector (detection mode only). */
  detectorInput: Float32Array | null;
  detectorOutput: DetectorOutputs | null;
  /** One landmark array per batch slot. */
  points: Float32Array[];
}

export type PipelineMode = "static" | "video" | "bbox";

export function pipelineMode(settings: Pick<BatchSettings, "hints" | "tracking">): PipelineMode {
  return settings.hints ? "bbox" : settings.tracking ? "video" : "static";
}

/** Whether a run in these settings needs the detector: static and video mode, and bbox mode where tracks start. */
export function needsDetector(settings: Pick<BatchSettings, "hints" | "tracking">): boolean {
  return !settings.hints || settings.tracking;
}

export class BatchRunner {
  private readonly buffers: BatchBuffers[];
  private readonly mode: PipelineMode;
  /** Static mode's detector (one call per batch). */
  private readonly batchDetector: FaceDetector | null;
  /** Where tracks start (video mode, bbox mode with tracking). */
  private readonly finder: FaceFinder | null;

  constructor(
    private readonly stage: LandmarkStage,
    /** Present when needsDetector(settings). */
    detector: FaceDetector | null,
    private readonly settings: BatchSettings,
    private readonly timer: TimingRecorder,
    /** Tracking's one-face calls joined with other chains' (segments side by side); absent: calls of its own. */
    private readonly joined?: JoinedLandmarkCalls,
  ) {
    const { batchSize } = settings;
    this.mode = pipelineMode(settings);
    if (needsDetector(settings) && !detector) throw new Error(`BatchRunner: ${this.mode} mode needs the detector`);
    this.finder = detector && settings.tracking ? new FaceFinder(detector, timer) : null;
    const batchDetector = (this.batchDetector = this.mode === "static" ? detector : null);
    // Two sets: one batch in the model while the next is prepared.
    this.buffers = [0, 1].map(() => ({
      landmarkInput: stage.allocateInput(Math.max(batchSize, 2)),
      landmarkOutput: stage.allocateOutputs(Math.max(batchSize, 2)),
      detectorInput: batchDetector ? batchDetector.allocateInput(batchSize) : null,
      detectorOutput: batchDetector ? batchDetector.allocateOutputs(batchSize) : null,
      points: Array.from({ length: batchSize }, () => stage.allocatePoints()),
    }));
  }

  /** The scheduler's BatchJob. */
  readonly process = async (frames: RgbImage[], firstFrame: number, slot: 0 | 1, previous: Promise<TrackState>): Promise<{ batch: RowBatch; state: TrackState }> => {
    const n = frames.length;
    const { hints, minScore } = this.settings;
    const buffers = this.buffers[slot];
    let results: FrameResult[];
    let state: TrackState;
    if (this.mode === "video") {
      ({ results, state } = await followFaces(frames, await previous, minScore, this.trackingOps(frames, buffers)));
    } else if (this.mode === "bbox" && this.settings.tracking) {
      const plans = frames.map((f, i) => planFromHints(hints!, firstFrame + i, f));
      const tracked: TrackedFrame[] = frames.map((f, i) => ({ width: f.width, height: f.height, plan: plans[i] }));
      ({ results, state } = await trackFrames(tracked, await previous, minScore, this.trackingOps(frames, buffers)));
    } else {
      const plans = hints ? frames.map((f, i) => planFromHints(hints, firstFrame + i, f)) : await this.detect(frames, buffers);
      results = await this.landmarks(frames, plans, buffers);
      state = { rotation: carriedRotation(results[n - 1], frames[n - 1].width, frames[n - 1].height, minScore), spec: 0, roi: null, turn: null };
    }
    const rows = timed(this.timer, "postMs", () => resultRows(results, minScore, this.settings.noFace, this.stage.numLandmarks));
    // The landmarks behind each row (z included), for consumers that need more than the rows (head pose).
    const points = results.map((r) => faceOf(r, minScore)?.points ?? null);
    this.timer.count("frames", n);
    this.timer.count("batches");
    return { batch: { rows, count: n, firstFrame, points }, state };
  };

  /** Static mode: the most confident detection of each frame, its ROI rotated by its eyes. */
  private async detect(frames: RgbImage[], buffers: BatchBuffers): Promise<FramePlan[]> {
    const detector = this.batchDetector;
    const input = buffers.detectorInput;
    const output = buffers.detectorOutput;
    if (!detector || !input || !output) throw new Error("BatchRunner: static mode without its detector");
    const paddings: Padding[] = timed(this.timer, "cropMs", () => frames.map((img, i) => detector.prepare(img, input, i)));
    const { detections, ms } = await detector.runTimed(input, frames.length, paddings, output);
    this.timer.add("detectorModelMs", ms);
    this.timer.count("detectorFrames", frames.length);
    return timed(this.timer, "postMs", () =>
      frames.map((f, i): FramePlan => {
        const best = detections[i][0];
        return best ? { kind: "roi", roi: roiFromDetection(best, f.width, f.height), tracked: false } : SKIP;
      }),
    );
  }

  /** The model as tracking drives it: crops and outputs alternating between two slots of the batch buffers. */
  private trackingOps(frames: RgbImage[], buffers: BatchBuffers): TrackingOps<LandmarkBatch> {
    return {
      crop: (i, roi, slot) => timed(this.timer, "cropMs", () => this.stage.crop(frames[i], roi, buffers.landmarkInput, slot)),
      // Outputs in slot `slot` too: frame i's are read (finish) before frame i+2 reuses the slot.
      infer: (slot) => (this.joined ? this.joined.infer(buffers.landmarkInput, slot, buffers.landmarkOutput) : this.stage.infer(buffers.landmarkInput, 1, buffers.landmarkOutput, slot)),
      finish: async (i, roi, call) => {
        const out = await waited(this.timer, "modelWaitMs", call);
        this.timer.add("landmarkModelMs", out.ms);
        this.timer.count("landmarkCrops");
        return timed(this.timer, "postMs", () => this.stage.project(out, 0, roi, frames[i], buffers.points[i]));
      },
      recropped: () => this.timer.count("trackingRecrops"),
      startTrack: async (i, near, turn) => {
        const f = frames[i];
        if (!this.finder) throw new Error("BatchRunner: a track starts without the detector");
        const found = await this.finder.find(f, near ? { kind: "box", roi: near } : { kind: "frame" }, turn);
        if (!found) return null;
        const roi: Roi = near
          ? { ...near, rotation: roiFromDetection(found.detection, f.width, f.height).rotation }
          : roiFromDetection(found.detection, f.width, f.height);
        return { roi, turn: found.turn };
      },
    };
  }

  /** Without tracking: every frame with a ROI in one model call. */
  private async landmarks(frames: RgbImage[], plans: FramePlan[], buffers: BatchBuffers): Promise<FrameResult[]> {
    const results: FrameResult[] = new Array<FrameResult>(frames.length).fill(SKIPPED);
    const which = plans.flatMap((p, i) => (p.kind === "roi" ? [{ i, roi: p.roi }] : []));
    if (which.length === 0) return results;
    const input = buffers.landmarkInput;
    timed(this.timer, "cropMs", () => which.forEach(({ i, roi }, slot) => this.stage.crop(frames[i], roi, input, slot)));
    const out = await this.stage.infer(input, which.length, buffers.landmarkOutput);
    this.timer.add("landmarkModelMs", out.ms);
    this.timer.count("landmarkCrops", which.length);
    timed(this.timer, "postMs", () =>
      which.forEach(({ i, roi }, slot) => {
        results[i] = { kind: "landmarks", roi, landmarks: this.stage.project(out, slot, roi, frames[i], buffers.points[i]) };
      }),
    );
    return results;
  }
}
