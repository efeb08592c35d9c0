/**
 * smoothing=one_euro on real video, end to end (CLI, NOVA hooks, server), with the issue's two measurements:
 * - a still face (one photo as a clip) with fresh noise on every frame: the landmarks' frame-to-frame motion
 *   (mean over frames and all 468 landmarks of the pixel distance a landmark moves from one frame to the next)
 *   falls by at least 3x;
 * - a moving head (shared LivePortrait talking heads; skipped when ../shared/data is absent): the smoothed track
 *   lags the raw one by at most one frame. Lag = the shift k (whole frames, 0..6) that minimises the mean pixel
 *   distance, over all landmarks and frames t, between the smoothed landmarks at t and the raw ones at t - k.
 * - faces that come and go (the shared hamilton clip): each track starts from its raw row, gaps pass unchanged.
 * Rows come from the CLI and the hooks without a bbox stream (detection on every frame).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { smoothRowBatches } from "../lib/calculators/landmarks_smoothing.js";
import { JobStatus } from "../lib/server/job_store.js";
import { frameTimes } from "../lib/video/frame_times.js";
import { probeVideo } from "../lib/video/probe.js";
import { makeRoot, PROJECT_ROOT, start } from "./server_helpers.js";
import { jobRequest, makeFaceClip, NUM_POINTS, readStreamFile, row, rowHasFace, rowPoint, runCli, runHooks, sharedFile, warningLines, type StreamFile } from "./support/facemesh_harness.js";
import { ffmpeg, tempDir } from "./support/media.js";

/** Mean over consecutive frame pairs with a face in both, of the mean landmark displacement in pixels. */
function frameToFrameMotion(s: StreamFile, width: number, height: number): number {
  let sum = 0;
  let pairs = 0;
  for (let t = 1; t < s.rows; t++) {
    if (!rowHasFace(row(s, t)) || !rowHasFace(row(s, t - 1))) continue;
    sum += meanDistance(row(s, t), row(s, t - 1), width, height);
    pairs++;
  }
  assert.ok(pairs > 0, "no two consecutive frames with a face");
  return sum / pairs;
}

function meanDistance(a: Float32Array, b: Float32Array, width: number, height: number): number {
  let d = 0;
  for (let i = 0; i < NUM_POINTS; i++) {
    const [ax, ay] = rowPoint(a, i, width, height);
    const [bx, by] = rowPoint(b, i, width, height);
    d += Math.hypot(ax - bx, ay - by);
  }
  return d / NUM_POINTS;
}

/** Mean distance (px) between smoothed frame t and raw frame t - k, for k = 0..maxShift. */
function shiftCurve(raw: StreamFile, smoothed: StreamFile, width: number, height: number, maxShift = 6): number[] {
  const curve: number[] = [];
  for (let k = 0; k <= maxShift; k++) {
    let sum = 0;
    let n = 0;
    for (let t = k; t < raw.rows; t++) {
      if (!rowHasFace(row(raw, t - k)) || !rowHasFace(row(smoothed, t))) continue;
      sum += meanDistance(row(smoothed, t), row(raw, t - k), width, height);
      n++;
    }
    curve.push(sum / n);
  }
  return curve;
}

const facesIn = (s: StreamFile) => Array.from({ length: s.rows }, (_, r) => rowHasFace(row(s, r))).filter(Boolean).length;

async function runBoth(t: TestContext, video: string, dir: string, name: string): Promise<{ raw: StreamFile; smoothed: StreamFile }> {
  const rawOut = path.join(dir, `${name}.raw.stream`);
  const smoothOut = path.join(dir, `${name}.one_euro.stream`);
  for (const [out, extra] of [[rawOut, []], [smoothOut, ["--smoothing", "one_euro"]]] as const) {
    const r = await runCli(["run", video, "--out", out, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /smoothing times the frames as index/, "frame times come from the timestamps");
  }
  const raw = await readStreamFile(rawOut);
  const smoothed = await readStreamFile(smoothOut);
  assert.equal(smoothed.rows, raw.rows);
  t.diagnostic(`${name}: ${raw.rows} frames, faces raw ${facesIn(raw)}, smoothed ${facesIn(smoothed)}`);
  return { raw, smoothed };
}

test("a still face with per-frame noise: one_euro cuts frame-to-frame landmark motion by at least 3x (CLI)", async (t) => {
  const { dir, cleanup } = await tempDir("facemesh-smoothing-");
  t.after(cleanup);
  // The demo photo's face, upright, 60 frames at 25 fps, fresh noise (strength 12 of 255) on every frame.
  const clip = await makeFaceClip(path.join(dir, "still-noise.mp4"), { frames: 60, angle: "-0.8", noise: 12 });
  const info = await probeVideo(clip);
  const { raw, smoothed } = await runBoth(t, clip, dir, "still-noise");
  assert.equal(facesIn(raw), 60);
  assert.equal(facesIn(smoothed), 60);

  const rawMotion = frameToFrameMotion(raw, info.width, info.height);
  const smoothMotion = frameToFrameMotion(smoothed, info.width, info.height);
  t.diagnostic(`frame-to-frame motion: raw ${rawMotion.toFixed(3)} px, one_euro ${smoothMotion.toFixed(3)} px: ${(rawMotion / smoothMotion).toFixed(2)}x less`);
  assert.ok(rawMotion > 0.1, `the noise moves the raw landmarks (${rawMotion} px), or the test measures nothing`);
  assert.ok(rawMotion / smoothMotion >= 3, `motion falls only ${(rawMotion / smoothMotion).toFixed(2)}x (raw ${rawMotion}, smoothed ${smoothMotion})`);

  // The CLI's stream is exactly the smoothing stage on the raw rows, timed by the clip's timestamps; scores and
  // the first frame are untouched.
  const times = await frameTimes(info);
  assert.equal(times.source, "pts");
  async function* rawBatches() {
    yield { rows: raw.data, count: raw.rows, firstFrame: 0 };
  }
  let expected: Float32Array | undefined;
  for await (const b of smoothRowBatches(rawBatches(), info, times.at)) expected = b.rows;
  assert.deepEqual(smoothed.data, expected);
  assert.deepEqual(row(smoothed, 0), row(raw, 0));
  for (let r = 0; r < raw.rows; r++) assert.equal(row(smoothed, r)[936], row(raw, r)[936]);
});

for (const name of ["d0", "d12"]) {
  test(`a moving head (LivePortrait ${name}): one_euro lags the raw landmarks by at most one frame (NOVA hooks)`, async (t) => {
    const video = sharedFile(`liveportrait/${name}.mp4`);
    if (!video) {
      t.skip(`../shared/data/liveportrait/${name}.mp4 is absent: moving-head lag not measured`);
      return;
    }
    const { dir, cleanup } = await tempDir("facemesh-smoothing-");
    t.after(cleanup);
    const info = await probeVideo(video);
    const rawOut = path.join(dir, "raw.stream");
    const smoothOut = path.join(dir, "one_euro.stream");
    await runHooks(jobRequest({ data: video }, { landmarks: rawOut }));
    const logged = await runHooks(jobRequest({ data: video }, { landmarks: smoothOut }, { smoothing: "one_euro" }));
    assert.ok(logged.infos.some((m) => m.includes('"smoothing":"one_euro"')), "the hooks resolved smoothing=one_euro");
    assert.deepEqual(logged.warnings, []);
    const raw = await readStreamFile(rawOut);
    const smoothed = await readStreamFile(smoothOut);
    assert.equal(smoothed.rows, info.frameCount);
    assert.equal(facesIn(raw), raw.rows, "a face on every frame of the talking head");

    const curve = shiftCurve(raw, smoothed, info.width, info.height);
    const lag = curve.indexOf(Math.min(...curve));
    const rawMotion = frameToFrameMotion(raw, info.width, info.height);
    t.diagnostic(
      `${name}: raw motion ${rawMotion.toFixed(2)} px/frame, one_euro ${frameToFrameMotion(smoothed, info.width, info.height).toFixed(2)}; ` +
        `mean distance smoothed(t) - raw(t-k), k=0..6: ${curve.map((d) => d.toFixed(2)).join(", ")} px; lag ${lag} frame(s)`,
    );
    assert.ok(curve[0]! > 0, "smoothing changed the rows");
    assert.ok(lag <= 1, `lag ${lag} frames (curve ${curve.join(", ")})`);
  });
}

test("a file without timestamps (raw H.264): the CLI smooths on index / fps and warns, naming the file and why", async (t) => {
  const { dir, cleanup } = await tempDir("facemesh-smoothing-");
  t.after(cleanup);
  const mp4 = await makeFaceClip(path.join(dir, "face.mp4"), { frames: 8, angle: "-0.8+0.1*t" });
  const raw = path.join(dir, "face.h264");
  await ffmpeg(["-i", mp4, "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", raw]);
  const out = path.join(dir, "face.stream");
  const r = await runCli(["run", raw, "--out", out, "--smoothing", "one_euro"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    warningLines(r.stderr).some((l) => l.includes(raw) && /smoothing times the frames as index \/ 25 fps: a packet without a presentation timestamp/.test(l)),
    r.stderr,
  );
  const s = await readStreamFile(out);
  assert.equal(facesIn(s), 8);
});

test("faces that come and go (hamilton clip): every track starts with its raw row, frames without a face pass unchanged", async (t) => {
  const video = sharedFile("face_recognition/short_hamilton_clip.mp4");
  if (!video) {
    t.skip("../shared/data/face_recognition/short_hamilton_clip.mp4 is absent: resets on real video not checked");
    return;
  }
  const { dir, cleanup } = await tempDir("facemesh-smoothing-");
  t.after(cleanup);
  const info = await probeVideo(video);
  const out = path.join(dir, "raw.stream");
  // Static mode: every frame is detected anew, so the faces come and go (video mode would hold one track).
  await runHooks(jobRequest({ data: video }, { landmarks: out }, { no_face: "nan", tracking: "False" }));
  const raw = await readStreamFile(out);
  const times = await frameTimes(info);
  assert.equal(times.source, "pts", times.reason);
  assert.ok(times.at(0) > 0.8, "this clip's first frame is shown at 0.85 s: real timestamps, not the index");
  async function* rawBatches() {
    for (let first = 0; first < raw.rows; first += 50) {
      const count = Math.min(50, raw.rows - first);
      yield { rows: raw.data.slice(first * raw.dim, (first + count) * raw.dim), count, firstFrame: first };
    }
  }
  const smoothed = new Float32Array(raw.data.length);
  for await (const b of smoothRowBatches(rawBatches(), info, times.at)) smoothed.set(b.rows, b.firstFrame * raw.dim);
  const s = { ...raw, data: smoothed };
  let starts = 0;
  let gaps = 0;
  let changed = 0;
  for (let r = 0; r < raw.rows; r++) {
    const face = rowHasFace(row(raw, r));
    assert.equal(rowHasFace(row(s, r)), face, `frame ${r}: face or not, as raw`);
    if (!face) {
      gaps++;
      assert.deepEqual(row(s, r), row(raw, r), `frame ${r} (no face) passes unchanged`);
    } else if (r === 0 || !rowHasFace(row(raw, r - 1))) {
      starts++;
      assert.deepEqual(row(s, r), row(raw, r), `frame ${r} starts a track: unchanged`);
    } else if (meanDistance(row(s, r), row(raw, r), info.width, info.height) > 0) {
      changed++;
    }
  }
  t.diagnostic(`hamilton: ${raw.rows} frames, ${gaps} without a face, ${starts} track starts, ${changed} smoothed rows`);
  assert.ok(starts >= 2 && gaps > 0, `the clip's faces come and go (${starts} starts, ${gaps} gaps)`);
  assert.equal(changed, raw.rows - gaps - starts, "every other face row is smoothed");
});

test("the server runs a job with optStr smoothing=one_euro: its output is facemesh run --smoothing one_euro's", async (t) => {
  const r = makeRoot(t);
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  const my = path.join(r.workDir, "path/to/my");
  const video = await makeFaceClip(path.join(my, "sway.mp4"), { frames: 20, angle: "-0.8+0.1*sin(2*PI*t)" });
  const expected = path.join(r.root, "expected.stream");
  const raw = path.join(r.root, "raw.stream");
  assert.equal((await runCli(["run", video, "--out", expected, "--smoothing", "one_euro"])).code, 0);
  assert.equal((await runCli(["run", video, "--out", raw])).code, 0);
  assert.notDeepEqual(readFileSync(`${expected}~`), readFileSync(`${raw}~`), "smoothing changes this clip's rows");

  const { client } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml } });
  const out = "path/to/my/sway.facemesh.stream";
  const data = JSON.stringify([
    { src: "file:stream:video", type: "input", id: "input_data", uri: "path/to/my/sway.mp4" },
    { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: out },
  ]);
  const res = await client.post("/process", { jobID: "smoothing", trainerFilePath: "modules\\facemesh\\facemesh.trainer", data, optStr: "smoothing=one_euro" });
  assert.equal(res.status, 200, res.text());
  assert.equal(await client.waitFor("smoothing", [JobStatus.FINISHED, JobStatus.ERROR, JobStatus.CANCELED], 120_000), JobStatus.FINISHED, await client.log("smoothing"));
  assert.deepEqual(readFileSync(path.join(r.workDir, `${out}~`)), readFileSync(`${expected}~`));
});
