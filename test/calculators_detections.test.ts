/**
 * TensorsToDetectionsCalculator decoding and weighted NMS against hand-made inputs and hand-computed results.
 * Tolerance 1e-6: inputs pass through float32 (regressors, anchors), so values in [-1, 1] carry ~6e-8 error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeDetections, FULL_RANGE_DECODE, SHORT_RANGE_DECODE } from "../lib/calculators/tensors_to_detections.js";
import { iou, weightedNms } from "../lib/calculators/non_max_suppression.js";
import { SHORT_RANGE_ANCHOR_OPTIONS, ssdAnchors } from "../lib/calculators/ssd_anchors.js";
import type { Detection } from "../lib/types.js";

const TOL = 1e-6;

function close(actual: number, expected: number, what: string, tol = TOL): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected}`);
}

const anchors = ssdAnchors(SHORT_RANGE_ANCHOR_OPTIONS); // anchor 513 = (0.0625, 0.0625), anchor 0 = (0.03125, 0.03125)
const N = 896;

/** Batch of 3 items, every logit -5 (score 0.0067), every regressor 0; returns [regressors, logits]. */
function emptyBatch(): [Float32Array, Float32Array] {
  return [new Float32Array(3 * N * 16), new Float32Array(3 * N).fill(-5)];
}

test("decodes a hand-made regressor row (x, y, w, h order, no exp, keypoints relative to the anchor)", () => {
  const [reg, logits] = emptyBatch();
  const item = 2;
  const r = item * N * 16 + 513 * 16;
  // Box: x 12.8/128 = 0.1, y -6.4/128 = -0.05, w 32/128 = 0.25, h 25.6/128 = 0.2 (in pixels of the 128 input).
  reg.set([12.8, -6.4, 32, 25.6], r);
  // Keypoint k: (6.4k, -3.2k) px -> (0.05k + 0.0625, -0.025k + 0.0625).
  for (let k = 0; k < 6; k++) reg.set([6.4 * k, -3.2 * k], r + 4 + 2 * k);
  logits[item * N + 513] = 2;
  const dets = decodeDetections(reg, item * N * 16, logits, item * N, { ...SHORT_RANGE_DECODE, anchors });
  assert.equal(dets.length, 1);
  const d = dets[0];
  close(d.score, 1 / (1 + Math.exp(-2)), "score");
  close(d.xmin, 0.1625 - 0.125, "xmin"); // centre 0.1 + 0.0625, half width 0.125
  close(d.ymin, 0.0125 - 0.1, "ymin"); // centre -0.05 + 0.0625, half height 0.1
  close(d.width, 0.25, "width");
  close(d.height, 0.2, "height");
  assert.equal(d.keypoints.length, 6);
  for (let k = 0; k < 6; k++) {
    close(d.keypoints[k][0], 0.05 * k + 0.0625, `kp${k} x`);
    close(d.keypoints[k][1], -0.025 * k + 0.0625, `kp${k} y`);
  }
});

test("score threshold is inclusive, clipping applies before the sigmoid, bad sizes are dropped", () => {
  const [reg, logits] = emptyBatch();
  const row = (i: number, w: number, h: number) => reg.set([0, 0, w, h], i * 16);
  row(0, 10, 10);
  logits[0] = 0; // score exactly 0.5: kept by short range (>= 0.5), dropped by full range (0.6)
  row(1, -1, 10);
  logits[1] = 3; // negative width: dropped
  row(2, 10, Number.NaN);
  logits[2] = 3; // NaN height: dropped
  row(3, 0, 0);
  logits[3] = 0.5; // zero size is valid (only negative/NaN are dropped)
  const short = decodeDetections(reg, 0, logits, 0, { ...SHORT_RANGE_DECODE, anchors });
  assert.deepEqual(short.map((d) => d.score), [0.5, 1 / (1 + Math.exp(-0.5))]);
  close(short[0].xmin, 0.03125 - 5 / 128, "anchor 0 box xmin");
  const full = decodeDetections(reg, 0, logits, 0, { ...FULL_RANGE_DECODE, inputSize: 128, anchors });
  assert.equal(full.length, 1, "0.5 and 0.622 vs 0.6: only the logit 0.5 row survives");
  // scoreClip 1: logit 5 is clamped to 1 -> sigmoid(1).
  const clipped = decodeDetections(reg, 0, logits.fill(5, 0, 1), 0, { ...SHORT_RANGE_DECODE, scoreClip: 1, anchors });
  close(clipped[0].score, 1 / (1 + Math.exp(-1)), "clipped score");
});

test("decode rejects buffers too small for the anchors", () => {
  const [reg, logits] = emptyBatch();
  assert.throws(() => decodeDetections(reg, 2 * N * 16 + 1, logits, 0, { ...SHORT_RANGE_DECODE, anchors }), /regressors .* lack 896x16/);
  assert.throws(() => decodeDetections(reg, 0, logits, 3 * N - 1, { ...SHORT_RANGE_DECODE, anchors }), /logits .* lack 896/);
});

/** A lone candidate goes through the corner averaging (xmin + width, then - xmin): equal up to rounding. */
function closeDet(actual: Detection, expected: Detection, what: string): void {
  assert.equal(actual.score, expected.score, `${what} score`);
  for (const k of ["xmin", "ymin", "width", "height"] as const) close(actual[k], expected[k], `${what} ${k}`, 1e-12);
  assert.equal(actual.keypoints.length, expected.keypoints.length);
  actual.keypoints.forEach(([x, y], i) => {
    close(x, expected.keypoints[i][0], `${what} kp${i} x`, 1e-12);
    close(y, expected.keypoints[i][1], `${what} kp${i} y`, 1e-12);
  });
}

function box(score: number, xmin: number, ymin: number, w: number, h: number, kp: [number, number]): Detection {
  return { score, xmin, ymin, width: w, height: h, keypoints: [kp] };
}

test("iou of hand-computed boxes", () => {
  // 0.2x0.2 boxes shifted by 0.02 in x: intersection 0.18*0.2 = 0.036, union 0.04 + 0.04 - 0.036 = 0.044.
  close(iou(box(1, 0.1, 0.1, 0.2, 0.2, [0, 0]), box(1, 0.12, 0.1, 0.2, 0.2, [0, 0])), 0.036 / 0.044, "overlap");
  assert.equal(iou(box(1, 0, 0, 0.1, 0.1, [0, 0]), box(1, 0.5, 0.5, 0.1, 0.1, [0, 0])), 0);
  assert.equal(iou(box(1, 0, 0, 0.1, 0.1, [0, 0]), box(1, 0.1, 0, 0.1, 0.1, [0, 0])), 0, "touching edges");
});

test("weighted NMS averages two overlapping boxes by score and keeps disjoint ones apart", () => {
  const a = box(0.9, 0.1, 0.1, 0.2, 0.2, [0.2, 0.2]);
  const b = box(0.6, 0.12, 0.1, 0.2, 0.2, [0.25, 0.15]); // IoU with a = 0.818 > 0.3
  const c = box(0.7, 0.6, 0.6, 0.1, 0.1, [0.65, 0.65]); // disjoint
  const d = box(0.5, 0.25, 0.1, 0.2, 0.2, [0.3, 0.2]); // IoU with a = 0.01/0.07 = 0.14 <= 0.3: survives on its own
  const out = weightedNms([d, b, c, a]); // unsorted on purpose
  assert.equal(out.length, 3);
  const [m, second, third] = out;
  // Weighted corners: xmin (0.9*0.1 + 0.6*0.12)/1.5 = 0.108, xmax (0.9*0.3 + 0.6*0.32)/1.5 = 0.308.
  assert.equal(m.score, 0.9);
  close(m.xmin, 0.108, "xmin");
  close(m.width, 0.2, "width");
  close(m.ymin, 0.1, "ymin");
  close(m.height, 0.2, "height");
  close(m.keypoints[0][0], (0.9 * 0.2 + 0.6 * 0.25) / 1.5, "kp x"); // 0.22
  close(m.keypoints[0][1], (0.9 * 0.2 + 0.6 * 0.15) / 1.5, "kp y"); // 0.18
  closeDet(second, c, "disjoint box unchanged");
  closeDet(third, d, "low-overlap box unchanged");
  assert.equal(a.xmin, 0.1, "input not modified");
  assert.deepEqual(weightedNms([]), []);
});

test("the IoU threshold is strict and configurable", () => {
  // Same size boxes shifted so IoU is exactly 1/3: 0.2 wide, shift 0.1 -> inter 0.1*0.2, union 0.06 -> 1/3.
  const a = box(0.9, 0, 0, 0.2, 0.2, [0, 0]);
  const b = box(0.8, 0.1, 0, 0.2, 0.2, [0, 0]);
  assert.equal(weightedNms([a, b]).length, 1, "1/3 > 0.3: merged");
  assert.equal(weightedNms([a, b], 0.34).length, 2, "1/3 <= 0.34: kept apart");
});
