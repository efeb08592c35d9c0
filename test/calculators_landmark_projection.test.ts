/**
 * Landmark projection (TensorsToLandmarks + LandmarkProjectionCalculator): crop pixels -> image-normalized.
 * Expected positions by hand from MEDIAPIPE.md section 3's formula; a round trip through an inverse written
 * here; and a property test tying projection to imageToTensor: cropping an image whose pixel values are their
 * own coordinates must show, at each crop pixel, the image position that projectLandmarks gives for it.
 * Tolerances: outputs are float32 normalized values (spacing <= 6e-8, i.e. < 1.2e-5 px on a 200 px image),
 * so 1e-4 px on positions; crop values up to 255 are float32 too (1.5e-5).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { projectLandmarks, sigmoid } from "../lib/calculators/landmark_projection.js";
import { imageToTensor } from "../lib/calculators/image_to_tensor.js";
import type { RgbImage, Roi } from "../lib/types.js";

const PX_TOL = 1e-4;
const S = 192;
const W = 200;
const H = 100;

function close(actual: number, expected: number, what: string, tol: number): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected}`);
}

/** Raw model output for one face with the given crop-pixel points first, the rest zero. */
function raw(points: Array<[number, number, number]>): Float32Array {
  const r = new Float32Array(468 * 3);
  points.forEach((p, i) => r.set(p, 3 * i));
  return r;
}

/** Image-pixel position of landmark i. */
function pos(out: Float32Array, i: number): [number, number] {
  return [out[3 * i] * W, out[3 * i + 1] * H];
}

test("sigmoid", () => {
  assert.equal(sigmoid(0), 0.5);
  close(sigmoid(Math.log(3)), 0.75, "ln 3", 1e-15);
  close(sigmoid(-Math.log(3)), 0.25, "-ln 3", 1e-15);
});

test("crop corners, centre and z without rotation", () => {
  // ROI 40x40 px centred at (100, 50) in a 200x100 image: crop (0,0) -> (80, 30), (192,192) -> (120, 70).
  const roi: Roi = { cx: 100, cy: 50, width: 40, height: 40, rotation: 0 };
  const out = projectLandmarks(raw([[0, 0, 0], [S, S, 0], [S / 2, S / 2, 19.2]]), 0, roi, W, H, S);
  assert.deepEqual(pos(out, 0).map((v) => Math.round(v * 1e4) / 1e4), [80, 30]);
  const c1 = pos(out, 1);
  close(c1[0], 120, "far corner x", PX_TOL);
  close(c1[1], 70, "far corner y", PX_TOL);
  const c2 = pos(out, 2);
  close(c2[0], 100, "centre x", PX_TOL);
  close(c2[1], 50, "centre y", PX_TOL);
  // z: 19.2/192 = 0.1 of the crop, times the ROI width normalized by the image width (40/200): 0.02.
  close(out[8], 0.02, "z", 1e-7);
});

test("rotation 90 degrees: the crop's top-left corner lands at the ROI's top-right", () => {
  // R(90)·(a, b) = (-b, a) on the offsets from the centre, 20 px each way.
  const roi: Roi = { cx: 100, cy: 50, width: 40, height: 40, rotation: Math.PI / 2 };
  const out = projectLandmarks(raw([[0, 0, 0], [S, 0, 0], [0, S, 0], [S / 2, S / 2, 0]]), 0, roi, W, H, S);
  const expected: Array<[number, number]> = [[120, 30], [120, 70], [80, 30], [100, 50]];
  expected.forEach(([x, y], i) => {
    const [ax, ay] = pos(out, i);
    close(ax, x, `point ${i} x`, PX_TOL);
    close(ay, y, `point ${i} y`, PX_TOL);
  });
});

test("rotation 30 degrees: crop point (1, 0.5) normalized lies 20 px along the ROI's x axis", () => {
  // (x-.5, y-.5) = (0.5, 0) -> R(30)·(20, 0) = (20·cos30, 20·sin30) = (17.3205, 10).
  const roi: Roi = { cx: 100, cy: 50, width: 40, height: 40, rotation: Math.PI / 6 };
  const [x, y] = pos(projectLandmarks(raw([[S, S / 2, 0]]), 0, roi, W, H, S), 0);
  close(x, 100 + 10 * Math.sqrt(3), "x", PX_TOL);
  close(y, 60, "y", PX_TOL);
});

test("round trip: image point -> ROI's inverse (written here) -> crop pixels -> projectLandmarks -> same point", () => {
  const roi: Roi = { cx: 90.5, cy: 47.25, width: 63, height: 63, rotation: -0.7 };
  const pts: Array<[number, number]> = [[70, 30], [110.25, 61.5], [90.5, 47.25], [60, 80]];
  const crop = pts.map(([px, py]): [number, number, number] => {
    // Undo the centre, rotate by -a, divide by the ROI size, shift to the crop's corner, scale to pixels.
    const dx = px - roi.cx;
    const dy = py - roi.cy;
    const c = Math.cos(-roi.rotation);
    const s = Math.sin(-roi.rotation);
    return [((c * dx - s * dy) / roi.width + 0.5) * S, ((s * dx + c * dy) / roi.height + 0.5) * S, 0];
  });
  const r = new Float32Array(7 + 468 * 3);
  r.set(raw(crop), 7); // at an offset, as for item 2 of a batch
  const out = new Float32Array(468 * 3);
  assert.equal(projectLandmarks(r, 7, roi, W, H, S, out), out, "writes into the given buffer");
  pts.forEach(([px, py], i) => {
    const [ax, ay] = pos(out, i);
    close(ax, px, `point ${i} x`, PX_TOL);
    close(ay, py, `point ${i} y`, PX_TOL);
  });
});

test("bad buffers are rejected", () => {
  const roi: Roi = { cx: 1, cy: 1, width: 2, height: 2, rotation: 0 };
  assert.throws(() => projectLandmarks(new Float32Array(468 * 3), 1, roi, W, H, S), /lacks 1404 values at offset 1/);
  assert.throws(() => projectLandmarks(new Float32Array(468 * 3), 0, roi, W, H, S, new Float32Array(10)), /out holds 10/);
  assert.equal(projectLandmarks(new Float32Array(6), 0, roi, W, H, S, undefined, 2).length, 6, "numLandmarks");
});

// Pixel (x, y) holds R = x, G = y, B = 255 - x: bilinear sampling of a linear function is exact, so a crop
// sample (range 0..255 -> 0..255) reads back the source position it was taken from.
const coordImage: RgbImage = (() => {
  const w = 240;
  const h = 180;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x, y, 255 - x], (y * w + x) * 3);
  }
  return { width: w, height: h, data };
})();

test("property: imageToTensor's sample position at each crop pixel = projectLandmarks of that pixel", () => {
  const size = 48;
  const { width: IW, height: IH } = coordImage;
  // ROIs chosen to stay inside the image (rotated corners within 1..W-2), so no border handling applies:
  // a square one as MediaPipe builds, and a non-square one (our projection inverts the crop exactly).
  const rois: Roi[] = [
    { cx: 120, cy: 90, width: 100, height: 100, rotation: 0.4 },
    { cx: 118.3, cy: 92.7, width: 120, height: 70, rotation: -2.5 },
  ];
  const raw = new Float32Array(size * size * 3);
  const tensor = new Float32Array(3 * size * size);
  for (const roi of rois) {
    for (const halfPixel of [false, true]) {
      imageToTensor(coordImage, roi, size, tensor, 0, { range: { min: 0, max: 255 }, border: "replicate", halfPixel });
      // A crop pixel's own position: u with the CPU mapping; u + 0.5 (its centre) with the GL one, which then
      // reads the source 0.5 px up-left (texel centres at i + 0.5).
      const d = halfPixel ? 0.5 : 0;
      for (let v = 0; v < size; v++) {
        for (let u = 0; u < size; u++) raw.set([((u + d) * S) / size, ((v + d) * S) / size, 0], 3 * (v * size + u));
      }
      const out = projectLandmarks(raw, 0, roi, IW, IH, S, undefined, size * size);
      let worst = 0;
      for (let i = 0; i < size * size; i++) {
        const ex = out[3 * i] * IW - d;
        const ey = out[3 * i + 1] * IH - d;
        const gotX = tensor[i];
        const gotY = tensor[size * size + i];
        const gotB = tensor[2 * size * size + i];
        assert.ok(ex > 0 && ex < IW - 1 && ey > 0 && ey < IH - 1, "sample stays inside the image");
        worst = Math.max(worst, Math.abs(gotX - ex), Math.abs(gotY - ey), Math.abs(255 - gotB - ex));
      }
      assert.ok(worst < 1e-3, `roi ${JSON.stringify(roi)} halfPixel=${halfPixel}: worst disagreement ${worst} px`);
    }
  }
});
