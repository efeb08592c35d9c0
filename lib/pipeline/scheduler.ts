/**
 * The batch scheduler: frames in, row batches out, with the stages overlapped.
 *
 * - Read-ahead: the next batch is pulled from the frame source (ffmpeg's socket) while the current one is in the
 *   model.
 * - Double buffers: batches alternate between two buffer sets (`slot` 0 and 1), so batch k+1 is prepared while
 *   batch k is in the model; a batch job gets the previous job's carried state as a promise and awaits it only
 *   when it needs it (tracking does, detection does not).
 * - Frame hand-back: a batch's frames go to `framesDone` once its rows were yielded and nothing reads them again.
 *
 * The scheduler knows nothing about faces: what a batch computes is the injected `BatchJob`.
 */
import type { RgbImage } from "../types.js";
import { waited, type TimingRecorder } from "./timing.js";

export interface RowBatch {
  /** count * FaceMesh.rowDim values (937, or 957 with refine_landmarks). */
  rows: Float32Array;
  count: number;
  /** Index of the batch's first frame in the video. */
  firstFrame: number;
  /**
   * Per frame, the landmarks its row carries (x, y, z: FaceLandmarks.points, 468 or 478 points; the rows have no
   * z), or null. Views of the pipeline's buffers: valid until the consumer asks for the next batch (the head pose
   * reads them then).
   */
  points?: Array<Float32Array | null>;
}

export interface ScheduleOptions<S> {
  batchSize: number;
  /** Frames beyond this many are not processed (the bbox stream's row count); Infinity for none. */
  rowLimit: number;
  /** Index of the first frame in the video (a segment's start); default 0. */
  firstFrame?: number;
  signal?: AbortSignal;
  framesDone?: (frames: readonly RgbImage[]) => void;
  /** Told the state the last batch carried on, once every batch's rows were yielded. */
  finalState?: (state: S) => void;
  /** Told each batch's state (the state before frame `next`) when its rows are yielded. */
  batchState?: (next: number, state: S) => void;
}

/** What a batch computes: its rows, and the state the next batch carries on from. */
export type BatchJob<S> = (frames: RgbImage[], firstFrame: number, slot: 0 | 1, previous: Promise<S>) => Promise<{ batch: RowBatch; state: S }>;

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

/** Runs `job` on consecutive batches of `frames`, one in flight while the next is prepared; yields rows in order. */
export async function* scheduleBatches<S>(
  frames: AsyncIterable<RgbImage>,
  initial: S,
  options: ScheduleOptions<S>,
  job: BatchJob<S>,
  timer: TimingRecorder,
): AsyncGenerator<RowBatch> {
  const { batchSize, rowLimit } = options;
  let state: Promise<S> = Promise.resolve(initial);
  let inflight: { job: Promise<{ batch: RowBatch; state: S }>; frames: RgbImage[] } | null = null;
  let next = options.firstFrame ?? 0;
  let slot: 0 | 1 = 0;
  const source = batches(frames, batchSize)[Symbol.asyncIterator]();
  const pull = (): Promise<IteratorResult<RgbImage[]>> => {
    const p = source.next();
    p.catch(() => undefined); // handled when awaited
    return p;
  };
  /** Waits for a batch in flight, yields its rows, then hands its frames back. */
  async function* finish(f: { job: Promise<{ batch: RowBatch; state: S }>; frames: RgbImage[] }): AsyncGenerator<RowBatch> {
    const done = await waited(timer, "modelWaitMs", f.job);
    options.batchState?.(done.batch.firstFrame + done.batch.count, done.state);
    const t = timer.now();
    yield done.batch;
    timer.add("consumerMs", timer.now() - t);
    options.framesDone?.(f.frames);
  }
  let pending: Promise<IteratorResult<RgbImage[]>> | null = pull();
  try {
    while (pending) {
      const step: IteratorResult<RgbImage[]> = await waited(timer, "decodeWaitMs", pending);
      pending = null;
      if (step.done) break;
      if (options.signal?.aborted) throw new Error("cancelled");
      const batch = step.value;
      const usable = Math.min(batch.length, rowLimit - next);
      if (usable <= 0) break;
      const frameBatch = usable < batch.length ? batch.slice(0, usable) : batch;
      const running = job(frameBatch, next, slot, state);
      state = running.then((r) => r.state);
      // Keep the rejections handled until they are awaited (finish).
      running.catch(() => undefined);
      state.catch(() => undefined);
      next += frameBatch.length;
      slot = slot === 0 ? 1 : 0;
      if (usable === batch.length && next < rowLimit) pending = pull();
      if (inflight) yield* finish(inflight);
      inflight = { job: running, frames: frameBatch };
    }
    if (inflight) yield* finish(inflight);
    options.finalState?.(await state);
  } finally {
    // Stops the decoder (kills ffmpeg) when we leave early; waits for a read-ahead still in progress.
    await source.return(undefined).catch(() => undefined);
  }
}

/**
 * One reusable buffer with a lock: the first caller gets the shared buffer (grown when too small), a concurrent
 * caller a buffer of its own. For calls made once per batch (FaceMesh.detect), where allocating shared memory
 * each time would cost more than the call.
 */
export class ReusableBuffer {
  private buffer: Float32Array | null = null;
  private busy = false;

  /** Runs `use` with a buffer of at least `length` values; `allocate` makes one when needed. */
  async with<T>(length: number, allocate: (length: number) => Float32Array, use: (buffer: Float32Array) => Promise<T>): Promise<T> {
    if (this.busy) return use(allocate(length));
    if (!this.buffer || this.buffer.length < length) this.buffer = allocate(length);
    this.busy = true;
    try {
      return await use(this.buffer);
    } finally {
      this.busy = false;
    }
  }
}
