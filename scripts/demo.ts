/**
 * `npm run demo`: the whole job on an input that installs with the project.
 * A photo from @vladmandic/face-api's demo folder (an npm package, so it is there after `npm ci`, offline) is
 * turned into a 3-second clip with a slow head tilt, then:
 *   facemesh detect  -> a blazeface-layout bbox stream,
 *   facemesh run     -> the 937-dim landmark stream from the video + bbox stream (tracking on),
 *   facemesh run     -> the same without a bbox stream (faces detected on every frame),
 *   facemesh run + render on the photo itself -> a png with the mesh of the most confident face,
 *   facemesh render  -> the mesh drawn on the clip's frames (mp4),
 *   facemesh info    -> what the landmark stream holds.
 * Outputs go to demo-out/ (git-ignored); the last lines say where.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { projectRoot } from "../lib/convert/models.js";
import { resolveTool } from "../lib/video/tools.js";

const require = createRequire(import.meta.url);

function step(title: string, cmd: string, args: string[]): void {
  process.stdout.write(`\n== ${title}\n$ ${[path.basename(cmd), ...args].join(" ")}\n`);
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`demo: step "${title}" failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const root = projectRoot();
  const out = path.join(root, "demo-out");
  mkdirSync(out, { recursive: true });
  const photo = path.join(path.dirname(require.resolve("@vladmandic/face-api/package.json")), "demo", "sample1.jpg");
  const ffmpeg = await resolveTool("ffmpeg");
  const clip = path.join(out, "sample.mp4");
  // 1920x1280 group photo: a 760x760 window on the rightmost face, 512x512, 25 fps, 3 s, tilting +-12 degrees.
  step("make a 3-second clip from a photo shipped in an npm package", ffmpeg, [
    "-y", "-loglevel", "error", "-loop", "1", "-i", photo, "-t", "3", "-r", "25",
    "-vf", "crop=760:760:1280:60,scale=512:512,rotate=a='0.21*sin(2*PI*t/3)':c=black,format=yuv420p",
    "-c:v", "libx264", "-preset", "veryfast", clip,
  ]);
  const cli = path.join(root, "dist", "lib", "cli.js");
  const node = process.execPath;
  const bbox = path.join(out, "sample.bbox.stream");
  const landmarks = path.join(out, "sample.facemesh.stream");
  const detected = path.join(out, "sample.facemesh-detect.stream");
  step("detect faces (blazeface layout)", node, [cli, "detect", clip, "--out", bbox]);
  step("landmarks from video + bbox stream", node, [cli, "run", clip, "--bbox", bbox, "--out", landmarks]);
  step("landmarks without a bbox stream (video mode: detection where no face is tracked)", node, [cli, "run", clip, "--out", detected]);
  step("render the mesh (video)", node, [cli, "render", clip, "--stream", landmarks, "--out", path.join(out, "overlay.mp4")]);
  step("landmarks on the photo itself (an image is a one-frame video)", node, [cli, "run", photo, "--out", path.join(out, "photo.facemesh.stream")]);
  step("render the mesh on the photo (png)", node, [cli, "render", photo, "--stream", path.join(out, "photo.facemesh.stream"), "--out", path.join(out, "photo-overlay.png")]);
  step("what the landmark stream holds", node, [cli, "info", landmarks]);
  process.stdout.write(`\nOutputs in ${out}:\n  ${[clip, bbox, landmarks, detected, "overlay.mp4", "photo.facemesh.stream", "photo-overlay.png"].map((f) => path.resolve(out, f)).join("\n  ")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  process.exit(1);
});
