/**
 * MediaPipe's landmarks on the clips the tests generate (test/fixtures/mediapipe/generated.json, written by
 * scripts/make_packaged_fixture.ts): an independent reference for tests that would otherwise compare the engine
 * with its own static mode.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "./media.js";

export const GENERATED_PATH = path.join(projectRoot, "test", "fixtures", "mediapipe", "generated.json");

/** The makeFaceClip recipes whose MediaPipe landmarks generated.json holds, by name (the tests use the same names). */
export const GENERATED_CLIPS = {
  /** test/pipeline_tracking.test.ts: the face swinging +-12 degrees around ~45. */
  "tilt-square-50.mp4": { frames: 50, angle: "0.21*sin(2*PI*t/2)", layout: "square" },
  /** The still the wide clips (module_bbox_rows, cli_tools, cli_errors) repeat, tilted -0.8 rad on 640x360. */
  "tilted-wide.png": { angle: "-0.8", layout: "wide" },
  /** The same still unrotated (its eye line at ~45 degrees): cli_tools' `run --keypoints` test repeats it. */
  "tilt45-wide.png": { angle: "0", layout: "wide" },
} as const;

export interface GeneratedFixture {
  source: string;
  /** Per clip: sha256 of the decoded frames, size, and per frame the landmarks (Q16 base64) or null. */
  clips: Record<string, { pixelsSha256: string; width: number; height: number; frames: Array<string | null> }>;
}

/** 468 normalized x,y pairs <-> 16-bit fixed point, base64. */
export function encodeQ16(xy: ArrayLike<number>): string {
  const q = new Uint16Array(xy.length);
  for (let i = 0; i < xy.length; i++) q[i] = Math.round(Math.min(Math.max(xy[i], 0), 1) * 65535);
  return Buffer.from(q.buffer).toString("base64");
}

export function decodeQ16(text: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  const q = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return Float32Array.from(q, (v) => v / 65535);
}

/** MediaPipe's landmarks of a generated clip, as FaceLandmarks.points-like x,y,z triplets (z = 0), null without a face. */
export function generatedReference(name: keyof typeof GENERATED_CLIPS, fixture: GeneratedFixture = generatedFixture()): Array<Float32Array | null> {
  const clip = fixture.clips[name];
  if (!clip) throw new Error(`${GENERATED_PATH}: no clip ${name} (rerun scripts/make_packaged_fixture.ts)`);
  return clip.frames.map((f) => {
    if (f === null) return null;
    const xy = decodeQ16(f);
    const out = new Float32Array((xy.length / 2) * 3);
    for (let i = 0; i < xy.length / 2; i++) {
      out[3 * i] = xy[2 * i];
      out[3 * i + 1] = xy[2 * i + 1];
    }
    return out;
  });
}


let loaded: GeneratedFixture | undefined;

/** The fixture file, read once. */
export function generatedFixture(): GeneratedFixture {
  loaded ??= JSON.parse(readFileSync(GENERATED_PATH, "utf8")) as GeneratedFixture;
  return loaded;
}
