/**
 * lib/calculators/landmarks_smoothing.ts against hand-computed cases: the alpha formula (and the figures
 * MediaPipe's FaceLandmarker states for its settings), the speed and its low-pass, the first sample, the reset,
 * the face-size scaling, time that does not advance, and the row layout (normalized y, x pairs in a non-square
 * frame). Expected values are written out from the 1€ formulas in the form alpha = 2 pi fc / (2 pi fc + f).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FACE_LANDMARKER_ONE_EURO,
  LandmarksSmoother,
  objectScale,
  OneEuroFilter,
  oneEuroAlpha,
  RowSmoother,
  smoothRowBatches,
  type OneEuroParams,
} from "../lib/calculators/landmarks_smoothing.js";
import { NUM_LANDMARKS, ROW_DIM } from "../lib/types.js";

const TAU = 2 * Math.PI;
/** alpha for cutoff fc (Hz) at sampling rate f (Hz), rearranged: 1 / (1 + (1 / (2 pi fc)) * f) = 2 pi fc / (2 pi fc + f). */
const alpha = (fc: number, f: number) => (TAU * fc) / (TAU * fc + f);
const close = (actual: number, expected: number, tol = 1e-12, what = "") =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} vs ${expected} (tolerance ${tol})`);

test("alpha: the formula, and FaceLandmarker's own figures for its settings at 30 fps", () => {
  close(oneEuroAlpha(1, 30), alpha(1, 30));
  close(oneEuroAlpha(0.05, 10), alpha(0.05, 10));
  // MediaPipe's comments on its settings: min_cutoff 0.05 gives ~0.01 when still, beta 80 ~0.94 when moving fast,
  // derivative cutoff 1.0 ~0.17.
  close(oneEuroAlpha(FACE_LANDMARKER_ONE_EURO.minCutoff, 30), 0.01, 0.0005, "still");
  close(oneEuroAlpha(FACE_LANDMARKER_ONE_EURO.derivativeCutoff, 30), 0.17, 0.005, "derivative");
  close(oneEuroAlpha(FACE_LANDMARKER_ONE_EURO.minCutoff + FACE_LANDMARKER_ONE_EURO.beta * 1, 30), 0.94, 0.005, "fast");
  // Higher cutoff or lower rate: more weight on the new sample.
  assert.ok(oneEuroAlpha(2, 30) > oneEuroAlpha(1, 30) && oneEuroAlpha(1, 10) > oneEuroAlpha(1, 30));
});

const params = (p: Partial<OneEuroParams>): OneEuroParams => ({ ...FACE_LANDMARKER_ONE_EURO, ...p });

test("one scalar: first sample unchanged, then an EMA at the time-derived rate (beta 0)", () => {
  const f = new OneEuroFilter(params({ minCutoff: 1, beta: 0 }));
  assert.equal(f.apply(0, 1, 0), 0);
  // 0.1 s apart: 10 Hz, not the 30 Hz default.
  const a = alpha(1, 10);
  const y1 = a * 1;
  close(f.apply(0.1, 1, 1), y1);
  const y2 = y1 + a * (1 - y1);
  close(f.apply(0.2, 1, 1), y2);
  close(y2, 0.6228437843582239, 1e-12, "written out");
  // A longer gap weighs the new sample more: 0.5 s -> 2 Hz.
  close(f.apply(0.7, 1, 1), y2 + alpha(1, 2) * (1 - y2));
});

test("one scalar: speed (scaled, per second) low-passed at the derivative cutoff raises the cutoff", () => {
  const f = new OneEuroFilter(params({ minCutoff: 1, beta: 1, derivativeCutoff: 1 }));
  assert.equal(f.apply(0, 1, 0), 0);
  const ad = alpha(1, 10);
  // Sample 2: raw speed (1 - 0) * 10 Hz = 10/s; the speed filter started at 0 on the first sample.
  const s1 = ad * 10;
  const y1 = alpha(1 + 1 * s1, 10) * 1;
  close(f.apply(0.1, 1, 1), y1);
  close(y1, 0.7532575181149229, 1e-12, "written out");
  // Sample 3: no change, raw speed 0; the filtered speed decays, so does the cutoff.
  const s2 = s1 + ad * (0 - s1);
  const y2 = y1 + alpha(1 + s2, 10) * (1 - y1);
  close(f.apply(0.2, 1, 1), y2);
  // The speed is |filtered speed|: a move down raises the cutoff as much as a move up.
  const g = new OneEuroFilter(params({ minCutoff: 1, beta: 1, derivativeCutoff: 1 }));
  g.apply(0, 1, 0);
  close(g.apply(0.1, 1, -1), -y1);
  // valueScale scales the speed only: scale 0.5 on a doubled move gives the same cutoff, so the doubled output.
  const h = new OneEuroFilter(params({ minCutoff: 1, beta: 1, derivativeCutoff: 1 }));
  h.apply(0, 0.5, 0);
  close(h.apply(0.1, 0.5, 2), 2 * y1);
});

test("one scalar: a time that does not advance passes the value unchanged and is not remembered", () => {
  const f = new OneEuroFilter(params({ minCutoff: 1, beta: 0 }));
  f.apply(1, 1, 0);
  assert.equal(f.apply(1, 1, 5), 5);
  assert.equal(f.apply(0.5, 1, 7), 7);
  // The next real sample continues from (t=1, value 0) as if the two had not come.
  close(f.apply(1.1, 1, 1), alpha(1, 10) * 1);
});

test("object scale: (box width + box height) / 2 of the points", () => {
  assert.equal(objectScale([10, 20, 110, 80, 50, 50]), (100 + 60) / 2);
  assert.equal(objectScale([5, 5]), 0);
});

test("landmarks: speed in face sizes per second from the current landmarks' box; coordinates filtered apart", () => {
  const s = new LandmarksSmoother();
  // Two landmarks: A fixed at (0, 0); B at (100, 60), then moved 8 px right 0.1 s later.
  assert.deepEqual([...s.apply(0, [0, 0, 100, 60])], [0, 0, 100, 60]);
  const out = s.apply(0.1, [0, 0, 108, 60]);
  const scale = (108 + 60) / 2; // the new sample's box
  const speed = alpha(1, 10) * ((8 / scale) * 10);
  const expectedBx = 100 + alpha(0.05 + 80 * speed, 10) * 8;
  close(out[2]!, expectedBx, 1e-9, "B.x");
  assert.deepEqual([out[0], out[1], out[3]], [0, 0, 60], "coordinates that did not move stay");
  // The same motion on a face twice as large, moved twice as far: the same speed in face sizes, so exactly
  // twice the output (the filter does not depend on how big the face is in the picture).
  const big = new LandmarksSmoother();
  big.apply(0, [0, 0, 200, 120]);
  close(big.apply(0.1, [0, 0, 216, 120])[2]!, 2 * expectedBx, 1e-9, "2x face");
  // A tiny face (scale below minObjectScale) passes unchanged.
  const tiny = new LandmarksSmoother(params({ minObjectScale: 1 }));
  tiny.apply(0, [0, 0, 0.5, 0.5]);
  assert.deepEqual([...tiny.apply(0.1, [0, 0, 0.9, 0.5])], [0, 0, 0.9, 0.5]);
});

test("landmarks: reset starts a new track (first sample unchanged, then as a fresh filter)", () => {
  const s = new LandmarksSmoother();
  s.apply(0, [0, 0, 100, 60]);
  s.apply(0.1, [0, 0, 140, 60]);
  s.reset();
  assert.deepEqual([...s.apply(0.2, [0, 0, 300, 60])], [0, 0, 300, 60]);
  const fresh = new LandmarksSmoother();
  fresh.apply(0.2, [0, 0, 300, 60]);
  assert.deepEqual([...s.apply(0.3, [0, 0, 310, 62])], [...fresh.apply(0.3, [0, 0, 310, 62])]);
  assert.throws(() => s.apply(0.4, [0, 0]), /1 landmarks after 2/);
});

/** A face row on a `w` x `h` frame: landmark i at pixel (x0 + i % 26 * 4 + dx, y0 + floor(i / 26) * 5 + dy). */
function faceRow(w: number, h: number, dx: number, dy: number, score = 0.9): Float32Array {
  const row = new Float32Array(ROW_DIM);
  for (let i = 0; i < NUM_LANDMARKS; i++) {
    row[2 * i] = (100 + Math.floor(i / 26) * 5 + dy) / h;
    row[2 * i + 1] = (200 + (i % 26) * 4 + dx) / w;
  }
  row[ROW_DIM - 1] = score;
  return row;
}

test("rows: pixels of a non-square frame (y by height, x by width), score kept, no-face rows reset", () => {
  const w = 640;
  const h = 360;
  const r = new RowSmoother(w, h);
  const out = new Float32Array(ROW_DIM);
  const first = faceRow(w, h, 0, 0);
  r.apply(0, first, 0, out, 0);
  assert.deepEqual(out, first, "first row of a track: bit for bit");
  // Box: x 200..300 (100 px), y 100..185 (85 px) -> scale 92.5 px, at any dx/dy shift.
  const scale = (100 + 85) / 2;
  const moved = faceRow(w, h, 6, -3, 0.8);
  r.apply(1 / 25, moved, 0, out, 0);
  const ad = alpha(1, 25);
  const ax = alpha(0.05 + 80 * Math.abs(ad * ((6 / scale) * 25)), 25);
  const ay = alpha(0.05 + 80 * Math.abs(ad * ((-3 / scale) * 25)), 25);
  for (const i of [0, 1, 27, 467]) {
    const x0 = 200 + (i % 26) * 4;
    const y0 = 100 + Math.floor(i / 26) * 5;
    close(out[2 * i + 1]! * w, x0 + ax * 6, 2e-4, `x of ${i}`);
    close(out[2 * i]! * h, y0 + ay * -3, 2e-4, `y of ${i}`);
  }
  assert.equal(out[ROW_DIM - 1], Math.fround(0.8));
  // A row without a face (score at the threshold: zeros) passes unchanged and ends the track.
  const empty = new Float32Array(ROW_DIM);
  empty[ROW_DIM - 1] = 0.3;
  r.apply(2 / 25, empty, 0, out, 0);
  assert.deepEqual(out, empty);
  const nan = new Float32Array(ROW_DIM).fill(Number.NaN);
  nan[ROW_DIM - 1] = 0.1;
  r.apply(3 / 25, nan, 0, out, 0);
  assert.ok(out.subarray(0, ROW_DIM - 1).every(Number.isNaN));
  const again = faceRow(w, h, 40, 20);
  r.apply(4 / 25, again, 0, out, 0);
  assert.deepEqual(out, again, "first row after the reset: unchanged");
});

test("the stage: batches keep their shape, rows are new arrays, time comes from each frame's index", async () => {
  const w = 320;
  const h = 240;
  const rows = [faceRow(w, h, 0, 0), faceRow(w, h, 2, 1), faceRow(w, h, 4, 2), faceRow(w, h, 6, 3), faceRow(w, h, 7, 3)];
  const batch = (first: number, n: number) => {
    const data = new Float32Array(n * ROW_DIM);
    for (let i = 0; i < n; i++) data.set(rows[first + i]!, i * ROW_DIM);
    return { rows: data, count: n, firstFrame: first, extra: "kept" };
  };
  const inputs = [batch(0, 2), batch(2, 3)];
  async function* source() {
    yield* inputs;
  }
  // Variable frame times: the stage must ask for each frame's own time.
  const times = [0, 0.04, 0.1, 0.12, 0.2];
  const got: Array<ReturnType<typeof batch>> = [];
  for await (const b of smoothRowBatches(source(), { width: w, height: h }, (i) => times[i]!)) got.push(b);
  assert.deepEqual(got.map((b) => [b.count, b.firstFrame, b.extra]), [[2, 0, "kept"], [3, 2, "kept"]]);
  assert.deepEqual(got[0]!.rows.subarray(0, ROW_DIM), rows[0], "first row unchanged");
  // Against one RowSmoother fed row by row with the same times.
  const ref = new RowSmoother(w, h);
  const out = new Float32Array(ROW_DIM);
  for (let i = 0; i < rows.length; i++) {
    ref.apply(times[i]!, rows[i]!, 0, out, 0);
    const b = i < 2 ? got[0]! : got[1]!;
    const at = (i < 2 ? i : i - 2) * ROW_DIM;
    assert.deepEqual(b.rows.subarray(at, at + ROW_DIM), out, `row ${i}`);
  }
  assert.notDeepEqual(got[1]!.rows.subarray(0, ROW_DIM), rows[2], "later rows are smoothed");
  assert.deepEqual(inputs[1]!.rows, batch(2, 3).rows, "input rows untouched");
  assert.deepEqual(inputs[0]!.rows, batch(0, 2).rows, "input rows untouched");
});

test("478-point rows (refine_landmarks): the irises are smoothed like the mesh; a batch's points get the smoothed x, y and keep z", async () => {
  const w = 320;
  const h = 240;
  const POINTS = 478;
  const DIM = POINTS * 2 + 1;
  // The mesh of faceRow, then ten iris points inside its box (the face size is the mesh's).
  const row478 = (dx: number, dy: number): Float32Array => {
    const r = new Float32Array(DIM);
    r.set(faceRow(w, h, dx, dy).subarray(0, ROW_DIM - 1));
    for (let i = NUM_LANDMARKS; i < POINTS; i++) {
      r[2 * i] = (120 + (i - NUM_LANDMARKS) + dy) / h;
      r[2 * i + 1] = (230 + 2 * (i - NUM_LANDMARKS) + dx) / w;
    }
    r[DIM - 1] = 0.9;
    return r;
  };
  const rows = [row478(0, 0), row478(5, -2)];
  const points = rows.map((r, k) => {
    const p = new Float32Array(POINTS * 3);
    for (let i = 0; i < POINTS; i++) [p[3 * i], p[3 * i + 1], p[3 * i + 2]] = [r[2 * i + 1]!, r[2 * i]!, 0.01 * i + k];
    return p;
  });
  const data = new Float32Array(2 * DIM);
  rows.forEach((r, i) => data.set(r, i * DIM));
  async function* source() {
    yield { rows: data, count: 2, firstFrame: 0, points: [points[0]!, points[1]!] as Array<Float32Array | null> };
  }
  const got = [];
  for await (const b of smoothRowBatches(source(), { width: w, height: h }, (i) => i / 25, FACE_LANDMARKER_ONE_EURO, POINTS)) got.push(b);
  assert.equal(got.length, 1);
  const b = got[0]!;
  assert.equal(b.rows.length, 2 * DIM);
  // Against RowSmoother with 478 points, row by row; the second row moved (5, -2) px and is smoothed, irises included.
  const ref = new RowSmoother(w, h, FACE_LANDMARKER_ONE_EURO, POINTS);
  const out = new Float32Array(DIM);
  ref.apply(0, rows[0]!, 0, out, 0);
  assert.deepEqual(b.rows.subarray(0, DIM), out);
  ref.apply(1 / 25, rows[1]!, 0, out, 0);
  assert.deepEqual(b.rows.subarray(DIM), out);
  const ax = alpha(0.05 + 80 * Math.abs(alpha(1, 25) * ((5 / ((100 + 85) / 2)) * 25)), 25);
  close(b.rows[DIM + 2 * 473 + 1]! * w, 230 + 2 * 5 + ax * 5, 2e-4, "x of iris centre 473");
  // Points: x, y from the smoothed row, z as the pipeline gave it; the pipeline's arrays untouched.
  const p1 = b.points![1]!;
  for (const i of [0, 200, 468, 477]) {
    assert.equal(p1[3 * i], b.rows[DIM + 2 * i + 1], `x of ${i}`);
    assert.equal(p1[3 * i + 1], b.rows[DIM + 2 * i], `y of ${i}`);
    assert.equal(p1[3 * i + 2], points[1]![3 * i + 2], `z of ${i}`);
  }
  assert.notEqual(p1, points[1], "a copy");
  assert.equal(points[1]![3 * 473], rows[1]![2 * 473 + 1], "the pipeline's points keep the raw x");
  await assert.rejects(async () => {
    for await (const _ of smoothRowBatches(source(), { width: w, height: h }, (i) => i / 25)) void _;
  }, /1914 values for 2 rows of 468 landmarks \(937 each\)/);
});
