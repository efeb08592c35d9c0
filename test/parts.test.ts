/**
 * lib/parts.ts through the module's parted hooks (plan, runPart, join, discardParts): a job run as parts, as a
 * queue's workers on several machines would (parts and results through JSON, parts in any order, each in a model
 * of its own), writes byte for byte the streams of the unsplit run; a failed join writes nothing.
 */
import assert from "node:assert/strict";
import { readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import * as facemesh from "../facemesh.js";
import type { FaceMeshModel, FaceMeshPrediction } from "../facemesh.js";
import type { HookContext, JobRequest, NovaModule } from "../lib/nova/hooks.js";
import { decodeTrackState, encodeTrackState, joinParts, parsePart, planParts, runPart, type JobFiles, type PartResult } from "../lib/parts.js";
import type { TrackState } from "../lib/pipeline.js";
import type { SegmentStats } from "../lib/segments.js";
import { tempDir } from "./support/media.js";
import { collectingLogger, jobRequest, listDir, makeFaceClip, runCli, runHooks, snapshotStream, squareBoxRow, writeHandBboxStream } from "./support/facemesh_harness.js";

// The module offers the parted hooks with the shapes hosts call (a compile-time check).
const mod: NovaModule<FaceMeshModel, FaceMeshPrediction> = facemesh;

const FRAMES = 150; // 6 s at 25 fps: three parts of 2 s
let dir: string;
let cleanup: () => Promise<void>;
let clip: string;
let bbox: string;
before(async () => {
  ({ dir, cleanup } = await tempDir("facemesh-parts-"));
  // A turning face with frames without it (tracks end and start again, also at a part's start), fresh noise on
  // every frame.
  clip = await makeFaceClip(path.join(dir, "clip.mp4"), { frames: FRAMES, angle: "0.4*sin(2*t)-0.8", blackFrames: [20, 21, 50, 51, 99], noise: 8 });
  bbox = path.join(dir, "clip.bbox.stream");
  const detected = await runCli(["detect", clip, "--out", bbox]);
  assert.equal(detected.code, 0, detected.stderr);
});
after(async () => {
  await cleanup?.();
});

const BBOX_PARTS = { segment_seconds: 2 };

function request(name: string, options: Record<string, unknown>, extra: { headPose?: boolean; bbox?: boolean } = {}): JobRequest {
  const outputs: Record<string, string> = { landmarks: path.join(dir, `${name}.stream`) };
  if (extra.headPose) outputs.head_pose = path.join(dir, `${name}.pose.stream`);
  return jobRequest({ data: clip, ...(extra.bbox === false ? {} : { bounding_box: bbox }) }, outputs, options);
}

/** Plan, runPart for each part (in `order`, through JSON as a queue carries them), join; each hook after a load of its own with `separate`. */
async function runParted(req: JobRequest, o: { reverse?: boolean; separate?: boolean } = {}): Promise<{ parts: unknown[]; results: unknown[]; logger: ReturnType<typeof collectingLogger>; progress: Array<[number, number | undefined]> }> {
  const logger = collectingLogger();
  const progress: Array<[number, number | undefined]> = [];
  const context: HookContext = { logger, progress: (done, total) => progress.push([done, total]) };
  const shared = o.separate ? null : await mod.load(req, context);
  const withModel = async <T>(f: (model: FaceMeshModel) => Promise<T>): Promise<T> => {
    const model = shared ?? (await mod.load(req, context));
    try {
      return await f(model);
    } finally {
      if (!shared) await mod.dispose!(model);
    }
  };
  try {
    const planned = await withModel((m) => mod.plan!(m, req, context));
    assert.ok(planned, "the job was not split");
    const parts = JSON.parse(JSON.stringify(planned)) as unknown[];
    const results: unknown[] = new Array(parts.length);
    const order = parts.map((_, i) => i);
    if (o.reverse) order.reverse();
    for (const i of order) {
      const result = await withModel((m) => mod.runPart!(m, req, parts[i], context));
      const json = JSON.stringify(result);
      assert.ok(json.length < 2000, `a part's result is ${json.length} characters`);
      results[i] = JSON.parse(json);
    }
    await withModel((m) => mod.join!(m, req, results, context));
    return { parts, results, logger, progress };
  } finally {
    if (shared) await mod.dispose!(shared);
  }
}

async function assertSameStream(actual: string, expected: string): Promise<void> {
  const a = await snapshotStream(actual);
  const e = await snapshotStream(expected);
  assert.ok(e.data.length > 0, `${expected}: empty`);
  assert.ok(a.data.equals(e.data), `${actual}: data differs from ${expected} (${a.data.length} vs ${e.data.length} bytes)`);
  assert.ok(a.header.equals(e.header), `${actual}: header differs from ${expected}`);
}

async function partsFolders(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".parts"));
}

// References: unsplit runs through the ordinary hooks (load, predict, write).
const reference = new Map<string, Promise<JobRequest>>();
function unsplit(name: string, options: Record<string, unknown>, extra: { headPose?: boolean; bbox?: boolean } = {}): Promise<JobRequest> {
  if (!reference.has(name)) {
    const req = request(name, { ...options, segment_seconds: 0 }, extra);
    reference.set(name, runHooks(req).then(() => req));
  }
  return reference.get(name)!;
}

test("tracking states survive JSON bit for bit, -0, NaN and infinities included", () => {
  const states: TrackState[] = [
    { rotation: null, spec: 0, roi: null, turn: null },
    { rotation: -0, spec: 0.1 + 0.2, roi: { cx: Math.PI, cy: 5e-324, width: 1 / 3, height: -1e308, rotation: Number.NaN }, turn: 3 },
    { rotation: Number.POSITIVE_INFINITY, spec: Number.NEGATIVE_INFINITY, roi: { cx: -0, cy: 0, width: 2 ** -1074, height: 0.7071067811865476, rotation: -Math.PI }, turn: 0 },
  ];
  for (const s of states) {
    const back = decodeTrackState(JSON.parse(JSON.stringify(encodeTrackState(s))), "test");
    for (const key of ["rotation", "spec", "turn"] as const) assert.ok(Object.is(back[key], s[key]), `${key}: ${back[key]} vs ${s[key]}`);
    if (s.roi === null) assert.equal(back.roi, null);
    else for (const key of ["cx", "cy", "width", "height", "rotation"] as const) assert.ok(Object.is(back.roi![key], s.roi[key]), `roi.${key}: ${back.roi![key]} vs ${s.roi[key]}`);
  }
  assert.throws(() => decodeTrackState({ rotation: null, spec: "1.5", roi: null, turn: null }, "x.json"), /x\.json: not a number/);
});

test("bbox mode: plan, three parts, join = the unsplit run's stream, byte for byte; the parts' files are removed", async (t) => {
  const expected = await unsplit("bbox-whole", {});
  const req = request("bbox-parts", BBOX_PARTS);
  const { parts, logger, progress } = await runParted(req);
  assert.equal(parts.length, 3);
  await assertSameStream(req.outputs.landmarks!, expected.outputs.landmarks!);
  assert.deepEqual(await partsFolders(), []);
  // Progress: each part counts its own frames; the join counts the job's.
  assert.deepEqual(progress.at(-1), [FRAMES, FRAMES]);
  assert.ok(progress.some(([done, total]) => total === 50 && done === 50), "a part's progress");
  const joined = logger.infos.find((m) => m.includes("from 3 parts"));
  assert.ok(joined, logger.infos.join("\n"));
  t.diagnostic(joined);
});

test("bbox mode, head pose and one-euro smoothing, parts in reverse order each in a model of its own: both streams byte for byte", async () => {
  const options = { smoothing: "one_euro" };
  const expected = await unsplit("pose-whole", options, { headPose: true });
  const req = request("pose-parts", { ...options, ...BBOX_PARTS }, { headPose: true });
  await runParted(req, { reverse: true, separate: true });
  await assertSameStream(req.outputs.landmarks!, expected.outputs.landmarks!);
  await assertSameStream(req.outputs.head_pose!, expected.outputs.head_pose!);
  assert.deepEqual(await partsFolders(), []);
});

test("static mode (no bbox stream, tracking off): byte for byte", async () => {
  const options = { tracking: false };
  const expected = await unsplit("static-whole", options, { bbox: false });
  const req = request("static-parts", { ...options, ...BBOX_PARTS }, { bbox: false });
  await runParted(req);
  await assertSameStream(req.outputs.landmarks!, expected.outputs.landmarks!);
});

test("parts with no or a short warm-up are repaired at the join, and the streams are still byte for byte", async (t) => {
  const options = { smoothing: "one_euro" };
  const expected = await unsplit("pose-whole", options, { headPose: true });
  const req = request("repair-parts", { ...options, ...BBOX_PARTS }, { headPose: true });
  const model = await facemesh.load(req, { logger: collectingLogger() });
  try {
    // Warm-up 0: no warmed-up state to compare, every part after the first is run again until its chain meets
    // the part's own. Warm-up 3: too short on this clip, the states differ; one repair meets the part's own chain
    // (measured: 10 frames) and the join takes the part's rows from there.
    for (const segmentWarmup of [0, 3]) {
      const logger = collectingLogger();
      const context: HookContext = { logger };
      const job: JobFiles = { inputs: { video: clip, bbox }, out: req.outputs.landmarks!, headPose: { path: req.outputs.head_pose!, noFace: model.options.no_face } };
      const settings = { options: model.options, segmentWarmup };
      const parts = await planParts(job, settings, context);
      assert.ok(parts);
      assert.deepEqual(parts.map((p) => p.segment.warmup), [segmentWarmup, segmentWarmup, segmentWarmup]);
      const results: PartResult[] = [];
      for (const part of parts) results.push(await runPart(model.mesh, job, settings, part, context));
      const stats: SegmentStats = { repairs: 0, repairedFrames: 0 };
      await joinParts(model.mesh, job, settings, results, context, stats);
      const repairs = logger.infos.filter((m) => m.includes("run again"));
      t.diagnostic(`warm-up ${segmentWarmup}: ${stats.repairs} repairs, ${stats.repairedFrames} frames run again; ${repairs.join("; ")}`);
      assert.equal(stats.repairs, 2);
      assert.equal(repairs.length, 2);
      if (segmentWarmup > 0) assert.ok(repairs.some((m) => m.includes("then the part's own rows")), "no repair met the part's own chain");
      await assertSameStream(req.outputs.landmarks!, expected.outputs.landmarks!);
      await assertSameStream(req.outputs.head_pose!, expected.outputs.head_pose!);
      await rm(req.outputs.landmarks!);
    }
  } finally {
    await facemesh.dispose(model);
  }
});

test("plan: null for video mode and for a video shorter than two segments", async () => {
  const context: HookContext = { logger: collectingLogger() };
  for (const req of [request("video-mode", BBOX_PARTS, { bbox: false }), request("short", { segment_seconds: 300 })]) {
    const model = await facemesh.load(req, context);
    try {
      assert.equal(await facemesh.plan(model, req, context), null, JSON.stringify(req.options));
    } finally {
      await facemesh.dispose(model);
    }
  }
});

test("plan: a missing video or a bbox stream of another video is refused, naming the file", async () => {
  const context: HookContext = { logger: collectingLogger() };
  const missing = path.join(dir, "no-such-video.mp4");
  const other = await writeHandBboxStream(path.join(dir, "other.bbox.stream"), [squareBoxRow(320, 180, 200, 640, 360)], { fps: 25, width: 640, height: 360 });
  const cases: Array<[JobRequest, string]> = [
    [jobRequest({ data: missing, bounding_box: bbox }, { landmarks: path.join(dir, "bad.stream") }, BBOX_PARTS), missing],
    [jobRequest({ data: clip, bounding_box: other }, { landmarks: path.join(dir, "bad.stream") }, BBOX_PARTS), other],
  ];
  for (const [req, file] of cases) {
    const model = await facemesh.load(req, context);
    try {
      await assert.rejects(facemesh.plan(model, req, context), (err: Error) => err.message.includes(file), file);
    } finally {
      await facemesh.dispose(model);
    }
  }
  assert.deepEqual(await partsFolders(), []);
});

test("join with a missing or truncated part file throws naming it and leaves the old output as it was; discardParts removes the folder", async () => {
  const expected = await unsplit("bbox-whole", {});
  const req = request("broken-parts", BBOX_PARTS);
  const out = req.outputs.landmarks!;
  // An old output to keep.
  await runHooks(request("broken-parts", { segment_seconds: 0, tracking: false }));
  const before = await snapshotStream(out);
  const context: HookContext = { logger: collectingLogger() };
  const model = await facemesh.load(req, context);
  try {
    const parts = (await facemesh.plan(model, req, context))!;
    const results = [];
    for (const part of parts) results.push(await facemesh.runPart(model, req, part, context));
    const folder = parsePart(parts[0]).folder;
    const names = () => listDir(dir);
    const listed = await names();
    assert.ok(listed.includes(path.basename(folder)));
    const files = (results as PartResult[]).map((r) => r.files);
    const inFolder = await readdir(folder);
    assert.equal(inFolder.length, 3 * 2, inFolder.join(", "));

    // A part cancelled half way leaves nothing in the folder.
    const controller = new AbortController();
    const cancelled = { logger: collectingLogger(), signal: controller.signal, progress: (done: number) => void (done >= 20 && controller.abort(new Error("cancelled by the test"))) };
    await assert.rejects(facemesh.runPart(model, req, parts[1], cancelled), /cancel/);
    assert.deepEqual(await readdir(folder), inFolder);

    const states = path.join(folder, files[0]!.states);
    const kept = await readFile(states);
    await writeFile(states, kept.subarray(0, kept.length - 10));
    await assert.rejects(facemesh.join(model, req, results, context), (err: Error) => err.message.includes(states) && /not complete JSON/.test(err.message));
    await writeFile(states, kept);
    const rows = path.join(folder, files[1]!.rows);
    await truncate(rows, 1000);
    await assert.rejects(facemesh.join(model, req, results, context), (err: Error) => err.message.includes(rows) && /truncated/.test(err.message));
    await rm(rows);
    await assert.rejects(facemesh.join(model, req, results, context), (err: Error) => err.message.includes(rows) && /missing/.test(err.message));
    assert.deepEqual(await snapshotStream(out), before, "the old output changed");
    assert.deepEqual(await names(), listed, "a failed join left files");

    // Results out of order, or something else, are refused.
    await assert.rejects(facemesh.join(model, req, [...results].reverse(), context), /result 0 is part 2/);
    await assert.rejects(facemesh.runPart(model, req, { index: 0 }, context), /not a facemesh part/);

    // discardParts refuses a folder that is not one of this job's parts folders, then removes the real one.
    const forged = { ...(parts[0] as object), folder: path.join(dir, ".clip.mp4.0123456789abcdef.parts") };
    await assert.rejects(facemesh.discardParts(req, [forged]), /not a parts folder/);
    await facemesh.discardParts(req, parts);
    assert.deepEqual(await partsFolders(), []);
    await facemesh.discardParts(req, parts); // nothing there: fine
  } finally {
    await facemesh.dispose(model);
  }
  // Sanity: the reference differs from the old (static-mode) output, so "unchanged" above meant something.
  assert.ok(!(await snapshotStream(expected.outputs.landmarks!)).data.equals(before.data));
});
