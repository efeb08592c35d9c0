/**
 * decodeFrames on generated media (pixels made here, so the expected colours are known independently of the
 * decoder), on the shared talking-head videos, and on bad input; plus killing ffmpeg on early exit and abort.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { rename } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RgbImage } from "../lib/types.js";
import { decodeFrames, parseOutputFrameSize, readImage, type DecodedFrame } from "../lib/video/decode.js";
import { FramePool } from "../lib/video/frame_pool.js";
import { probeVideo, type VideoInfo } from "../lib/video/probe.js";
import {
  ffmpeg,
  gradientImage,
  makeFaststart,
  makeImage,
  makeTruncated,
  makeVfrVideo,
  makeVideo,
  meanColor,
  QUADRANTS,
  quadrantImage,
  setMp4Rotation,
  sharedDataDir,
  tempDir,
  VFR_FRAMES,
  type Rgb,
  type VideoCodec,
} from "./support/media.js";

/**
 * Largest difference allowed between a decoded flat colour and the colour encoded, per channel, averaged over a
 * quadrant's interior. Sources: 8-bit limited-range YUV (a step of ~1.16 RGB levels per luma step, up to ~2 levels
 * after the round trip through the colour matrix), plus the codec's error on flat blocks at the high quality
 * used (measured at most ~3 levels). 10 still separates every pair of the test colours (which differ by 255 in
 * some channel), so a channel swap, a rotation error or a misaligned frame cannot pass.
 */
const COLOR_TOLERANCE = 10;

function assertColorNear(actual: readonly number[], expected: Rgb, what: string): void {
  const diff = Math.max(...actual.map((v, i) => Math.abs(v - expected[i]!)));
  assert.ok(diff <= COLOR_TOLERANCE, `${what}: got [${actual.map((v) => v.toFixed(1))}], expected [${expected}] (off by ${diff.toFixed(1)})`);
}

/** Checks the four quadrant colours of a decoded quadrantImage, sampling each quadrant's interior (4 px margin). */
function assertQuadrants(img: RgbImage, q: Record<keyof typeof QUADRANTS, Rgb>, what: string): void {
  const hx = Math.floor(img.width / 2);
  const hy = Math.floor(img.height / 2);
  const m = 4;
  assertColorNear(meanColor(img, m, m, hx - m, hy - m), q.topLeft, `${what} top-left`);
  assertColorNear(meanColor(img, hx + m, m, img.width - m, hy - m), q.topRight, `${what} top-right`);
  assertColorNear(meanColor(img, m, hy + m, hx - m, img.height - m), q.bottomLeft, `${what} bottom-left`);
  assertColorNear(meanColor(img, hx + m, hy + m, img.width - m, img.height - m), q.bottomRight, `${what} bottom-right`);
}

async function decodeAll(file: string, info?: VideoInfo): Promise<{ info: VideoInfo; frames: DecodedFrame[] }> {
  const i = info ?? (await probeVideo(file));
  const frames: DecodedFrame[] = [];
  for await (const f of decodeFrames(file, i)) frames.push(f);
  return { info: i, frames };
}

/** Child processes of this process named ffmpeg, zombies included (Linux /proc). */
function ffmpegChildren(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // pid (comm) state ppid ...
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && Number(m[3]) === process.pid && m[1]!.startsWith("ffmpeg")) out.push(`${pid} ${m[1]} state ${m[2]}`);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

const FRAMES = 12;
const W = 64;
const H = 48;
const CASES: Array<{ file: string; codec: VideoCodec }> = [
  { file: "h264.mp4", codec: "h264" },
  { file: "h264.mov", codec: "h264" },
  { file: "h264.mkv", codec: "h264" },
  { file: "mpeg4.avi", codec: "mpeg4" },
  { file: "mpeg4.mp4", codec: "mpeg4" },
  { file: "vp9.webm", codec: "vp9" },
];

let dir = "";
let cleanup: () => Promise<void> = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir());
  for (const c of CASES) await makeVideo(path.join(dir, c.file), { codec: c.codec, frames: FRAMES, image: quadrantImage(W, H) });
});
after(() => cleanup());

describe("decodeFrames: containers and codecs", () => {
  for (const c of CASES) {
    test(`${c.file}: one frame per coded frame, right size, known colours`, async () => {
      const { info, frames } = await decodeAll(path.join(dir, c.file));
      assert.equal(frames.length, FRAMES, "the number of frames ffmpeg encoded");
      assert.equal(frames.length, info.frameCount, "the number of frames probeVideo reported");
      frames.forEach((f, i) => {
        assert.deepEqual([f.width, f.height, f.data.length, f.index], [W, H, W * H * 3, i]);
      });
      assertQuadrants(frames[0]!, QUADRANTS, `${c.file} frame 0`);
      assertQuadrants(frames.at(-1)!, QUADRANTS, `${c.file} last frame`);
    });
  }

  // Byte for byte against ffmpeg's own rawvideo output written to a file (no socket, no Node reads): catches a
  // transport that loses, repeats or shifts bytes, which the colour checks above would average away. Once failed
  // by one byte: the first read landing in a staging buffer that was not copied into frame 0.
  for (const [what, make] of [
    ["a moving 160x120 h264 video (12 frames)", (f: string) => makeVideo(f, { codec: "h264", frames: FRAMES, width: 160, height: 120 })],
    ["a 37x29 gradient PNG (frames smaller than one read)", (f: string) => makeImage(f, gradientImage(37, 29))],
  ] as const) {
    test(`${what}: the same bytes as ffmpeg writing rawvideo to a file`, async () => {
      const file = await make(path.join(dir, what.includes("PNG") ? "exact.png" : "exact.mp4"));
      const raw = path.join(dir, "exact.rgb");
      await ffmpeg(["-i", file, "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", raw]);
      const want = readFileSync(raw);
      const got = Buffer.concat((await decodeAll(file)).frames.map((f) => f.data));
      assert.equal(got.length, want.length);
      assert.ok(got.equals(want), `first difference at byte ${got.findIndex((v, i) => v !== want[i])}`);
    });
  }

  test("every frame keeps its own buffer after later frames are decoded", async () => {
    const file = await makeVideo(path.join(dir, "moving.mp4"), { codec: "h264", frames: 8, width: 160, height: 120 });
    const info = await probeVideo(file);
    const copies: Uint8Array[] = [];
    const frames: DecodedFrame[] = [];
    for await (const f of decodeFrames(file, info)) {
      frames.push(f);
      copies.push(f.data.slice());
    }
    assert.equal(new Set(frames.map((f) => f.data.buffer)).size, frames.length, "distinct buffers");
    frames.forEach((f, i) => assert.deepEqual(f.data, copies[i], `frame ${i} unchanged`));
    // testsrc2 moves every frame: consecutive frames differ (a sanity check that we are not yielding one buffer).
    assert.notDeepEqual(frames[0]!.data, frames[1]!.data);
  });
});

describe("decodeFrames: odd sizes", () => {
  for (const c of [
    { file: "odd_h264.mp4", codec: "h264" as const },
    { file: "odd_mpeg4.avi", codec: "mpeg4" as const },
    { file: "odd_vp9.webm", codec: "vp9" as const },
  ]) {
    test(`${c.file}: 317x241`, async () => {
      const file = await makeVideo(path.join(dir, c.file), { codec: c.codec, frames: 3, image: quadrantImage(317, 241) });
      const { info, frames } = await decodeAll(file);
      assert.deepEqual([info.width, info.height], [317, 241]);
      assert.equal(frames.length, 3);
      for (const f of frames) assert.deepEqual([f.width, f.height, f.data.length], [317, 241, 317 * 241 * 3]);
      assertQuadrants(frames[0]!, QUADRANTS, c.file);
    });
  }
});

describe("decodeFrames: rotation metadata is applied", () => {
  // Where each source quadrant lands when the picture is turned clockwise by the given angle.
  const q = QUADRANTS;
  const expected: Record<90 | 180 | 270, Record<keyof typeof QUADRANTS, Rgb>> = {
    90: { topLeft: q.bottomLeft, topRight: q.topLeft, bottomLeft: q.bottomRight, bottomRight: q.topRight },
    180: { topLeft: q.bottomRight, topRight: q.bottomLeft, bottomLeft: q.topRight, bottomRight: q.topLeft },
    270: { topLeft: q.topRight, topRight: q.bottomRight, bottomLeft: q.topLeft, bottomRight: q.bottomLeft },
  };
  for (const rotation of [90, 180, 270] as const) {
    test(`${rotation} degrees clockwise: size swapped as needed, red (top-left) lands where it should`, async () => {
      const file = path.join(dir, `rot${rotation}.mp4`);
      await makeVideo(file, { codec: "h264", frames: 3, image: quadrantImage(W, H) });
      await setMp4Rotation(file, rotation, W, H);
      const { info, frames } = await decodeAll(file);
      const [w, h] = rotation === 180 ? [W, H] : [H, W];
      assert.deepEqual([info.width, info.height], [w, h]);
      assert.equal(frames.length, 3);
      assert.deepEqual([frames[0]!.width, frames[0]!.height], [w, h]);
      assertQuadrants(frames[0]!, expected[rotation], `rotation ${rotation}`);
    });
  }

  test("a probe that disagrees with ffmpeg about the frame size is an error, not garbage frames", async () => {
    const file = path.join(dir, "rot90.mp4");
    const info = await probeVideo(file);
    const wrong: VideoInfo = { ...info, width: info.height, height: info.width };
    await assert.rejects(decodeAll(file, wrong), (err: Error) => err.message.includes(file) && /disagree/.test(err.message));
  });

  test("parseOutputFrameSize reads ffmpeg's output stream line", () => {
    const line = "[info]     Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24, 240x320 [SAR 1:1 DAR 3:4], q=2-31, 46080 kb/s, 25 fps";
    assert.deepEqual(parseOutputFrameSize(line), { width: 240, height: 320 });
    assert.equal(parseOutputFrameSize("[info]     Stream #0:0: Video: h264 (High), yuv420p, 320x240"), undefined);
  });
});

describe("decodeFrames: variable frame rate", () => {
  test("one image per decoded frame, no duplicates to fill a constant rate", async () => {
    const file = await makeVfrVideo(path.join(dir, "vfr.mp4"));
    const { info, frames } = await decodeAll(file);
    assert.equal(frames.length, VFR_FRAMES);
    assert.equal(info.frameCount, VFR_FRAMES);
    // Average rate = frames / duration; the duration includes the last frame's 1/30 s.
    assert.ok(Math.abs(info.fps - VFR_FRAMES / info.durationSec) < 0.01, `fps ${info.fps}, duration ${info.durationSec}`);
    assert.ok(info.fps > 10 && info.fps < 30);
    // testsrc2 changes every frame, so a duplicated frame would show as two identical neighbours.
    for (let i = 1; i < frames.length; i++) assert.notDeepEqual(frames[i]!.data, frames[i - 1]!.data, `frame ${i} repeats frame ${i - 1}`);
  });
});

describe("decodeFrames: still images", () => {
  for (const ext of ["png", "ppm", "bmp", "webp"]) {
    test(`.${ext}: one frame, exact pixels (lossless)`, async () => {
      const img = gradientImage(37, 23);
      const file = await makeImage(path.join(dir, `grad.${ext}`), img);
      const { info, frames } = await decodeAll(file);
      assert.equal(info.isImage, true);
      assert.equal(frames.length, 1);
      assert.deepEqual([frames[0]!.width, frames[0]!.height], [37, 23]);
      assert.deepEqual(frames[0]!.data, img.data);
    });
  }

  test(".jpg: one frame, colours within JPEG tolerance", async () => {
    const file = await makeImage(path.join(dir, "quad.jpg"), quadrantImage(64, 48));
    const { frames } = await decodeAll(file);
    assert.equal(frames.length, 1);
    assertQuadrants(frames[0]!, QUADRANTS, "jpg");
  });

  test("readImage returns the pixels of a still", async () => {
    const img = gradientImage(20, 10);
    const file = await makeImage(path.join(dir, "read.png"), img);
    const got = await readImage(file);
    assert.deepEqual([got.width, got.height], [20, 10]);
    assert.deepEqual(got.data, img.data);
  });
});

describe("decodeFrames: awkward file names", () => {
  // ':' would be read as a protocol prefix, '%' as an image-sequence pattern.
  test("a video and an image named with spaces, ':', '%' and non-ASCII letters", async () => {
    // Made under plain names (the helpers pass paths to ffmpeg as they are), then renamed.
    const video = path.join(dir, "clip 1:%d é.mp4");
    await rename(await makeVideo(path.join(dir, "plain_clip.mp4"), { codec: "h264", frames: 3, image: quadrantImage(W, H) }), video);
    const v = await decodeAll(video);
    assert.equal(v.frames.length, 3);
    assertQuadrants(v.frames[0]!, QUADRANTS, "odd-named video");
    const img = gradientImage(9, 7);
    const still = path.join(dir, "still 100%d:é.png");
    await rename(await makeImage(path.join(dir, "plain_still.png"), img), still);
    const s = await decodeAll(still);
    assert.equal(s.info.isImage, true);
    assert.deepEqual(s.frames.map((f) => f.data), [img.data]);
  });
});

describe("decodeFrames: bad input", () => {
  test("a truncated mp4 whose index survived: error naming the file after the frames that could be decoded", async () => {
    const whole = await makeVideo(path.join(dir, "long.mp4"), { codec: "h264", frames: 30, width: 160, height: 120 });
    const faststart = await makeFaststart(whole, path.join(dir, "long_faststart.mp4"));
    const { size } = statSync(faststart);
    const cut = await makeTruncated(faststart, path.join(dir, "long_cut.mp4"), Math.floor(size / 2));
    const info = await probeVideo(cut); // the index is intact: probing succeeds and promises 30 frames
    assert.equal(info.frameCount, 30);
    let decoded = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of decodeFrames(cut, info)) decoded++;
      })(),
      (err: Error) => err.message.includes(cut) && /truncated or damaged/.test(err.message),
    );
    assert.ok(decoded > 0 && decoded < 30, `decoded ${decoded} frames before the error`);
  });

  test("an explicit ffmpeg path that does not run is an error naming it", async () => {
    const file = path.join(dir, "h264.mp4");
    const info = await probeVideo(file);
    await assert.rejects(
      (async () => {
        for await (const _ of decodeFrames(file, info, { ffmpeg: "/nonexistent/ffmpeg" })) break;
      })(),
      /\/nonexistent\/ffmpeg \(option ffmpeg\) does not run/,
    );
  });
});

describe("decodeFrames: stopping early kills ffmpeg", () => {
  let longFile = "";
  before(async () => {
    // Long enough that ffmpeg is still running when we stop after a few frames (the pipe back-pressure holds it).
    longFile = await makeVideo(path.join(dir, "stop.mp4"), { codec: "h264", frames: 250, width: 320, height: 240 });
  });

  test("break after 3 frames: ffmpeg is gone, no zombie", { skip: process.platform !== "linux" && "reads /proc" }, async () => {
    const info = await probeVideo(longFile);
    let n = 0;
    let sawRunning = false;
    for await (const _ of decodeFrames(longFile, info)) {
      if (++n === 1) sawRunning = ffmpegChildren().length === 1;
      if (n === 3) break;
    }
    assert.ok(sawRunning, "ffmpeg was running while frames were read");
    assert.deepEqual(ffmpegChildren(), []);
  });

  test("niceness: ffmpeg runs at the niceness asked for (and at the inherited one without it)", { skip: process.platform !== "linux" && "reads /proc" }, async () => {
    const info = await probeVideo(longFile);
    const nicenessOfChild = (): number => {
      const [child] = ffmpegChildren();
      assert.ok(child, "ffmpeg is running");
      // /proc/<pid>/stat field 19 is the nice value (fields after "(comm)" start at 3).
      const stat = readFileSync(`/proc/${child.split(" ")[0]}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    for (const [asked, expected] of [[10, Math.max(10, os.getPriority())], [undefined, os.getPriority()]] as const) {
      for await (const _ of decodeFrames(longFile, info, { niceness: asked })) {
        assert.equal(nicenessOfChild(), expected, `niceness ${asked}`);
        break;
      }
    }
  });

  test("abort signal: the generator throws the abort reason and ffmpeg is gone", { skip: process.platform !== "linux" && "reads /proc" }, async () => {
    const info = await probeVideo(longFile);
    const ac = new AbortController();
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of decodeFrames(longFile, info, { signal: ac.signal })) {
          if (++n === 2) ac.abort(new Error("cancelled by test"));
        }
      })(),
      /cancelled by test/,
    );
    assert.equal(n, 2);
    assert.deepEqual(ffmpegChildren(), []);
  });

  test("an already aborted signal starts nothing", async () => {
    const info = await probeVideo(longFile);
    const ac = new AbortController();
    ac.abort(new Error("too late"));
    await assert.rejects(decodeFrames(longFile, info, { signal: ac.signal }).next(), /too late/);
    assert.deepEqual(ffmpegChildren(), []);
  });
});

describe("decodeFrames: shared talking-head videos", () => {
  // Frame counts as documented in ../shared/data/README.md.
  const expected: Record<string, { frames: number; size: number }> = {
    "liveportrait/d0.mp4": { frames: 78, size: 512 },
    "liveportrait/d12.mp4": { frames: 183, size: 512 },
    "liveportrait/d18.mp4": { frames: 216, size: 480 },
    "sadtalker/WDA_KatieHill_000.mp4": { frames: 200, size: 512 },
    "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4": { frames: 200, size: 512 },
  };
  const shared = sharedDataDir();
  for (const [rel, want] of Object.entries(expected)) {
    test(rel, async (t) => {
      if (!shared) return t.skip("../shared/data absent: cannot decode the shared videos");
      const file = path.join(shared, rel);
      const info = await probeVideo(file);
      assert.equal(info.frameCount, want.frames);
      let n = 0;
      for await (const f of decodeFrames(file, info)) {
        assert.deepEqual([f.width, f.height], [want.size, want.size]);
        n++;
      }
      assert.equal(n, want.frames);
    });
  }

  test("sadtalker/WDA_KatieHill_000.mp4 with a FramePool, batches of 8 held: the same frames as without a pool", async (t) => {
    if (!shared) return t.skip("../shared/data absent: cannot decode the shared videos");
    const file = path.join(shared, "sadtalker/WDA_KatieHill_000.mp4");
    const info = await probeVideo(file);
    const digest = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
    const plain: string[] = [];
    for await (const f of decodeFrames(file, info)) plain.push(digest(f.data));
    // Frames are hashed when the batch is released (not when yielded): a frame refilled while held would differ.
    const pool = new FramePool({ maxFree: 8 });
    const pooled: string[] = [];
    let held: DecodedFrame[] = [];
    const releaseBatch = () => {
      for (const f of held) pooled[f.index] = digest(f.data);
      for (const f of held) pool.release(f);
      held = [];
    };
    for await (const f of decodeFrames(file, info, { pool })) {
      held.push(f);
      if (held.length === 8) releaseBatch();
    }
    releaseBatch();
    assert.equal(pooled.length, plain.length);
    pooled.forEach((h, i) => assert.equal(h, plain[i], `frame ${i}`));
    assert.ok(pool.stats.allocated <= 9, `the pool lent reused buffers (allocated ${pool.stats.allocated} for ${plain.length} frames)`);
  });
});
