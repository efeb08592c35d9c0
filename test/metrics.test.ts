/**
 * lib/metrics.ts against hand-computed cases: every expected number below is worked out in the comment next to
 * it, not taken from the code's output. Tolerance 1e-12: the cases use a handful of float operations.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  agreementRate,
  meshDistance,
  meshTo68,
  nearestFace,
  nme68,
  parseMesh68Mapping,
  percentile,
  summarize,
  type Point2,
} from "../lib/metrics.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sharedData = path.resolve(projectRoot, "../shared/data");
const EPS = 1e-12;

function close(actual: number, expected: number, what: string, eps = EPS): void {
  assert.ok(Math.abs(actual - expected) <= eps, `${what}: ${actual} != ${expected}`);
}

/** 468 points at the image centre, eye corners 33 / 263 at x = 0.25 / 0.75 (normalized). */
function referenceMesh(): Float32Array {
  const p = new Float32Array(468 * 3).fill(0.5);
  p[3 * 33] = 0.25;
  p[3 * 263] = 0.75;
  return p;
}

test("meshDistance: uniform 6/8 px shift on a 200x100 image is 10 px = 10% of a 100 px IOD", () => {
  const ref = referenceMesh();
  const ours = Float32Array.from(ref, (v, i) => (i % 3 === 0 ? v + 0.03 : i % 3 === 1 ? v + 0.08 : v + 5));
  // dx = 0.03 * 200 = 6 px, dy = 0.08 * 100 = 8 px -> 10 px at every point; z (+5) must be ignored.
  // IOD = (0.75 - 0.25) * 200 = 100 px.
  const d = meshDistance(ours, ref, 200, 100);
  close(d.meanPx, 10, "meanPx", 1e-5); // float32 storage of 0.53 etc.: ~1e-6 px
  close(d.iodPx, 100, "iodPx", 1e-5);
  close(d.relative, 0.1, "relative", 1e-7);
});

test("meshDistance: one point off by a 3-4-5 triangle averages over all 468 points", () => {
  const ref = Array.from(referenceMesh());
  const ours = [...ref];
  ours[3 * 100] += 3 / 200; // 3 px in x on a 200-px-wide image
  ours[3 * 100 + 1] += 4 / 100; // 4 px in y on a 100-px-high image
  const d = meshDistance(ours, ref, 200, 100);
  close(d.meanPx, 5 / 468, "meanPx");
  close(d.relative, 5 / 468 / 100, "relative");
});

test("meshDistance: the IOD is the reference's, not ours", () => {
  const ref = Array.from(referenceMesh());
  const ours = [...ref];
  ours[3 * 263] = 0.5; // our left eye corner collapses onto the centre: 0.25 * 200 = 50 px off
  const d = meshDistance(ours, ref, 200, 100);
  close(d.iodPx, 100, "iodPx");
  close(d.meanPx, 50 / 468, "meanPx");
});

test("meshDistance rejects mismatched or malformed point sets", () => {
  const ref = referenceMesh();
  assert.throws(() => meshDistance(ref.subarray(0, 300), ref, 10, 10), /points/);
  assert.throws(() => meshDistance(ref.subarray(0, 301), ref.subarray(0, 301), 10, 10), /multiple of 3/);
  assert.throws(() => meshDistance(ref, ref, 0, 10), /image size/);
  assert.throws(() => meshDistance(new Float32Array(468 * 3), new Float32Array(468 * 3), 10, 10), /inter-ocular/);
});

test("meshTo68 averages two mesh indices and scales to pixels", () => {
  const mesh = new Float32Array(468 * 3);
  mesh.set([0.1, 0.2, 0], 3 * 5);
  mesh.set([0.3, 0.6, 0], 3 * 7);
  const mapping = Array.from({ length: 68 }, (_, k) => (k === 0 ? [5, 7] : [5]));
  const pts = meshTo68(mesh, mapping, 100, 50);
  // point 0: mean of (10, 10) px and (30, 30) px = (20, 20); others: index 5 = (10, 10).
  close(pts[0][0], 20, "x0", 1e-5);
  close(pts[0][1], 20, "y0", 1e-5);
  close(pts[67][0], 10, "x67", 1e-5);
  close(pts[67][1], 10, "y67", 1e-5);
});

function truth68(): Point2[] {
  // 68 points on a grid; eye corners 36 = (0, 0), 45 = (10, 0) -> IOD 10 px.
  const pts: Point2[] = Array.from({ length: 68 }, (_, k) => [k, 2 * k] as const);
  pts[36] = [0, 0];
  pts[45] = [10, 0];
  return pts;
}

test("nme68: a jaw error counts in all 68 but not in the 51 inner points", () => {
  const gt = truth68();
  const pred = gt.map((p) => [...p] as Point2);
  pred[3] = [gt[3][0] + 6.8, gt[3][1]]; // jaw point: 6.8 px -> all = 6.8 / 68 / 10 = 0.01
  const r = nme68(pred, gt);
  close(r.iodPx, 10, "iod");
  close(r.all, 0.01, "all");
  close(r.inner, 0, "inner");
  pred[30] = [gt[30][0], gt[30][1] - 5.1]; // nose point (inner): 5.1 px
  const r2 = nme68(pred, gt);
  close(r2.inner, 5.1 / 51 / 10, "inner"); // 0.01
  close(r2.all, (6.8 + 5.1) / 68 / 10, "all"); // 0.0175
});

test("nme68 rejects wrong point counts and a zero IOD", () => {
  const gt = truth68();
  assert.throws(() => nme68(gt.slice(1), gt), /68 points/);
  const flat = gt.map(() => [1, 1] as const);
  assert.throws(() => nme68(flat, flat), /inter-ocular/);
});

test("nearestFace picks the face whose centroid is closest, and none when all are far", () => {
  const a = truth68();
  const b = a.map(([x, y]) => [x + 1000, y] as const);
  const predNearB = b.map(([x, y]) => [x + 2, y + 1] as const); // centroid 2.2 px from b's; IOD 10 -> within 0.5 x IOD
  assert.equal(nearestFace(predNearB, [a, b]), 1);
  const predFar = a.map(([x, y]) => [x + 500, y] as const); // 500 px from a, 500 from b
  assert.equal(nearestFace(predFar, [a, b]), -1);
});

test("percentile / summarize match numpy's linear interpolation on small lists", () => {
  // numpy.percentile([1, 2, 3, 4], 95) = 3 + 0.85 * (4 - 3) = 3.85 (position 0.95 * 3 = 2.85); median 2.5.
  const s = summarize([4, 1, 3, 2]);
  assert.equal(s.n, 4);
  close(s.mean, 2.5, "mean");
  close(s.median, 2.5, "median");
  close(s.p95, 3.85, "p95");
  assert.equal(s.max, 4);
  // Odd count: median is the middle value; p95 of [0, 10, 20] at position 1.9 = 10 + 0.9 * 10 = 19.
  close(percentile([0, 10, 20], 0.5), 10, "median3");
  close(percentile([0, 10, 20], 0.95), 19, "p95_3");
  assert.ok(Number.isNaN(summarize([]).median));
  assert.throws(() => percentile([1], 1.5), /q must be/);
});

test("agreementRate counts equal decisions", () => {
  close(agreementRate([true, true, false, false], [true, false, false, true]), 0.5, "rate");
  close(agreementRate([false], [false]), 1, "rate1");
  assert.throws(() => agreementRate([true], []), /1 vs 0/);
});

test("parseMesh68Mapping validates the table", () => {
  assert.throws(() => parseMesh68Mapping({ mp_indices: [[1]] }), /68 entries/);
  const bad = Array.from({ length: 68 }, () => [1]);
  bad[10] = [1, 2, 3];
  assert.throws(() => parseMesh68Mapping({ mp_indices: bad }), /mp_indices\[10\]/);
  bad[10] = [468];
  assert.throws(() => parseMesh68Mapping({ mp_indices: bad }), /0\.\.467/);
});

test("the shared mp468_to_68.json maps the 68-pt eye corners to mesh 33 and 263", (t) => {
  const file = path.join(sharedData, "mapping/mp468_to_68.json");
  if (!existsSync(file)) {
    t.skip(`../shared/data absent: ${file}`);
    return;
  }
  const mapping = parseMesh68Mapping(JSON.parse(readFileSync(file, "utf8")), file);
  // Both normalizations (mesh IOD and 68-pt IOD) must measure the same corners for the two NMEs to be comparable.
  assert.deepEqual(mapping[36], [33]);
  assert.deepEqual(mapping[45], [263]);
});
