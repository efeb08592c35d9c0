/**
 * imageToTensor (MediaPipe ImageToTensorCalculator) against hand-computed samples.
 * Expected values come from the mapping written in the task / MEDIAPIPE.md section 3, worked out by hand for
 * tiny images, never from running our code.
 * Tolerance: outputs are float32; values up to 255 have a float32 spacing of 1.5e-5, and the affine map
 * carries ~1e-15 px of rounding (cos(pi/2) is 6e-17, not 0), so 1e-4 is tight yet safe.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { imageToTensor, type ImageToTensorOptions } from "../lib/calculators/image_to_tensor.js";
import type { RgbImage, Roi } from "../lib/types.js";

const TOL = 1e-4;
const RAW: ImageToTensorOptions = { range: { min: 0, max: 255 }, border: "replicate" };

/** An image whose pixel (x, y) channel c = f(x, y, c). */
function makeImage(width: number, height: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = f(x, y, c);
    }
  }
  return { width, height, data };
}

function px(img: RgbImage, x: number, y: number, c: number): number {
  return img.data[(y * img.width + x) * 3 + c];
}

/** Tensor value at channel c, output pixel (u, v), planar CHW. */
function at(t: Float32Array, size: number, u: number, v: number, c: number, offset = 0): number {
  return t[offset + c * size * size + v * size + u];
}

function close(actual: number, expected: number, what: string, tol = TOL): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (tol ${tol})`);
}

function crop(img: RgbImage, roi: Roi, size: number, opts: ImageToTensorOptions): Float32Array {
  const out = new Float32Array(3 * size * size).fill(Number.NaN);
  imageToTensor(img, roi, size, out, 0, opts);
  return out;
}

// Distinct, non-symmetric values per pixel and channel.
const img4 = makeImage(4, 4, (x, y, c) => (x * 37 + y * 91 + c * 53 + 11) % 256);

test("identity ROI reproduces the pixels in both mappings (d=0,e=0 and d=0.5,e=0.5 cancel out)", () => {
  // Centre (2,2), size 4x4 on a 4x4 image: u -> 2 + (u/4 - 1/2)*4 = u; with halfPixel: 2 + ((u+.5)/4 - .5)*4 - .5 = u.
  const roi: Roi = { cx: 2, cy: 2, width: 4, height: 4, rotation: 0 };
  for (const halfPixel of [false, true]) {
    const t = crop(img4, roi, 4, { ...RAW, halfPixel });
    for (let v = 0; v < 4; v++) {
      for (let u = 0; u < 4; u++) {
        for (let c = 0; c < 3; c++) close(at(t, 4, u, v, c), px(img4, u, v, c), `halfPixel=${halfPixel} (${u},${v},${c})`);
      }
    }
  }
});

test("range maps 0 -> min and 255 -> max linearly ([-1,1]: p/127.5 - 1)", () => {
  const img = makeImage(2, 2, (x, y) => [0, 255, 51, 204][y * 2 + x]);
  const t = crop(img, { cx: 1, cy: 1, width: 2, height: 2, rotation: 0 }, 2, {
    range: { min: -1, max: 1 },
    border: "zero",
  });
  close(at(t, 2, 0, 0, 0), -1, "0 -> -1");
  close(at(t, 2, 1, 0, 0), 1, "255 -> 1");
  close(at(t, 2, 0, 1, 1), 51 / 127.5 - 1, "51");
  close(at(t, 2, 1, 1, 2), 204 / 127.5 - 1, "204");
});

test("90 degree rotation of an asymmetric 3x3 image", () => {
  const img = makeImage(3, 3, (x, y, c) => 10 * (y * 3 + x) + c); // 0..80 + channel
  const roi: Roi = { cx: 1.5, cy: 1.5, width: 3, height: 3, rotation: Math.PI / 2 };
  // R(90deg)·(a, b) = (-b, a). A positive rotation turns the ROI's x axis towards +y (clockwise on screen),
  // so the crop shows the image turned counter-clockwise: its top row is the image's right column.
  // halfPixel=true: (1.5,1.5) + R(u-1, v-1) - 0.5 = (2 - v, u): an exact pixel permutation.
  const tg = crop(img, roi, 3, { ...RAW, halfPixel: true });
  for (let v = 0; v < 3; v++) {
    for (let u = 0; u < 3; u++) {
      for (let c = 0; c < 3; c++) close(at(tg, 3, u, v, c), px(img, 2 - v, u, c), `GL (${u},${v},${c})`);
    }
  }
  // halfPixel=false: (1.5,1.5) + R(u-1.5, v-1.5) = (3 - v, u): OpenCV maps the ROI's corner to the output's
  // pixel centre, so the crop is shifted by one pixel; row v=0 reads x=3, outside the 3-wide image.
  const tr = crop(img, roi, 3, { ...RAW, halfPixel: false });
  const tz = crop(img, roi, 3, { ...RAW, border: "zero", halfPixel: false });
  for (let v = 0; v < 3; v++) {
    for (let u = 0; u < 3; u++) {
      for (let c = 0; c < 3; c++) {
        const x = 3 - v;
        close(at(tr, 3, u, v, c), px(img, Math.min(x, 2), u, c), `CPU replicate (${u},${v},${c})`);
        close(at(tz, 3, u, v, c), x > 2 ? 0 : px(img, x, u, c), `CPU zero (${u},${v},${c})`);
      }
    }
  }
});

// 2x2 image [[a, b], [c, d]] per channel; one output pixel with w = h = 1 and halfPixel=false samples the
// source at (cx - 0.5, cy - 0.5).
const a = 20, b = 100, c = 60, d = 220;
const img2 = makeImage(2, 2, (x, y, ch) => [a, b, c, d][y * 2 + x] + ch);

test("bilinear: midpoint averages the four pixels, (0.25, 0.75) weighs them by area", () => {
  const mid = crop(img2, { cx: 1, cy: 1, width: 1, height: 1, rotation: 0 }, 1, RAW);
  for (let ch = 0; ch < 3; ch++) close(at(mid, 1, 0, 0, ch), (a + b + c + d) / 4 + ch, `mid ch${ch}`);
  // (0.25, 0.75): weights a (0.75*0.25) b (0.25*0.25) c (0.75*0.75) d (0.25*0.75).
  const q = crop(img2, { cx: 0.75, cy: 1.25, width: 1, height: 1, rotation: 0 }, 1, RAW);
  const expected = 0.1875 * a + 0.0625 * b + 0.5625 * c + 0.1875 * d;
  for (let ch = 0; ch < 3; ch++) close(at(q, 1, 0, 0, ch), expected + ch, `quarter ch${ch}`);
});

test("border: replicate clamps, zero reads 0 (-> range.min)", () => {
  // Sample at (-0.5, 0.5): taps x=-1 (outside) and x=0, rows 0 and 1, all weights 1/4.
  const roi: Roi = { cx: 0, cy: 1, width: 1, height: 1, rotation: 0 };
  const rep = crop(img2, roi, 1, { range: { min: -1, max: 1 }, border: "replicate" });
  const zer = crop(img2, roi, 1, { range: { min: -1, max: 1 }, border: "zero" });
  close(at(rep, 1, 0, 0, 0), (a + c) / 2 / 127.5 - 1, "replicate half outside");
  close(at(zer, 1, 0, 0, 0), (a + c) / 4 / 127.5 - 1, "zero half outside");
  // Far away (-10.5, 20.5): replicate gives the nearest corner pixel (0, 1) = c; zero gives range.min.
  const far: Roi = { cx: -10, cy: 21, width: 1, height: 1, rotation: 0 };
  close(at(crop(img2, far, 1, { range: { min: -1, max: 1 }, border: "replicate" }), 1, 0, 0, 1), (c + 1) / 127.5 - 1, "replicate far");
  close(at(crop(img2, far, 1, { range: { min: -1, max: 1 }, border: "zero" }), 1, 0, 0, 1), -1, "zero far");
  // Right/bottom edge: (1.5, 1.5) sees only d inside; replicate -> d, zero -> d/4.
  const br: Roi = { cx: 2, cy: 2, width: 1, height: 1, rotation: 0 };
  close(at(crop(img2, br, 1, RAW), 1, 0, 0, 0), d, "replicate bottom-right");
  close(at(crop(img2, br, 1, { ...RAW, border: "zero" }), 1, 0, 0, 0), d / 4, "zero bottom-right");
});

test("halfPixel both ways: 4x4 -> 2x2 picks pixels (CPU) or averages 2x2 blocks (GL)", () => {
  const roi: Roi = { cx: 2, cy: 2, width: 4, height: 4, rotation: 0 };
  // CPU: 2 + (u/2 - 1/2)*4 = 2u -> pixels 0 and 2 exactly.
  const cpu = crop(img4, roi, 2, { ...RAW, halfPixel: false });
  // GL: 2 + ((u+.5)/2 - .5)*4 - .5 = 2u + 0.5 -> halfway between pixels 2u and 2u+1 on both axes.
  const gl = crop(img4, roi, 2, { ...RAW, halfPixel: true });
  for (let v = 0; v < 2; v++) {
    for (let u = 0; u < 2; u++) {
      for (let ch = 0; ch < 3; ch++) {
        close(at(cpu, 2, u, v, ch), px(img4, 2 * u, 2 * v, ch), `cpu (${u},${v},${ch})`);
        const mean =
          (px(img4, 2 * u, 2 * v, ch) + px(img4, 2 * u + 1, 2 * v, ch) + px(img4, 2 * u, 2 * v + 1, ch) + px(img4, 2 * u + 1, 2 * v + 1, ch)) / 4;
        close(at(gl, 2, u, v, ch), mean, `gl (${u},${v},${ch})`);
      }
    }
  }
});

test("writes only out[offset .. offset + 3*size*size), planar R, G, B", () => {
  const out = new Float32Array(5 + 3 * 4 + 7).fill(Number.NaN);
  imageToTensor(img2, { cx: 1, cy: 1, width: 2, height: 2, rotation: 0 }, 2, out, 5, RAW);
  for (let i = 0; i < 5; i++) assert.ok(Number.isNaN(out[i]), `out[${i}] before offset untouched`);
  for (let i = 5 + 12; i < out.length; i++) assert.ok(Number.isNaN(out[i]), `out[${i}] after the tensor untouched`);
  // Identity 2x2: R plane = a b c d, G = +1, B = +2.
  assert.deepEqual(Array.from(out.subarray(5, 17)), [a, b, c, d, a + 1, b + 1, c + 1, d + 1, a + 2, b + 2, c + 2, d + 2]);
});

test("bad arguments fail with a message naming the problem", () => {
  const roi: Roi = { cx: 1, cy: 1, width: 2, height: 2, rotation: 0 };
  assert.throws(() => imageToTensor(img2, roi, 2, new Float32Array(11), 0, RAW), /no room for 3x2x2/);
  assert.throws(() => imageToTensor(img2, roi, 2, new Float32Array(12), 1, RAW), /at offset 1/);
  assert.throws(() => imageToTensor(img2, roi, 0, new Float32Array(12), 0, RAW), /size must be a positive integer/);
  assert.throws(() => imageToTensor(img2, { ...roi, rotation: Number.NaN }, 2, new Float32Array(12), 0, RAW), /roi\.rotation/);
  assert.throws(
    () => imageToTensor({ width: 3, height: 2, data: new Uint8Array(12) }, roi, 2, new Float32Array(12), 0, RAW),
    /needs 18/,
  );
});

/**
 * The per-pixel formula, written plainly from the mapping in the task (no row stepping, no interior span):
 * an independent reference for the optimized paths on random ROIs that straddle the image edges.
 */
function referenceSample(img: RgbImage, roi: Roi, size: number, u: number, v: number, c: number, opts: ImageToTensorOptions): number {
  const dd = opts.halfPixel ? 0.5 : 0;
  const lx = ((u + dd) / size - 0.5) * roi.width;
  const ly = ((v + dd) / size - 0.5) * roi.height;
  const x = roi.cx + Math.cos(roi.rotation) * lx - Math.sin(roi.rotation) * ly - dd;
  const y = roi.cy + Math.sin(roi.rotation) * lx + Math.cos(roi.rotation) * ly - dd;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const tap = (tx: number, ty: number): number => {
    if (opts.border === "replicate") {
      return px(img, Math.min(Math.max(tx, 0), img.width - 1), Math.min(Math.max(ty, 0), img.height - 1), c);
    }
    return tx < 0 || ty < 0 || tx >= img.width || ty >= img.height ? 0 : px(img, tx, ty, c);
  };
  const fx = x - x0;
  const fy = y - y0;
  const p =
    tap(x0, y0) * (1 - fx) * (1 - fy) + tap(x0 + 1, y0) * fx * (1 - fy) + tap(x0, y0 + 1) * (1 - fx) * fy + tap(x0 + 1, y0 + 1) * fx * fy;
  return opts.range.min + (p * (opts.range.max - opts.range.min)) / 255;
}

test("random ROIs across the image edges agree with the plain per-pixel formula", () => {
  // Deterministic LCG so a failure is reproducible.
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const img = makeImage(23, 17, (x, y, ch) => (x * 29 + y * 57 + ch * 101 + x * y) % 256);
  const size = 12;
  for (let trial = 0; trial < 60; trial++) {
    const roi: Roi = {
      cx: -5 + rnd() * 33,
      cy: -5 + rnd() * 27,
      width: 2 + rnd() * 30,
      height: 2 + rnd() * 30,
      rotation: trial % 5 === 0 ? 0 : trial % 5 === 1 ? Math.PI / 2 : (rnd() - 0.5) * 8,
    };
    const opts: ImageToTensorOptions = {
      range: { min: -1, max: 1 },
      border: trial % 2 === 0 ? "replicate" : "zero",
      halfPixel: trial % 4 >= 2,
    };
    const t = crop(img, roi, size, opts);
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        for (let ch = 0; ch < 3; ch++) {
          const diff = Math.abs(at(t, size, u, v, ch) - referenceSample(img, roi, size, u, v, ch, opts));
          // 1e-5 on values in [-1, 1]: float32 output spacing is 6e-8; the two formulas round differently.
          assert.ok(diff <= 1e-5, `trial ${trial} ${JSON.stringify(roi)} ${JSON.stringify(opts)} at (${u},${v},${ch}): off by ${diff}`);
        }
      }
    }
  }
});
