/**
 * Segments of a video: frames [start, end) decoded exactly as an unsplit decode gives them, so that a long video
 * can be processed in pieces (side by side, or by other workers) and the pieces' rows concatenated.
 *
 * Frame-exact seeking: ffmpeg is asked to start at the midpoint between the presentation times of frames
 * start-1 and start (frameTimes: the packets' pts, which hold for variable frame rates). The midpoint is half a
 * frame away from both, so rounding of the printed times cannot land the seek on the wrong frame; ffmpeg seeks to
 * the key frame before it, decodes from there and drops every frame before the time (decode.ts seekSeconds), and
 * `-frames:v` stops it at `end`. Where the times are not the stream's own (frameTimes fell back to index / fps),
 * the segment is decoded from the first frame and the frames before `start` are dropped by index: exact, only
 * slower.
 */
import type { FrameTimes } from "./frame_times.js";
import { decodeFrames, type DecodedFrame, type DecodeOptions } from "./decode.js";
import type { VideoInfo } from "./probe.js";

/** Frames [start, end) of a video; end undefined: to the last frame. */
export interface FrameRange {
  start: number;
  end?: number;
}

/** Frames a segment of `seconds` holds at the video's average rate (at least one). */
export function segmentFrames(seconds: number, fps: number): number {
  return Math.max(1, Math.round(seconds * (fps > 0 ? fps : 1)));
}

/**
 * Splits frames [0, total) into consecutive ranges of `length` frames; the last one is open (end undefined), so
 * that a frame count that was only estimated cannot cut the video short. One open range when length >= total.
 */
export function splitFrames(total: number, length: number): FrameRange[] {
  if (!(Number.isInteger(length) && length >= 1)) throw new Error(`segment length must be a whole number of frames from 1, got ${length}`);
  const ranges: FrameRange[] = [];
  for (let start = 0; start + length < total; start += length) ranges.push({ start, end: start + length });
  ranges.push({ start: ranges.length * length });
  return ranges;
}

/** Where ffmpeg must seek to start exactly at frame `start` (see the file comment); undefined: no seek. */
export function seekSecondsFor(start: number, times: FrameTimes): number | undefined {
  if (start <= 0 || times.source !== "pts") return undefined;
  return (times.at(start - 1) + times.at(start)) / 2;
}

/** Decodes frames [range.start, range.end) of the video; each frame's index is its index in the whole video. */
export async function* decodeSegment(file: string, info: VideoInfo, range: FrameRange, times: FrameTimes, opts: DecodeOptions = {}): AsyncGenerator<DecodedFrame, void, undefined> {
  const { start, end } = range;
  if (!(Number.isInteger(start) && start >= 0) || (end !== undefined && !(Number.isInteger(end) && end > start))) {
    throw new Error(`${info.path}: bad frame range [${start}, ${end ?? "end"})`);
  }
  const seekSeconds = seekSecondsFor(start, times);
  if (start === 0 || seekSeconds !== undefined) {
    yield* decodeFrames(file, info, { ...opts, seekSeconds, maxFrames: end === undefined ? undefined : end - start, firstIndex: start });
    return;
  }
  // No timestamps to seek by: decode from the start, drop by index.
  for await (const frame of decodeFrames(file, info, { ...opts, maxFrames: end })) {
    if (frame.index >= start) yield frame;
    else opts.pool?.release(frame.data);
  }
}
