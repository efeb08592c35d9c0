/**
 * What the module writes for each kind of bbox row, on a generated clip (the sample photo's upright face on a
 * 640x360 frame, see makeFaceClip) with a hand-built bbox stream:
 *   good square boxes (conf 1 and a low conf 0.3), blazeface's three no-face rows (previous box with conf 0,
 *   [0,0,1,1,0], all zeros), a NaN row, boxes partly outside the frame, a box entirely outside, an inverted box;
 * and the options that decide what a row holds: no_face (zeros / nan), min_score_thresh (1.0: score kept,
 * landmarks dropped), tracking on/off. Also rows != frames (bbox stream shorter / longer than the video) and a
 * still image (one row, sr 1).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { FaceLandmarks } from "../lib/types.js";
import { GENERATED_CLIPS } from "./support/mediapipe_fixture.js";
import { tempDir } from "./support/media.js";
import {
  decodeAll,
  formatSummary,
  jobRequest,
  makeFaceClip,
  mediapipeLandmarks,
  readStreamFile,
  row,
  rowHasFace,
  rowVsMesh,
  runCli,
  runHooks,
  samplePhoto,
  squareBoxRow,
  summarize,
  warningLines,
  writeHandBboxStream,
  ROW_DIM,
  type StreamFile,
} from "./support/facemesh_harness.js";

const W = 640;
const H = 360;
const FRAMES = 12;

/** What each frame's bbox row is, and what the module must write for it. */
type RowKind = "face" | "lowconf" | "repeat_last" | "before_first" | "zeros" | "nan" | "oversized" | "right_edge" | "outside" | "inverted";
const KINDS: RowKind[] = ["face", "lowconf", "repeat_last", "before_first", "zeros", "nan", "oversized", "right_edge", "outside", "inverted", "face", "face"];
/** Rows the pipeline must not crop at all (classifyBox: no_face or invalid): score 0, no landmarks. */
const EMPTY: ReadonlySet<RowKind> = new Set(["repeat_last", "before_first", "zeros", "nan", "outside", "inverted"]);
/** Rows with a clear face in a well-placed box. */
const FACE: ReadonlySet<RowKind> = new Set(["face", "lowconf"]);

/**
 * A face's box from its static-mode landmarks: their bounding box, squared on its long side in pixels. That is the
 * box MediaPipe's own tracking derives from landmarks (before its 1.5x), so the crop is one MediaPipe would use.
 */
function boxFromLandmarks(lm: { points: Float32Array }): { cx: number; cy: number; side: number } {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < 468; i++) {
    const x = lm.points[3 * i]! * W;
    const y = lm.points[3 * i + 1]! * H;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, side: Math.max(x1 - x0, y1 - y0) };
}

function bboxRow(kind: RowKind, face: { cx: number; cy: number; side: number }): number[] {
  const good = squareBoxRow(face.cx, face.cy, face.side, W, H);
  switch (kind) {
    case "face": return good;
    case "lowconf": return [...good.slice(0, 4), 0.3];
    case "repeat_last": return [...good.slice(0, 4), 0];
    case "before_first": return [0, 0, 1, 1, 0];
    case "zeros": return [0, 0, 0, 0, 0];
    case "nan": return [NaN, NaN, NaN, NaN, NaN];
    // Three times the face box: reaches above and below the frame (ymin < 0, ymax > 1); the face stays inside.
    case "oversized": return squareBoxRow(face.cx, face.cy, 3 * face.side, W, H);
    // Same size, a quarter of it beyond the frame's right edge (xmax > 1), on the background: no face in it.
    case "right_edge": return squareBoxRow(W - face.side / 4, face.cy, face.side, W, H);
    case "outside": return [0.2, 1.1, 0.5, 1.3, 1];
    case "inverted": return [good[2]!, good[1]!, good[0]!, good[3]!, 1];
  }
}

describe("hand-built bbox rows on a generated 640x360 clip", () => {
  let dir = "";
  let cleanup = async () => {};
  let clip = "";
  let bbox = "";
  let ref: Array<{ points: Float32Array } | null> = [];
  const outputs = new Map<string, StreamFile>();

  /** One run through the hooks (cached by name). */
  async function run(name: string, options: Record<string, unknown>, stream = bbox): Promise<StreamFile> {
    const cached = outputs.get(name);
    if (cached) return cached;
    const out = path.join(dir, `${name}.stream`);
    await runHooks(jobRequest({ data: clip, bounding_box: stream }, { landmarks: out }, options));
    const s = await readStreamFile(out);
    outputs.set(name, s);
    return s;
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir("facemesh-rows-"));
    clip = await makeFaceClip(path.join(dir, "face.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide" });
    const { info, frames } = await decodeAll(clip);
    assert.equal(info.width, W);
    assert.equal(info.height, H);
    assert.equal(frames.length, FRAMES);
    // Every frame is the same still re-encoded: MediaPipe's own landmarks on that still (frozen) are the reference.
    const still = await makeFaceClip(path.join(dir, "still.png"), GENERATED_CLIPS["tilted-wide.png"]);
    const [mp] = await mediapipeLandmarks("tilted-wide.png", still);
    assert.ok(mp, "MediaPipe found the face on the still");
    ref = frames.map(() => mp);
    const face = boxFromLandmarks(ref[0]!);
    bbox = await writeHandBboxStream(path.join(dir, "hand.bbox.stream"), KINDS.map((k) => bboxRow(k, face)), { fps: 25, width: W, height: H });
  });
  after(() => cleanup());

  for (const tracking of [true, false]) {
    test(`tracking ${tracking ? "on" : "off"}: faces found in good boxes, score 0 and zeros for no-face/NaN/outside/inverted rows, no crash on boxes over the edge`, async (t) => {
      const s = await run(`zeros-${tracking}`, { tracking });
      assert.equal(s.rows, FRAMES);
      const d: number[] = [];
      KINDS.forEach((kind, r) => {
        const f = row(s, r);
        const score = f[ROW_DIM - 1]!;
        assert.ok(f.every(Number.isFinite), `row ${r} (${kind}): no NaN with no_face=zeros`);
        assert.ok(score >= 0 && score <= 1, `row ${r} (${kind}): score ${score} outside [0, 1]`);
        if (EMPTY.has(kind)) {
          assert.ok(f.every((v) => v === 0), `row ${r} (${kind}): expected score 0 and zeros`);
        } else if (FACE.has(kind)) {
          assert.ok(score > 0.99, `row ${r} (${kind}): score ${score}`);
          assert.ok(rowHasFace(f), `row ${r} (${kind}): no landmarks`);
          d.push(rowVsMesh(f, ref[r]!.points, W, H));
        } else {
          // Over the edge: cropped with the border replicated; no crash, landmarks only when the score passes 0.5.
          // Measured: the 3x box scores 0.52 (just above 0.5) with landmarks 108% IOD off (the face fills a ninth
          // of the crop: out of the model's range), the background box 0.0003. Documented, not asserted: the
          // score is the model's to give.
          assert.equal(rowHasFace(f), score > 0.5, `row ${r} (${kind}): landmarks iff score > 0.5 (score ${score})`);
          t.diagnostic(`${kind} box: score ${score.toFixed(4)}, ${rowHasFace(f) ? `landmarks ${(rowVsMesh(f, ref[r]!.points, W, H) * 100).toFixed(2)}% IOD from MediaPipe` : "no landmarks"}`);
        }
      });
      const sum = summarize(d);
      t.diagnostic(formatSummary("good boxes vs MediaPipe on the still", sum));
      // Boxes from the face's own landmarks: the ROI is the one MediaPipe's tracking would use, a little larger
      // than static mode's (the landmarks reach above BlazeFace's box); 3% IOD as in module_e2e (measured 1.5%).
      assert.ok(sum.max < 0.03, `max ${(sum.max * 100).toFixed(2)}% IOD`);
    });
  }

  test("no_face=nan: the same empty rows hold NaN landmarks and score 0; face rows are unchanged", async () => {
    const zeros = await run("zeros-true", { tracking: true });
    const s = await run("nan", { tracking: true, no_face: "nan" });
    KINDS.forEach((kind, r) => {
      const f = row(s, r);
      const z = row(zeros, r);
      if (rowHasFace(z)) {
        assert.deepEqual(f, z, `row ${r} (${kind}) should not depend on no_face`);
      } else {
        assert.ok(f.subarray(0, ROW_DIM - 1).every(Number.isNaN), `row ${r} (${kind}): landmarks should be NaN`);
        assert.equal(f[ROW_DIM - 1], z[ROW_DIM - 1], `row ${r} (${kind}): score`);
      }
    });
  });

  test("min_score_thresh=1.0: every row keeps its score but no row has landmarks (sigmoid never exceeds 1)", async () => {
    const zeros = await run("zeros-true", { tracking: true });
    const s = await run("thresh1", { tracking: true, min_score_thresh: 1.0 });
    KINDS.forEach((kind, r) => {
      const f = row(s, r);
      assert.ok(f.subarray(0, ROW_DIM - 1).every((v) => v === 0), `row ${r} (${kind}): landmarks should be zeros`);
      if (FACE.has(kind)) assert.ok(f[ROW_DIM - 1]! > 0.99, `row ${r} (${kind}): score ${f[ROW_DIM - 1]} should be kept`);
      if (EMPTY.has(kind)) assert.equal(f[ROW_DIM - 1], 0);
    });
    // The first row's crop does not depend on tracking state, so its score is the same as at the default 0.5.
    assert.equal(row(s, 0)[ROW_DIM - 1], row(zeros, 0)[ROW_DIM - 1]);
  });

  test("the CLI takes the same stream (NaN rows do not fail a job) and writes the same rows as the hooks", async () => {
    const out = path.join(dir, "cli-nan.stream");
    const res = await runCli(["run", clip, "--bbox", bbox, "--out", out, "--no-face", "nan"]);
    assert.equal(res.code, 0, res.stderr);
    const s = await readStreamFile(out);
    const hooks = await run("nan", { tracking: true, no_face: "nan" });
    // NaN != NaN: compare the bytes.
    assert.deepEqual(Buffer.from(s.data.buffer), Buffer.from(hooks.data.buffer));
  });

  test("a bbox stream shorter than the video: rows = bbox rows, with a warning (hooks and CLI)", async () => {
    const face = boxFromLandmarks(ref[0]!);
    const short = await writeHandBboxStream(path.join(dir, "short.bbox.stream"), Array.from({ length: 5 }, () => bboxRow("face", face)), { fps: 25, width: W, height: H });
    const out = path.join(dir, "short.stream");
    const logged = await runHooks(jobRequest({ data: clip, bounding_box: short }, { landmarks: out }));
    assert.equal((await readStreamFile(out)).rows, 5);
    assert.ok(logged.warnings.some((w) => w.includes(short) && /5 rows/.test(w) && /12/.test(w)), `warnings: ${logged.warnings.join(" | ")}`);

    const cliOut = path.join(dir, "short-cli.stream");
    const res = await runCli(["run", clip, "--bbox", short, "--out", cliOut]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await readStreamFile(cliOut)).rows, 5);
    assert.ok(warningLines(res.stderr).some((w) => w.includes(short) && /5 rows/.test(w)), res.stderr);
  });

  test("a bbox stream longer than the video: rows = frames, with a warning (hooks and CLI)", async () => {
    const face = boxFromLandmarks(ref[0]!);
    const long = await writeHandBboxStream(path.join(dir, "long.bbox.stream"), Array.from({ length: 20 }, () => bboxRow("face", face)), { fps: 25, width: W, height: H });
    const out = path.join(dir, "long.stream");
    const logged = await runHooks(jobRequest({ data: clip, bounding_box: long }, { landmarks: out }));
    assert.equal((await readStreamFile(out)).rows, FRAMES);
    assert.ok(logged.warnings.some((w) => w.includes(long) && /20 rows/.test(w)), `warnings: ${logged.warnings.join(" | ")}`);

    const cliOut = path.join(dir, "long-cli.stream");
    const res = await runCli(["run", clip, "--bbox", long, "--out", cliOut]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await readStreamFile(cliOut)).rows, FRAMES);
    assert.ok(warningLines(res.stderr).some((w) => w.includes(long) && /20 rows/.test(w)), res.stderr);
  });
});

describe("still images: one row, sr 1", () => {
  test("hooks on a png with a one-row bbox stream", async (t) => {
    const { dir, cleanup } = await tempDir("facemesh-still-");
    try {
      const png = await makeFaceClip(path.join(dir, "face.png"), GENERATED_CLIPS["tilted-wide.png"]);
      const [lm] = await mediapipeLandmarks("tilted-wide.png", png);
      assert.ok(lm, "MediaPipe found the face");
      const bbox = await writeHandBboxStream(path.join(dir, "face.bbox.stream"), [bboxRow("face", boxFromLandmarks(lm))], { fps: 1, width: W, height: H });
      const out = path.join(dir, "face.stream");
      const logged = await runHooks(jobRequest({ data: png, bounding_box: bbox }, { landmarks: out }));
      assert.deepEqual(logged.warnings, []);
      const s = await readStreamFile(out);
      assert.equal(s.rows, 1);
      assert.equal(s.info.sr, "1.000");
      assert.equal(s.meta.size, `${W}:${H}`);
      assert.ok(row(s, 0)[ROW_DIM - 1]! > 0.99);
      const d = rowVsMesh(row(s, 0), lm.points, W, H);
      t.diagnostic(`png row vs MediaPipe: ${(d * 100).toFixed(3)}% IOD`);
      assert.ok(d < 0.03);
    } finally {
      await cleanup();
    }
  });

  test("CLI on the 1920x1280 sample photo (no bbox stream: the most confident face)", async () => {
    const { dir, cleanup } = await tempDir("facemesh-still-");
    try {
      const out = path.join(dir, "photo.stream");
      const res = await runCli(["run", samplePhoto(), "--out", out]);
      assert.equal(res.code, 0, res.stderr);
      const s = await readStreamFile(out);
      assert.equal(s.rows, 1);
      assert.equal(s.info.sr, "1.000");
      assert.equal(s.meta.size, "1920:1280");
      assert.equal(s.meta.type, "feature;face;landmarks;facemesh");
      assert.ok(rowHasFace(row(s, 0)) && row(s, 0)[ROW_DIM - 1]! > 0.99);
    } finally {
      await cleanup();
    }
  });
});
