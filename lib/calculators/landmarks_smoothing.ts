/**
 * Landmark smoothing over time: MediaPipe's LandmarksSmoothingCalculator with its one_euro_filter, as the
 * FaceLandmarker task wires it (node "LandmarksSmoothingCalculator" in MultiFaceLandmarksDetectorGraph, present
 * when smooth_landmarks is on: video mode with num_faces 1). Parameters: min_cutoff 0.05 Hz, beta 80, derivative
 * cutoff 1 Hz (MEDIAPIPE.md §8). The 2022 face-mesh solution, whose rows this project reproduces, has no smoothing,
 * so this is an optional stage after the pipeline (smoothing=one_euro), never inside it.
 *
 * How it works (the 1€ filter of Casiez et al., CHI 2012, as MediaPipe runs it):
 * - every coordinate of every landmark, in pixels, is its own filter: an exponential moving average whose weight
 *   alpha = 1 / (1 + tau / Te) comes from a cutoff frequency (tau = 1 / (2 pi cutoff), Te = time since the last
 *   sample);
 * - the cutoff rises with speed: cutoff = min_cutoff + beta * |speed|, speed being the change since the last raw
 *   sample per second, divided by the face size ((width + height) / 2 of the landmarks' axis-aligned box, in
 *   pixels), itself low-passed at the derivative cutoff. A still face is smoothed hard (alpha ~0.01 at 30 fps),
 *   a moving one hardly at all (alpha ~0.94), whatever its size in the picture;
 * - the first sample of a track passes unchanged (speed 0); a row without a face resets every filter, so a new
 *   track starts fresh; a time not after the previous sample's passes unchanged and is not remembered.
 * One deviation: MediaPipe takes timestamp 0 to mean "no previous sample", so there a track that starts at
 * exactly t = 0 passes its first two samples unchanged. Here the previous sample is tracked explicitly.
 */
import { rowDimFor, rowHasFace } from "../rows.js";
import { NUM_LANDMARKS } from "../types.js";

export interface OneEuroParams {
  /** Hz: the cutoff of a landmark that does not move. Lower: steadier, more lag. */
  minCutoff: number;
  /** How fast the cutoff rises with speed (in face sizes per second). Higher: less lag when moving. */
  beta: number;
  /** Hz: cutoff of the low-pass on the speed itself. */
  derivativeCutoff: number;
  /** Hz: the sampling rate assumed before two samples give one (it only matters for the first sample, where the filters pass the value). */
  frequency: number;
  /** Face sizes (pixels) below this pass unchanged: their speed cannot be scaled. */
  minObjectScale: number;
}

/** FaceLandmarker's settings (ConfigureLandmarksSmoothingCalculator) and the calculator's proto defaults for the rest. */
export const FACE_LANDMARKER_ONE_EURO: Readonly<OneEuroParams> = Object.freeze({
  minCutoff: 0.05,
  beta: 80,
  derivativeCutoff: 1,
  frequency: 30,
  minObjectScale: 1e-6,
});

/** Weight of the new sample in a first-order low-pass with the given cutoff (Hz), sampled at `frequency` (Hz). */
export function oneEuroAlpha(cutoff: number, frequency: number): number {
  const te = 1 / frequency;
  const tau = 1 / (2 * Math.PI * cutoff);
  return 1 / (1 + tau / te);
}

/** One scalar signal through the 1€ filter. */
export class OneEuroFilter {
  private lastTime: number | undefined;
  private frequency: number;
  private started = false;
  private lastRaw = 0;
  private filtered = 0;
  private speed = 0;

  constructor(private readonly params: Readonly<OneEuroParams> = FACE_LANDMARKER_ONE_EURO) {
    this.frequency = params.frequency;
  }

  /**
   * The filtered value of `value` at `time` (seconds). `valueScale` turns a change of the value into the unit the
   * speed is measured in (1 / face size for landmarks).
   */
  apply(time: number, valueScale: number, value: number): number {
    if (this.lastTime !== undefined && !(time > this.lastTime)) return value;
    if (this.lastTime !== undefined) this.frequency = 1 / (time - this.lastTime);
    this.lastTime = time;
    const p = this.params;
    if (!this.started) {
      this.started = true;
      this.lastRaw = value;
      this.filtered = value;
      this.speed = 0;
      return value;
    }
    const rawSpeed = (value - this.lastRaw) * valueScale * this.frequency;
    this.speed += oneEuroAlpha(p.derivativeCutoff, this.frequency) * (rawSpeed - this.speed);
    const alpha = oneEuroAlpha(p.minCutoff + p.beta * Math.abs(this.speed), this.frequency);
    this.filtered = alpha * value + (1 - alpha) * this.filtered;
    this.lastRaw = value;
    return this.filtered;
  }
}

/** (width + height) / 2 of the axis-aligned box around the points (x, y pairs), MediaPipe's object scale. */
export function objectScale(xy: ArrayLike<number>): number {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i + 1 < xy.length; i += 2) {
    const x = xy[i]!;
    const y = xy[i + 1]!;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return (maxX - minX + (maxY - minY)) / 2;
}

/** One face's landmarks over time: a 1€ filter per coordinate, all scaled by the face's size. */
export class LandmarksSmoother {
  private filters: OneEuroFilter[] | null = null;

  constructor(private readonly params: Readonly<OneEuroParams> = FACE_LANDMARKER_ONE_EURO) {}

  /** The track is lost: the next landmarks start a new one. */
  reset(): void {
    this.filters = null;
  }

  /** Smoothed copy of `xy` (x, y pairs in pixels) at `time` seconds. */
  apply(time: number, xy: ArrayLike<number>): Float64Array {
    const out = Float64Array.from(xy);
    if (!this.filters) this.filters = Array.from({ length: xy.length }, () => new OneEuroFilter(this.params));
    else if (this.filters.length !== xy.length) throw new Error(`landmark smoothing: ${xy.length / 2} landmarks after ${this.filters.length / 2}`);
    const scale = objectScale(xy);
    if (!(scale >= this.params.minObjectScale)) return out;
    for (let i = 0; i < out.length; i++) out[i] = this.filters[i]!.apply(time, 1 / scale, out[i]!);
    return out;
  }
}

/**
 * The same on output rows (468 normalized (y, x) pairs, or 478 with refine_landmarks, then the score) of frames
 * `width` x `height`: filtering happens in pixels, as MediaPipe does with the frame size (IMAGE_SIZE), and the row
 * keeps its score. A row without a face (rowHasFace) resets the track and passes unchanged. With 478 points the
 * irises are smoothed with the rest, as FaceLandmarker smooths all its landmarks; they lie inside the mesh's box,
 * so the face size that scales the speed is the same.
 */
export class RowSmoother {
  private readonly smoother: LandmarksSmoother;
  private readonly xy: Float64Array;
  private readonly dim: number;

  constructor(
    private readonly width: number,
    private readonly height: number,
    params: Readonly<OneEuroParams> = FACE_LANDMARKER_ONE_EURO,
    private readonly points = NUM_LANDMARKS,
  ) {
    this.smoother = new LandmarksSmoother(params);
    this.xy = new Float64Array(points * 2);
    this.dim = rowDimFor(points);
  }

  /** Writes the smoothed row `src[srcOffset ..]` at `time` seconds to `dst[dstOffset ..]` (may be the same place). */
  apply(time: number, src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number): void {
    const { width, height, xy, points, dim } = this;
    if (!rowHasFace(src, srcOffset, dim)) {
      this.smoother.reset();
      dst.set(src.subarray(srcOffset, srcOffset + dim), dstOffset);
      return;
    }
    // Pixels: a float32 coordinate times a frame side below 2^29 is exact in a double, so pass-through values
    // (the first sample of a track) come back bit for bit after the division.
    for (let i = 0; i < points; i++) {
      xy[2 * i] = src[srcOffset + 2 * i + 1]! * width;
      xy[2 * i + 1] = src[srcOffset + 2 * i]! * height;
    }
    const out = this.smoother.apply(time, xy);
    const score = src[srcOffset + dim - 1]!;
    for (let i = 0; i < points; i++) {
      dst[dstOffset + 2 * i] = out[2 * i + 1]! / height;
      dst[dstOffset + 2 * i + 1] = out[2 * i]! / width;
    }
    dst[dstOffset + dim - 1] = score;
  }
}

/** What the smoothing stage needs of a batch of rows (lib/pipeline.ts RowBatch has it). */
export interface RowBatchLike {
  rows: Float32Array;
  count: number;
  /** Index of the batch's first frame in the video. */
  firstFrame: number;
  /** Per frame, the landmarks (x, y, z) behind the row, or null (RowBatch.points). */
  points?: Array<Float32Array | null>;
}

/**
 * A frame's landmarks with x, y taken from its (smoothed) row and z kept, so that what is computed from the
 * landmarks (the head pose) sees the landmarks the row carries. A copy: the pipeline's buffers stay as they were.
 */
export function pointsWithRowXY(points: Float32Array, rows: Float32Array, offset: number, count: number): Float32Array {
  const out = points.slice();
  for (let i = 0; i < count; i++) {
    out[3 * i] = rows[offset + 2 * i + 1]!;
    out[3 * i + 1] = rows[offset + 2 * i]!;
  }
  return out;
}

/**
 * The smoothing stage: batches of rows (`count` landmarks per row) in, the same batches with smoothed rows (new
 * arrays) out; a batch's `points`, when present, get the smoothed x, y too (pointsWithRowXY). `timeOf` gives each
 * frame's time in seconds from its index in the video.
 */
export async function* smoothRowBatches<B extends RowBatchLike>(
  batches: AsyncIterable<B>,
  frame: { width: number; height: number },
  timeOf: (frameIndex: number) => number,
  params: Readonly<OneEuroParams> = FACE_LANDMARKER_ONE_EURO,
  count = NUM_LANDMARKS,
): AsyncGenerator<B> {
  const smoother = new RowSmoother(frame.width, frame.height, params, count);
  const dim = rowDimFor(count);
  for await (const batch of batches) {
    if (batch.rows.length !== batch.count * dim) throw new Error(`landmark smoothing: ${batch.rows.length} values for ${batch.count} rows of ${count} landmarks (${dim} each)`);
    const rows = new Float32Array(batch.count * dim);
    for (let i = 0; i < batch.count; i++) smoother.apply(timeOf(batch.firstFrame + i), batch.rows, i * dim, rows, i * dim);
    const points = batch.points?.map((p, i) => (p ? pointsWithRowXY(p, rows, i * dim, count) : null));
    yield points ? { ...batch, rows, points } : { ...batch, rows };
  }
}
