/**
 * decodeFrames: stream the frames of a video (or a still image) as 8-bit RGB images, decoded by an ffmpeg child
 * process that writes raw rgb24 frames to a local socket (see Transport below).
 *
 * - One RgbImage per decoded frame: `-vsync passthrough` stops ffmpeg from duplicating or dropping frames to
 *   reach a constant rate (a variable-frame-rate file gives exactly its decoded frames, in order).
 * - Rotation metadata is applied (ffmpeg's default autorotation), so frames have the display size that
 *   probeVideo reports. The size is cross-checked against the size ffmpeg itself announces for its output,
 *   because ffprobe and ffmpeg may be different builds that read rotation metadata differently: a silent
 *   width/height swap would yield garbage frames with the right byte count.
 * - Memory is bounded: frames are read as the consumer pulls them, a couple ahead (see Transport); back-pressure
 *   pauses ffmpeg, nothing else is buffered.
 * - Buffer ownership, by default: every yielded frame has its own freshly allocated buffer, which stays valid
 *   (and is never written again by the decoder) after later `next()` calls: a consumer may keep frames for as
 *   long as it likes.
 * - Buffer ownership with `opts.pool` (a FramePool, frame_pool.ts; opt-in): frame buffers are borrowed from the
 *   pool. A frame stays valid until its consumer calls `pool.release(frame)`, and must not be touched after that
 *   (the pool lends the buffer to the decoder again, which overwrites it). The pool never lends a buffer that is
 *   on loan, and throws on a double release; a frame never released is simply collected. Frames read ahead or
 *   half filled when decoding stops early were never yielded and go back to the pool here.
 *   Reusing frame buffers saves JS CPU and main-thread garbage collection per frame, most when the consumer
 *   holds several batches of frames (bench/README.md, "Figures behind the code's choices"). Which allocation
 *   the pool uses for a miss does not matter: glibc serves `new Uint8Array` and `Buffer.allocUnsafeSlow` alike
 *   from pages the kernel already zeroed, so calloc skips the memset.
 * - Transport (frame_socket.ts): ffmpeg writes to a local socket instead of a stdout pipe, and frames are read
 *   straight into their buffers (Node's `onread`): no 64 KiB chunk per read, no copy. Reading the child's stdout
 *   stream (with `for await`, 'data' events or a read() loop alike) allocated a Buffer per read, whose external
 *   memory set off most of the pipeline's full collections (bench/README.md has the before and after). At
 *   most FRAMES_READ_AHEAD complete frames (and the one
 *   being filled) are read ahead of the consumer; then reading pauses and ffmpeg blocks, so memory stays bounded.
 * - Early exit (`break`, `return()`), an abort signal or an error kill ffmpeg (SIGKILL) and wait for it to exit,
 *   so no process or zombie outlives the generator.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import type { RgbImage } from "../types.js";
import type { FramePool } from "./frame_pool.js";
import { FrameSocket } from "./frame_socket.js";
import { ffmpegInputArgs, probeVideo, type VideoInfo } from "./probe.js";
import { resolveTool, StderrTail } from "./tools.js";

export interface DecodedFrame extends RgbImage {
  /** 0-based index of the frame in decode order. */
  readonly index: number;
}

export interface DecodeOptions {
  /** Path of the ffmpeg binary (else FFMPEG_PATH, the npm package, PATH). */
  ffmpeg?: string;
  /** Aborting kills ffmpeg; the generator then throws the signal's reason. */
  signal?: AbortSignal;
  /** Decoder threads (ffmpeg `-threads` on the input); default: ffmpeg's choice (one per core). */
  threads?: number;
  /** Called with ffmpeg's warning/error lines that do not fail the decode (at most 20 calls). */
  onWarning?: (message: string) => void;
  /**
   * Take frame buffers from this pool instead of allocating one per frame. The consumer then owns each yielded
   * frame's `data` until it calls `pool.release(frame)`, and must not touch it afterwards (the decoder refills it).
   * A frame never released is simply garbage collected. Without a pool every frame has its own buffer, for good.
   */
  pool?: FramePool;
  /**
   * Scheduling niceness for ffmpeg (os.setPriority: 0 normal, up to 19 lowest); default: inherited. The pipeline
   * asks for a low priority: ffmpeg decodes ahead into a bounded socket, so it loses nothing by yielding a core
   * to the inference thread, whose model calls are the latency that tracking waits on (bench/README.md).
   * Best effort: a system that refuses it leaves ffmpeg at its inherited priority.
   */
  niceness?: number;
  /**
   * Start at the first frame whose presentation time is at or after this many seconds, on the stream's own
   * timeline (the times frameTimes lists, not shifted to the file's start): ffmpeg seeks to the key frame before it
   * and decodes from there, dropping the frames before it (`-seek_timestamp 1 -ss` before `-i`). See segment.ts.
   */
  seekSeconds?: number;
  /** Stop after this many frames (ffmpeg's `-frames:v`). */
  maxFrames?: number;
  /** The index of the first frame yielded (default 0): the video's index of the frame a seek lands on. */
  firstIndex?: number;
}

/** Arguments of the ffmpeg decode command; exported for tests and for the benchmark. */
export function decodeArgs(info: Pick<VideoInfo, "path" | "streamIndex">, threads?: number, range: Pick<DecodeOptions, "seekSeconds" | "maxFrames"> = {}): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-nostats",
    // "level" prefixes each line with its level, so errors can be told from chatter; "info" is needed for the
    // output stream description that carries the decoded frame size.
    "-loglevel",
    "level+info",
    ...(threads !== undefined ? ["-threads", String(threads)] : []),
    // Frame-exact: ffmpeg decodes from the key frame before the time and drops the frames before it by timestamp.
    ...(range.seekSeconds !== undefined ? ["-seek_timestamp", "1", "-ss", range.seekSeconds.toFixed(6)] : []),
    ...ffmpegInputArgs(info.path),
    "-map",
    `0:${info.streamIndex}`,
    "-vsync",
    "passthrough",
    ...(range.maxFrames !== undefined ? ["-frames:v", String(range.maxFrames)] : []),
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ];
}

/** Parses ffmpeg's description of its rawvideo output stream ("... Video: rawvideo (...), rgb24, 240x320 ..."). */
export function parseOutputFrameSize(line: string): { width: number; height: number } | undefined {
  const m = /Stream #0:0.*Video: rawvideo\b.*?, (\d+)x(\d+)/.exec(line);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("decode aborted", "AbortError");
}

/**
 * Decodes `info.path` frame by frame. `info` is probeVideo's result for the same file (its size, stream index
 * and frame count are used).
 */
export async function* decodeFrames(file: string, info: VideoInfo, opts: DecodeOptions = {}): AsyncGenerator<DecodedFrame, void, undefined> {
  const abs = path.resolve(file);
  const { signal, pool } = opts;
  if (signal?.aborted) throw abortError(signal);
  const bin = await resolveTool("ffmpeg", opts.ffmpeg);
  if (signal?.aborted) throw abortError(signal);

  const channel = await FrameSocket.open();
  let child: ChildProcessByStdio<null, null, Readable>;
  try {
    child = spawn(bin, decodeArgs({ path: abs, streamIndex: info.streamIndex }, opts.threads, opts), { stdio: ["ignore", channel.writer, "pipe"] });
  } finally {
    channel.closeWriter(); // ffmpeg holds its own copy now
  }
  if (opts.niceness !== undefined && child.pid !== undefined) {
    try {
      os.setPriority(child.pid, opts.niceness);
    } catch {
      // Not permitted here (or the process already exited): decoding works the same, only scheduled as before.
    }
  }
  const tail = new StderrTail();
  let inOutputSection = false;
  let announced: { width: number; height: number } | undefined;
  let warnings = 0;
  // Settles once ffmpeg has described its output (stderr, before it writes any frame), or can no longer do so.
  let sizeKnown: () => void = () => undefined;
  const described = new Promise<void>((resolve) => (sizeKnown = resolve));
  tail.onLine((line) => {
    if (/\] Output #0\b/.test(line) || /^\[info\] Output #0\b/.test(line)) inOutputSection = true;
    else if (inOutputSection && !announced) {
      announced = parseOutputFrameSize(line);
      if (announced) sizeKnown();
    }
    if (opts.onWarning && warnings < 20 && /\[(warning|error|fatal)\]/.test(line)) {
      warnings++;
      opts.onWarning(`${abs}: ffmpeg: ${line}`);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => tail.push(chunk));
  child.stderr.on("end", () => {
    tail.end();
    sizeKnown();
  });
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("error", (err) => {
      spawnError = err;
      sizeKnown();
      resolve({ code: null, signal: null });
    });
    child.on("close", (code, sig) => {
      sizeKnown();
      resolve({ code, signal: sig });
    });
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const onAbort = () => {
    kill();
    sizeKnown();
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  const fail = (problem: string) => new Error(`${abs}: ${problem}${tail.summary() ? ` (ffmpeg: ${tail.summary()})` : ""}`);

  try {
    await described;
    if (signal?.aborted) throw abortError(signal);
    let width = info.width;
    let height = info.height;
    if (announced) {
      if (announced.width !== info.width || announced.height !== info.height) {
        throw fail(
          `ffmpeg decodes ${announced.width}x${announced.height} frames but probeVideo reported ${info.width}x${info.height} ` +
            `(rotation ${info.rotation}); ffmpeg and ffprobe disagree about this file: point FFMPEG_PATH and FFPROBE_PATH at the same ffmpeg release`,
        );
      }
      width = announced.width;
      height = announced.height;
    } else if (!spawnError && child.exitCode === null && child.signalCode === null) {
      opts.onWarning?.(`${abs}: ffmpeg did not announce its output frame size; assuming the probed ${info.width}x${info.height}`);
    }
    const frameBytes = width * height * 3;
    channel.start(frameBytes, () => (pool ? pool.acquire(frameBytes) : new Uint8Array(frameBytes)));
    const firstIndex = opts.firstIndex ?? 0;
    let index = firstIndex;
    for (let data = await channel.next(); data; data = await channel.next()) {
      if (signal?.aborted) {
        pool?.release(data); // read, never yielded
        throw abortError(signal);
      }
      yield { width, height, data, index: index++ };
    }
    const { code, signal: killedBy } = await exited;
    if (signal?.aborted) throw abortError(signal);
    if (spawnError) throw new Error(`${abs}: cannot run ffmpeg (${bin}): ${spawnError.message}`);
    if (code !== 0) throw fail(`ffmpeg failed to decode the video (${killedBy ? `killed by ${killedBy}` : `exit code ${code}`})`);
    if (channel.partialBytes > 0) throw fail(`decoding ended inside frame ${index}: got ${channel.partialBytes} of ${frameBytes} bytes`);
    if (index === firstIndex) throw fail(firstIndex === 0 ? "ffmpeg decoded no frames" : `ffmpeg decoded no frames from frame ${firstIndex} on`);
    // A container that lists more frames than could be decoded, together with ffmpeg's errors, means a damaged or
    // truncated file (ffmpeg itself exits 0 on a truncated mp4 whose index is intact).
    if (!info.frameCountEstimated && index < Math.min(info.frameCount, firstIndex + (opts.maxFrames ?? Infinity)) && tail.errorCount > 0) {
      throw fail(`decoding stopped after ${index} of ${info.frameCount} frames: the file is truncated or damaged`);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    kill();
    channel.close();
    // Frames read ahead (or half filled) were never yielded: back to the pool (if any).
    for (const unread of channel.takeUnread()) pool?.release(unread);
    await exited;
  }
}

/** Reads a still image (or the first frame of a video) as one RgbImage. */
export async function readImage(file: string, opts: DecodeOptions & { ffprobe?: string } = {}): Promise<RgbImage> {
  const info = await probeVideo(file, { ffprobe: opts.ffprobe, signal: opts.signal, countPackets: false });
  for await (const frame of decodeFrames(file, info, opts)) return { width: frame.width, height: frame.height, data: frame.data };
  throw new Error(`${path.resolve(file)}: no frame decoded`);
}
