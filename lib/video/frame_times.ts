/**
 * frameTimes: when each decoded frame is shown, in seconds, for filters that need real time between frames (the
 * one-euro landmark smoothing). decodeFrames yields raw rgb24 frames without timestamps, so the times come from
 * the container instead: ffprobe lists the video packets' presentation timestamps by demuxing alone (no decoding;
 * 0.01 s for the shared 200-frame clips). Sorted, they are the presentation times of the decoded frames, which
 * ffmpeg (`-vsync passthrough`) yields in presentation order, one per packet. That holds variable frame rates.
 *
 * When the packet list cannot be trusted to line up with the decoded frames (a still image, a stream without
 * timestamps, a packet count other than the probed frame count, ffprobe failing), the times are index / fps, and
 * `source` says so, with the reason.
 */
import { ffmpegInputArgs, runFfprobe, type VideoInfo } from "./probe.js";
import { resolveTool } from "./tools.js";

export interface FrameTimes {
  /** "pts": the stream's presentation timestamps; "index": frame index / average frame rate. */
  source: "pts" | "index";
  /** Why the times are index / fps (source "index" only). */
  reason?: string;
  /** Time of frame `index` in seconds (beyond the listed frames: the last listed time plus whole frames at the average rate). */
  at(index: number): number;
}

/** Times index / fps: a constant frame rate. */
export function constantRateTimes(fps: number, reason: string): FrameTimes {
  const rate = fps > 0 ? fps : 1;
  return { source: "index", reason, at: (index) => index / rate };
}

/**
 * Parses ffprobe's `-show_entries packet=pts_time,flags -of csv=p=0` lines ("0.040000,K__"). Packets flagged
 * discard (second flag 'D': before an edit list's start) are decoded but not output, so they are left out.
 * Returns the sorted times, or a reason they cannot be used.
 */
export function parsePacketTimes(csv: string): { times: Float64Array } | { reason: string } {
  const times: number[] = [];
  for (const line of csv.split(/\r?\n/)) {
    const text = line.trim();
    if (text === "") continue;
    const [time, flags = ""] = text.split(",");
    if (flags[1] === "D") continue;
    const t = Number(time);
    if (time === undefined || time === "N/A" || time.trim() === "" || !Number.isFinite(t)) return { reason: `a packet without a presentation timestamp ("${text}")` };
    times.push(t);
  }
  if (times.length === 0) return { reason: "no video packets listed" };
  return { times: Float64Array.from(times).sort() };
}

/** The presentation time of every frame of `info`'s video stream (see the file comment for the fallback). */
export async function frameTimes(info: VideoInfo, opts: { ffprobe?: string; signal?: AbortSignal } = {}): Promise<FrameTimes> {
  if (info.isImage) return constantRateTimes(info.fps, "a still image");
  const bin = await resolveTool("ffprobe", opts.ffprobe);
  const res = await runFfprobe(
    bin,
    ["-v", "error", "-select_streams", String(info.streamIndex), "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", ...ffmpegInputArgs(info.path)],
    opts.signal,
  );
  if (opts.signal?.aborted) throw opts.signal.reason;
  if (res.error) return constantRateTimes(info.fps, `ffprobe could not list the packets (${res.error.message.split("\n")[0]})`);
  const parsed = parsePacketTimes(res.stdout);
  if ("reason" in parsed) return constantRateTimes(info.fps, parsed.reason);
  const { times } = parsed;
  if (!info.frameCountEstimated && times.length !== info.frameCount) {
    return constantRateTimes(info.fps, `${times.length} packets with timestamps but ${info.frameCount} frames`);
  }
  const step = 1 / (info.fps > 0 ? info.fps : 1);
  const last = times[times.length - 1]!;
  return { source: "pts", at: (index) => (index < times.length ? times[index]! : last + (index - times.length + 1) * step) };
}

