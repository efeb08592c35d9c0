/**
 * lib/video/frame_times.ts: each decoded frame's presentation time, checked against the timestamps the test
 * videos were made with (ffmpeg's setpts expression for the variable-rate clip, i / fps for a constant-rate one,
 * with B-frames so that packets come out of presentation order), and the fallbacks to index / fps.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { constantRateTimes, frameTimes, parsePacketTimes } from "../lib/video/frame_times.js";
import { probeVideo } from "../lib/video/probe.js";
import { decodeFrames } from "../lib/video/decode.js";
import { ffmpeg, makeImage, makeVfrVideo, solidImage, tempDir, VFR_FRAMES } from "./support/media.js";

test("packet list: sorted into presentation order, discarded packets left out, a missing time refused", () => {
  const parsed = parsePacketTimes("0.000000,K__\n0.120000,___\n0.040000,___\n0.080000,___\n-0.040000,KD_\n\n");
  assert.ok("times" in parsed);
  assert.deepEqual([...parsed.times], [0, 0.04, 0.08, 0.12]);
  assert.deepEqual(parsePacketTimes("0.0,K__\nN/A,___\n"), { reason: 'a packet without a presentation timestamp ("N/A,___")' });
  assert.deepEqual(parsePacketTimes(""), { reason: "no video packets listed" });
  assert.equal(constantRateTimes(25, "why").at(50), 2);
});

test("a variable-frame-rate video: the times it was made with (0.1 s steps, then 1/30 s)", async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  for (const name of ["vfr.mp4", "vfr.mkv"]) {
    const info = await probeVideo(await makeVfrVideo(path.join(dir, name)));
    const times = await frameTimes(info);
    assert.equal(times.source, "pts", `${name}: ${times.reason}`);
    // The container rounds to its time base (mkv: 1 ms).
    for (let n = 0; n < VFR_FRAMES; n++) {
      const made = n < 10 ? n / 10 : 1 + (n - 10) / 30;
      assert.ok(Math.abs(times.at(n) - made) <= 1e-3, `${name} frame ${n}: ${times.at(n)} vs ${made}`);
    }
    // Past the listed frames: whole frames at the average rate.
    assert.ok(Math.abs(times.at(VFR_FRAMES) - times.at(VFR_FRAMES - 1) - 1 / info.fps) < 1e-9);
  }
});

test("a constant-rate video with B-frames: i / fps in display order; a frame count that disagrees falls back", async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const file = path.join(dir, "bframes.mp4");
  await ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "30", "-c:v", "libx264", "-preset", "medium", "-bf", "3", "-pix_fmt", "yuv420p", file]);
  const info = await probeVideo(file);
  const times = await frameTimes(info);
  assert.equal(times.source, "pts", times.reason);
  let decoded = 0;
  for await (const frame of decodeFrames(file, info)) {
    assert.ok(Math.abs(times.at(frame.index) - frame.index / 25) < 1e-6, `frame ${frame.index}: ${times.at(frame.index)}`);
    decoded++;
  }
  assert.equal(decoded, 30);
  const wrong = await frameTimes({ ...info, frameCount: 31 });
  assert.equal(wrong.source, "index");
  assert.match(wrong.reason ?? "", /30 packets with timestamps but 31 frames/);
  assert.equal(wrong.at(10), 10 / info.fps);
});

test("a raw H.264 stream (no container, no timestamps): index / fps, said so", async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const file = path.join(dir, "raw.h264");
  await ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", file]);
  const times = await frameTimes(await probeVideo(file));
  assert.equal(times.source, "index");
  assert.match(times.reason ?? "", /a packet without a presentation timestamp/);
  assert.equal(times.at(5), 5 / 25);
});

test("a still image: index / fps, said so", async (t) => {
  const { dir, cleanup } = await tempDir();
  t.after(cleanup);
  const info = await probeVideo(await makeImage(path.join(dir, "still.png"), solidImage(8, 8, [1, 2, 3])));
  const times = await frameTimes(info);
  assert.deepEqual([times.source, times.reason, times.at(0)], ["index", "a still image", 0]);
});
