/**
 * FaceMesh.run hands each batch's frames back (RunOptions.framesDone) so that the decoder can reuse their buffers
 * (lib/video/frame_pool.ts). The danger of reuse is a frame read after it was handed back: these tests scribble
 * over every frame the moment it is handed back, and require the rows to be identical to a run that never gives
 * frames back, in every mode that reads frames at different times (detection, bbox rows with and without
 * tracking, batch sizes that do and do not divide the clip).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RgbImage } from "../lib/types.js";
import { FaceMesh, type BoxHints, type RunOptions } from "../lib/pipeline.js";
import { decodeFrames } from "../lib/video/decode.js";
import { FramePool } from "../lib/video/frame_pool.js";
import { probeVideo } from "../lib/video/probe.js";
import { tempDir } from "./support/media.js";
import { decodeAll, makeFaceClip, staticLandmarks, squareBoxRow } from "./support/facemesh_harness.js";

const FRAMES = 11;

async function* replay(frames: readonly RgbImage[]): AsyncGenerator<RgbImage> {
  // Copies, so that scribbling over a handed-back frame cannot touch the originals.
  for (const f of frames) yield { width: f.width, height: f.height, data: Uint8Array.from(f.data) };
}

describe("frames handed back by FaceMesh.run (framesDone)", () => {
  let dir = "";
  let cleanup = async () => {};
  let clip = "";
  let frames: RgbImage[] = [];
  let hints: BoxHints;
  let mesh: FaceMesh;

  before(async () => {
    ({ dir, cleanup } = await tempDir("facemesh-frames-"));
    // A face tilting by +-12 degrees: tracking re-crops some frames, which must read them before they go back.
    clip = await makeFaceClip(path.join(dir, "tilt.mp4"), { frames: FRAMES, angle: "0.21*sin(2*PI*t/0.4)", layout: "square" });
    frames = (await decodeAll(clip)).frames;
    // Bbox rows from static-mode landmarks: a square box around each face.
    const lms = await staticLandmarks(frames);
    const boxes: number[] = [];
    for (const lm of lms) {
      assert.ok(lm, "static mode finds the face in every frame");
      let x0 = 1, y0 = 1, x1 = 0, y1 = 0;
      for (let i = 0; i < 468; i++) {
        x0 = Math.min(x0, lm.points[3 * i]!); x1 = Math.max(x1, lm.points[3 * i]!);
        y0 = Math.min(y0, lm.points[3 * i + 1]!); y1 = Math.max(y1, lm.points[3 * i + 1]!);
      }
      boxes.push(...squareBoxRow(((x0 + x1) / 2) * 512, ((y0 + y1) / 2) * 512, Math.max(x1 - x0, y1 - y0) * 512, 512, 512));
    }
    hints = { boxes: Float32Array.from(boxes) };
    mesh = await FaceMesh.create();
  });
  after(async () => {
    await mesh?.dispose();
    await cleanup();
  });

  async function rows(source: AsyncIterable<RgbImage>, options: RunOptions): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for await (const b of mesh.run(source, options)) out.push(b.rows.slice());
    return out;
  }

  const modes: Array<{ name: string; hints: boolean; tracking: boolean }> = [
    { name: "detection", hints: false, tracking: false },
    { name: "video mode", hints: false, tracking: true },
    { name: "bbox rows, tracking", hints: true, tracking: true },
    { name: "bbox rows, no tracking", hints: true, tracking: false },
  ];
  for (const mode of modes) {
    for (const batchSize of [1, 4, 50]) {
      test(`${mode.name}, batch_size ${batchSize}: frames scribbled over when handed back leave the rows unchanged; each frame back once, after its rows`, async () => {
        const options: RunOptions = { batchSize, minScore: 0.5, noFace: "zeros", tracking: mode.tracking, hints: mode.hints ? hints : undefined };
        const reference = await rows(replay(frames), options);
        let yielded = 0;
        const back: RgbImage[] = [];
        const withReturn: Float32Array[] = [];
        for await (const b of mesh.run(replay(frames), {
          ...options,
          framesDone: (done) => {
            // Everything handed back so far belongs to batches whose rows the consumer already has.
            assert.ok(back.length + done.length <= yielded * batchSize, `frames of a batch handed back before its rows (${back.length + done.length} back, ${yielded} batches yielded)`);
            for (const f of done) {
              assert.ok(!back.includes(f), "a frame handed back twice");
              back.push(f);
              f.data.fill(0x5a);
            }
          },
        })) {
          yielded++;
          withReturn.push(b.rows.slice());
        }
        assert.equal(back.length, FRAMES, "every frame handed back");
        assert.deepEqual(withReturn, reference);
      });
    }
  }

  test("decodeFrames with a FramePool fed by framesDone: the same rows as fresh buffers, and buffers are reused", async () => {
    const info = await probeVideo(clip);
    const options: RunOptions = { batchSize: 2, minScore: 0.5, noFace: "zeros", tracking: true, hints };
    const reference = await rows(decodeFrames(clip, info), options);
    const pool = new FramePool({ maxFree: 16 });
    const pooled = await rows(decodeFrames(clip, info, { pool }), { ...options, framesDone: (done) => done.forEach((f) => pool.release(f.data)) });
    assert.deepEqual(pooled, reference);
    // 11 frames in batches of 2, up to three batches out at once (read ahead, prepared, in the model): the later
    // batches take buffers handed back by the first ones.
    assert.ok(pool.stats.reused > 0, `no buffer reused: ${JSON.stringify(pool.stats)}`);
  });
});
