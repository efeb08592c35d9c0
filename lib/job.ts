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
import type { FaceMeshOptions } from "./nova/options.js";
import { ROW_DIM } from "./types.js";

/** Media type NOVA's renderer recognises (it matches `feature;face;landmarks`). */
export const LANDMARK_MEDIA_TYPE = "feature;face;landmarks;facemesh";

export interface JobInputs {
  video: string;
  /** blazeface bbox stream; absent: detect faces. */
  bbox?: string;
  /** blazeface keypoint stream, for the eye rotation. */
  keypoints?: string;
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
  checkSize(boxes.size, video, inputs.bbox, logger);
  let keypoints: Float32Array | undefined;
  if (inputs.keypoints) {
    const kp = await readKeypointStream(inputs.keypoints);
    checkSize(kp.size, video, inputs.keypoints, logger);
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

/** Rows of a bbox stream that classifyBox calls "ok". */
function countUsableBoxes(data: Float32Array, frame: { width: number; height: number }): number {
  let n = 0;
  for (let i = 0; i + BBOX_DIM <= data.length; i += BBOX_DIM) if (classifyBox(data.subarray(i, i + BBOX_DIM), frame) === "ok") n++;
  return n;
}

function checkSize(size: { width: number; height: number } | undefined, video: VideoInfo, file: string, logger: Logger): void {
  if (size && (size.width !== video.width || size.height !== video.height)) {
    logger.warn(`${file}: made for ${size.width}x${size.height} frames, but ${video.path} is ${video.width}x${video.height}; its boxes are normalized, so they are used as they are`);
  }
}

/**
 * With tracking, ffmpeg runs at this niceness (decodeFrames): the chain of one-frame model calls waits on each
 * call, while ffmpeg decodes ahead into a bounded socket. Measured on 2 cores, bbox mode, interleaved runs (medians
 * of 4-5): -3% to +9% frames per second, +4% on average, against the inherited priority. Not in detection
 * mode, where the model keeps both cores busy and a starved decoder made the pipeline wait (generated clip 190
 * vs 223 fps).
 */
export const TRACKING_DECODER_NICENESS = 10;

export interface PredictSettings {
  options: FaceMeshOptions;
  tools?: MediaTools;
}

/** The rows of the whole video, batch by batch (lazy: nothing runs until iterated). */
export async function* predictRows(mesh: FaceMesh, opened: OpenedInputs, settings: PredictSettings, context: HookContext): AsyncGenerator<RowBatch> {
  const { options } = settings;
  // Frame buffers go back to the decoder once their batch is written: up to three batches are out at once (read
  // ahead, being prepared, in the model), so that many can wait to be reused.
  const pool = new FramePool({ maxFree: 3 * options.batch_size + 1 });
  const frames = decodeFrames(opened.video.path, opened.video, {
    ffmpeg: settings.tools?.ffmpeg,
    signal: context.signal,
    onWarning: (m) => context.logger.warn(m),
    pool,
    niceness: opened.hints && options.tracking ? TRACKING_DECODER_NICENESS : undefined,
  });
  let done = 0;
  for await (const batch of mesh.run(frames, {
    batchSize: options.batch_size,
    minScore: options.min_score_thresh,
    noFace: options.no_face,
    tracking: options.tracking,
    hints: opened.hints,
    signal: context.signal,
    framesDone: (done) => done.forEach((f) => pool.release(f.data)),
  })) {
    done += batch.count;
    context.progress?.(done, opened.expectedRows);
    yield batch;
  }
  if (opened.hints) {
    const rows = opened.hints.boxes.length / 5;
    if (done < rows) context.logger.warn(`${opened.video.path}: decoded ${done} frames, the bbox stream has ${rows} rows: wrote ${done} rows`);
  }
}

/** Writes the landmark stream atomically: an existing file at `out` is replaced only by a complete stream. */
export async function writeLandmarkStream(out: string, video: VideoInfo, rows: AsyncIterable<RowBatch>): Promise<SsiHeader> {
  const writer = await SsiStreamWriter.create(path.resolve(out), {
    sr: video.isImage ? 1 : video.fps,
    dim: ROW_DIM,
    type: "FLOAT",
    ftype: "BINARY",
    meta: { type: LANDMARK_MEDIA_TYPE, size: `${video.width}:${video.height}` },
  });
  try {
    for await (const batch of rows) await writer.append(batch.rows);
    return await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
