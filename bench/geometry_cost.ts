/**
 * The head pose's cost per frame (issue 13): lib/geometry's pose fit plus the angles, as the job runs it for every
 * frame with a face (writeHeadPoseRow), on MediaPipe's own landmarks of the shared images and video frames frozen
 * in test/fixtures/mediapipe/geometry.json (real faces, no shared data needed), cycled over many frames.
 * Reports wall and CPU microseconds per frame on the JS thread (the geometry runs there, after the model).
 *
 *   node dist/bench/geometry_cost.js [--frames N]      (default 20000)
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadGeometryMetadata } from "../lib/geometry/metadata.js";
import { HEAD_POSE_DIM, writeHeadPoseRow } from "../lib/geometry/head_pose.js";
import { fixtureLandmarks, type GeometryFixture } from "../scripts/make_geometry_fixture.js";

export interface GeometryCost {
  /** Frames timed (after the warm-up). */
  frames: number;
  /** Distinct faces cycled through. */
  faces: number;
  wallUsPerFrame: number;
  cpuUsPerFrame: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export async function measureGeometryCost(frames = 20_000): Promise<GeometryCost> {
  const fixture = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/mediapipe/geometry.json"), "utf8")) as GeometryFixture;
  const faces = fixture.entries.filter((e) => e.landmarks).map((e) => ({ points: fixtureLandmarks(e)!, width: e.width, height: e.height }));
  if (faces.length === 0) throw new Error("test/fixtures/mediapipe/geometry.json: no landmarks");
  const metadata = await loadGeometryMetadata();
  const row = new Float32Array(HEAD_POSE_DIM);
  let posed = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const f = faces[i % faces.length]!;
      if (writeHeadPoseRow(row, 0, f.points, 0.9, f.width, f.height, metadata, "zeros")) posed++;
    }
  };
  run(Math.min(2000, frames)); // warm-up: let the JIT settle
  posed = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  run(frames);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  if (posed !== frames) throw new Error(`geometry cost: ${frames - posed} of ${frames} frames gave no pose`);
  return { frames, faces: faces.length, wallUsPerFrame: (wall * 1000) / frames, cpuUsPerFrame: (cpu.user + cpu.system) / frames };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--frames");
  const frames = i > 0 ? Number(process.argv[i + 1]) : 20_000;
  if (!Number.isInteger(frames) || frames < 1) {
    console.error("--frames must be a positive integer");
    process.exit(2);
  }
  measureGeometryCost(frames).then(
    (r) => console.log(`head pose: ${r.wallUsPerFrame.toFixed(1)} µs/frame wall, ${r.cpuUsPerFrame.toFixed(1)} µs/frame CPU (${r.frames} frames over ${r.faces} faces)`),
    (err: unknown) => {
      console.error(`geometry_cost: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
