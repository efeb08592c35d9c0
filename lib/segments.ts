/**
 * Segments: a long video processed as consecutive frame ranges whose rows, merged in order, are one stream.
 *
 * The unit of work is one segment (segmentRows): a video, a frame range [start, end) and a warm-up. It needs
 * nothing from the other segments, so a queue worker can run it alone; its rows are those of frames
 * start..end-1, numbered as in the whole video.
 *
 * Warm-up: with tracking (bbox and video mode) a frame's ROI depends on the previous frame's landmarks, so a
 * segment started cold would differ from an unsplit run on its first frames. It is therefore started
 * `warmup` frames early (decoded and tracked, rows discarded); after TRACKING_WARMUP_FRAMES the chain has
 * forgotten where it started (README "Segments" has the measured differences). Static mode has no state: no
 * warm-up, and its rows are those of an unsplit run bit for bit.
 *
 * On one machine (segmentedRows), K segments run side by side, each with its own decoder and tracking chain,
 * and their one-face tracking calls are joined into one model call of K faces (pipeline/joined_calls.ts). The
 * first segment's rows stream out as they come; the others' wait in memory (~3.7 KB a frame) until their turn.
 */
import os from "node:os";
import type { FaceMesh, BoxHints, RowBatch, RunOptions, TrackState } from "./pipeline.js";
import type { RgbImage } from "./types.js";
import type { JoinedLandmarkCalls } from "./pipeline/joined_calls.js";
import type { FrameTimes } from "./video/frame_times.js";
import { FramePool } from "./video/frame_pool.js";
import type { VideoInfo } from "./video/probe.js";
import { decodeSegment, segmentFrames, splitFrames, type FrameRange } from "./video/segment.js";
import { normalizeRadians } from "./calculators/rect_transformation.js";

/**
 * Frames a tracked segment starts early. Measured with 2-s segments (bench/segment_rows.ts, README "Long videos"):
 * in bbox mode the warm-up alone leaves a few frames per boundary differing by < 0.001% NME at 25 frames (up to
 * 0.78% without warm-up); the check and repair in segmentedRows make the rows exact whatever the warm-up, and a
 * longer warm-up makes repairs rarer and shorter.
 */
export const TRACKING_WARMUP_FRAMES = 25;

/**
 * Segments run side by side by default: one per two cores. A tracking chain keeps about two cores busy (the JS
 * thread's crops and the inference thread's one-face calls, plus its decoder), and a joined call makes no face
 * cheaper, it only lets more inference threads work at once; so side by side pays where cores are idle, not on two
 * cores. Measured on the 2-core development machine, quiet, bbox mode, KatieHill looped to 8000 frames (two 300-s
 * segments), medians of 3 interleaved runs: unsplit 17.0 s, one segment at a time 18.2 s, two side by side 18.2 s
 * (and, busy, bench/segment_speed.ts: the CPU bound fell from ~580-600 frames/s unsplit to ~545 with two, ~530 with
 * four). Rows are the same in every case.
 */
export const DEFAULT_PARALLEL_SEGMENTS = Math.max(1, Math.floor(os.availableParallelism() / 2));

/**
 * One unit of work: rows of frames [range.start, range.end). Started cold `warmup` frames early, or, with
 * `startState`, exactly where another segment ended (its endState): no warm-up, the rows of an unsplit run.
 */
export interface Segment {
  range: FrameRange;
  warmup: number;
  startState?: TrackState;
}

/** What a segment run reports besides its rows. */
export interface SegmentStates {
  /** Tracking's state after the warm-up (on the frame before range.start); absent without a warm-up. */
  warmedUp?: TrackState;
  /** Tracking's state after the segment's last frame: the next segment's exact startState. */
  end?: TrackState;
  /** Tracking's state before frame n, at the ends of the batches after range.start (n: a batch's next frame). */
  at: Map<number, TrackState>;
}

/** What a segment run needs besides its range: the video, its frame times (for seeking) and the pipeline's settings. */
export interface SegmentInputs {
  video: VideoInfo;
  times: FrameTimes;
  hints?: BoxHints;
  run: Pick<RunOptions, "batchSize" | "minScore" | "noFace" | "tracking" | "signal">;
  ffmpeg?: string;
  /** ffmpeg's niceness (decode.ts). */
  niceness?: number;
  onWarning?: (message: string) => void;
}

/**
 * The segments of a video of `total` frames at `fps`: `seconds` long (0: one segment), warm-up where tracking
 * carries state from frame to frame.
 */
export function planSegments(total: number, fps: number, seconds: number, tracking: boolean, warmup = TRACKING_WARMUP_FRAMES): Segment[] {
  const ranges = seconds > 0 ? splitFrames(total, segmentFrames(seconds, fps)) : [{ start: 0 }];
  return ranges.map((range) => ({ range, warmup: tracking ? warmup : 0 }));
}

/**
 * The rows of one segment (see the file comment); with `joined`, its tracking calls are shared with other runs.
 * `states` is filled in as the run gets there.
 */
export async function* segmentRows(mesh: FaceMesh, inputs: SegmentInputs, segment: Segment, joined?: JoinedLandmarkCalls, states: SegmentStates = { at: new Map() }): AsyncGenerator<RowBatch> {
  const { start, end } = segment.range;
  const from = segment.startState ? start : Math.max(0, start - segment.warmup);
  const pool = new FramePool({ maxFree: 3 * inputs.run.batchSize + 1 });
  const frames = decodeSegment(inputs.video.path, inputs.video, { start: from, end }, inputs.times, {
    ffmpeg: inputs.ffmpeg,
    signal: inputs.run.signal,
    onWarning: inputs.onWarning,
    pool,
    niceness: inputs.niceness,
  })[Symbol.asyncIterator]();
  const common = { ...inputs.run, hints: inputs.hints, joined, framesDone: (done: readonly RgbImage[]) => done.forEach((f) => pool.release(f.data)) };
  try {
    let state = segment.startState;
    if (from < start) {
      // The warm-up as a run of its own on the first frames, so that its end state is known; the rows do not
      // depend on where runs are cut (the state carries over), so these are the rows of one run.
      for await (const _ of mesh.run(take(frames, start - from), { ...common, firstFrame: from, finalState: (s) => (state = s) })) {
        // warm-up rows: discarded
      }
      states.warmedUp = state;
    }
    yield* mesh.run(rest(frames), { ...common, firstFrame: start, initialState: state, finalState: (s) => (states.end = s), batchState: (next, s) => states.at.set(next, s) });
  } finally {
    await frames.return?.(undefined);
  }
}

/** The next `count` items of `source`, leaving it open for the rest. */
async function* take<T>(source: AsyncIterator<T>, count: number): AsyncGenerator<T> {
  for (let i = 0; i < count; i++) {
    const step = await source.next();
    if (step.done) return;
    yield step.value;
  }
}

/** The rest of `source` (which its owner closes). */
async function* rest<T>(source: AsyncIterator<T>): AsyncGenerator<T> {
  for (let step = await source.next(); !step.done; step = await source.next()) yield step.value;
}

/** Whether two tracking states are the same, bit for bit: from there on, two chains give the same rows. */
export function sameState(a: TrackState, b: TrackState): boolean {
  const roiSame = a.roi === null || b.roi === null ? a.roi === b.roi : a.roi.cx === b.roi.cx && a.roi.cy === b.roi.cy && a.roi.width === b.roi.width && a.roi.height === b.roi.height && a.roi.rotation === b.roi.rotation;
  return a.rotation === b.rotation && a.spec === b.spec && a.turn === b.turn && roiSame;
}

/**
 * Frames per batch of a tracked segment. Tracking makes one model call per frame whatever the batch, so small
 * batches cost little; the states at batch ends are where a repair run can meet the warmed-up run, so they
 * bound how far a repair runs past the point where the two chains became one.
 */
export const TRACKED_SEGMENT_BATCH = 10;

/**
 * A repair's rows (see segmentedRows): those of `repair`, a run started from the exact state the segment before
 * ended with, until at the end of one of its batches its state (`mine`) is the segment's own run's at that frame
 * (`theirs`); from there on the two are one chain. Returns the first frame whose row the segment's own run gives
 * exactly as an unsplit run, or undefined when the repair ran to the segment's end without meeting it (then the
 * repair is the segment). Shared by segmentedRows (the segment's run beside it) and lib/parts.ts (the segment's
 * run recorded by another machine).
 */
export async function* repairRows(
  repair: AsyncIterable<RowBatch>,
  mine: (next: number) => TrackState | undefined,
  theirs: (next: number) => Promise<TrackState | undefined>,
  stats: SegmentStats,
): AsyncGenerator<RowBatch, number | undefined> {
  for await (const batch of repair) {
    stats.repairedFrames += batch.count;
    yield batch;
    const next = batch.firstFrame + batch.count;
    const a = mine(next);
    const b = await theirs(next);
    if (a && b && sameState(a, b)) return next;
  }
  return undefined;
}

/** What segmentedRows did, for measurements. */
export interface SegmentStats {
  /** Segments whose warm-up did not end in the state the segment before ended with: repaired. */
  repairs: number;
  /** Frames the repairs ran. */
  repairedFrames: number;
  /** Joined model calls made, and faces they carried (faces / calls: the faces per call). */
  calls?: number;
  faces?: number;
}

/**
 * The rows of all `segments`, in order, `parallel` of them running side by side (a new one starts when one ends),
 * their tracking calls joined. With tracking (`check`), a segment's rows are kept as they are when its warm-up
 * ended in the state the segment before ended with (sameState). Otherwise (the warm-up had not converged, or
 * picked another of several faces) a repair run starts from that exact state and replaces the segment's rows
 * until, at the end of one of its batches, its state is the warmed-up run's at the same frame; from there on the
 * two are one chain. So the rows are those of an unsplit run, bit for bit. A failing segment stops the others and the error is thrown at once.
 */
export async function* segmentedRows(
  mesh: FaceMesh,
  inputs: SegmentInputs,
  segments: readonly Segment[],
  parallel: number,
  check = inputs.run.tracking,
  stats: SegmentStats = { repairs: 0, repairedFrames: 0 },
): AsyncGenerator<RowBatch> {
  if (!(Number.isInteger(parallel) && parallel >= 1)) throw new Error(`parallel segments must be a whole number from 1, got ${parallel}`);
  const joined = mesh.joinedCalls();
  interface Queue {
    batches: RowBatch[];
    done: boolean;
    /** Its rows are not wanted (it is being run again): it stops at its next batch. */
    dropped: boolean;
    states: SegmentStates;
  }
  // An object, so that the pumps' writes are seen past TypeScript's narrowing.
  const run: { failure: { error: unknown } | null } = { failure: null };
  let stopped = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const pumps = new Set<Promise<void>>();
  // Tracked segments in small batches (TRACKED_SEGMENT_BATCH): the warmed-up runs and the repairs on one grid.
  const batchSize = check ? Math.min(inputs.run.batchSize, TRACKED_SEGMENT_BATCH) : inputs.run.batchSize;
  const start = (segment: Segment, then?: () => void): Queue => {
    const queue: Queue = { batches: [], done: false, dropped: false, states: { at: new Map() } };
    const pump = (async () => {
      try {
        for await (const batch of segmentRows(mesh, { ...inputs, run: { ...inputs.run, batchSize } }, segment, joined, queue.states)) {
          if (stopped || queue.dropped) break;
          // Held past the next batch: the landmarks' views of the pipeline's buffers are copied (RowBatch.points).
          queue.batches.push(batch.points ? { ...batch, points: batch.points.map((p) => (p ? p.slice() : null)) } : batch);
          notify();
        }
      } catch (error) {
        if (!queue.dropped) {
          run.failure ??= { error };
          stopped = true;
        }
      } finally {
        queue.done = true;
        notify();
        then?.();
      }
    })();
    pumps.add(pump);
    void pump.finally(() => pumps.delete(pump));
    return queue;
  };
  const queues: Array<Queue | undefined> = segments.map(() => undefined);
  let started = 0;
  const startNext = () => {
    if (stopped || started >= segments.length) return;
    const i = started++;
    queues[i] = start(segments[i]!, startNext);
  };
  const failed = (): void => {
    if (run.failure) throw run.failure.error;
  };
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready()) {
      failed();
      await new Promise<void>((resolve) => (wake = resolve));
    }
    failed();
  };
  // All of the first wave start in this tick, so each joins before any asks for a call.
  for (let k = 0; k < Math.min(parallel, segments.length); k++) startNext();
  try {
    let exactEnd: TrackState | undefined;
    for (let i = 0; i < segments.length; i++) {
      await until(() => queues[i] !== undefined);
      let queue = queues[i]!;
      const segment = segments[i]!;
      if (check && exactEnd && segment.range.start > 0 && !segment.startState) {
        await until(() => queue.states.warmedUp !== undefined || queue.done);
        const warmed = queue.states.warmedUp;
        if (!warmed || !sameState(warmed, exactEnd)) {
          stats.repairs++;
          const repair = start({ range: segment.range, warmup: 0, startState: exactEnd });
          const original = queue;
          const drained = async function* (): AsyncGenerator<RowBatch> {
            for (;;) {
              await until(() => repair.batches.length > 0 || repair.done);
              const batch = repair.batches.shift();
              if (!batch) return;
              yield batch;
            }
          };
          const theirs = async (next: number) => {
            await until(() => original.states.at.has(next) || original.done);
            return original.states.at.get(next);
          };
          const after = yield* repairRows(drained(), (next) => repair.states.at.get(next), theirs, stats);
          if (after === undefined) {
            // The repair ran to the segment's end: it is the segment.
            original.dropped = true;
            queue = repair;
          } else {
            repair.dropped = true;
            while (original.batches.length > 0 && original.batches[0]!.firstFrame + original.batches[0]!.count <= after) original.batches.shift();
            const first = original.batches[0];
            if (first && first.firstFrame < after) {
              const skip = after - first.firstFrame;
              original.batches[0] = { rows: first.rows.subarray(skip * mesh.rowDim), count: first.count - skip, firstFrame: after, points: first.points?.slice(skip) };
            }
          }
        }
      }
      for (;;) {
        failed();
        const batch = queue.batches.shift();
        if (batch) yield batch;
        else if (queue.done) break;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
      failed();
      exactEnd = queue.states.end;
    }
  } finally {
    stopped = true;
    // Pumps still running stop at their next batch (their decoders are killed); none outlives this generator.
    while (pumps.size > 0) await Promise.allSettled([...pumps]);
    stats.calls = joined.calls;
    stats.faces = joined.faces;
  }
}
