/**
 * Reading the frames MediaPipe's frozen references were made on (test/fixtures/mediapipe/*.json): every frame of
 * the input is hashed and the digest must be the one stored with the reference, so a parity test measures the
 * pipelines, not a change of decoder; and the fixtures' x, y landmarks in the x, y, z layout lib/metrics.ts takes.
 */
import assert from "node:assert/strict";
import path from "node:path";
import type { RgbImage } from "../../lib/types.js";
import { decodeInput, PixelHash } from "../../scripts/mediapipe_reference.js";

/** x, y pairs (a fixture's landmarks) as x, y, z triplets with z = 0 (z is not compared). */
export function xyTriplets(xy: ArrayLike<number>): Float32Array {
  const out = new Float32Array((xy.length / 2) * 3);
  for (let i = 0; i < xy.length / 2; i++) {
    out[3 * i] = xy[2 * i]!;
    out[3 * i + 1] = xy[2 * i + 1]!;
  }
  return out;
}

function checkPixels(digest: string, sha256: string, file: string): void {
  assert.equal(digest, sha256, `${file}: decoded pixels differ from those MediaPipe was given`);
}

/** The frames at `wanted` (indices) of `file`, after checking that the whole input decodes to `sha256`. */
export async function framesMediaPipeSaw(file: string, sha256: string, wanted: Iterable<number>): Promise<Map<number, RgbImage>> {
  const keep = new Set(wanted);
  const hash = new PixelHash();
  const frames = new Map<number, RgbImage>();
  let index = 0;
  for await (const frame of decodeInput(file)) {
    hash.add(frame);
    if (keep.has(index)) frames.set(index, frame);
    index++;
  }
  checkPixels(hash.digest(), sha256, file);
  return frames;
}

/**
 * Each entry of a frozen reference with the frame MediaPipe saw it on (each input decoded once and its pixels
 * checked, framesMediaPipeSaw), file by file in the fixture's order; `index` is the frame's index in its file.
 */
export async function* fixtureFrames<E extends { file: string; frame: number }>(
  fixture: { entries: readonly E[]; pixelsSha256: Record<string, string> },
  dataDir: string,
): AsyncGenerator<{ file: string; index: number; entry: E; frame: RgbImage }> {
  for (const file of new Set(fixture.entries.map((e) => e.file))) {
    const wanted = new Map(fixture.entries.filter((e) => e.file === file).map((e) => [e.frame, e]));
    const frames = await framesMediaPipeSaw(path.join(dataDir, file), fixture.pixelsSha256[file]!, wanted.keys());
    for (const [index, entry] of wanted) yield { file, index, entry, frame: frames.get(index)! };
  }
}

/**
 * Every frame of `file`, streamed (for video mode, which needs them all in order); `check()` after the last one
 * asserts that they were the pixels MediaPipe was given.
 */
export function streamMediaPipeSaw(file: string, sha256: string): { frames: AsyncGenerator<RgbImage>; check: () => void } {
  const hash = new PixelHash();
  async function* frames(): AsyncGenerator<RgbImage> {
    for await (const f of decodeInput(file)) {
      hash.add(f);
      yield f;
    }
  }
  return { frames: frames(), check: () => checkPixels(hash.digest(), sha256, file) };
}
