/**
 * Test media, generated at test time with ffmpeg into a temporary folder (media files are never committed).
 *
 * Pixel content is made here, in TypeScript (solid colours, quadrants), written as a PPM and encoded by ffmpeg,
 * so tests know the expected pixels independently of the decoder under test. ffmpeg's testsrc2 is used where
 * only the structure (size, frame count, timing) matters.
 *
 * Other engineers may reuse these helpers (e.g. to make a short video of a known face image).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, truncate, writeFile, copyFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RgbImage } from "../../lib/types.js";
import { resolveTool } from "../../lib/video/tools.js";

export type Rgb = readonly [number, number, number];

/** The project root (this file is dist/test/support/media.js once compiled, test/support/media.ts in source). */
export const projectRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** ../shared/data relative to the project root, or undefined when absent (tests then skip). */
export function sharedDataDir(): string | undefined {
  const dir = path.resolve(projectRoot, "../shared/data");
  return existsSync(dir) ? dir : undefined;
}

/** A fresh temporary folder and a function that removes it. */
export async function tempDir(prefix = "facemesh-media-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs ffmpeg (the same binary the code under test resolves) with the given arguments; rejects with its stderr (or after 2 minutes). */
export async function ffmpeg(args: string[]): Promise<void> {
  const bin = await resolveTool("ffmpeg");
  await new Promise<void>((resolve, reject) => {
    execFile(bin, ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args], { maxBuffer: 16 << 20, timeout: 120_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ffmpeg ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

/** An image filled with one colour. */
export function solidImage(width: number, height: number, color: Rgb): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(color, i);
  return { width, height, data };
}

/** Quadrant colours used by the rotation tests: top-left red, top-right green, bottom-left blue, bottom-right white. */
export const QUADRANTS = { topLeft: [255, 0, 0], topRight: [0, 255, 0], bottomLeft: [0, 0, 255], bottomRight: [255, 255, 255] } as const satisfies Record<string, Rgb>;

/** An image split into four solid quadrants (split at floor(width/2), floor(height/2)). */
export function quadrantImage(width: number, height: number, q: Record<keyof typeof QUADRANTS, Rgb> = QUADRANTS): RgbImage {
  const img = solidImage(width, height, [0, 0, 0]);
  const hx = Math.floor(width / 2);
  const hy = Math.floor(height / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = y < hy ? (x < hx ? q.topLeft : q.topRight) : x < hx ? q.bottomLeft : q.bottomRight;
      img.data.set(c, (y * width + x) * 3);
    }
  }
  return img;
}

/** An image whose every pixel differs: r = x*7+y, g = y*5+x*3, b = x^y (mod 256). For exact round trips. */
export function gradientImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 7 + y) & 255;
      data[i + 1] = (y * 5 + x * 3) & 255;
      data[i + 2] = (x ^ y) & 255;
    }
  }
  return { width, height, data };
}

/** Writes a binary PPM (P6), the simplest lossless format ffmpeg reads. */
export async function writePpm(file: string, img: RgbImage): Promise<string> {
  const header = Buffer.from(`P6\n${img.width} ${img.height}\n255\n`, "ascii");
  await writeFile(file, Buffer.concat([header, Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength)]));
  return file;
}

/** Mean colour of the pixels in [x0,x1) x [y0,y1). */
export function meanColor(img: RgbImage, x0: number, y0: number, x1: number, y1: number): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * img.width + x) * 3;
      sum[0]! += img.data[i]!;
      sum[1]! += img.data[i + 1]!;
      sum[2]! += img.data[i + 2]!;
      n++;
    }
  }
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

export type VideoCodec = "h264" | "mpeg4" | "vp9";

/** Encoder arguments per codec, at high quality so that flat colours survive within a few levels. */
function codecArgs(codec: VideoCodec, oddSize: boolean): string[] {
  switch (codec) {
    case "h264":
      // libx264 refuses odd sizes in 4:2:0; 4:4:4 (High 4:4:4 profile) takes any size.
      return ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-pix_fmt", oddSize ? "yuv444p" : "yuv420p"];
    case "mpeg4":
      return ["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p"];
    case "vp9":
      return ["-c:v", "libvpx-vp9", "-crf", "10", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"];
  }
}

export interface VideoSpec {
  /** Still picture repeated in every frame; default: ffmpeg's testsrc2 (moving pattern). */
  image?: RgbImage;
  width?: number;
  height?: number;
  frames: number;
  fps?: number | string;
  codec: VideoCodec;
}

/** Encodes a video file (container from the file extension: .mp4 .mov .mkv .avi .webm). */
export async function makeVideo(file: string, spec: VideoSpec): Promise<string> {
  const fps = String(spec.fps ?? 25);
  const width = spec.image?.width ?? spec.width ?? 160;
  const height = spec.image?.height ?? spec.height ?? 120;
  const odd = width % 2 === 1 || height % 2 === 1;
  let input: string[];
  if (spec.image) {
    const ppm = `${file}.src.ppm`;
    await writePpm(ppm, spec.image);
    input = ["-loop", "1", "-framerate", fps, "-i", ppm];
  } else {
    // testsrc (not testsrc2) when odd: testsrc2 rounds sizes down to even.
    input = ["-f", "lavfi", "-i", `${odd ? "testsrc" : "testsrc2"}=size=${width}x${height}:rate=${fps}`];
  }
  await ffmpeg([...input, "-frames:v", String(spec.frames), ...codecArgs(spec.codec, odd), file]);
  if (spec.image) await rm(`${file}.src.ppm`, { force: true });
  return file;
}

/**
 * Sets the display matrix of an mp4/mov's (only) track header ('tkhd') to a clockwise rotation, the way phones
 * record portrait video. Done by patching bytes rather than with ffmpeg's `-metadata:s:v rotate=`, whose meaning
 * changed across ffmpeg releases (the 2018 build in @ffmpeg-installer writes rotate=90 as a 270-degree matrix).
 * QuickTime maps (x, y) to (a*x + c*y + tx, b*x + d*y + ty); the matrix is stored a, b, u, c, d, v, tx, ty, w
 * with a..d, tx, ty in 16.16 fixed point and u, v, w in 2.30.
 */
export async function setMp4Rotation(file: string, clockwise: 0 | 90 | 180 | 270, codedWidth: number, codedHeight: number): Promise<void> {
  const buf = await readFile(file);
  const at = buf.indexOf("tkhd");
  if (at < 0 || buf.indexOf("tkhd", at + 4) >= 0) throw new Error(`${file}: expected exactly one 'tkhd' box`);
  const version = buf[at + 4];
  const matrixAt = at + 4 + 4 + (version === 1 ? 32 : 20) + 16;
  const W = codedWidth;
  const H = codedHeight;
  const m: Record<number, number[]> = {
    0: [1, 0, 0, 1, 0, 0],
    90: [0, 1, -1, 0, H, 0],
    180: [-1, 0, 0, -1, W, H],
    270: [0, -1, 1, 0, 0, W],
  };
  const [a, b, c, d, tx, ty] = m[clockwise]!;
  const fixed = [a!, b!, 0, c!, d!, 0, tx!, ty!, 1];
  fixed.forEach((v, k) => buf.writeInt32BE(k === 2 || k === 5 || k === 8 ? v * 2 ** 30 : v * 65536, matrixAt + 4 * k));
  await writeFile(file, buf);
}

/**
 * A variable-frame-rate mp4/mkv: 10 frames 0.1 s apart, then 30 frames 1/30 s apart (40 frames over 2 s plus
 * the last frame's duration). `-vsync vfr` keeps ffmpeg from padding it to a constant rate.
 */
export const VFR_FRAMES = 40;
export async function makeVfrVideo(file: string): Promise<string> {
  await ffmpeg([
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=160x120:rate=30",
    "-frames:v",
    String(VFR_FRAMES),
    "-vf",
    "setpts='if(lt(N,10),N/10,1+(N-10)/30)/TB'",
    "-vsync",
    "vfr",
    ...codecArgs("h264", false),
    file,
  ]);
  return file;
}

/** A copy of `src` cut to its first `keepBytes` bytes. */
export async function makeTruncated(src: string, file: string, keepBytes: number): Promise<string> {
  await copyFile(src, file);
  await truncate(file, keepBytes);
  return file;
}

/** An mp4 whose index ('moov') comes first (-movflags +faststart): a truncated copy keeps its index. */
export async function makeFaststart(src: string, file: string): Promise<string> {
  await ffmpeg(["-i", src, "-c", "copy", "-movflags", "+faststart", file]);
  return file;
}

export async function makeEmptyFile(file: string): Promise<string> {
  await writeFile(file, "");
  return file;
}

export async function makeTextFile(file: string): Promise<string> {
  await writeFile(file, "This is a text file, not a video.\n");
  return file;
}

/** An mp4 with one AAC audio stream and no video. */
export async function makeAudioOnly(file: string): Promise<string> {
  await ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", file]);
  return file;
}

/** Encodes one still image (format from the extension: .png .jpg .bmp .webp .ppm) from RGB pixels. */
export async function makeImage(file: string, img: RgbImage): Promise<string> {
  if (path.extname(file).toLowerCase() === ".ppm") return writePpm(file, img);
  const ppm = `${file}.src.ppm`;
  await writePpm(ppm, img);
  const quality = /\.jpe?g$/i.test(file) ? ["-q:v", "2"] : /\.webp$/i.test(file) ? ["-lossless", "1"] : [];
  await ffmpeg(["-i", ppm, "-frames:v", "1", ...quality, file]);
  await rm(ppm, { force: true });
  return file;
}
