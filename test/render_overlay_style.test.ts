/**
 * `facemesh render`'s style: sizes that follow the face (hand-computed), thick lines, MediaPipe's contours, the
 * parts chosen, colours parsed with errors naming the flag.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import { drawParts } from "../lib/commands/render.js";
import { drawLine, type Rgb } from "../lib/render/draw.js";
import { loadMeshEdges } from "../lib/render/mesh_topology.js";
import { contourEdges, faceSizeOfRow, overlaySizes, parseColor, parseParts } from "../lib/render/overlay_style.js";
import type { RgbImage } from "../lib/types.js";
import { ROW_DIM } from "../lib/types.js";

const blank = (w: number, h: number): RgbImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3) });
const colorAt = (img: RgbImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

/** A row whose 468 landmarks lie on a circle of `diameter` px centred in a w x h image (a face-sized ring). */
function ringRow(w: number, h: number, diameter: number): Float32Array {
  const row = new Float32Array(ROW_DIM);
  for (let i = 0; i < 468; i++) {
    const a = (2 * Math.PI * i) / 468;
    row[2 * i + 1] = (w / 2 + (diameter / 2) * Math.cos(a)) / w;
    row[2 * i] = (h / 2 + (diameter / 2) * Math.sin(a)) / h;
  }
  row[ROW_DIM - 1] = 0.99;
  return row;
}

describe("sizes follow the face", () => {
  test("overlaySizes: radius 1 and 1-px lines for small faces, in proportion beyond (hand-computed)", () => {
    assert.deepEqual(overlaySizes(80), { pointRadius: 1, lineWidth: 1 });
    assert.deepEqual(overlaySizes(250), { pointRadius: 1, lineWidth: 1 });
    assert.deepEqual(overlaySizes(600), { pointRadius: 3, lineWidth: 3 });
    assert.deepEqual(overlaySizes(1500), { pointRadius: 8, lineWidth: 7 });
    assert.deepEqual(overlaySizes(Number.NaN), { pointRadius: 1, lineWidth: 1 });
  });

  test("faceSizeOfRow: the long side of the landmarks' box in pixels", () => {
    const row = ringRow(1000, 800, 400);
    assert.ok(Math.abs(faceSizeOfRow(row, 1000, 800) - 400) < 0.01, String(faceSizeOfRow(row, 1000, 800)));
    assert.ok(Number.isNaN(faceSizeOfRow(new Float32Array(ROW_DIM).fill(Number.NaN), 10, 10)));
  });

  test("a line of width 3 lights three rows along a horizontal", () => {
    const img = blank(12, 7);
    drawLine(img, 2, 3, 9, 3, [255, 0, 0], 3);
    for (let x = 2; x <= 9; x++) for (const y of [2, 3, 4]) assert.deepEqual(colorAt(img, x, y), [255, 0, 0], `(${x}, ${y})`);
    for (let x = 0; x < 12; x++) for (const y of [0, 1, 5, 6]) assert.deepEqual(colorAt(img, x, y), [0, 0, 0], `(${x}, ${y})`);
  });

  test("on a big face the points and lines are drawn larger than on a small one", async () => {
    const edges = { mesh: await loadMeshEdges(), contours: contourEdges() };
    const colors = { mesh: [0, 255, 0] as Rgb, contours: [255, 255, 0] as Rgb, points: [255, 0, 0] as Rgb };
    const lit = (img: RgbImage) => {
      let n = 0;
      for (let i = 0; i < img.data.length; i += 3) if (img.data[i] === 255 && img.data[i + 1] === 0) n++;
      return n;
    };
    // The same 468 points on rings of 100 and 1200 px: points only; per point, the disk's pixel count.
    const small = blank(200, 200);
    drawParts(small, ringRow(200, 200, 100), ["points"], edges, colors);
    const big = blank(1400, 1400);
    drawParts(big, ringRow(1400, 1400, 1200), ["points"], edges, colors);
    // Radius 1 disks: 5 px each (overlapping on the small ring); radius 6 disks (1200/200): 113 px each, the
    // neighbours 8 px apart overlapping: measured 89 per point.
    assert.ok(lit(small) <= 468 * 5, `small: ${lit(small)}`);
    assert.ok(lit(big) >= 468 * 60, `big: ${lit(big)}`);
  });
});

describe("parts and colours", () => {
  test("contours are MediaPipe's: 124 connections, lips 40, the face oval included", () => {
    const require = createRequire(import.meta.url);
    const mp = require("@mediapipe/face_mesh") as Record<string, Array<[number, number]>>;
    const pairs = contourEdges();
    assert.equal(pairs.length, 2 * 124);
    const set = new Set(Array.from({ length: pairs.length / 2 }, (_, i) => `${pairs[2 * i]}-${pairs[2 * i + 1]}`));
    for (const part of ["FACEMESH_LIPS", "FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE", "FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW", "FACEMESH_FACE_OVAL"]) {
      for (const [a, b] of mp[part]) assert.ok(set.has(`${a}-${b}`), `${part} ${a}-${b}`);
    }
    assert.equal(mp.FACEMESH_LIPS.length, 40);
    assert.ok(pairs.every((v) => v < 468));
  });

  test("contours only: every drawn pixel is in the contour colour, and the mesh's inner edges are not drawn", async () => {
    const W = 300;
    const img = blank(W, W);
    const row = ringRow(W, W, 200);
    const edges = { mesh: await loadMeshEdges(), contours: contourEdges() };
    drawParts(img, row, ["contours"], edges, { mesh: [0, 255, 0], contours: [0, 0, 255], points: [255, 0, 0] });
    let blue = 0;
    for (let i = 0; i < img.data.length; i += 3) {
      const c = [img.data[i], img.data[i + 1], img.data[i + 2]];
      if (c.some((v) => v !== 0)) {
        assert.deepEqual(c, [0, 0, 255]);
        blue++;
      }
    }
    assert.ok(blue > 100, `${blue} contour pixels`);
    const meshOnly = blank(W, W);
    drawParts(meshOnly, row, ["mesh"], edges, { mesh: [0, 255, 0], contours: [0, 0, 255], points: [255, 0, 0] });
    let green = 0;
    for (let i = 0; i < meshOnly.data.length; i += 3) if (meshOnly.data[i + 1] === 255) green++;
    assert.ok(green > blue, `the mesh (${green} px) draws more than its contours (${blue} px)`);
  });

  test("parseParts and parseColor accept the documented forms and name the flag otherwise", () => {
    assert.deepEqual(parseParts("mesh, Points,mesh"), ["mesh", "points"]);
    assert.throws(() => parseParts("mesh,iris"), /--draw: unknown part 'iris'/);
    assert.deepEqual(parseColor("yellow", "--mesh-color"), [255, 255, 0]);
    assert.deepEqual(parseColor("#10a0ff", "--mesh-color"), [16, 160, 255]);
    assert.deepEqual(parseColor("1, 2,3", "--mesh-color"), [1, 2, 3]);
    assert.throws(() => parseColor("256,0,0", "--point-color"), /--point-color=256,0,0: not a colour/);
  });
});
