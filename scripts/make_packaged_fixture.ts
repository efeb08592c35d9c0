/**
 * Freezes MediaPipe's own landmarks on inputs every clone has into test/fixtures/mediapipe/packaged.json, so that
 * the parity test runs without ../shared/data: the six photos @vladmandic/face-api ships (a devDependency; the
 * demo uses them) and a clip generated from one of them with the bundled ffmpeg (packagedClip: the face turning
 * from -0.8 to +0.6 rad, so the ROI rotation is exercised). MediaPipe runs in headless Chromium through
 * scripts/mediapipe_reference.ts (static mode); x,y only, rounded to 1e-5 of the image. The decoded pixels' sha256
 * is kept: the test checks that it decodes exactly what MediaPipe saw.
 *
 * A second file, test/fixtures/mediapipe/generated.json, holds MediaPipe's landmarks on the clips the tests make
 * with test/support's makeFaceClip (GENERATED_CLIPS), so that those tests compare the engine with MediaPipe
 * instead of with the engine's own static mode. Its landmarks are 16-bit fixed point (1/65535 of the frame,
 * 0.008 px on 512 px), base64: 50 frames fit in ~125 KB.
 *
 *   MPREF_DIR=/work/mpref node dist/scripts/make_packaged_fixture.js
 */
import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { resolveTool } from "../lib/video/tools.js";
import { makeFaceClip } from "../test/support/facemesh_harness.js";
import { encodeQ16, GENERATED_CLIPS, GENERATED_PATH, type GeneratedFixture } from "../test/support/mediapipe_fixture.js";
import { mediapipeReferences, PROJECT_ROOT, type InputSpec } from "./mediapipe_reference.js";
import type { Fixture, FixtureEntry } from "./make_mediapipe_fixture.js";

const require = createRequire(import.meta.url);

/** The photos shipped in @vladmandic/face-api's demo folder. */
export function packagedPhotos(): string[] {
  const dir = path.join(path.dirname(require.resolve("@vladmandic/face-api/package.json")), "demo");
  return [1, 2, 3, 4, 5, 6].map((i) => path.join(dir, `sample${i}.jpg`));
}

export const CLIP_FRAMES = 8;
export const CLIP_NAME = "turning-face.mp4";

/**
 * The generated clip: sample1's face (the crop test/support uses), 384x384, rotated by -0.8 + 0.2 n rad in frame
 * n. One x264 thread and a fixed quantizer: the same bytes on every run of the bundled ffmpeg.
 */
export async function packagedClip(file: string): Promise<string> {
  const ffmpeg = await resolveTool("ffmpeg");
  const filter = "crop=760:760:1280:60,scale=384:384,rotate=a='-0.8+0.2*n':c=black,format=yuv420p";
  await promisify(execFile)(ffmpeg, ["-loglevel", "error", "-y", "-loop", "1", "-framerate", "25", "-i", packagedPhotos()[0], "-frames:v", String(CLIP_FRAMES), "-vf", filter, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", "-threads", "1", file]);
  return file;
}

export const FIXTURE_PATH = path.join(PROJECT_ROOT, "test", "fixtures", "mediapipe", "packaged.json");

function xy(landmarks: Float32Array | null): number[] | null {
  if (!landmarks) return null;
  const out: number[] = [];
  for (let i = 0; i < landmarks.length; i += 3) out.push(Math.round(landmarks[i] * 1e5) / 1e5, Math.round(landmarks[i + 1] * 1e5) / 1e5);
  return out;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "facemesh-packaged-"));
  const clip = await packagedClip(path.join(dir, CLIP_NAME));
  const specs: InputSpec[] = [
    ...packagedPhotos().map((file) => ({ dataset: "face-api-demo", name: path.basename(file, ".jpg"), file, kind: "image" as const })),
    { dataset: "face-api-demo", name: "turning-face", file: clip, kind: "video" },
  ];
  const refs = await mediapipeReferences(specs, "flush", { force: true });
  const entries: FixtureEntry[] = [];
  const hashes: Record<string, string> = {};
  let source = "";
  for (const r of refs) {
    const file = r.spec.kind === "video" ? CLIP_NAME : path.basename(r.spec.file);
    hashes[file] = r.pixelsSha256;
    source = `@mediapipe/face_mesh@${r.harness.version} in Chromium ${r.harness.chromium}, ${JSON.stringify(r.harness.options)}`;
    r.frames.forEach((f, frame) => entries.push({ file, frame, width: f.width, height: f.height, landmarks: xy(f.landmarks) }));
  }
  const fixture: Fixture = { source, entries, pixelsSha256: hashes };
  await writeFileAtomic(FIXTURE_PATH, JSON.stringify(fixture) + "\n");
  console.log(`${FIXTURE_PATH}: ${entries.length} entries (${entries.filter((e) => e.landmarks).length} with a face)`);

  const made = await Promise.all(
    Object.entries(GENERATED_CLIPS).map(async ([name, recipe]) => ({ name, file: await makeFaceClip(path.join(dir, name), recipe) })),
  );
  const generatedRefs = await mediapipeReferences(
    made.map(({ name, file }) => ({ dataset: "generated", name: name.replace(/\.\w+$/, ""), file, kind: name.endsWith(".png") ? "image" : "video" })),
    "flush",
    { force: true },
  );
  const generated: GeneratedFixture = { source, clips: {} };
  generatedRefs.forEach((r, k) => {
    const f0 = r.frames[0];
    generated.clips[made[k].name] = {
      pixelsSha256: r.pixelsSha256,
      width: f0.width,
      height: f0.height,
      frames: r.frames.map((f) => (f.landmarks ? encodeQ16(xy(f.landmarks)!) : null)),
    };
  });
  await writeFileAtomic(GENERATED_PATH, JSON.stringify(generated) + "\n");
  console.log(`${GENERATED_PATH}: ${made.map((m) => `${m.name} ${generated.clips[m.name].frames.length} frames`).join(", ")}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`make_packaged_fixture: ${(err as Error).message}`);
    process.exit(1);
  });
}
