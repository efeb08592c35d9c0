/**
 * The benchmark's inputs: the shared talking-head videos when ../shared/data is there, plus clips generated
 * with ffmpeg from a photo that installs with the project (@vladmandic/face-api's demo/sample1.jpg): a face
 * moving and tilting over testsrc2. Generated files live in .cache/bench/ (git-ignored) and are reused.
 *
 * The 10-minute 720p clip is the 10-second one looped 60 times with stream copy (`-stream_loop 59 -c copy`):
 * the same codec, size and bitrate, made in a fraction of a second instead of minutes of encoding. The same way,
 * loopedVideo() makes a talking head long enough for a steady-state frame rate.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { commitFile, tempPathFor } from "../lib/atomic_file.js";
import { resolveTool } from "../lib/video/tools.js";

const require = createRequire(import.meta.url);

export interface BenchVideo {
  /** Short name used in tables, e.g. "liveportrait/d0" or "generated/512-10s". */
  name: string;
  file: string;
  /** "shared" videos come from ../shared/data; "generated" ones from ffmpeg. */
  source: "shared" | "generated";
  /** For MediaPipe's cache (.cache/mediapipe/<dataset>/<stem>.<mode>.json). */
  dataset: string;
  stem: string;
  /** Where the 10x / 5x targets apply: the 512x512 talking heads. */
  talkingHead512: boolean;
}

/** The shared videos the issue names, in table order. */
const SHARED: ReadonlyArray<{ rel: string; talkingHead512: boolean }> = [
  { rel: "liveportrait/d0.mp4", talkingHead512: true },
  { rel: "liveportrait/d12.mp4", talkingHead512: true },
  { rel: "liveportrait/d18.mp4", talkingHead512: false }, // 480x480
  { rel: "sadtalker/WDA_KatieHill_000.mp4", talkingHead512: true },
  { rel: "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4", talkingHead512: true },
  { rel: "face_recognition/short_hamilton_clip.mp4", talkingHead512: false },
];

export function sharedVideos(dataRoot: string): BenchVideo[] {
  if (!existsSync(dataRoot)) return [];
  return SHARED.filter((s) => existsSync(path.join(dataRoot, s.rel))).map((s) => {
    const dataset = path.dirname(s.rel);
    const stem = path.basename(s.rel, ".mp4");
    return { name: `${dataset}/${stem}`, file: path.join(dataRoot, s.rel), source: "shared", dataset, stem, talkingHead512: s.talkingHead512 };
  });
}

function runFfmpeg(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["-y", "-hide_banner", "-loglevel", "error", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    child.on("error", (e) => reject(new Error(`cannot run ${bin}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err.trim()}`))));
  });
}

/** Writes `out` with ffmpeg through a temp file in the same folder, so an interrupted run leaves nothing half-made. */
async function generate(bin: string, out: string, args: (tmp: string) => string[]): Promise<void> {
  // ffmpeg picks the format from the extension, so the temp name keeps it.
  const tmp = `${tempPathFor(out)}.mp4`;
  try {
    await runFfmpeg(bin, args(tmp));
    await commitFile(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Writes `out`: `src` played `loops` times with stream copy (same codec, size and bitrate; no re-encoding). */
function loopClip(bin: string, src: string, loops: number, out: string): Promise<void> {
  return generate(bin, out, (tmp) => ["-stream_loop", String(loops - 1), "-i", src, "-c", "copy", "-movflags", "+faststart", tmp]);
}

/** The face: a 760x760 window on the rightmost face of the 1920x1280 group photo (as scripts/demo.ts uses it). */
function facePhoto(): string {
  return path.join(path.dirname(require.resolve("@vladmandic/face-api/package.json")), "demo", "sample1.jpg");
}

/** testsrc2 background, the face scaled to `face` px, tilting +-8.6 degrees and moving on a Lissajous path. */
function clipArgs(photo: string, width: number, height: number, face: number, seconds: number, tmp: string): string[] {
  const box = Math.ceil(face * Math.SQRT2);
  const x0 = Math.round((width - box) / 2);
  const y0 = Math.round((height - box) / 2);
  const ax = Math.round(Math.min(x0, width * 0.25));
  const ay = Math.round(Math.min(y0, height * 0.1));
  return [
    "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=25`,
    "-loop", "1", "-framerate", "25", "-i", photo,
    "-filter_complex",
    `[1:v]crop=760:760:1280:60,scale=${face}:${face},format=rgba,rotate=a='0.15*sin(2*PI*t/4)':c=none:ow=${box}:oh=${box}[f];` +
      `[0:v][f]overlay=x='${x0}+${ax}*sin(2*PI*t/8)':y='${y0}+${ay}*sin(2*PI*t/5)':shortest=1,format=yuv420p`,
    "-t", String(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-movflags", "+faststart", tmp,
  ];
}

export interface GeneratedSet {
  clip512: BenchVideo;
  clip720: BenchVideo;
  /** Absent with --no-long. */
  long720?: BenchVideo;
}

/** Makes (or reuses) the generated clips in `dir`. */
export async function generatedVideos(dir: string, long: boolean, log: (m: string) => void): Promise<GeneratedSet> {
  await mkdir(dir, { recursive: true });
  const bin = await resolveTool("ffmpeg");
  const photo = facePhoto();
  const video = (stem: string, talkingHead512: boolean): BenchVideo => ({
    name: `generated/${stem}`,
    file: path.join(dir, `${stem}.mp4`),
    source: "generated",
    dataset: "bench-generated",
    stem,
    talkingHead512,
  });
  const clip512 = video("512-10s", false);
  const clip720 = video("720p-10s", false);
  if (!existsSync(clip512.file)) {
    log(`generating ${clip512.file}`);
    await generate(bin, clip512.file, (tmp) => clipArgs(photo, 512, 512, 300, 10, tmp));
  }
  if (!existsSync(clip720.file)) {
    log(`generating ${clip720.file}`);
    await generate(bin, clip720.file, (tmp) => clipArgs(photo, 1280, 720, 360, 10, tmp));
  }
  if (!long) return { clip512, clip720 };
  const long720 = video("720p-10min", false);
  if (!existsSync(long720.file)) {
    log(`generating ${long720.file} (the 10-second clip looped 60 times, stream copy)`);
    await loopClip(bin, clip720.file, 60, long720.file);
  }
  return { clip512, clip720, long720 };
}

/**
 * `v` looped with stream copy until it has at least `minFrames` frames (same codec, size, bitrate and content),
 * in `dir`. Why: the shared talking heads have 78 to 200 frames, 2 to 4 batches of 50, so the pipeline's fill and
 * drain (the first batch decoded with nothing to overlap, the last inferred with nothing to decode) and warm-up
 * weigh on their frame rate as they would not over the hours of video the module is for.
 */
export async function loopedVideo(dir: string, v: BenchVideo, frames: number, minFrames: number, log: (m: string) => void): Promise<BenchVideo & { loops: number }> {
  const loops = Math.max(1, Math.ceil(minFrames / Math.max(1, frames)));
  const stem = `${v.dataset.replace(/[/\\]/g, "__")}__${v.stem}-x${loops}`;
  const looped = { name: `${v.name} x${loops}`, file: path.join(dir, "loop", `${stem}.mp4`), source: v.source, dataset: "bench-looped", stem, talkingHead512: v.talkingHead512, loops };
  if (!existsSync(looped.file)) {
    await mkdir(path.dirname(looped.file), { recursive: true });
    log(`generating ${looped.file} (${v.name} looped ${loops} times, stream copy)`);
    await loopClip(await resolveTool("ffmpeg"), v.file, loops, looped.file);
  }
  return looped;
}
