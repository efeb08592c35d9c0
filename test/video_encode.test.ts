/**
 * encodeVideo: frames in, a playable H.264 mp4 (or a PNG) out, probed and decoded back; the output appears only
 * when complete.
 */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RgbImage } from "../lib/types.js";
import { decodeFrames } from "../lib/video/decode.js";
import { encodeVideo } from "../lib/video/encode.js";
import { probeVideo } from "../lib/video/probe.js";
import { gradientImage, meanColor, QUADRANTS, quadrantImage, solidImage, tempDir } from "./support/media.js";

let dir = "";
let cleanup: () => Promise<void> = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

async function decodeAll(file: string): Promise<RgbImage[]> {
  const info = await probeVideo(file);
  const frames: RgbImage[] = [];
  for await (const f of decodeFrames(file, info)) frames.push(f);
  return frames;
}

/** Files in dir whose name marks an unfinished temp output. */
async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".tmp"));
}

describe("encodeVideo", () => {
  test("odd-sized frames become an even-sized H.264 mp4; content keeps its pixel positions", async () => {
    const out = path.join(dir, "odd.mp4");
    const frames = Array.from({ length: 5 }, () => quadrantImage(317, 241));
    const res = await encodeVideo(out, frames, { fps: 25 });
    assert.deepEqual(res, { path: out, frames: 5, width: 317, height: 241 });
    const info = await probeVideo(out);
    assert.equal(info.codec, "h264");
    assert.deepEqual([info.width, info.height], [318, 242]); // padded by one column and one row
    assert.equal(info.frameCount, 5);
    assert.equal(info.fps, 25);
    const decoded = await decodeAll(out);
    assert.equal(decoded.length, 5);
    // Quadrant interiors keep their colours (tolerance as in the decode tests: yuv420p + codec error, < 10 levels).
    const f = decoded[0]!;
    const near = (got: number[], want: readonly number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 10);
    assert.ok(near(meanColor(f, 8, 8, 150, 112), QUADRANTS.topLeft), "top-left red");
    assert.ok(near(meanColor(f, 166, 8, 309, 112), QUADRANTS.topRight), "top-right green");
    assert.ok(near(meanColor(f, 8, 128, 150, 233), QUADRANTS.bottomLeft), "bottom-left blue");
    assert.ok(near(meanColor(f, 166, 128, 309, 233), QUADRANTS.bottomRight), "bottom-right white");
    // The padding column is black (the neighbouring white bleeds a little through chroma/deblocking).
    assert.ok(meanColor(f, 317, 130, 318, 230).every((v) => v < 60), "padding column is dark");
    assert.deepEqual(await leftovers(), []);
  });

  test("an exact frame rate fraction is kept", async () => {
    const out = path.join(dir, "ntsc.mp4");
    await encodeVideo(out, [solidImage(32, 32, [10, 20, 30]), solidImage(32, 32, [10, 20, 30]), solidImage(32, 32, [10, 20, 30])], { fps: { num: 30000, den: 1001 } });
    const info = await probeVideo(out);
    assert.deepEqual(info.fpsFraction, { num: 30000, den: 1001 });
    assert.equal(info.frameCount, 3);
  });

  test("frames from an async source (the decoder) re-encode", async () => {
    const src = path.join(dir, "src.mp4");
    await encodeVideo(src, Array.from({ length: 4 }, () => quadrantImage(64, 48)), { fps: 10 });
    const info = await probeVideo(src);
    const out = path.join(dir, "reencoded.mkv");
    await encodeVideo(out, decodeFrames(src, info), { fps: info.fpsFraction ?? info.fps });
    const again = await probeVideo(out);
    assert.deepEqual([again.codec, again.width, again.height, again.frameCount, again.fps], ["h264", 64, 48, 4, 10]);
  });

  test("a .png output holds the one frame, pixel for pixel", async () => {
    const img = gradientImage(41, 27);
    const out = path.join(dir, "still.png");
    await encodeVideo(out, [img], { fps: 1 });
    const [decoded] = await decodeAll(out);
    assert.deepEqual(decoded!.data, img.data);
  });

  test("names with '%', ':' and spaces are taken literally", async () => {
    const img = gradientImage(5, 4);
    const out = path.join(dir, "frame 100%d:x.png");
    await encodeVideo(out, [img], { fps: 1 });
    const [decoded] = await decodeAll(out);
    assert.deepEqual(decoded!.data, img.data);
    const video = path.join(dir, "clip %03d: 2.mp4");
    await encodeVideo(video, [solidImage(16, 16, [9, 9, 9]), solidImage(16, 16, [9, 9, 9])], { fps: 5 });
    assert.equal((await probeVideo(video)).frameCount, 2);
  });

  test("a .png output refuses a second frame and leaves nothing behind", async () => {
    const out = path.join(dir, "two.png");
    await assert.rejects(encodeVideo(out, [gradientImage(8, 8), gradientImage(8, 8)], { fps: 1 }), /holds one image/);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(".two.png") || n === "two.png"), []);
  });

  test("a failed encode leaves an existing output untouched and no temp file", async () => {
    const out = path.join(dir, "keep.mp4");
    await writeFile(out, "previous good output");
    await assert.rejects(encodeVideo(out, [solidImage(32, 32, [0, 0, 0]), solidImage(16, 16, [0, 0, 0])], { fps: 25 }), (err: Error) =>
      err.message.includes(out) && /16x16, but the first frame was 32x32/.test(err.message),
    );
    assert.equal(await readFile(out, "utf8"), "previous good output");
    assert.deepEqual(await leftovers(), []);
  });

  test("a source that throws midway: ffmpeg is stopped, no output, no temp file", async () => {
    const out = path.join(dir, "broken.mp4");
    async function* frames(): AsyncGenerator<RgbImage> {
      yield solidImage(32, 32, [1, 2, 3]);
      throw new Error("upstream failed");
    }
    await assert.rejects(encodeVideo(out, frames(), { fps: 25 }), /upstream failed/);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes("broken")), []);
  });

  test("abort: rejects with the reason, no output, no temp file", async () => {
    const out = path.join(dir, "aborted.mp4");
    const ac = new AbortController();
    async function* frames(): AsyncGenerator<RgbImage> {
      for (let i = 0; i < 100; i++) {
        if (i === 3) ac.abort(new Error("stop now"));
        yield solidImage(64, 64, [i, i, i]);
      }
    }
    await assert.rejects(encodeVideo(out, frames(), { fps: 25, signal: ac.signal }), /stop now/);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes("aborted")), []);
  });

  test("bad requests: no frames, unknown extension, bad fps, wrong data length", async () => {
    await assert.rejects(encodeVideo(path.join(dir, "none.mp4"), [], { fps: 25 }), /no frames/);
    await assert.rejects(encodeVideo(path.join(dir, "x.gifv"), [solidImage(2, 2, [0, 0, 0])], { fps: 25 }), /unsupported output type '\.gifv'/);
    await assert.rejects(encodeVideo(path.join(dir, "x.mp4"), [solidImage(2, 2, [0, 0, 0])], { fps: 0 }), /fps must be a positive number/);
    await assert.rejects(encodeVideo(path.join(dir, "x.mp4"), [{ width: 4, height: 4, data: new Uint8Array(10) }], { fps: 25 }), /frame 0 has 10 bytes/);
    assert.deepEqual(await leftovers(), []);
  });
});
