/**
 * A face-mesh job, from files to files: what the NOVA hooks (facemesh.ts), the CLI and the server's worker all
 * run. It opens the inputs (probe the video, read the bbox streams, check they fit together), streams rows out of
 * the pipeline, and writes the SSI stream atomically.
 */
import path from "node:path";
import type { HookContext, Logger } from "./nova/hooks.js";
import { probeVideo, type VideoInfo } from "./video/probe.js";
import { decodeFrames } from "./video/decode.js";
import { FramePool } from "./video/frame_pool.js";
import { BBOX_DIM, classifyBox, readBboxStream, readKeypointStream } from "./ssi/bbox.js";
import { SsiStreamWriter, type SsiHeader } from "./ssi/stream.js";
import { FaceMesh, type BoxHints, type RowBatch } from "./pipeline.js";
import { hintRows } from "./pipeline/box_rois.js";
import { smoothRowBatches } from "./calculators/landmarks_smoothing.js";
import { frameTimes } from "./video/frame_times.js";
import { DEFAULT_PARALLEL_SEGMENTS, planSegments, segmentedRows, TRACKING_WARMUP_FRAMES, type Segment, type SegmentInputs, type SegmentStats } from "./segments.js";
import type { FaceMeshOptions } from "./nova/options.js";
import { rowDimFor, type NoFaceValue } from "./rows.js";
import { NUM_LANDMARKS } from "./types.js";
import { loadGeometryMetadata } from "./geometry/metadata.js";
import { HEAD_POSE_DIM, HEAD_POSE_MEDIA_TYPE, writeHeadPoseRow } from "./geometry/head_pose.js";

/** Media type NOVA's renderer recognises (it matches `feature;face;landmarks`). */
export const LANDMARK_MEDIA_TYPE = "feature;face;landmarks;facemesh";

export interface JobInputs {
  video: string;
  /** blazeface bbox stream; absent: detect faces. */
  bbox?: string;
  /** blazeface keypoint stream, for the eye rotation. */
  keypoints?: string;
  /** Use bbox/keypoint streams whose frame size or rate differ from the video's (warned instead of refused). */
  force?: boolean;
}

export interface OpenedInputs {
  video: VideoInfo;
  hints?: BoxHints;
  /** Rows the output will have when the video decodes as probed. */
  expectedRows: number;
}

export interface MediaTools {
  ffmpeg?: string;
  ffprobe?: string;
}

/** Probes the video and reads the streams; warns when their lengths differ (we process the shorter). */
export async function openInputs(inputs: JobInputs, logger: Logger, tools: MediaTools = {}): Promise<OpenedInputs> {
  const video = await probeVideo(inputs.video, { ffprobe: tools.ffprobe });
  if (!inputs.bbox) {
    if (inputs.keypoints) logger.warn(`${inputs.keypoints}: a keypoint stream is only used with a bbox stream; ignored`);
    return { video, expectedRows: video.frameCount };
  }
  const boxes = await readBboxStream(inputs.bbox);
  // An empty stream would replace a good output with an empty one: that is never what was meant.
  if (boxes.rows === 0) throw new Error(`${inputs.bbox}: the bbox stream has 0 rows: there is nothing to process (was the detector run on this video?)`);
  const usable = countUsableBoxes(boxes.data, video);
  if (usable === 0) {
    logger.warn(`${inputs.bbox}: none of its ${boxes.rows} rows holds a usable face box (all without a face or invalid): every output row will have no face`);
  }
  checkMadeFor(boxes, video, inputs, logger);
  let keypoints: Float32Array | undefined;
  if (inputs.keypoints) {
    const kp = await readKeypointStream(inputs.keypoints);
    checkMadeFor(kp, video, inputs, logger);
    if (kp.rows !== boxes.rows) logger.warn(`${inputs.keypoints}: ${kp.rows} rows but the bbox stream has ${boxes.rows}; frames without a keypoint row get rotation from tracking`);
    keypoints = kp.data;
  }
  if (boxes.rows !== video.frameCount) {
    logger.warn(
      `${inputs.bbox}: ${boxes.rows} rows, but ${inputs.video} has ${video.frameCount}${video.frameCountEstimated ? " (estimated)" : ""} frames: processing min(frames, rows)`,
    );
  }
  return { video, hints: { boxes: boxes.data, keypoints }, expectedRows: Math.min(boxes.rows, video.frameCount) };
}

/**
 * Relative difference of frame rates still taken as the same rate: a stream's sr is written from the video's
 * rate with a few digits (29.97 for 30000/1001).
 */
export const RATE_TOLERANCE = 0.005;

/**
 * A face stream made for another video (its meta size or its sample rate differs from the video's) is refused,
 * with the numbers: its rows would be laid on the wrong frames. `force` turns the refusal into a warning (the
 * coordinates are normalized, so they are used as they are). A stream without a size in its meta is taken as it is.
 */
export function checkMadeFor(stream: { path: string; sr: number; size?: { width: number; height: number } }, video: VideoInfo, inputs: Pick<JobInputs, "force">, logger: Logger): void {
  const problems: string[] = [];
  const { size } = stream;
  if (size && (size.width !== video.width || size.height !== video.height)) problems.push(`frames of ${size.width}x${size.height}, but ${video.path} is ${video.width}x${video.height}`);
  if (!video.isImage && Math.abs(stream.sr - video.fps) > RATE_TOLERANCE * video.fps) problems.push(`${stream.sr} frames per second, but ${video.path} has ${round3(video.fps)}`);
  if (problems.length === 0) return;
  const what = `${stream.path}: made for ${problems.join(", and for ")}`;
  if (!inputs.force) throw new Error(`${what}: is it the stream of another video? (--force uses it anyway)`);
  logger.warn(`${what}; used anyway (forced): its coordinates are normalized, so they are taken as they are`);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Rows of a bbox stream that classifyBox calls "ok". */
function countUsableBoxes(data: Float32Array, frame: { width: number; height: number }): number {
  let n = 0;
  for (let i = 0; i + BBOX_DIM <= data.length; i += BBOX_DIM) if (classifyBox(data.subarray(i, i + BBOX_DIM), frame) === "ok") n++;
  return n;
}

/**
 * With tracking (bbox mode and video mode), ffmpeg runs at this niceness (decodeFrames): the chain of one-frame
 * model calls waits on each call, while ffmpeg decodes ahead into a bounded socket, so a lower priority for the
 * decoder costs nothing and leaves the cores to the model. Not in static mode, where the model keeps both cores
 * busy and a starved decoder makes the pipeline wait (bench/README.md has both measurements).
 */
export const TRACKING_DECODER_NICENESS = 10;

export interface PredictSettings {
  options: FaceMeshOptions;
  tools?: MediaTools;
  /** Segments run side by side (options.segment_seconds splits the video); default DEFAULT_PARALLEL_SEGMENTS. */
  parallelSegments?: number;
  /** Frames a tracked segment starts early; default TRACKING_WARMUP_FRAMES (for measurements). */
  segmentWarmup?: number;
  /** Whether each warm-up's track is checked against the segment before (default: with tracking); for measurements. */
  segmentCheck?: boolean;
  /** Filled in with what the segments did. */
  segmentStats?: SegmentStats;
  /** Split video mode too (it is not, see splitRows); for measurements. */
  splitVideoMode?: boolean;
}

/** The rows of the whole video, batch by batch (lazy: nothing runs until iterated). */
export async function* predictRows(mesh: FaceMesh, opened: OpenedInputs, settings: PredictSettings, context: HookContext): AsyncGenerator<RowBatch> {
  const { options } = settings;
  // Frame buffers go back to the decoder once their batch is written: up to three batches are out at once (read
  // ahead, being prepared, in the model), so that many can wait to be reused.
  const split = await splitRows(mesh, opened, settings, context);
  const pool = new FramePool({ maxFree: 3 * options.batch_size + 1 });
  const frames = decodeFrames(opened.video.path, opened.video, {
    ffmpeg: settings.tools?.ffmpeg,
    signal: context.signal,
    onWarning: (m) => context.logger.warn(m),
    pool,
    niceness: options.tracking ? TRACKING_DECODER_NICENESS : undefined,
  });
  const raw = split ?? mesh.run(frames, {
    batchSize: options.batch_size,
    minScore: options.min_score_thresh,
    noFace: options.no_face,
    tracking: options.tracking,
    hints: opened.hints,
    signal: context.signal,
    framesDone: (done) => done.forEach((f) => pool.release(f.data)),
  });
  yield* finishedRows(raw, mesh, opened, settings, context);
}

/**
 * The stages after the pipeline's rows, for the whole video in order: smoothing (options.smoothing), progress, and
 * the warning when the video ended before the bbox rows. Shared with the parts of a job joined (lib/parts.ts).
 */
export async function* finishedRows(raw: AsyncIterable<RowBatch>, mesh: FaceMesh, opened: OpenedInputs, settings: PredictSettings, context: HookContext): AsyncGenerator<RowBatch> {
  const { options } = settings;
  let done = 0;
  for await (const batch of options.smoothing === "one_euro" ? smoothed(raw, opened.video, mesh.pointsPerFace, settings, context) : raw) {
    done += batch.count;
    context.progress?.(done, opened.expectedRows);
    yield batch;
  }
  if (opened.hints) {
    const rows = hintRows(opened.hints);
    if (done < rows) context.logger.warn(`${opened.video.path}: decoded ${done} frames, the bbox stream has ${rows} rows: wrote ${done} rows`);
  }
}

/**
 * The rows in segments (lib/segments.ts) when the video is longer than options.segment_seconds; null: unsplit (no
 * splitting asked for, a short video, or no timestamps to seek by).
 */
async function splitRows(mesh: FaceMesh, opened: OpenedInputs, settings: PredictSettings, context: HookContext): Promise<AsyncGenerator<RowBatch> | null> {
  const { options } = settings;
  const plan = await segmentPlan(opened, settings, context);
  if (!plan) return null;
  // Without tracking the model calls are full batches already: segments run one after the other.
  const parallel = options.tracking && (opened.hints || settings.splitVideoMode) ? (settings.parallelSegments ?? DEFAULT_PARALLEL_SEGMENTS) : 1;
  return segmentedRows(mesh, plan.inputs, plan.segments, parallel, settings.segmentCheck ?? options.tracking, settings.segmentStats);
}

/**
 * How a job's video is split into segments, and what running one needs; null: not split (no splitting asked for,
 * a short video, video mode, or no timestamps to seek by). Shared by one machine (splitRows) and by parts on
 * several (lib/parts.ts).
 */
export async function segmentPlan(opened: OpenedInputs, settings: PredictSettings, context: HookContext): Promise<{ segments: Segment[]; inputs: SegmentInputs } | null> {
  const { options } = settings;
  const { video } = opened;
  // Video mode's chain never forgets (each ROI from the last landmarks), so a warmed-up segment agrees with an
  // unsplit run only to float noise, which can grow (README "Segments"): on one machine it is not split.
  if (options.tracking && !opened.hints && !settings.splitVideoMode) return null;
  const segments = planSegments(opened.expectedRows, video.fps, video.isImage ? 0 : options.segment_seconds, options.tracking, settings.segmentWarmup ?? TRACKING_WARMUP_FRAMES);
  if (segments.length < 2) return null;
  const times = await frameTimes(video, { ffprobe: settings.tools?.ffprobe, signal: context.signal });
  if (times.source !== "pts") {
    context.logger.warn(`${video.path}: not split into segments (no timestamps to seek by: ${times.reason})`);
    return null;
  }
  const inputs: SegmentInputs = {
    video,
    times,
    hints: opened.hints,
    run: { batchSize: options.batch_size, minScore: options.min_score_thresh, noFace: options.no_face, tracking: options.tracking, signal: context.signal },
    ffmpeg: settings.tools?.ffmpeg,
    niceness: options.tracking ? TRACKING_DECODER_NICENESS : undefined,
    onWarning: (m: string) => context.logger.warn(m),
  };
  return { segments, inputs };
}

/** The one-euro smoothing stage (lib/calculators/landmarks_smoothing.ts), timed by the frames' presentation timestamps. */
async function* smoothed(rows: AsyncIterable<RowBatch>, video: VideoInfo, points: number, settings: PredictSettings, context: HookContext): AsyncGenerator<RowBatch> {
  const times = await frameTimes(video, { ffprobe: settings.tools?.ffprobe, signal: context.signal });
  if (times.source === "index" && !video.isImage) context.logger.warn(`${video.path}: smoothing times the frames as index / ${+video.fps.toFixed(3)} fps: ${times.reason}`);
  yield* smoothRowBatches(rows, video, times.at, undefined, points);
}

/** The optional second output: the head pose per frame (lib/geometry/head_pose.ts). */
export interface HeadPoseOutput {
  path: string;
  /** Values of rows without a pose (as the landmark rows' no_face). */
  noFace: NoFaceValue;
}

export interface LandmarkStreamOptions {
  /** Landmarks per face (FaceMesh.pointsPerFace): 468 (default) or 478 (refine_landmarks). */
  points?: number;
  /** Also write the head pose, from the same batches (their `points`). */
  headPose?: HeadPoseOutput;
}

/**
 * Writes the landmark stream atomically: an existing file at `out` is replaced only by a complete stream. `points`
 * per face sets the row size; 478-point streams (refine_landmarks) say so in the meta's `points` attribute and
 * keep the media type, so NOVA still draws them. With `headPose`, the head-pose stream too, from the same batches
 * (the first 468 points of each face): both appear, or neither. In one folder the four files are replaced as one
 * journaled group (lib/atomic_file.ts), safe against a kill at any step; in two folders the head pose is put in
 * place first, then the landmarks (a failure in between leaves the new head pose beside the old landmarks).
 */
export async function writeLandmarkStream(out: string, video: VideoInfo, rows: AsyncIterable<RowBatch>, options: LandmarkStreamOptions = {}): Promise<SsiHeader> {
  const { points = NUM_LANDMARKS, headPose } = options;
  const dim = rowDimFor(points);
  const sr = video.isImage ? 1 : video.fps;
  const size = `${video.width}:${video.height}`;
  const meta: Record<string, string> = { type: LANDMARK_MEDIA_TYPE, size };
  if (points !== NUM_LANDMARKS) meta.points = String(points);
  const metadata = headPose ? await loadGeometryMetadata() : null;
  const writer = await SsiStreamWriter.create(path.resolve(out), { sr, dim, type: "FLOAT", ftype: "BINARY", meta });
  let poseWriter: SsiStreamWriter | null = null;
  try {
    if (headPose) {
      if (path.resolve(headPose.path) === path.resolve(out)) throw new Error(`${headPose.path}: the head-pose output is the landmark output`);
      poseWriter = await SsiStreamWriter.create(path.resolve(headPose.path), { sr, dim: HEAD_POSE_DIM, type: "FLOAT", ftype: "BINARY", meta: { type: HEAD_POSE_MEDIA_TYPE, size } });
    }
    for await (const batch of rows) {
      await writer.append(batch.rows);
      if (poseWriter) {
        if (!batch.points) throw new Error("the pipeline gave no landmarks for the head pose");
        const poses = new Float32Array(batch.count * HEAD_POSE_DIM);
        for (let i = 0; i < batch.count; i++) {
          const score = batch.rows[i * dim + dim - 1]!;
          writeHeadPoseRow(poses, i * HEAD_POSE_DIM, batch.points[i] ?? null, score, video.width, video.height, metadata!, headPose!.noFace);
        }
        await poseWriter.append(poses);
      }
    }
    if (!poseWriter) return await writer.commit();
    // Landmarks last: their header is the group's commit point (lib/ssi/stream.ts commitTogether).
    const [, header] = await SsiStreamWriter.commitTogether([poseWriter, writer]);
    return header!;
  } catch (err) {
    await writer.abort();
    await poseWriter?.abort();
    throw err;
  }
}
