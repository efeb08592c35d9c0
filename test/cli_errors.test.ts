/**
 * Bad input, case by case, through the CLI (and through the hooks where a NOVA host could send it):
 *   - the exit code is 1 and stderr names the file or option and the problem;
 *   - nothing is left behind: the output folder lists the same names after the run (no temp files, no new
 *     output), and an output that already existed at the path is byte-identical afterwards.
 * Also what must NOT fail (NaN bbox rows: module_bbox_rows), and the device choice on a machine without CUDA.
 * Media are generated (the sample photo's face as a short clip), so this runs without ../shared/data.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { makeEmptyFile, makeFaststart, makeTextFile, makeTruncated, tempDir } from "./support/media.js";
import {
  jobRequest,
  listDir,
  makeFaceClip,
  readStreamFile,
  runCli,
  runHooks,
  snapshotStream,
  squareBoxRow,
  warningLines,
  writeHandBboxStream,
  writeHandStream,
  type CliResult,
} from "./support/facemesh_harness.js";

const FRAMES = 20;

let root = "";
let cleanup = async () => {};
/** A good 640x360 clip with the face upright, its H.264 index at the end (ffmpeg's default). */
let clip = "";
/** A good bbox stream for the clip: one square box on the face per frame. */
let bbox = "";
/** A good landmark stream, copied to each case's output path before the failing run. */
let goodOut = "";
/** The clip, all key frames, with its index first (-movflags +faststart), cut at 60%: decoding fails after ~11 frames. */
let fastCut = "";
/** A bbox stream with 4 values per row. */
let fourDims = "";

before(async () => {
  ({ dir: root, cleanup } = await tempDir("facemesh-errors-"));
  clip = await makeFaceClip(path.join(root, "face.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide" });
  // The face's box on this clip (right of centre, about 95 px; see makeFaceClip), square in pixels.
  bbox = await writeHandBboxStream(path.join(root, "face.bbox.stream"), Array.from({ length: FRAMES }, () => squareBoxRow(375, 140, 110, 640, 360)), { fps: 25, width: 640, height: 360 });
  goodOut = path.join(root, "good.stream");
  const res = await runCli(["run", clip, "--bbox", bbox, "--out", goodOut]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal((await readStreamFile(goodOut)).rows, FRAMES);
  const intra = await makeFaceClip(path.join(root, "intra.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide", intraOnly: true });
  const fast = await makeFaststart(intra, path.join(root, "fast.mp4"));
  fastCut = await makeTruncated(fast, path.join(root, "fast-cut.mp4"), Math.floor((await stat(fast)).size * 0.6));
  fourDims = await writeHandStream(path.join(root, "four.bbox.stream"), Array.from({ length: FRAMES }, () => [0.2, 0.5, 0.5, 0.7]), { sr: 25, dim: 4, meta: { type: "feature;face;boundingbox;blazeface", size: "640:360" } });
});
after(() => cleanup());

interface Case {
  dir: string;
  out: string;
}

/** A fresh folder for a case, holding a copy of a good output at out.stream (or none). */
async function newCase(name: string, withExisting: boolean): Promise<Case> {
  const dir = path.join(root, name);
  await mkdir(dir);
  const out = path.join(dir, "out.stream");
  if (withExisting) {
    await copyFile(goodOut, out);
    await copyFile(`${goodOut}~`, `${out}~`);
  }
  return { dir, out };
}

/**
 * Runs the CLI twice on a failing input: once where out.stream already holds a good stream, once where there is
 * none. Both must exit 1 with stderr matching every pattern, and leave the folder as it was.
 */
async function assertCliFails(t: TestContext, name: string, args: (c: Case) => string[], patterns: ReadonlyArray<RegExp | string>): Promise<CliResult> {
  let last: CliResult | undefined;
  for (const withExisting of [true, false]) {
    const c = await newCase(`${name}-${withExisting ? "existing" : "fresh"}`, withExisting);
    const before = await listDir(c.dir);
    const snap = withExisting ? await snapshotStream(c.out) : null;
    const res = await runCli(args(c));
    assert.equal(res.code, 1, `exit code (stderr: ${res.stderr})`);
    const message = res.stderr.split("\n").filter((l) => l.startsWith("facemesh: ")).join("\n");
    assert.ok(message, `no "facemesh: ..." error line in stderr: ${res.stderr}`);
    for (const p of patterns) {
      if (typeof p === "string") assert.ok(message.includes(p), `error should name ${p}: ${message}`);
      else assert.match(message, p);
    }
    assert.deepEqual(await listDir(c.dir), before, "the failed run added or removed files");
    if (snap) assert.deepEqual(await snapshotStream(c.out), snap, "the existing output changed");
    last = res;
  }
  t.diagnostic(last!.stderr.split("\n").filter((l) => l.startsWith("facemesh: ")).join(" / "));
  return last!;
}

describe("CLI run: bad video input", () => {
  test("missing file", async (t) => {
    const missing = path.join(root, "no-such-video.mp4");
    await assertCliFails(t, "missing", (c) => ["run", missing, "--bbox", bbox, "--out", c.out], [missing, /not found/]);
  });

  test("empty file", async (t) => {
    const empty = await makeEmptyFile(path.join(root, "empty.mp4"));
    await assertCliFails(t, "empty", (c) => ["run", empty, "--bbox", bbox, "--out", c.out], [empty, /empty/]);
  });

  test("a text file named .mp4", async (t) => {
    const text = await makeTextFile(path.join(root, "text.mp4"));
    await assertCliFails(t, "text", (c) => ["run", text, "--bbox", bbox, "--out", c.out], [text, /not a video/]);
  });

  test("truncated mp4 with its index at the end (lost with the tail)", async (t) => {
    const size = (await stat(clip)).size;
    const cut = await makeTruncated(clip, path.join(root, "cut.mp4"), Math.floor(size / 2));
    await assertCliFails(t, "cut", (c) => ["run", cut, "--bbox", bbox, "--out", c.out], [cut, /truncated/]);
  });

  test("truncated mp4 with its index first: fails mid-decode, after rows were written to the temp file", async (t) => {
    // batch_size 2: several batches are appended to the temp stream before decoding fails.
    const res = await assertCliFails(t, "fastcut", (c) => ["run", fastCut, "--bbox", bbox, "--out", c.out, "--batch-size", "2"], [fastCut, /truncated or damaged/, /decoding stopped after \d+ of 20 frames/]);
    // The pipeline hands batch k on to the writer when batch k+1 goes to the model: with N >= 7 frames decoded
    // (batches of 2), at least batches 1 and 2 were appended to the temp stream before the decoder failed.
    const decoded = Number(/decoding stopped after (\d+) of 20 frames/.exec(res.stderr)?.[1]);
    t.diagnostic(`decoded ${decoded} of 20 frames before the failure`);
    assert.ok(decoded >= 7, `only ${decoded} frames decoded: the failure must come after rows were written`);
  });
});

describe("CLI run: bad bbox stream", () => {
  test("missing bbox stream", async (t) => {
    const missing = path.join(root, "no-such.bbox.stream");
    await assertCliFails(t, "nobbox", (c) => ["run", clip, "--bbox", missing, "--out", c.out], [missing, /cannot read/]);
  });

  test("wrong dim count (4 values per row)", async (t) => {
    await assertCliFails(t, "dim4", (c) => ["run", clip, "--bbox", fourDims, "--out", c.out], [fourDims, /dim=4/, /5 dims/]);
  });

  test("a landmark stream given as the bbox stream (937 dims, type feature;face;landmarks;facemesh)", async (t) => {
    await assertCliFails(t, "landmarks", (c) => ["run", clip, "--bbox", goodOut, "--out", c.out], [goodOut, /not a bounding-box stream/]);
  });

  test("header and data disagree (header: 20 rows, data: 19)", async (t) => {
    const rows = Array.from({ length: FRAMES - 1 }, () => squareBoxRow(375, 140, 110, 640, 360));
    const bad = await writeHandStream(path.join(root, "short-data.bbox.stream"), rows, { sr: 25, dim: 5, num: FRAMES, meta: { type: "feature;face;boundingbox;blazeface", size: "640:360" } });
    await assertCliFails(t, "mismatch", (c) => ["run", clip, "--bbox", bad, "--out", c.out], [`${bad}~`, /380 bytes but header/, /400 bytes/]);
  });
});

describe("CLI run: bad options", () => {
  test("batch_size 0", async (t) => {
    await assertCliFails(t, "batch0", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--batch-size", "0"], ["--batch-size=0:", /1 to 4096/]);
  });

  test("batch_size 10^9", async (t) => {
    await assertCliFails(t, "batch1e9", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--batch-size", "1000000000"], ["--batch-size=1000000000:", /1 to 4096/]);
  });

  test("min_score_thresh 2", async (t) => {
    await assertCliFails(t, "thresh2", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--min-score-thresh", "2"], ["--min-score-thresh=2:", /between 0 and 1/]);
  });

  test("an unknown smoothing", async (t) => {
    await assertCliFails(t, "smoothbogus", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--smoothing", "kalman"], ["smoothing", /"kalman"/, /none, one_euro/]);
  });

  test("an unknown device", async (t) => {
    await assertCliFails(t, "devbogus", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--device", "tpu"], [/device/, /'tpu'/]);
  });

  test("--tracking together with --no-tracking", async (t) => {
    await assertCliFails(t, "trackboth", (c) => ["run", clip, "--bbox", bbox, "--out", c.out, "--tracking", "--no-tracking"], ["--tracking", "--no-tracking"]);
  });

  test("--no-tracking gives the same rows as --tracking false", async () => {
    const c = await newCase("notracking", false);
    const a = `${c.out}.a.stream`;
    const b = `${c.out}.b.stream`;
    assert.equal((await runCli(["run", clip, "--bbox", bbox, "--out", a, "--no-tracking"])).code, 0);
    assert.equal((await runCli(["run", clip, "--bbox", bbox, "--out", b, "--tracking", "false"])).code, 0);
    assert.deepEqual(await readFile(`${a}~`), await readFile(`${b}~`));
  });

  test("an output path in a folder that does not exist", async (t) => {
    const out = path.join(root, "no-such-folder", "x.stream");
    await assertCliFails(t, "nofolder", () => ["run", clip, "--bbox", bbox, "--out", out], [out, path.dirname(out), /--out .*does not exist/]);
  });
});

describe("CLI run: devices", () => {
  test("--device cuda without CUDA: an error naming the provider and how to install it", async (t) => {
    const c = await newCase("cuda-probe", false);
    const probe = await runCli(["run", clip, "--bbox", bbox, "--out", c.out, "--device", "cuda"]);
    if (probe.code === 0) return t.skip("onnxruntime's CUDA provider loads on this machine: nothing to check");
    await assertCliFails(t, "cuda", (cc) => ["run", clip, "--bbox", bbox, "--out", cc.out, "--device", "cuda"], [/device cuda could not load/, /face_landmark\.onnx/, /CUDA 12/, /ONNXRUNTIME_NODE_INSTALL=cuda12/]);
  });

  test("--device cuda,cpu without CUDA: falls back to cpu with a warning, output as with cpu", async (t) => {
    const c = await newCase("cudacpu", false);
    const res = await runCli(["run", clip, "--bbox", bbox, "--out", c.out, "--device", "cuda,cpu"]);
    assert.equal(res.code, 0, res.stderr);
    if (/\(cuda, bbox stream\)/.test(res.stdout)) return t.skip("onnxruntime's CUDA provider loads on this machine: no fallback to see");
    assert.match(res.stdout, /\(cpu, bbox stream\)/);
    const warned = warningLines(res.stderr).filter((w) => /device cuda could not load/.test(w) && /using cpu/.test(w));
    assert.equal(warned.length >= 1, true, `no fallback warning in: ${res.stderr}`);
    t.diagnostic(warned[0]!);
    assert.deepEqual(await readFile(`${c.out}~`), await readFile(`${goodOut}~`), "cpu after fallback must give the cpu result");
  });
});

describe("hooks: bad input a NOVA host could send", () => {
  /** Runs the hooks against a case folder holding a good output; the job must fail and leave the folder as it was. */
  async function assertHooksFail(name: string, inputs: Record<string, string>, options: Record<string, unknown>, patterns: ReadonlyArray<RegExp | string>, outputs?: Record<string, string>): Promise<void> {
    const c = await newCase(`hooks-${name}`, true);
    const before = await listDir(c.dir);
    const snap = await snapshotStream(c.out);
    await assert.rejects(runHooks(jobRequest(inputs, outputs ?? { landmarks: c.out }, options)), (err: Error) => {
      for (const p of patterns) {
        if (typeof p === "string") assert.ok(err.message.includes(p), `error should name ${p}: ${err.message}`);
        else assert.match(err.message, p);
      }
      return true;
    });
    assert.deepEqual(await listDir(c.dir), before);
    assert.deepEqual(await snapshotStream(c.out), snap);
  }

  test("missing video", async () => {
    const missing = path.join(root, "nope.mp4");
    await assertHooksFail("missing", { data: missing, bounding_box: bbox }, {}, [missing, /not found/]);
  });

  test("truncated video (fails while writing)", async () => {
    await assertHooksFail("fastcut", { input_data: fastCut, face_bb: bbox }, { batch_size: 2 }, [fastCut, /truncated or damaged/]);
  });

  test("bbox stream with the wrong dim count", async () => {
    await assertHooksFail("dim4", { data: clip, bounding_box: fourDims }, {}, [fourDims, /dim=4/]);
  });

  test("options out of range, as NOVA sends them (strings and numbers)", async () => {
    await assertHooksFail("batch0", { data: clip, bounding_box: bbox }, { batch_size: "0" }, [/batch_size/, /1 to 4096/]);
    await assertHooksFail("batch1e9", { data: clip, bounding_box: bbox }, { batch_size: 1e9 }, [/batch_size/, /1 to 4096/]);
    await assertHooksFail("thresh2", { data: clip, bounding_box: bbox }, { min_score_thresh: 2 }, [/min_score_thresh/, /between 0 and 1/]);
  });

  test("no video in the request, no output in the request", async () => {
    await assertHooksFail("novideo", { bounding_box: bbox }, {}, [/missing input video/, /'data'/, /'input_data'/]);
    await assertHooksFail("noout", { data: clip, bounding_box: bbox }, {}, [/missing output/, /'landmarks'/, /'output_stream'/], {});
  });

  test("NaN bbox rows do not fail a job", async () => {
    const c = await newCase("hooks-nan", false);
    const nan = await writeHandBboxStream(path.join(c.dir, "nan.bbox.stream"), Array.from({ length: FRAMES }, (_, i) => (i % 2 ? [NaN, NaN, NaN, NaN, NaN] : squareBoxRow(375, 140, 110, 640, 360))), { fps: 25, width: 640, height: 360 });
    await runHooks(jobRequest({ data: clip, bounding_box: nan }, { landmarks: c.out }));
    const s = await readStreamFile(c.out);
    assert.equal(s.rows, FRAMES);
    for (let r = 1; r < FRAMES; r += 2) assert.ok(s.data.subarray(r * 937, (r + 1) * 937).every((v) => v === 0), `NaN row ${r}: score 0 and zeros`);
  });
});

