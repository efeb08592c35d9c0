/**
 * SsdAnchorsCalculator as configured by MediaPipe's face detection graphs. Expected centres by hand:
 * a cell (x, y) of an n x n feature map has centre ((x + 0.5)/n, (y + 0.5)/n); order y, x, anchor.
 * Tolerance 1e-7: the anchors are float32 values in [0, 1] (spacing <= 6e-8).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FULL_RANGE_ANCHOR_OPTIONS, SHORT_RANGE_ANCHOR_OPTIONS, ssdAnchors } from "../lib/calculators/ssd_anchors.js";

function anchorAt(a: Float32Array, i: number): [number, number] {
  return [a[2 * i], a[2 * i + 1]];
}

function closePair(actual: [number, number], expected: [number, number], what: string): void {
  for (let k = 0; k < 2; k++) {
    assert.ok(Math.abs(actual[k] - expected[k]) <= 1e-7, `${what}: got ${actual}, expected ${expected}`);
  }
}

test("short range: 16x16x2 + 8x8x6 = 896 anchors, y-x-anchor order", () => {
  const a = ssdAnchors(SHORT_RANGE_ANCHOR_OPTIONS);
  assert.equal(a.length, 2 * 896);
  closePair(anchorAt(a, 0), [0.5 / 16, 0.5 / 16], "anchor 0");
  closePair(anchorAt(a, 1), [0.5 / 16, 0.5 / 16], "anchor 1 (second anchor of cell 0)");
  closePair(anchorAt(a, 2), [1.5 / 16, 0.5 / 16], "anchor 2 (cell x=1)");
  closePair(anchorAt(a, 32), [0.5 / 16, 1.5 / 16], "anchor 32 (row y=1)");
  closePair(anchorAt(a, 511), [15.5 / 16, 15.5 / 16], "anchor 511 (last of the stride-8 map)");
  // Stride 16: three layers of 2 anchors merged into 6 per cell of an 8x8 map, starting at 512.
  for (let i = 512; i < 518; i++) closePair(anchorAt(a, i), [0.5 / 8, 0.5 / 8], `anchor ${i}`);
  closePair(anchorAt(a, 518), [1.5 / 8, 0.5 / 8], "anchor 518 (cell x=1)");
  closePair(anchorAt(a, 895), [7.5 / 8, 7.5 / 8], "anchor 895 (last)");
});

test("full range: 48x48x1 = 2304 anchors", () => {
  const a = ssdAnchors(FULL_RANGE_ANCHOR_OPTIONS);
  assert.equal(a.length, 2 * 2304);
  closePair(anchorAt(a, 0), [0.5 / 48, 0.5 / 48], "first");
  closePair(anchorAt(a, 1), [1.5 / 48, 0.5 / 48], "second");
  closePair(anchorAt(a, 48), [0.5 / 48, 1.5 / 48], "row 1");
  closePair(anchorAt(a, 2303), [47.5 / 48, 47.5 / 48], "last");
});

test("per-layer anchor counts, ceil'd feature maps and MediaPipe's default of 2 per layer", () => {
  // 30 / 8 -> ceil 4 (4x4x1), 30 / 16 -> 2 (2x2x3): 16 + 12 = 28.
  const a = ssdAnchors({ inputSize: 30, strides: [8, 16], anchorsPerLayer: [1, 3] });
  assert.equal(a.length, 2 * 28);
  closePair(anchorAt(a, 16), [0.25, 0.25], "first of the 2x2 map");
  assert.equal(ssdAnchors({ inputSize: 64, strides: [32] }).length, 2 * (2 * 2 * 2));
  assert.throws(() => ssdAnchors({ inputSize: 64, strides: [0] }), /strides\[0\] must be a positive integer/);
  assert.throws(() => ssdAnchors({ inputSize: 64, strides: [8, 8], anchorsPerLayer: [1] }), /anchorsPerLayer has 1 entries for 2 strides/);
});
