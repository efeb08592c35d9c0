/**
 * lib/video/segment.ts: the frames of consecutive segments, concatenated, are exactly the frames of the unsplit
 * decode (a hash per frame), on generated clips (B-frames and short key-frame intervals, so that seeks land
 * between key frames; a variable frame rate; a stream without timestamps, which falls back to dropping by index)
 * and on the shared videos.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { frameTimes } from "../lib/video/frame_times.js";
import { probeVideo } from "../lib/video/probe.js";
import { decodeFrames } from "../lib/video/decode.js";
import { decodeSegment, seekSecondsFor, splitFrames, segmentFrames } from "../lib/video/segment.js";
import { ffmpeg, makeVfrVideo, sharedDataDir, tempDir } from "./support/media.js";

function hash(data: Uint8Array): string {
  return createHash("sha1").update(data).digest("hex");
}

async function unsplitHashes(file: string): Promise<string[]> {
  const info = await probeVideo(file);
  const out: string[] = [];
  for await (const f of decodeFrames(file, info)) out.push(hash(f.data));
  return out;
}

/** Hashes of the segments' frames, concatenated; checks each frame's index on the way. */
async function segmentedHashes(file: string, length: number): Promise<{ hashes: string[]; source: string }> {
  const info = await probeVideo(file);
  const times = await frameTimes(info);
  const out: string[] = [];
  for (const range of splitFrames(info.frameCount, length)) {
    let expected = range.start;
    for await (const f of decodeSegment(file, info, range, times)) {
      assert.equal(f.index, expected++, `${file} [${range.start}, ${range.end}): frame index`);
      out.push(hash(f.data));
    }
    if (range.end !== undefined) assert.equal(expected, range.end, `${file} [${range.start}, ${range.end}): frames decoded`);
  }
  return { hashes: out, source: times.source };
}

async function assertSameFrames(file: string, lengths: number[], source: "pts" | "index" = "pts"): Promise<void> {
  const whole = await unsplitHashes(file);
  assert.ok(whole.length > 0);
  for (const length of lengths) {
    const split = await segmentedHashes(file, length);
    assert.equal(split.source, source, `${file}: frame times`);
    assert.equal(split.hashes.length, whole.length, `${file}, segments of ${length}: frame count`);
    const first = split.hashes.findIndex((h, i) => h !== whole[i]);
    assert.equal(first, -1, `${file}, segments of ${length}: frame ${first} differs from the unsplit decode`);
  }
}

test("splitFrames: consecutive ranges, the last one open; segmentFrames rounds seconds to frames", () => {
  assert.deepEqual(splitFrames(10, 4), [{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8 }]);
  assert.deepEqual(splitFrames(8, 4), [{ start: 0, end: 4 }, { start: 4 }]);
  assert.deepEqual(splitFrames(3, 4), [{ start: 0 }]);
  assert.throws(() => splitFrames(10, 0), /whole number of frames/);
  assert.equal(segmentFrames(2, 29.97), 60);
  assert.equal(segmentFrames(0.001, 25), 1);
});

test("seekSecondsFor: half-way between the frame before and the first frame", () => {
  const times = { source: "pts" as const, at: (i: number) => [0, 0.1, 0.2, 0.2333, 0.2667][i]! };
  assert.equal(seekSecondsFor(0, times), undefined);
  assert.ok(Math.abs(seekSecondsFor(3, times)! - 0.21665) < 1e-12);
  assert.equal(seekSecondsFor(3, { source: "index", at: (i) => i / 25 }), undefined);
});

test("segments of generated clips (B-frames, key frames every 12, variable rate, no timestamps) = the unsplit frames", async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const cfr = path.join(dir, "bframes.mp4");
  await ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "61", "-c:v", "libx264", "-preset", "medium", "-bf", "3", "-g", "12", "-pix_fmt", "yuv420p", cfr]);
  await assertSameFrames(cfr, [1, 7, 12, 25]);
  const mkv = path.join(dir, "bframes.mkv");
  await ffmpeg(["-i", cfr, "-c", "copy", mkv]);
  await assertSameFrames(mkv, [7]);
  await assertSameFrames(await makeVfrVideo(path.join(dir, "vfr.mp4")), [3, 9]);
  const raw = path.join(dir, "raw.h264");
  await ffmpeg(["-i", cfr, "-c", "copy", "-f", "h264", raw]);
  await assertSameFrames(raw, [10], "index");
});

test("segments of the shared videos = the unsplit frames", async (t) => {
  const shared = sharedDataDir();
  if (!shared) return t.skip("../shared/data is absent");
  for (const file of ["face_recognition/short_hamilton_clip.mp4", "sadtalker/WDA_KatieHill_000.mp4"]) {
    await assertSameFrames(path.join(shared, file), [37]);
  }
});
