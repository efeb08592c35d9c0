/**
 * The CLI's helper commands on generated media (the sample photo's face, see makeFaceClip):
 *   detect  the blazeface module's layout (NOVA.md §4): 5 dims, meta type feature;face;boundingbox;blazeface,
 *           size, boxes square in pixels, one row per frame, blazeface's no-face rows; --keypoints-out 13 dims in
 *           the subject's right/left order; the streams feed `run --bbox` (round trip) and `run --keypoints`
 *           (the eye rotation: MediaPipe's landmarks on a 45-degree face).
 *   render  a video with the same frame count and size as the input, the mesh drawn on the face only; a png for
 *           an image.
 *   info    the header and the face count of a landmark stream.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RgbImage } from "../lib/types.js";
import { probeVideo } from "../lib/video/probe.js";
import { GENERATED_CLIPS } from "./support/mediapipe_fixture.js";
import { tempDir } from "./support/media.js";
import {
  decodeAll,
  formatSummary,
  interOcular,
  makeFaceClip,
  mediapipeLandmarks,
  meshPoint,
  readStreamFile,
  row,
  rowHasFace,
  rowVsMesh,
  runCli,
  summarize,
  type StreamFile,
} from "./support/facemesh_harness.js";

const W = 640;
const H = 360;
const FRAMES = 12;
/** Frames painted black: before the first face, and a gap after it. */
const BLACK = [0, 1, 2, 8, 9];
/**
 * `run --keypoints` on the 45-degree face vs MediaPipe's landmarks on the same still, max over the frames, as a
 * fraction of the inter-ocular distance: measured 0.99% (the engine's parity error on this face plus re-encoding);
 * 1.5x that. Without the eye rotation the same rows land ~20% away.
 */
const KP_BOUND = 0.015;

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Mean absolute difference of all channels over [x0,x1) x [y0,y1). */
function meanAbsDiff(a: RgbImage, b: RgbImage, x0: number, y0: number, x1: number, y1: number): number {
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * a.width + x) * 3 + c;
        sum += Math.abs(a.data[i]! - b.data[i]!);
        n++;
      }
    }
  }
  return sum / n;
}

describe("facemesh detect / run --bbox / run --keypoints / render / info on a 640x360 clip with a face coming and going", () => {
  let dir = "";
  let cleanup = async () => {};
  let clip = "";
  let frames: RgbImage[] = [];
  /** MediaPipe's landmarks per frame (null on the black frames). */
  let ref: Array<{ points: Float32Array } | null> = [];
  let bbox = "";
  let keypoints = "";
  let boxes: StreamFile;
  let kps: StreamFile;
  let landmarks = "";

  before(async () => {
    ({ dir, cleanup } = await tempDir("facemesh-tools-"));
    clip = await makeFaceClip(path.join(dir, "face.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide", blackFrames: BLACK });
    frames = (await decodeAll(clip)).frames;
    // Each face frame is the same still re-encoded: MediaPipe's own landmarks on that still (frozen) are the
    // reference for all of them; the black frames have none.
    const still = await makeFaceClip(path.join(dir, "still.png"), GENERATED_CLIPS["tilted-wide.png"]);
    const [mp] = await mediapipeLandmarks("tilted-wide.png", still);
    assert.ok(mp, "MediaPipe found the face on the still");
    ref = frames.map((_, i) => (BLACK.includes(i) ? null : mp));
    bbox = path.join(dir, "face.bbox.stream");
    keypoints = path.join(dir, "face.kp.stream");
    const res = await runCli(["detect", clip, "--out", bbox, "--keypoints-out", keypoints]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`${FRAMES} rows, faces in ${FRAMES - BLACK.length}`));
    boxes = await readStreamFile(bbox);
    kps = await readStreamFile(keypoints);
  });
  after(() => cleanup());

  test("detect: bbox stream header and rows in the blazeface module's layout", () => {
    assert.equal(boxes.info.ftype, "BINARY");
    assert.equal(boxes.info.type, "FLOAT");
    assert.equal(boxes.dim, 5);
    assert.equal(boxes.info.sr, "25.000");
    assert.equal(boxes.meta.type, "feature;face;boundingbox;blazeface");
    assert.equal(boxes.meta.size, `${W}:${H}`);
    assert.equal(boxes.rows, FRAMES);
    let lastFace: Float32Array | null = null;
    for (let r = 0; r < FRAMES; r++) {
      const b = row(boxes, r);
      if (BLACK.includes(r)) {
        // No face: the previous face's box with conf 0, or [0,0,1,1,0] before the first face.
        const expected: number[] = lastFace ? [...lastFace.subarray(0, 4), 0] : [0, 0, 1, 1, 0];
        assert.deepEqual([...b], expected, `row ${r}`);
        continue;
      }
      const [ymin, xmin, ymax, xmax, conf] = [...b] as [number, number, number, number, number];
      assert.ok(conf >= 0.5 && conf <= 1, `row ${r}: conf ${conf} (short-range BlazeFace keeps >= 0.5)`);
      // Square in pixels (float32 storage: well under 0.01 px).
      assert.ok(Math.abs((xmax - xmin) * W - (ymax - ymin) * H) < 0.01, `row ${r}: ${(xmax - xmin) * W} x ${(ymax - ymin) * H} px`);
      // On the face: the static landmarks' eye corners and nose tip (mesh 1) lie inside the box.
      for (const i of [33, 263, 1]) {
        const [x, y] = meshPoint(ref[r]!.points, i, W, H);
        assert.ok(x > xmin * W && x < xmax * W && y > ymin * H && y < ymax * H, `row ${r}: mesh point ${i} outside the box`);
      }
      lastFace = b;
    }
  });

  test("detect --keypoints-out: 13 dims, subject's right eye on the image's left, keypoints on MediaPipe's mesh", (t) => {
    assert.equal(kps.dim, 13);
    assert.equal(kps.info.sr, "25.000");
    assert.equal(kps.meta.type, "feature;face;landmarks;blazeface");
    assert.equal(kps.meta.size, `${W}:${H}`);
    assert.equal(kps.rows, FRAMES);
    const eyeErrors: number[] = [];
    for (let r = 0; r < FRAMES; r++) {
      const k = row(kps, r);
      if (BLACK.includes(r)) {
        assert.equal(k[12], 0, `row ${r}: conf`);
        if (r < 3) assert.ok(k.every((v) => v === 0), `row ${r}: all zeros before the first face`);
        continue;
      }
      assert.equal(k[12], row(boxes, r)[4], `row ${r}: keypoint conf = box conf`);
      const p = (j: number): [number, number] => [k[2 * j + 1]! * W, k[2 * j]! * H]; // stored y, x
      const [rex, rey] = p(0);
      const [lex, ley] = p(1);
      const [, noseY] = p(2);
      const [, mouthY] = p(3);
      assert.ok(rex < lex, `row ${r}: the subject's right eye should be left of the left eye in the image`);
      assert.ok(Math.max(rey, ley) < noseY && noseY < mouthY, `row ${r}: eyes above nose above mouth`);
      // BlazeFace's eye keypoints vs the mesh's eye centres (mean of the corners 33/133 and 362/263).
      const m = ref[r]!.points;
      const centre = (a: number, b: number) => meshPoint(m, a, W, H).map((v, i) => (v + meshPoint(m, b, W, H)[i]!) / 2);
      const [mrx, mry] = centre(33, 133);
      const [mlx, mly] = centre(362, 263);
      const iod = interOcular(m, W, H);
      eyeErrors.push(Math.hypot(rex - mrx!, rey - mry!) / iod, Math.hypot(lex - mlx!, ley - mly!) / iod);
    }
    const s = summarize(eyeErrors);
    t.diagnostic(formatSummary("BlazeFace eye keypoints vs mesh eye centres", s));
    // Two models' notions of "eye centre" (BlazeFace regresses its keypoints from a 128x128 view of the whole
    // frame; measured mean 7.5%, max 10.8% IOD): a quarter of the IOD leaves room, and a swap of the two eyes (a
    // whole IOD away) or of y and x still fails it.
    assert.ok(s.max < 0.25);
  });

  test("detect -> run --bbox: rows = frames, landmarks on face frames, score 0 and zeros on black frames", async () => {
    landmarks = path.join(dir, "face.stream");
    const res = await runCli(["run", clip, "--bbox", bbox, "--out", landmarks]);
    assert.equal(res.code, 0, res.stderr);
    const s = await readStreamFile(landmarks);
    assert.equal(s.rows, FRAMES);
    for (let r = 0; r < FRAMES; r++) {
      if (BLACK.includes(r)) assert.ok(row(s, r).every((v) => v === 0), `row ${r}`);
      else assert.ok(rowHasFace(row(s, r)) && rowVsMesh(row(s, r), ref[r]!.points, W, H) < 0.03, `row ${r}`);
    }
  });

  test("info: header, rows, frames with a face (text and --json)", async () => {
    const text = await runCli(["info", landmarks]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^dim\s+937$/m);
    assert.match(text.stdout, /^sr\s+25\s+\(rows per second\)$/m);
    assert.match(text.stdout, /^rows\s+12$/m);
    assert.match(text.stdout, /^ftype\s+BINARY$/m);
    assert.match(text.stdout, /feature;face;landmarks;facemesh/);
    assert.match(text.stdout, /"size":"640:360"/);
    assert.match(text.stdout, new RegExp(`^framesWithFace\\s+${FRAMES - BLACK.length}\\s+\\(rows with landmarks`, "m"));
    const json = await runCli(["info", landmarks, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const info = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(info.dim, 937);
    assert.equal(info.rows, FRAMES);
    assert.equal(info.sr, 25);
    assert.deepEqual(info.meta, { type: "feature;face;landmarks;facemesh", size: "640:360" });
    assert.equal(info.framesWithFace, FRAMES - BLACK.length);
    const bboxInfo = JSON.parse((await runCli(["info", bbox, "--json"])).stdout) as Record<string, unknown>;
    assert.equal(bboxInfo.dim, 5);
    assert.equal(bboxInfo.rows, FRAMES);
  });

  test("render: same frame count and size as the input; the mesh drawn on the face, nothing elsewhere", async (t) => {
    const out = path.join(dir, "overlay.mp4");
    const res = await runCli(["render", clip, "--stream", landmarks, "--out", out]);
    assert.equal(res.code, 0, res.stderr);
    const info = await probeVideo(out);
    assert.equal(info.frameCount, FRAMES);
    assert.equal(info.width, W);
    assert.equal(info.height, H);
    assert.equal(info.fps, 25);
    const drawn = (await decodeAll(out)).frames;
    assert.equal(drawn.length, FRAMES);
    // Face frame 5: the face's box changed a lot; the black padding left of the picture (x < 200) not at all
    // beyond re-encoding noise. Black frame 8: nothing drawn anywhere.
    const b = row(boxes, 5);
    const [x0, y0, x1, y1] = [Math.floor(b[1]! * W), Math.floor(b[0]! * H), Math.ceil(b[3]! * W), Math.ceil(b[2]! * H)];
    const onFace = meanAbsDiff(drawn[5]!, frames[5]!, x0, y0, x1, y1);
    const offFace = meanAbsDiff(drawn[5]!, frames[5]!, 0, 0, 200, H);
    const black = meanAbsDiff(drawn[8]!, frames[8]!, 0, 0, W, H);
    t.diagnostic(`mean |overlay - input|: face box ${onFace.toFixed(1)}, padding ${offFace.toFixed(2)}, black frame ${black.toFixed(2)} levels`);
    assert.ok(onFace > 20, "the mesh should be visible on the face");
    assert.ok(offFace < 2 && black < 2, "nothing should be drawn off the face or on a frame without a face");
  });

  test("run --keypoints: the eye rotation gives MediaPipe's landmarks on the tilted face, without it the face is missed", async (t) => {
    // The unrotated window: the face's eye line is at ~45 degrees, where a rotation-0 crop reads it badly.
    // Each frame is the still tilt45-wide.png re-encoded: MediaPipe's landmarks on that still are the reference.
    const tilted = await makeFaceClip(path.join(dir, "tilted.mp4"), { frames: 4, angle: "0", layout: "wide" });
    const [mp45] = await mediapipeLandmarks("tilt45-wide.png", await makeFaceClip(path.join(dir, "tilt45.png"), GENERATED_CLIPS["tilt45-wide.png"]));
    assert.ok(mp45, "MediaPipe found the tilted face on the still");
    const tiltedRef = Array.from({ length: 4 }, () => mp45);
    const tb = path.join(dir, "tilted.bbox.stream");
    const tk = path.join(dir, "tilted.kp.stream");
    assert.equal((await runCli(["detect", tilted, "--out", tb, "--keypoints-out", tk])).code, 0);
    const withKp = path.join(dir, "tilted.kp-run.stream");
    const without = path.join(dir, "tilted.plain-run.stream");
    assert.equal((await runCli(["run", tilted, "--bbox", tb, "--keypoints", tk, "--out", withKp])).code, 0);
    assert.equal((await runCli(["run", tilted, "--bbox", tb, "--no-tracking", "--out", without])).code, 0);
    const a = await readStreamFile(withKp);
    const b = await readStreamFile(without);
    const dKp = tiltedRef.map((m, r) => rowVsMesh(row(a, r), m!.points, W, H));
    const dPlain = tiltedRef.map((m, r) => rowVsMesh(row(b, r), m!.points, W, H));
    t.diagnostic(`vs MediaPipe: with keypoints max ${(Math.max(...dKp) * 100).toFixed(3)}% IOD, rotation 0 mean ${(mean(dPlain) * 100).toFixed(2)}% IOD`);
    assert.ok(Math.max(...dKp) < KP_BOUND, `with keypoints: max ${(Math.max(...dKp) * 100).toFixed(3)}% IOD from MediaPipe`);
    assert.ok(mean(dPlain) > 0.05, "the rotation-0 crop should be visibly worse on a 45-degree face");
  });
});

describe("facemesh render on a still image", () => {
  test("writes a png of the image's size", async () => {
    const { dir, cleanup } = await tempDir("facemesh-tools-");
    try {
      const png = await makeFaceClip(path.join(dir, "face.png"), { angle: "-0.8", layout: "wide" });
      const stream = path.join(dir, "face.stream");
      assert.equal((await runCli(["run", png, "--out", stream])).code, 0);
      const out = path.join(dir, "overlay.png");
      const res = await runCli(["render", png, "--stream", stream, "--out", out]);
      assert.equal(res.code, 0, res.stderr);
      const info = await probeVideo(out);
      assert.equal(info.isImage, true);
      assert.equal(info.codec, "png");
      assert.equal(info.width, W);
      assert.equal(info.height, H);
      const [drawn] = (await decodeAll(out)).frames;
      const [input] = (await decodeAll(png)).frames;
      assert.ok(meanAbsDiff(drawn!, input!, 300, 60, 450, 210) > 20, "the mesh should be drawn on the face");
    } finally {
      await cleanup();
    }
  });
});
