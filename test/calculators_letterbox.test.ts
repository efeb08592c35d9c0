/**
 * Letterboxing (ImageToTensor keep_aspect_ratio + DetectionLetterboxRemovalCalculator), hand-computed:
 * a 640x360 frame in a square tensor is a 640x640 ROI; the image fills 360/640 = 0.5625 of the height, so
 * (1 - 0.5625)/2 = 0.21875 is border at the top and at the bottom (for 360x640: left and right).
 * Tolerance 1e-12: plain double arithmetic on exactly representable fractions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { letterboxRoi, removeLetterbox } from "../lib/calculators/letterbox.js";
import { imageToTensor } from "../lib/calculators/image_to_tensor.js";
import type { Detection } from "../lib/types.js";

const TOL = 1e-12;

function close(actual: number, expected: number, what: string, tol = TOL): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected}`);
}

test("640x360 (landscape): square 640 ROI at the centre, top/bottom padding 0.21875", () => {
  const { roi, padding } = letterboxRoi(640, 360);
  assert.deepEqual(roi, { cx: 320, cy: 180, width: 640, height: 640, rotation: 0 });
  assert.deepEqual(padding, { left: 0, top: 0.21875, right: 0, bottom: 0.21875 });
});

test("360x640 (portrait): square 640 ROI, left/right padding 0.21875; square images get none", () => {
  const { roi, padding } = letterboxRoi(360, 640);
  assert.deepEqual(roi, { cx: 180, cy: 320, width: 640, height: 640, rotation: 0 });
  assert.deepEqual(padding, { left: 0.21875, top: 0, right: 0.21875, bottom: 0 });
  assert.deepEqual(letterboxRoi(500, 500).padding, { left: 0, top: 0, right: 0, bottom: 0 });
});

test("the letterboxed crop has border exactly where the padding says (640x360 -> 128: rows 28..99 are image)", () => {
  // Tensor row v samples y = 180 + (v/128 - 1/2)*640; row 28 -> y = 0, row 100 -> y = 360 (just outside).
  const image = { width: 640, height: 360, data: new Uint8Array(640 * 360 * 3).fill(255) };
  const { roi, padding } = letterboxRoi(640, 360);
  const out = new Float32Array(3 * 128 * 128);
  imageToTensor(image, roi, 128, out, 0, { range: { min: -1, max: 1 }, border: "zero" });
  assert.equal(padding.top * 128, 28);
  assert.equal((1 - padding.bottom) * 128, 100);
  for (let v = 0; v < 128; v++) {
    const expected = v >= 28 && v < 100 ? 1 : -1;
    for (const u of [0, 64, 127]) {
      for (let c = 0; c < 3; c++) close(out[c * 128 * 128 + v * 128 + u], expected, `row ${v} col ${u} ch ${c}`, 1e-6);
    }
  }
});

function det(xmin: number, ymin: number, width: number, height: number, kp: [number, number]): Detection {
  return { score: 0.9, xmin, ymin, width, height, keypoints: [kp] };
}

test("removeLetterbox undoes the letterbox for landscape and portrait frames", () => {
  // Image-space box (0.25, 0.5, 0.1 x 0.2) with keypoint (0.3, 0.6). Landscape: tensor y = 0.21875 + 0.5625*y:
  // ymin 0.5, height 0.1125, keypoint y 0.55625; x unchanged.
  const land = removeLetterbox(det(0.25, 0.5, 0.1, 0.1125, [0.3, 0.55625]), letterboxRoi(640, 360).padding);
  close(land.xmin, 0.25, "land xmin");
  close(land.ymin, 0.5, "land ymin");
  close(land.width, 0.1, "land width");
  close(land.height, 0.2, "land height");
  close(land.keypoints[0][0], 0.3, "land kp x");
  close(land.keypoints[0][1], 0.6, "land kp y");
  assert.equal(land.score, 0.9);
  // Portrait: tensor x = 0.21875 + 0.5625*x: xmin 0.359375, width 0.05625, keypoint x 0.3875; y unchanged.
  const port = removeLetterbox(det(0.359375, 0.5, 0.05625, 0.2, [0.3875, 0.6]), letterboxRoi(360, 640).padding);
  close(port.xmin, 0.25, "port xmin");
  close(port.ymin, 0.5, "port ymin");
  close(port.width, 0.1, "port width");
  close(port.height, 0.2, "port height");
  close(port.keypoints[0][0], 0.3, "port kp x");
  close(port.keypoints[0][1], 0.6, "port kp y");
});

test("bad sizes and padding are rejected", () => {
  assert.throws(() => letterboxRoi(0, 360), /image size must be positive/);
  assert.throws(() => letterboxRoi(640, Number.NaN), /image size must be positive/);
  assert.throws(() => removeLetterbox(det(0, 0, 1, 1, [0, 0]), { left: 0.5, right: 0.5, top: 0, bottom: 0 }), /padding leaves no image/);
});
