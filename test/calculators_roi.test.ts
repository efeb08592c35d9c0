/**
 * ROI calculators (DetectionsToRects + RectTransformation for detections, landmarks and NOVA boxes), with
 * expected values worked out by hand in pixels. Tolerance 1e-9 px / rad: double arithmetic on small inputs
 * (landmarks go through float32, hence 1e-4 px there: 6e-8 relative on a 200 px image).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { roiFromDetection } from "../lib/calculators/detection_to_roi.js";
import { roiFromLandmarks } from "../lib/calculators/landmarks_to_roi.js";
import { boxIsUsable, normalizeRadians, roiFromBox, rotationFromPoints } from "../lib/calculators/box_to_roi.js";
import type { Detection, Roi } from "../lib/types.js";
import { centreInBox, detectionFromRegion, turnRadians, turnedRoi } from "../lib/calculators/turned_region.js";

function close(actual: number, expected: number, what: string, tol = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected}`);
}

function closeRoi(actual: Roi, expected: Roi, what: string, tol = 1e-9): void {
  for (const k of ["cx", "cy", "width", "height", "rotation"] as const) close(actual[k], expected[k], `${what} ${k}`, tol);
}

test("normalizeRadians maps into [-pi, pi)", () => {
  close(normalizeRadians(0), 0, "0");
  close(normalizeRadians(1.5 * Math.PI), -0.5 * Math.PI, "3pi/2");
  close(normalizeRadians(-1.5 * Math.PI), 0.5 * Math.PI, "-3pi/2");
  close(normalizeRadians(Math.PI), -Math.PI, "pi -> -pi");
  close(normalizeRadians(2 * Math.PI + 0.1), 0.1, "2pi + 0.1");
});

test("rotationFromPoints: 0 for a level line, positive when p1 is lower (clockwise on screen, y down)", () => {
  close(rotationFromPoints(10, 20, 30, 20), 0, "level");
  close(rotationFromPoints(0, 0, 10, 10), Math.PI / 4, "down-right");
  close(rotationFromPoints(0, 0, 10, -10), -Math.PI / 4, "up-right");
  close(rotationFromPoints(0, 0, 0, 10), Math.PI / 2, "straight down");
  close(rotationFromPoints(0, 0, 10, 0, Math.PI / 2), Math.PI / 2, "target angle adds");
});

// A non-square frame: 640x360, so normalized and pixel angles differ.
const W = 640;
const H = 360;

function detection(kp0: [number, number], kp1: [number, number]): Detection {
  // Box 0.1 x 0.2 of the frame = 64 x 72 px, centre (0.45, 0.4) = (288, 144) px.
  return { score: 0.9, xmin: 0.4, ymin: 0.3, width: 0.1, height: 0.2, keypoints: [kp0, kp1, [0.45, 0.4], [0.45, 0.45], [0.4, 0.4], [0.5, 0.4]] };
}

test("roiFromDetection: box centre, square on the long side in pixels, x1.5, level eyes -> rotation 0", () => {
  const roi = roiFromDetection(detection([0.42, 0.35], [0.48, 0.35]), W, H);
  // Long side: max(64, 72) = 72 px; x1.5 = 108 px on both axes (square in pixels, not in normalized units).
  closeRoi(roi, { cx: 288, cy: 144, width: 108, height: 108, rotation: 0 }, "level");
});

test("roiFromDetection: rotation from eye 0 to eye 1 in pixels; its sign turns the ROI's x axis onto the eye line", () => {
  // Eye 1 is 32 px right of and 32 px below eye 0: 0.05 of the width, 32/360 of the height. In pixels that is
  // 45 degrees clockwise; in normalized units it would wrongly be atan2(0.0889, 0.05) = 60.6 degrees.
  const kp0: [number, number] = [0.42, 0.33];
  const kp1: [number, number] = [0.47, 0.33 + 32 / 360];
  const roi = roiFromDetection(detection(kp0, kp1), W, H);
  closeRoi(roi, { cx: 288, cy: 144, width: 108, height: 108, rotation: Math.PI / 4 }, "tilted");
  // Independent check: the ROI's x axis (cos r, sin r) in pixels is parallel to eye0 -> eye1.
  const ex = (kp1[0] - kp0[0]) * W;
  const ey = (kp1[1] - kp0[1]) * H;
  const cross = Math.cos(roi.rotation) * ey - Math.sin(roi.rotation) * ex;
  const dot = Math.cos(roi.rotation) * ex + Math.sin(roi.rotation) * ey;
  close(cross, 0, "x axis parallel to the eye line");
  assert.ok(dot > 0, "and pointing from eye 0 to eye 1");
  // Mirror: eye 1 above eye 0 -> counter-clockwise, negative.
  close(roiFromDetection(detection([0.42, 0.33], [0.47, 0.33 - 32 / 360]), W, H).rotation, -Math.PI / 4, "mirrored");
});

test("roiFromDetection needs the two eye keypoints", () => {
  assert.throws(() => roiFromDetection({ ...detection([0, 0], [0, 0]), keypoints: [[0.1, 0.1]] }, W, H), /needs the two eyes/);
});

function mesh(): Float32Array {
  // 468 points at (0.5, 0.5), a few moved by hand.
  const p = new Float32Array(468 * 3).fill(0.5);
  const set = (i: number, x: number, y: number) => p.set([x, y, 0], 3 * i);
  set(10, 0.3, 0.2); // top-left extreme
  set(152, 0.6, 0.9); // bottom-right extreme
  set(33, 0.4, 0.5); // eye corners: level
  set(263, 0.55, 0.5);
  return p;
}

test("roiFromLandmarks: bbox of all points, square long side in pixels, x1.5, rotation 33 -> 263", () => {
  // 200x100 image: bbox x 0.3..0.6 -> 60 px, y 0.2..0.9 -> 70 px; centre (90, 55); side 1.5*70 = 105.
  const p = mesh();
  closeRoi(roiFromLandmarks(p, 200, 100), { cx: 90, cy: 55, width: 105, height: 105, rotation: 0 }, "level", 1e-4);
  // Move 263 up by 30 px (0.3 of the height) while 30 px right of 33 (0.15 of the width): -45 degrees.
  p.set([0.55, 0.2], 3 * 263);
  closeRoi(roiFromLandmarks(p, 200, 100), { cx: 90, cy: 55, width: 105, height: 105, rotation: -Math.PI / 4 }, "tilted", 1e-4);
  assert.throws(() => roiFromLandmarks(new Float32Array(263 * 3), 200, 100), /including landmark 263/);
});

test("roiFromBox: centred square of 1.5x the long side in pixels; rotation passed through, normalized", () => {
  // 640x360: box x 0.3..0.4 = 64 px, y 0.2..0.5 = 108 px, centre (224, 126); side 162.
  const b = { ymin: 0.2, xmin: 0.3, ymax: 0.5, xmax: 0.4 };
  closeRoi(roiFromBox(b, W, H), { cx: 224, cy: 126, width: 162, height: 162, rotation: 0 }, "no rotation");
  closeRoi(roiFromBox(b, W, H, 2 * Math.PI + 0.25), { cx: 224, cy: 126, width: 162, height: 162, rotation: 0.25 }, "rotation");
  // A box outside the frame still gives its ROI (the stream's values may be < 0 or > 1).
  closeRoi(roiFromBox({ ymin: -0.1, xmin: 0.9, ymax: 0.3, xmax: 1.1 }, W, H), { cx: 640, cy: 36, width: 216, height: 216, rotation: 0 }, "overhanging");
});

test("roiFromBox rejects unusable boxes with a clear message; boxIsUsable says so up front", () => {
  const bad = [
    { ymin: 0, xmin: 0, ymax: 0, xmax: 0 },
    { ymin: 0.5, xmin: 0.1, ymax: 0.2, xmax: 0.3 },
    { ymin: 0.1, xmin: Number.NaN, ymax: 0.2, xmax: 0.3 },
  ];
  for (const b of bad) {
    assert.equal(boxIsUsable(b), false);
    assert.throws(() => roiFromBox(b, W, H), /roiFromBox: unusable box/);
  }
  assert.equal(boxIsUsable({ ymin: 0, xmin: 0, ymax: 1, xmax: 1 }), true);
  assert.throws(() => roiFromBox({ ymin: 0, xmin: 0, ymax: 1, xmax: 1 }, 0, H), /image size/);
});

// Turned detector regions (lib/calculators/turned_region.ts), by hand: a 200x100 frame, a 40 px region centred
// at (100, 50).

test("detectionFromRegion: upright, a region's normalized detection lands in frame coordinates", () => {
  const region = { cx: 100, cy: 50, width: 40, height: 40, rotation: 0 };
  // Region point (0.75, 0.25) = 10 px right of and 10 px above the centre: (110, 40) px = (0.55, 0.4).
  const d = detectionFromRegion({ score: 0.8, xmin: 0.5, ymin: 0.25, width: 0.25, height: 0.5, keypoints: [[0.75, 0.25], [0.5, 0.5]] }, region, 200, 100);
  close(d.keypoints[0]![0], 0.55, "kp x");
  close(d.keypoints[0]![1], 0.4, "kp y");
  close(d.keypoints[1]![0], 0.5, "centre x");
  // Box: centre (0.625, 0.5) of the region = (105, 50) px; 10 x 20 px.
  close(d.xmin, 100 / 200, "xmin");
  close(d.ymin, 40 / 100, "ymin");
  close(d.width, 10 / 200, "width");
  close(d.height, 20 / 100, "height");
  assert.equal(d.score, 0.8);
});

test("detectionFromRegion: a quarter turn clockwise maps the region's x axis onto the frame's +y, boxes swap sides", () => {
  const region = turnedRoi({ cx: 100, cy: 50, width: 40, height: 40, rotation: 0 }, 1);
  close(region.rotation, Math.PI / 2, "turn 1");
  // Region point 10 px right of the centre (0.75, 0.5) is 10 px *below* it in the frame: (100, 60) px.
  const d = detectionFromRegion({ score: 1, xmin: 0.5, ymin: 0.25, width: 0.25, height: 0.5, keypoints: [[0.75, 0.5], [0.5, 0.25]] }, region, 200, 100);
  close(d.keypoints[0]![0], 0.5, "kp0 x");
  close(d.keypoints[0]![1], 0.6, "kp0 y");
  // Region point 10 px above the centre (0.5, 0.25) is 10 px to the *right* in the frame: (110, 50) px.
  close(d.keypoints[1]![0], 0.55, "kp1 x");
  close(d.keypoints[1]![1], 0.5, "kp1 y");
  // Box 10 px wide x 20 px tall in the region, centre (105, 50) in region terms -> (100, 55) px, 20 wide x 10 tall.
  close(d.xmin, 90 / 200, "xmin");
  close(d.ymin, 50 / 100, "ymin");
  close(d.width, 20 / 200, "width");
  close(d.height, 10 / 100, "height");
  close(turnRadians(2), -Math.PI, "turn 2 normalized");
  close(turnRadians(3), -Math.PI / 2, "turn 3 normalized");
  assert.ok(centreInBox(d, { xmin: 0.45, xmax: 0.55, ymin: 0.5, ymax: 0.6 }));
  assert.ok(!centreInBox(d, { xmin: 0.56, xmax: 0.7, ymin: 0.5, ymax: 0.6 }));
});
