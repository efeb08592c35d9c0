/**
 * probeVideo: what a video (or still image) file holds, from ffprobe's JSON output.
 *
 * Why ffprobe and not `ffmpeg -i`: ffprobe prints machine-readable JSON (stream list, container frame count,
 * average frame rate as a fraction, display-matrix side data), and can count packets by demuxing alone.
 * `ffmpeg -i` only prints human-oriented text whose layout changed between releases, has no frame count, and
 * exits non-zero by design (no output given). The npm package @ffprobe-installer/ffprobe ships the binary.
 */
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import path from "node:path";
import { resolveTool } from "./tools.js";

/** How VideoInfo.frameCount was obtained. */
export type FrameCountSource =
  /** The container's own count (mp4/mov sample table, avi header). */
  | "container"
  /** Counted by demuxing the whole stream (ffprobe -count_packets); one packet = one frame for video codecs. */
  | "packets"
  /** A still image: one frame. */
  | "image"
  /** duration x fps, rounded: an estimate. */
  | "estimate";

export interface VideoInfo {
  /** Absolute path of the file. */
  path: string;
  /** Size of the decoded frames as displayed, i.e. after applying `rotation` (decodeFrames yields this size). */
  width: number;
  height: number;
  /** Size as coded in the stream, before rotation. */
  codedWidth: number;
  codedHeight: number;
  /** Average frame rate (frames per second), e.g. 29.97 for 30000/1001; 1 for a still image. */
  fps: number;
  /** The same rate as the exact fraction ffprobe reported, when it reported one. */
  fpsFraction?: { num: number; den: number };
  /** Number of frames; exact unless frameCountEstimated. */
  frameCount: number;
  frameCountEstimated: boolean;
  frameCountSource: FrameCountSource;
  durationSec: number;
  /** Clockwise rotation, in degrees, that players apply for display (from the display matrix / rotate tag). */
  rotation: 0 | 90 | 180 | 270;
  /** ffmpeg codec name, e.g. "h264", "mpeg4", "vp9", "png", "mjpeg". */
  codec: string;
  /** ffmpeg's container (format) name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "png_pipe". */
  container: string;
  /** A still image (jpg, png, ppm, bmp, webp, ...): one frame, fps 1. */
  isImage: boolean;
  /** Index of the decoded stream within the file (ffmpeg's `-map 0:<index>`). */
  streamIndex: number;
}

export interface ProbeOptions {
  /** Path of the ffprobe binary (else FFPROBE_PATH, the npm package, PATH). */
  ffprobe?: string;
  /**
   * When the container holds no frame count (mkv, webm, some avi): count packets by demuxing the file (true,
   * default; reads the whole file but decodes nothing) or estimate duration x fps (false).
   */
  countPackets?: boolean;
  signal?: AbortSignal;
}

// The subset of ffprobe's -print_format json output that we read.
interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  tags?: Record<string, string>;
  disposition?: Record<string, number>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number | string }>;
}
interface ProbeFormat {
  format_name?: string;
  duration?: string;
}
interface ProbeOutput {
  streams?: ProbeStream[];
  format?: ProbeFormat;
}

/** Largest ffprobe JSON we accept (a file with thousands of streams would still fit). */
const MAX_PROBE_OUTPUT = 16 << 20;

/** Runs ffprobe with `args`; resolves with what it printed and its error, if any (never rejects). */
export function runFfprobe(bin: string, args: string[], signal?: AbortSignal): Promise<{ stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    execFile(bin, args, { maxBuffer: MAX_PROBE_OUTPUT, signal, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, error: error ?? undefined });
    });
  });
}

/** ffmpeg treats "name:" as a protocol prefix; "file:" + absolute path makes any file name safe. */
export function ffmpegInputUrl(absPath: string): string {
  return `file:${absPath}`;
}

/** Extensions of the still-image formats ffmpeg's image2 demuxer reads. */
const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pnm", ".webp", ".tif", ".tiff"]);

/**
 * The input arguments (ending with `-i <url>`) for ffmpeg/ffprobe. The image2 demuxer reads '%' in a file name as
 * a frame-number pattern (img%03d.png): an image whose name contains '%' is opened with pattern matching off.
 * (The option cannot be passed for every input: ffmpeg refuses options the chosen demuxer does not know.)
 */
export function ffmpegInputArgs(absPath: string): string[] {
  const literalImage = absPath.includes("%") && IMAGE_EXTENSIONS.has(path.extname(absPath).toLowerCase());
  return [...(literalImage ? ["-f", "image2", "-pattern_type", "none"] : []), "-i", ffmpegInputUrl(absPath)];
}

function stderrSummary(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-4).join(" | ") || "(no message)";
}

/** Parses "30000/1001" (or "25") into a positive fraction; undefined for "0/0", "N/A" and the like. */
export function parseRational(text: string | undefined): { num: number; den: number } | undefined {
  if (!text) return undefined;
  const m = /^\s*(\d+)(?:\s*[/:]\s*(\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  return num > 0 && den > 0 ? { num, den } : undefined;
}

/**
 * Clockwise display rotation from a stream's side data or tags.
 * ffprobe's display-matrix `rotation` is counter-clockwise degrees (av_display_rotation_get); the legacy `rotate`
 * tag (ffmpeg <= 4) is clockwise. Angles that are not a multiple of 90 degrees are not applied by ffmpeg's
 * autorotation either, so they count as 0.
 */
export function displayRotation(stream: Pick<ProbeStream, "side_data_list" | "tags">): 0 | 90 | 180 | 270 {
  let clockwise: number | undefined;
  const matrix = stream.side_data_list?.find((s) => s.side_data_type === "Display Matrix" && s.rotation !== undefined);
  if (matrix) clockwise = -Number(matrix.rotation);
  else if (stream.tags?.rotate !== undefined) clockwise = Number(stream.tags.rotate);
  if (clockwise === undefined || !Number.isFinite(clockwise)) return 0;
  const r = ((Math.round(clockwise) % 360) + 360) % 360;
  return r === 90 || r === 180 || r === 270 ? r : 0;
}

function isImageContainer(formatName: string): boolean {
  // ffmpeg's image demuxers: "image2" (chosen by file extension) and the content-sniffing "<codec>_pipe" ones.
  return formatName === "image2" || formatName.endsWith("_pipe");
}

function positiveNumber(text: string | undefined): number | undefined {
  const n = text === undefined ? NaN : Number(text);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Probes a video or still image. Throws an Error naming the file and the problem for a missing, empty,
 * unreadable, truncated or non-video file.
 */
export async function probeVideo(file: string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  const abs = path.resolve(file);
  let size: number;
  try {
    const st = await stat(abs);
    if (st.isDirectory()) throw new Error(`${abs}: is a directory, not a video file`);
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${abs}: video file not found`);
    if (code === "EACCES") throw new Error(`${abs}: no permission to read the video file`);
    throw err;
  }
  if (size === 0) throw new Error(`${abs}: video file is empty (0 bytes)`);

  const bin = await resolveTool("ffprobe", opts.ffprobe);
  const input = ffmpegInputArgs(abs);
  const res = await runFfprobe(bin, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...input], opts.signal);
  if (opts.signal?.aborted) throw opts.signal.reason;
  if (res.error) {
    const why = stderrSummary(res.stderr);
    const hint = /moov atom not found/.test(res.stderr)
      ? "truncated MP4/MOV (no 'moov' index) or not a video file at all"
      : /Invalid data found when processing input/.test(res.stderr)
        ? "not a video or image format ffmpeg can read (or the file is damaged)"
        : "ffprobe failed";
    throw new Error(`${abs}: cannot read video: ${hint} (ffprobe: ${why})`);
  }
  let parsed: ProbeOutput;
  try {
    parsed = JSON.parse(res.stdout) as ProbeOutput;
  } catch {
    throw new Error(`${abs}: ffprobe printed unparsable output (${res.stdout.slice(0, 200)})`);
  }
  const streams = parsed.streams ?? [];
  const formatName = parsed.format?.format_name ?? "";
  // Cover art in mp4/mkv/mp3 is a one-frame "video" stream marked attached_pic: not the video.
  const video = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  if (!video) {
    const have = streams.map((s) => `${s.codec_type ?? "unknown"} ${s.codec_name ?? ""}`.trim()).join(", ") || "none";
    throw new Error(`${abs}: no video stream (streams found: ${have})`);
  }
  const codedWidth = video.width ?? 0;
  const codedHeight = video.height ?? 0;
  if (!(codedWidth > 0 && codedHeight > 0)) {
    throw new Error(`${abs}: video stream ${video.index} (${video.codec_name ?? "unknown codec"}) has no frame size; the file may be damaged`);
  }
  const rotation = displayRotation(video);
  const swap = rotation === 90 || rotation === 270;
  const base = {
    path: abs,
    width: swap ? codedHeight : codedWidth,
    height: swap ? codedWidth : codedHeight,
    codedWidth,
    codedHeight,
    rotation,
    codec: video.codec_name ?? "unknown",
    container: formatName,
    streamIndex: video.index,
  };

  if (isImageContainer(formatName)) {
    return { ...base, fps: 1, fpsFraction: { num: 1, den: 1 }, frameCount: 1, frameCountEstimated: false, frameCountSource: "image", durationSec: 1, isImage: true };
  }

  const durationSec = positiveNumber(video.duration) ?? positiveNumber(parsed.format?.duration);
  let frameCount = positiveNumber(video.nb_frames);
  let frameCountSource: FrameCountSource = "container";
  if (frameCount === undefined && opts.countPackets !== false) {
    const counted = await runFfprobe(
      bin,
      ["-v", "error", "-print_format", "json", "-count_packets", "-select_streams", String(video.index), "-show_entries", "stream=nb_read_packets", ...input],
      opts.signal,
    );
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (counted.error) throw new Error(`${abs}: cannot count the video's packets (ffprobe: ${stderrSummary(counted.stderr)})`);
    const n = positiveNumber((JSON.parse(counted.stdout) as ProbeOutput).streams?.[0]?.nb_read_packets);
    if (n !== undefined) {
      frameCount = n;
      frameCountSource = "packets";
    }
  }

  let fpsFraction = parseRational(video.avg_frame_rate) ?? parseRational(video.r_frame_rate);
  let fps = fpsFraction ? fpsFraction.num / fpsFraction.den : undefined;
  if (fps === undefined && frameCount !== undefined && durationSec !== undefined) {
    fps = frameCount / durationSec;
    fpsFraction = undefined;
  }
  if (fps === undefined) throw new Error(`${abs}: video stream ${video.index} has no frame rate and no duration; cannot time its frames`);

  if (frameCount === undefined) {
    if (durationSec === undefined) throw new Error(`${abs}: video stream ${video.index} has neither a frame count nor a duration`);
    frameCount = Math.max(1, Math.round(durationSec * fps));
    frameCountSource = "estimate";
  }
  return {
    ...base,
    fps,
    ...(fpsFraction ? { fpsFraction } : {}),
    frameCount,
    frameCountEstimated: frameCountSource === "estimate",
    frameCountSource,
    durationSec: durationSec ?? frameCount / fps,
    isImage: false,
  };
}
