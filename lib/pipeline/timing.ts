/**
 * Where a run's time goes (FACEMESH_TIMING=1, or FaceMesh.lastTiming; bench/bench.ts reads it). The pipeline's
 * stages report to a TimingRecorder they are given, so that they can run with no clock at all (tests) and the
 * bookkeeping stays out of their logic.
 */

/**
 * JS-thread stages (crop, post, waits, consumer) add up to about wallMs; the model times are spent on the
 * inference thread and overlap them.
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

/** Durations, in ms, summed per stage. */
export type TimedStage = "decodeWaitMs" | "cropMs" | "postMs" | "modelWaitMs" | "consumerMs" | "landmarkModelMs" | "detectorModelMs";
/** Counts summed per kind. */
export type CountedStage = "frames" | "batches" | "landmarkCrops" | "trackingRecrops" | "detectorFrames";

export interface TimingRecorder {
  /** A timestamp in ms (only differences of two are used). */
  now(): number;
  add(stage: TimedStage, ms: number): void;
  count(what: CountedStage, n?: number): void;
}

/** Runs `fn` and charges its duration to `stage`. */
export function timed<T>(recorder: TimingRecorder, stage: TimedStage, fn: () => T): T {
  const t = recorder.now();
  try {
    return fn();
  } finally {
    recorder.add(stage, recorder.now() - t);
  }
}

/** Awaits `p` and charges the wait to `stage`. */
export async function waited<T>(recorder: TimingRecorder, stage: TimedStage, p: Promise<T>): Promise<T> {
  const t = recorder.now();
  try {
    return await p;
  } finally {
    recorder.add(stage, recorder.now() - t);
  }
}

/** A recorder that records nothing (for code driven by tests). */
export const NO_TIMING: TimingRecorder = { now: () => 0, add: () => undefined, count: () => undefined };

/** The recorder a run uses: a PipelineTiming filled from performance.now() and process.cpuUsage(). */
export class RunTimer implements TimingRecorder {
  readonly timing: PipelineTiming;
  private readonly started = performance.now();
  private readonly cpuStart = process.cpuUsage();

  constructor(batchSize: number) {
    this.timing = {
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

  now(): number {
    return performance.now();
  }

  add(stage: TimedStage, ms: number): void {
    this.timing[stage] += ms;
  }

  count(what: CountedStage, n = 1): void {
    this.timing[what] += n;
  }

  /** Closes the run: wall and CPU time; prints the `facemesh-timing` line when FACEMESH_TIMING is set. */
  finish(): PipelineTiming {
    this.timing.wallMs = performance.now() - this.started;
    const cpu = process.cpuUsage(this.cpuStart);
    this.timing.cpuMs = (cpu.user + cpu.system) / 1000;
    if (process.env.FACEMESH_TIMING) process.stderr.write(`facemesh-timing ${JSON.stringify(this.timing)}\n`);
    return this.timing;
  }
}
