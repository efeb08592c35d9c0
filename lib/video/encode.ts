/**
 * encodeVideo: write RgbImage frames to a video file (H.264 yuv420p in mp4/mov/mkv) or a single PNG image, by
 * piping raw rgb24 frames into an ffmpeg child process.
 *
 * The output appears atomically: ffmpeg writes a temporary file in the output's directory, which is renamed
 * over the output only when ffmpeg succeeded; on any failure or abort the temporary file is removed and an
 * existing output is left as it was.
 *
 * yuv420p (what players expect of H.264) needs even frame sizes: odd widths/heights are padded by one black
 * column/row at the right/bottom, so drawn pixels keep their coordinates.
 */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { commitFile, tempPathFor } from "../atomic_file.js";
import type { RgbImage } from "../types.js";
import { ffmpegInputUrl } from "./probe.js";
import { resolveTool, StderrTail } from "./tools.js";

export type FrameRate = number | { num: number; den: number };

export interface EncodeOptions {
  /** Frame rate of the output video (ignored for .png); e.g. VideoInfo.fpsFraction ?? VideoInfo.fps. */
  fps: FrameRate;
  ffmpeg?: string;
  signal?: AbortSignal;
  /** x264 constant rate factor (0-51, lower = better); default 18 (visually lossless, as drawn lines stay crisp). */
  crf?: number;
  /** x264 preset; default "veryfast" (encoding must not dominate a render on 2 cores). */
  preset?: string;
}

export interface EncodeResult {
  path: string;
  frames: number;
  width: number;
  height: number;
}

type OutputKind = { muxer: string; png: boolean };

function outputKind(file: string): OutputKind {
  const ext = path.extname(file).toLowerCase();
  switch (ext) {
    case ".png":
      return { muxer: "image2", png: true };
    case ".mp4":
    case ".m4v":
      return { muxer: "mp4", png: false };
    case ".mov":
      return { muxer: "mov", png: false };
    case ".mkv":
      return { muxer: "matroska", png: false };
    default:
      throw new Error(`${file}: unsupported output type '${ext || "(no extension)"}': use .mp4, .mov, .mkv or .png`);
  }
}

function rateArg(fps: FrameRate): string {
  if (typeof fps === "number") {
    if (!(Number.isFinite(fps) && fps > 0)) throw new Error(`fps must be a positive number, got ${fps}`);
    return String(fps);
  }
  if (!(Number.isInteger(fps.num) && Number.isInteger(fps.den) && fps.num > 0 && fps.den > 0)) {
    throw new Error(`fps must be a positive fraction, got ${fps.num}/${fps.den}`);
  }
  return `${fps.num}/${fps.den}`;
}

/** The ffmpeg arguments for one output; exported for tests. */
export function encodeArgs(width: number, height: number, outUrl: string, kind: OutputKind, opts: Pick<EncodeOptions, "fps" | "crf" | "preset">): string[] {
  const input = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${width}x${height}`, "-r", kind.png ? "1" : rateArg(opts.fps), "-i", "pipe:0"];
  const output = kind.png
    ? // -update 1: write the one file named, never reading '%' in the name as a frame-number pattern.
      ["-frames:v", "1", "-c:v", "png", "-pix_fmt", "rgb24", "-f", "image2", "-update", "1"]
    : [
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-c:v",
        "libx264",
        "-preset",
        opts.preset ?? "veryfast",
        "-crf",
        String(opts.crf ?? 18),
        "-pix_fmt",
        "yuv420p",
        ...(kind.muxer === "matroska" ? [] : ["-movflags", "+faststart"]),
        "-f",
        kind.muxer,
      ];
  return ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+warning", "-y", ...input, ...output, outUrl];
}

/**
 * Encodes frames (all of the same size) to `outPath`. A .png output takes exactly one frame.
 * Resolves when the output file is complete and in place.
 */
export async function encodeVideo(outPath: string, frames: AsyncIterable<RgbImage> | Iterable<RgbImage>, opts: EncodeOptions): Promise<EncodeResult> {
  const abs = path.resolve(outPath);
  const kind = outputKind(abs);
  if (!kind.png) rateArg(opts.fps);
  const { signal } = opts;
  const bin = await resolveTool("ffmpeg", opts.ffmpeg);
  const tmp = tempPathFor(abs);

  let child: ReturnType<typeof spawn> | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> | undefined;
  const tail = new StderrTail();
  let count = 0;
  let width = 0;
  let height = 0;
  const kill = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  signal?.addEventListener("abort", kill, { once: true });
  const fail = (problem: string) => new Error(`${abs}: ${problem}${tail.summary() ? ` (ffmpeg: ${tail.summary()})` : ""}`);

  const start = (w: number, h: number) => {
    const c = spawn(bin, encodeArgs(w, h, ffmpegInputUrl(tmp), kind, opts), { stdio: ["pipe", "ignore", "pipe"] });
    c.stderr!.on("data", (chunk: Buffer) => tail.push(chunk));
    // EPIPE when ffmpeg exits early: the exit status and stderr tell why, so the stream error itself is dropped.
    c.stdin!.on("error", () => {});
    exited = new Promise((resolve) => {
      c.on("error", (error) => resolve({ code: null, signal: null, error }));
      c.on("close", (code, sig) => resolve({ code, signal: sig }));
    });
    child = c;
  };

  /** Writes one frame, waiting for the pipe to drain; rejects when ffmpeg has gone away. */
  const write = async (data: Uint8Array) => {
    const stdin = child!.stdin!;
    if (stdin.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onGone = () => {
        cleanup();
        reject(fail("ffmpeg stopped reading frames"));
      };
      const cleanup = () => {
        stdin.off("drain", onDrain);
        child!.off("close", onGone);
      };
      stdin.once("drain", onDrain);
      child!.once("close", onGone);
    });
  };

  try {
    for await (const frame of frames) {
      if (signal?.aborted) throw signal.reason;
      if (frame.data.length !== frame.width * frame.height * 3) {
        throw new Error(`${abs}: frame ${count} has ${frame.data.length} bytes, expected ${frame.width}x${frame.height}x3`);
      }
      if (count === 0) {
        width = frame.width;
        height = frame.height;
        start(width, height);
      } else if (frame.width !== width || frame.height !== height) {
        throw new Error(`${abs}: frame ${count} is ${frame.width}x${frame.height}, but the first frame was ${width}x${height}`);
      } else if (kind.png) {
        throw new Error(`${abs}: a .png output holds one image, but more than one frame was given`);
      }
      await write(frame.data);
      count++;
    }
    if (count === 0) throw new Error(`${abs}: no frames to encode`);
    child!.stdin!.end();
    const res = await exited!;
    if (signal?.aborted) throw signal.reason;
    if (res.error) throw new Error(`${abs}: cannot run ffmpeg (${bin}): ${res.error.message}`);
    if (res.code !== 0) throw fail(`ffmpeg failed to encode (${res.signal ? `killed by ${res.signal}` : `exit code ${res.code}`})`);
    await commitFile(tmp, abs);
    return { path: abs, frames: count, width, height };
  } catch (err) {
    kill();
    if (exited) await exited;
    await rm(tmp, { force: true });
    throw signal?.aborted ? signal.reason : err;
  } finally {
    signal?.removeEventListener("abort", kill);
  }
}
