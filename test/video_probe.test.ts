/**
 * probeVideo on generated media: containers and codecs, frame rates, rotation metadata, still images, and every
 * kind of bad input (each must fail with an error naming the file and the problem).
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { displayRotation, parseRational, probeVideo } from "../lib/video/probe.js";
import { resolveTool } from "../lib/video/tools.js";
import {
  ffmpeg,
  makeAudioOnly,
  makeEmptyFile,
  makeImage,
  makeTextFile,
  makeTruncated,
  makeVideo,
  quadrantImage,
  setMp4Rotation,
  tempDir,
  type VideoCodec,
} from "./support/media.js";

const FRAMES = 12;
const CASES: Array<{ file: string; codec: VideoCodec; countedBy: "container" | "packets" }> = [
  { file: "h264.mp4", codec: "h264", countedBy: "container" },
  { file: "h264.mov", codec: "h264", countedBy: "container" },
  { file: "h264.mkv", codec: "h264", countedBy: "packets" },
  { file: "mpeg4.avi", codec: "mpeg4", countedBy: "container" },
  { file: "mpeg4.mp4", codec: "mpeg4", countedBy: "container" },
  { file: "vp9.webm", codec: "vp9", countedBy: "packets" },
];

let dir = "";
let cleanup: () => Promise<void> = async () => {};

before(async () => {
  ({ dir, cleanup } = await tempDir());
  for (const c of CASES) await makeVideo(path.join(dir, c.file), { codec: c.codec, frames: FRAMES, width: 64, height: 48, fps: 25 });
});
after(() => cleanup());

describe("probeVideo: containers and codecs", () => {
  for (const c of CASES) {
    test(`${c.file}: size, codec, fps and the frame count ffmpeg wrote`, async () => {
      const info = await probeVideo(path.join(dir, c.file));
      assert.equal(info.path, path.join(dir, c.file));
      assert.equal(info.codec, c.codec);
      assert.deepEqual([info.width, info.height, info.rotation], [64, 48, 0]);
      assert.equal(info.fps, 25);
      assert.deepEqual(info.fpsFraction, { num: 25, den: 1 });
      assert.equal(info.frameCount, FRAMES);
      assert.equal(info.frameCountSource, c.countedBy);
      assert.equal(info.frameCountEstimated, false);
      assert.equal(info.isImage, false);
      // 12 frames at 25 fps last 0.48 s; containers round timestamps to their time base (1 ms for mkv).
      assert.ok(Math.abs(info.durationSec - FRAMES / 25) < 0.01, `duration ${info.durationSec}`);
    });
  }

  test("without packet counting a container with no frame count gets an estimate, flagged", async () => {
    const info = await probeVideo(path.join(dir, "h264.mkv"), { countPackets: false });
    assert.equal(info.frameCountEstimated, true);
    assert.equal(info.frameCountSource, "estimate");
    assert.equal(info.frameCount, FRAMES); // 0.48 s x 25 fps
  });

  test("NTSC rate 30000/1001 is reported as 29.97 with its exact fraction", async () => {
    const file = await makeVideo(path.join(dir, "ntsc.mp4"), { codec: "h264", frames: 6, width: 32, height: 32, fps: "30000/1001" });
    const info = await probeVideo(file);
    assert.deepEqual(info.fpsFraction, { num: 30000, den: 1001 });
    assert.ok(Math.abs(info.fps - 29.97003) < 1e-4);
    assert.equal(info.frameCount, 6);
  });

  test("picks the video stream when audio comes first", async () => {
    const file = path.join(dir, "audio_first.mkv");
    await ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.4", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=10:duration=0.4", "-map", "0:a", "-map", "1:v", "-frames:v", "4", "-c:v", "libx264", "-c:a", "aac", file]);
    const info = await probeVideo(file);
    assert.equal(info.streamIndex, 1);
    assert.equal(info.frameCount, 4);
  });
});

describe("probeVideo: rotation metadata", () => {
  for (const rotation of [90, 180, 270] as const) {
    test(`display matrix of ${rotation} degrees clockwise`, async () => {
      const file = path.join(dir, `rot${rotation}.mp4`);
      await makeVideo(file, { codec: "h264", frames: 3, width: 64, height: 48 });
      await setMp4Rotation(file, rotation, 64, 48);
      const info = await probeVideo(file);
      assert.equal(info.rotation, rotation);
      assert.deepEqual([info.codedWidth, info.codedHeight], [64, 48]);
      assert.deepEqual([info.width, info.height], rotation === 180 ? [64, 48] : [48, 64]);
    });
  }

  test("rotation conventions: display matrix angles are counter-clockwise, the legacy rotate tag clockwise", () => {
    assert.equal(displayRotation({ side_data_list: [{ side_data_type: "Display Matrix", rotation: -90 }] }), 90);
    assert.equal(displayRotation({ side_data_list: [{ side_data_type: "Display Matrix", rotation: 90 }] }), 270);
    assert.equal(displayRotation({ side_data_list: [{ side_data_type: "Display Matrix", rotation: 180 }] }), 180);
    assert.equal(displayRotation({ tags: { rotate: "90" } }), 90);
    assert.equal(displayRotation({ side_data_list: [{ side_data_type: "Display Matrix", rotation: -45 }] }), 0); // not applied by ffmpeg either
    assert.equal(displayRotation({}), 0);
  });

  test("parseRational", () => {
    assert.deepEqual(parseRational("30000/1001"), { num: 30000, den: 1001 });
    assert.deepEqual(parseRational("25"), { num: 25, den: 1 });
    assert.equal(parseRational("0/0"), undefined);
    assert.equal(parseRational("N/A"), undefined);
  });
});

describe("probeVideo: still images", () => {
  for (const ext of ["png", "jpg", "ppm", "bmp", "webp"]) {
    test(`.${ext} is a one-frame video at 1 fps`, async () => {
      const file = await makeImage(path.join(dir, `still.${ext}`), quadrantImage(33, 21));
      const info = await probeVideo(file);
      assert.equal(info.isImage, true);
      assert.deepEqual([info.width, info.height, info.fps, info.frameCount], [33, 21, 1, 1]);
      assert.equal(info.frameCountEstimated, false);
    });
  }
});

describe("probeVideo: bad inputs name the file and the problem", () => {
  const expectError = async (file: string, problem: RegExp) => {
    await assert.rejects(probeVideo(file), (err: Error) => {
      assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
      assert.match(err.message, problem);
      return true;
    });
  };

  test("missing file", async () => expectError(path.join(dir, "nope.mp4"), /not found/));
  test("empty file", async () => expectError(await makeEmptyFile(path.join(dir, "empty.mp4")), /empty/));
  test("text file named .mp4", async () => expectError(await makeTextFile(path.join(dir, "text.mp4")), /not a video/));
  test("truncated mp4 (index at the end, cut off)", async () => {
    const src = await makeVideo(path.join(dir, "whole.mp4"), { codec: "h264", frames: 10, width: 64, height: 48 });
    await expectError(await makeTruncated(src, path.join(dir, "cut.mp4"), 2000), /truncated/);
  });
  test("no video stream", async () => expectError(await makeAudioOnly(path.join(dir, "audio.mp4")), /no video stream.*audio aac/));
  test("a directory", async () => {
    const d = path.join(dir, "folder.mp4");
    await mkdir(d);
    await expectError(d, /directory/);
  });
});

describe("ffmpeg/ffprobe resolution", () => {
  test("an explicit path that does not run is an error naming it (no silent fallback)", async () => {
    await assert.rejects(probeVideo(path.join(dir, "h264.mp4"), { ffprobe: "/nonexistent/ffprobe" }), /\/nonexistent\/ffprobe \(option ffprobe\) does not run/);
  });

  test("FFPROBE_PATH is used before the npm package", async () => {
    const saved = process.env.FFPROBE_PATH;
    process.env.FFPROBE_PATH = "/nonexistent/env-ffprobe";
    try {
      await assert.rejects(resolveTool("ffprobe"), /\/nonexistent\/env-ffprobe \(environment variable FFPROBE_PATH\)/);
    } finally {
      if (saved === undefined) delete process.env.FFPROBE_PATH;
      else process.env.FFPROBE_PATH = saved;
    }
  });

  test("a binary of the other tool is refused", async () => {
    const realFfmpeg = await resolveTool("ffmpeg");
    await assert.rejects(resolveTool("ffprobe", realFfmpeg), /not 'ffprobe version/);
  });
});
