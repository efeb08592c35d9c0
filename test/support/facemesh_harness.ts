/**
 * Helpers for the end-to-end tests of the module (hooks), the CLI and the pipeline: run the CLI as a child
 * process, read landmark/bbox streams with a reader of our own (so a bug in lib/ssi cannot hide behind itself),
 * hand-build bbox streams byte by byte, compare rows with static-mode landmarks, and check that a failed run
 * left nothing behind.
 *
 * The distance used everywhere: mean 2-D distance over the 468 points in *pixels*, divided by the reference's
 * inter-ocular distance (outer eye corners, mesh points 33 and 263), the usual normalized mean error.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../lib/nova/hooks.js";
import type { JobRequest } from "../../lib/nova/hooks.js";
import type { FaceLandmarks, RgbImage } from "../../lib/types.js";
import { FaceMesh } from "../../lib/pipeline.js";
import * as facemesh from "../../facemesh.js";
import { probeVideo, type VideoInfo } from "../../lib/video/probe.js";
import { decodeFrames } from "../../lib/video/decode.js";
import { ffmpeg, projectRoot, sharedDataDir } from "./media.js";
import { GENERATED_CLIPS, generatedFixture, generatedReference } from "./mediapipe_fixture.js";
import { decodeInput, PixelHash } from "../../scripts/mediapipe_reference.js";

const require = createRequire(import.meta.url);

export const NUM_POINTS = 468;
export const ROW_DIM = 937;
export const RIGHT_EYE_OUTER = 33;
export const LEFT_EYE_OUTER = 263;

export const cliPath = path.join(projectRoot, "dist", "lib", "cli.js");
export const trainerPath = path.join(projectRoot, "facemesh.trainer");

/** A file under ../shared/data, or undefined when the folder or the file is absent (the caller skips). */
export function sharedFile(relative: string): string | undefined {
  const dir = sharedDataDir();
  if (!dir) return undefined;
  const file = path.join(dir, relative);
  return existsSync(file) ? file : undefined;
}

/** The 1920x1280 group photo that ships with @vladmandic/face-api (a devDependency; also used by `npm run demo`). */
export function samplePhoto(): string {
  return path.join(path.dirname(require.resolve("@vladmandic/face-api/package.json")), "demo", "sample1.jpg");
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/lib/cli.js ...args`; never rejects on a non-zero exit (the tests look at the code). */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === "string") reject(err);
        else resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Lines of stderr that are warnings (the CLI prefixes them with "warning: "). */
export function warningLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("warning: "));
}

// ---------------------------------------------------------------------------------------------------------------
// Hooks

/** A logger that keeps what it is told. */
export function collectingLogger(): Logger & { infos: string[]; warnings: string[]; errors: string[] } {
  const infos: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  return { infos, warnings, errors, info: (m) => infos.push(m), warn: (m) => warnings.push(m), error: (m) => errors.push(m) };
}

/**
 * Runs a job through the module's hooks as a NOVA host would: load, predict, write, dispose. Resolves with what
 * was logged; rejects with the hook's error (the logger is attached to it as `logged`).
 */
export async function runHooks(request: JobRequest): Promise<ReturnType<typeof collectingLogger>> {
  const logger = collectingLogger();
  const context = { logger };
  try {
    const model = await facemesh.load(request, context);
    try {
      const prediction = await facemesh.predict(model, request, context);
      await facemesh.write(model, prediction, request, context);
    } finally {
      await facemesh.dispose(model);
    }
  } catch (err) {
    Object.assign(err as object, { logged: logger });
    throw err;
  }
  return logger;
}

/** A job request against this module's trainer. */
export function jobRequest(inputs: Record<string, string>, outputs: Record<string, string>, options: Record<string, unknown> = {}): JobRequest {
  return { trainerPath, options, inputs, outputs };
}

// ---------------------------------------------------------------------------------------------------------------
// Streams, read independently of lib/ssi

export interface StreamFile {
  /** <info> attributes as written. */
  info: Record<string, string>;
  /** <meta> attributes (empty when none). */
  meta: Record<string, string>;
  /** Sum of the chunks' num. */
  rows: number;
  dim: number;
  sr: number;
  /** rows * dim float32 values (BINARY FLOAT streams only). */
  data: Float32Array;
  headerText: string;
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w-]+)\s*=\s*"([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Reads a BINARY FLOAT SSI stream with a few regular expressions and a DataView (little-endian). */
export async function readStreamFile(headerPath: string): Promise<StreamFile> {
  const headerText = await readFile(headerPath, "utf8");
  const infoTag = /<info\b[^>]*>/.exec(headerText)?.[0];
  if (!infoTag) throw new Error(`${headerPath}: no <info> element`);
  const info = attributes(infoTag);
  const metaTag = /<meta\b[^>]*>/.exec(headerText)?.[0];
  const meta = metaTag ? attributes(metaTag) : {};
  const rows = [...headerText.matchAll(/<chunk\b[^>]*>/g)].reduce((n, m) => n + Number(attributes(m[0]).num), 0);
  const dim = Number(info.dim);
  if (info.ftype !== "BINARY" || info.type !== "FLOAT") throw new Error(`${headerPath}: expected BINARY FLOAT, got ${info.ftype} ${info.type}`);
  const bytes = await readFile(`${headerPath}~`);
  if (bytes.length !== rows * dim * 4) throw new Error(`${headerPath}~: ${bytes.length} bytes for ${rows} x ${dim} floats`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(rows * dim);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(4 * i, true);
  return { info, meta, rows, dim, sr: Number(info.sr), data, headerText };
}

/** Row r of a stream (a view). */
export function row(s: { data: Float32Array; dim: number }, r: number): Float32Array {
  return s.data.subarray(r * s.dim, (r + 1) * s.dim);
}

export interface HandStreamSpec {
  sr: number;
  dim: number;
  /** <meta> attributes; none written when absent. */
  meta?: Record<string, string>;
  /** Header's chunk num; default: the number of rows given (set it to fake a header/data mismatch). */
  num?: number;
}

/** Writes a BINARY FLOAT SSI stream by hand (header text + little-endian floats), the way SSI C++ lays it out. */
export async function writeHandStream(headerPath: string, rows: ReadonlyArray<ReadonlyArray<number>>, spec: HandStreamSpec): Promise<string> {
  const num = spec.num ?? rows.length;
  const meta = spec.meta ? `\t<meta ${Object.entries(spec.meta).map(([k, v]) => `${k}="${v}"`).join(" ")} />\n` : "";
  const header =
    `<?xml version="1.0" ?>\n<stream ssi-v="2">\n` +
    `\t<info ftype="BINARY" sr="${spec.sr.toFixed(3)}" dim="${spec.dim}" byte="4" type="FLOAT" delim=" " />\n` +
    meta +
    `\t<chunk from="0.000000" to="${(num / spec.sr).toFixed(6)}" byte="0" num="${num}" />\n</stream>\n`;
  const data = Buffer.alloc(rows.length * spec.dim * 4);
  rows.forEach((r, i) => {
    if (r.length !== spec.dim) throw new Error(`row ${i} has ${r.length} values, dim is ${spec.dim}`);
    r.forEach((v, j) => data.writeFloatLE(v, 4 * (i * spec.dim + j)));
  });
  await writeFile(headerPath, header);
  await writeFile(`${headerPath}~`, data);
  return headerPath;
}

/** A blazeface-layout bbox stream written by hand: rows [ymin, xmin, ymax, xmax, conf]. */
export function writeHandBboxStream(headerPath: string, rows: ReadonlyArray<ReadonlyArray<number>>, video: { fps: number; width: number; height: number }): Promise<string> {
  return writeHandStream(headerPath, rows, { sr: video.fps, dim: 5, meta: { type: "feature;face;boundingbox;blazeface", size: `${video.width}:${video.height}` } });
}

/**
 * A box square in pixels, centred on pixel (cx, cy) with side `side` pixels, as a normalized bbox row; the
 * layout blazeface writes.
 */
export function squareBoxRow(cx: number, cy: number, side: number, width: number, height: number, conf = 1): number[] {
  return [(cy - side / 2) / height, (cx - side / 2) / width, (cy + side / 2) / height, (cx + side / 2) / width, conf];
}

// ---------------------------------------------------------------------------------------------------------------
// Output files left behind

/** Bytes of a stream's two files (for "an existing output is not damaged"). */
export async function snapshotStream(headerPath: string): Promise<{ header: Buffer; data: Buffer }> {
  return { header: await readFile(headerPath), data: await readFile(`${headerPath}~`) };
}

/** Names in `dir`, sorted (to see that a failed run added nothing, temp files included). */
export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Frames and media

export async function decodeAll(file: string): Promise<{ info: VideoInfo; frames: RgbImage[] }> {
  const info = await probeVideo(file);
  const frames: RgbImage[] = [];
  for await (const f of decodeFrames(file, info)) frames.push({ width: f.width, height: f.height, data: f.data });
  return { info, frames };
}

/**
 * The rightmost face of the sample photo (the window scripts/demo.ts uses), as a clip or a still image.
 * The face itself is tilted: its eye line (mesh 33 -> 263) is at about 45 degrees in the unrotated window.
 *   angle   ffmpeg's rotate filter expression in t (seconds), radians; "-0.8" makes the face upright
 *           (static-mode eye line within 1 degree of horizontal), "0" leaves its 45-degree tilt.
 *   layout  "square": 512x512; "wide": the 360x360 window padded to 640x360 (face right of centre), so that a
 *           y/x mix-up cannot go unnoticed.
 *   intraOnly  every frame a key frame (-g 1): frames of similar size, so a truncated copy decodes part way.
 *   blackFrames  frame indices painted black (no face), e.g. [0, 1, 2, 8].
 *   noise   strength of ffmpeg's temporal noise filter (noise=alls=N:allf=t: fresh noise every frame), e.g. 12.
 * A file ending in .png/.jpg gets one frame; anything else an H.264 video of `frames` frames.
 */
export async function makeFaceClip(file: string, opts: { frames?: number; fps?: number; angle?: string; layout?: "square" | "wide"; intraOnly?: boolean; blackFrames?: readonly number[]; noise?: number }): Promise<string> {
  const fps = opts.fps ?? 25;
  const geometry = opts.layout === "wide" ? "scale=360:360" : "scale=512:512";
  const pad = opts.layout === "wide" ? ",pad=640:360:220:0" : "";
  const black = opts.blackFrames?.length ? `,drawbox=c=black:t=fill:enable='${opts.blackFrames.map((n) => `eq(n,${n})`).join("+")}'` : "";
  const filter = `crop=760:760:1280:60,${geometry},rotate=a='${opts.angle ?? "0"}':c=black${pad}${black}`;
  if (/\.(png|jpe?g)$/i.test(file)) {
    await ffmpeg(["-i", samplePhoto(), "-frames:v", "1", "-vf", filter, ...(/\.jpe?g$/i.test(file) ? ["-q:v", "2"] : []), file]);
    return file;
  }
  await ffmpeg([
    "-loop", "1", "-framerate", String(fps), "-i", samplePhoto(),
    "-frames:v", String(opts.frames ?? 10),
    "-vf", `${filter}${opts.noise ? `,noise=alls=${opts.noise}:allf=t` : ""},format=yuv420p`,
    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", ...(opts.intraOnly ? ["-g", "1"] : []), file,
  ]);
  return file;
}

/**
 * The engine's static mode (FaceMesh.estimateStatic: BlazeFace, then landmarks in the detection's rotated ROI, as
 * MediaPipe's static_image_mode) on each frame: the reference the bbox-stream rows are compared with.
 */
export async function staticLandmarks(frames: readonly RgbImage[]): Promise<Array<FaceLandmarks | null>> {
  const mesh = await FaceMesh.create();
  try {
    const out: Array<FaceLandmarks | null> = [];
    for (const f of frames) out.push(await mesh.estimateStatic(f));
    return out;
  } finally {
    await mesh.dispose();
  }
}

/**
 * MediaPipe's own landmarks (frozen in test/fixtures/mediapipe/generated.json) on a clip made with makeFaceClip
 * from the recipe GENERATED_CLIPS[name], after checking that `file` decodes to the pixels MediaPipe was given:
 * an independent reference, where staticLandmarks is the engine's own. Entries are null where MediaPipe found
 * no face; `points` are x, y (z = 0), normalized.
 */
export async function mediapipeLandmarks(name: keyof typeof GENERATED_CLIPS, file: string): Promise<Array<{ points: Float32Array } | null>> {
  const hash = new PixelHash();
  for await (const frame of decodeInput(file)) hash.add(frame);
  const clip = generatedFixture().clips[name];
  assert.ok(clip, `generated.json has no ${name}: rerun scripts/make_packaged_fixture.ts`);
  assert.equal(hash.digest(), clip.pixelsSha256, `${file}: decodes to other pixels than MediaPipe saw for ${name} (recipe or ffmpeg changed: rerun scripts/make_packaged_fixture.ts)`);
  return generatedReference(name).map((points) => (points ? { points } : null));
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry on rows

/** Point i of a row in pixels: the row stores (y, x) normalized, in that order. */
export function rowPoint(r: ArrayLike<number>, i: number, width: number, height: number): [number, number] {
  return [r[2 * i + 1]! * width, r[2 * i]! * height];
}

/** Point i of a FaceLandmarks.points array (x, y, z normalized) in pixels. */
export function meshPoint(p: ArrayLike<number>, i: number, width: number, height: number): [number, number] {
  return [p[3 * i]! * width, p[3 * i + 1]! * height];
}

/** Inter-ocular distance (mesh points 33 and 263) of a FaceLandmarks.points array, in pixels. */
export function interOcular(p: ArrayLike<number>, width: number, height: number): number {
  const [ax, ay] = meshPoint(p, RIGHT_EYE_OUTER, width, height);
  const [bx, by] = meshPoint(p, LEFT_EYE_OUTER, width, height);
  return Math.hypot(ax - bx, ay - by);
}

/** Mean pixel distance between a row's landmarks and a reference's, divided by the reference's inter-ocular distance. */
export function rowVsMesh(r: ArrayLike<number>, ref: ArrayLike<number>, width: number, height: number): number {
  let sum = 0;
  for (let i = 0; i < NUM_POINTS; i++) {
    const [x, y] = rowPoint(r, i, width, height);
    const [rx, ry] = meshPoint(ref, i, width, height);
    sum += Math.hypot(x - rx, y - ry);
  }
  return sum / NUM_POINTS / interOcular(ref, width, height);
}

/** True when a row holds landmarks (lib/rows.ts). */
export { rowHasFace } from "../../lib/rows.js";

// One definition of the summary statistics for the whole project (numpy-style interpolated percentiles).
import type { Summary } from "../../lib/metrics.js";
export { summarize, type Summary } from "../../lib/metrics.js";

export function formatSummary(name: string, s: Summary, unit = "% IOD", scale = 100): string {
  const f = (v: number) => (v * scale).toFixed(3);
  return `${name}: n=${s.n} mean=${f(s.mean)} median=${f(s.median)} p95=${f(s.p95)} max=${f(s.max)} ${unit}`;
}
