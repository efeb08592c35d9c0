/**
 * Drawing: lines checked against the ideal line they approximate (hand-computable pixel sets), the whole mesh
 * checked geometrically (every drawn pixel lies on some mesh edge, every edge is drawn), and rows without a face
 * skipped.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clipSegment, drawDisk, drawFaceMesh, drawLine } from "../lib/render/draw.js";
import { rowHasFace, writeEmptyRow } from "../lib/rows.js";
import { loadGeometryPipelineMetadata, loadMeshEdges } from "../lib/render/mesh_topology.js";
import type { RgbImage } from "../lib/types.js";
import { ROW_DIM } from "../lib/types.js";

const blank = (w: number, h: number): RgbImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3) });

/** Coordinates of pixels that are not black. */
function litPixels(img: RgbImage): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 3;
      if (img.data[i] || img.data[i + 1] || img.data[i + 2]) out.push([x, y]);
    }
  }
  return out;
}

const sortPts = (pts: Array<[number, number]>) => [...pts].sort((a, b) => a[1] - b[1] || a[0] - b[0]);

describe("drawLine", () => {
  test("horizontal, vertical and diagonal lines light exactly their pixels", () => {
    const img = blank(12, 12);
    drawLine(img, 2, 5, 9, 5, [255, 255, 255]);
    assert.deepEqual(sortPts(litPixels(img)), Array.from({ length: 8 }, (_, i) => [2 + i, 5]));
    const v = blank(12, 12);
    drawLine(v, 3, 10, 3, 1, [255, 255, 255]);
    assert.deepEqual(sortPts(litPixels(v)), Array.from({ length: 10 }, (_, i) => [3, 1 + i]));
    const d = blank(12, 12);
    drawLine(d, 8, 1, 2, 7, [255, 255, 255]);
    assert.deepEqual(sortPts(litPixels(d)), Array.from({ length: 7 }, (_, i) => [8 - i, 1 + i]));
  });

  test("a shallow line has one pixel per column, at the ideal line's rounded height", () => {
    // From (0,0) to (6,2): y = x/3, so columns 0..6 hold y = round(x/3) = 0,0,1,1,1,2,2.
    const img = blank(8, 4);
    drawLine(img, 0, 0, 6, 2, [0, 255, 0]);
    assert.deepEqual(sortPts(litPixels(img)), sortPts([0, 1, 2, 3, 4, 5, 6].map((x) => [x, Math.round(x / 3)])));
    // Colour written as given.
    assert.deepEqual(Array.from(img.data.subarray(0, 3)), [0, 255, 0]);
  });

  test("segments are clipped to the image; far-away and non-finite endpoints cost nothing", () => {
    const img = blank(10, 10);
    drawLine(img, -1e12, 4, 1e12, 4, [255, 0, 0]); // crosses the image: row 4 fully lit
    assert.deepEqual(sortPts(litPixels(img)), Array.from({ length: 10 }, (_, i) => [i, 4]));
    const none = blank(10, 10);
    drawLine(none, -5, -5, -1, 20, [255, 0, 0]); // left of the image
    drawLine(none, NaN, 1, 5, 5, [255, 0, 0]);
    drawLine(none, 1, 1, Infinity, 5, [255, 0, 0]);
    assert.deepEqual(litPixels(none), []);
    assert.equal(clipSegment(-10, 5, 20, 5, 10, 10)?.join(), [0, 5, 9, 5].join());
  });
});

describe("drawDisk", () => {
  test("radius 1 lights the centre and its 4 neighbours; radius 0 one pixel; clipped at borders", () => {
    const img = blank(5, 5);
    drawDisk(img, 2, 2, 1, [255, 0, 0]);
    assert.deepEqual(sortPts(litPixels(img)), sortPts([[2, 2], [1, 2], [3, 2], [2, 1], [2, 3]]));
    const one = blank(5, 5);
    drawDisk(one, 0.4, 3.6, 0, [255, 0, 0]);
    assert.deepEqual(litPixels(one), [[0, 4]]);
    const corner = blank(5, 5);
    drawDisk(corner, 0, 0, 1, [255, 0, 0]);
    assert.deepEqual(sortPts(litPixels(corner)), sortPts([[0, 0], [1, 0], [0, 1]]));
  });
});

/** An SSI row (y, x normalized, then score) placing the canonical face mesh in an image. */
async function canonicalRow(score: number): Promise<Float32Array> {
  const { positions } = (await loadGeometryPipelineMetadata()).canonicalMesh;
  const row = new Float32Array(ROW_DIM);
  for (let i = 0; i < 468; i++) {
    // x in about [-7.8, 7.8] cm, y in about [-9.4, 8.3] cm (y up): map into [0.1, 0.9] of the image.
    row[2 * i + 1] = 0.5 + positions[3 * i]! / 20;
    row[2 * i] = 0.5 - positions[3 * i + 1]! / 23;
  }
  row[ROW_DIM - 1] = score;
  return row;
}

/** Distance from point p to segment a-b. */
function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

describe("drawFaceMesh", () => {
  test("every drawn pixel lies on a mesh edge and every edge is drawn", async () => {
    const W = 200;
    const H = 240;
    const img = blank(W, H);
    const row = await canonicalRow(0.9);
    const edges = await loadMeshEdges();
    assert.equal(drawFaceMesh(img, row, edges, { pointColor: null }), true);
    // Continuous pixel coordinates of the landmarks (pixel centres at integers).
    const px = (i: number) => row[2 * i + 1]! * W - 0.5;
    const py = (i: number) => row[2 * i]! * H - 0.5;
    const lit = litPixels(img);
    const litSet = new Set(lit.map(([x, y]) => y * W + x));
    // A Bresenham pixel is within 0.5 px (minor axis) of the line between the rounded endpoints, which are within
    // 0.71 px of the true ones: 1.25 px bounds the distance to the true segment.
    for (const [x, y] of lit) {
      let best = Infinity;
      for (let e = 0; e < edges.length && best > 1.25; e += 2) best = Math.min(best, distToSegment(x, y, px(edges[e]!), py(edges[e]!), px(edges[e + 1]!), py(edges[e + 1]!)));
      assert.ok(best <= 1.25, `pixel (${x}, ${y}) is ${best.toFixed(2)} px from every edge`);
    }
    for (let e = 0; e < edges.length; e += 2) {
      const a = edges[e]!;
      const b = edges[e + 1]!;
      const mx = Math.round((px(a) + px(b)) / 2);
      const my = Math.round((py(a) + py(b)) / 2);
      let found = false;
      for (let dy = -1; dy <= 1 && !found; dy++) for (let dx = -1; dx <= 1 && !found; dx++) found = litSet.has((my + dy) * W + mx + dx);
      assert.ok(found, `edge ${a}-${b} not drawn near its midpoint (${mx}, ${my})`);
    }
    // Edges only, in the edge colour.
    for (const [x, y] of lit) assert.deepEqual(Array.from(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)), [0, 255, 0]);
  });

  test("points are drawn on top in the point colour at each landmark's pixel", async () => {
    const W = 200;
    const H = 240;
    const img = blank(W, H);
    const row = await canonicalRow(1);
    drawFaceMesh(img, row, await loadMeshEdges(), { pointColor: [255, 0, 0], pointRadius: 0 });
    for (let i = 0; i < 468; i++) {
      const x = Math.floor(row[2 * i + 1]! * W);
      const y = Math.floor(row[2 * i]! * H);
      assert.deepEqual(Array.from(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)), [255, 0, 0], `landmark ${i}`);
    }
  });

  test("a row whose face scored below the threshold (its score, zero or NaN landmarks) is skipped", async () => {
    // What the pipeline writes for a face scored 0.3 with min_score_thresh 0.5 (lib/rows.ts writeEmptyRow).
    const edges = await loadMeshEdges();
    for (const fill of ["zeros", "nan"] as const) {
      const row = new Float32Array(ROW_DIM);
      writeEmptyRow(row, 0, 0.3, fill);
      const img = blank(50, 50);
      assert.equal(rowHasFace(row), false, fill);
      assert.equal(drawFaceMesh(img, row, edges), false, fill);
      assert.deepEqual(litPixels(img), [], fill);
    }
  });

  test("rows with score 0 or NaN are skipped, the image untouched", async () => {
    const edges = await loadMeshEdges();
    for (const score of [0, NaN, -1]) {
      const img = blank(50, 50);
      const row = await canonicalRow(score);
      assert.equal(rowHasFace(row), false);
      assert.equal(drawFaceMesh(img, row, edges), false);
      assert.deepEqual(litPixels(img), []);
    }
  });

  test("landmarks far outside the image only draw what is visible", async () => {
    const row = await canonicalRow(1);
    row[0] = 1e9; // landmark 0's y
    row[1] = -1e9; // landmark 0's x
    row[3] = NaN; // landmark 1's x
    const img = blank(64, 64);
    assert.equal(drawFaceMesh(img, row, await loadMeshEdges()), true);
    assert.ok(litPixels(img).length > 0);
  });

  test("a 478-point row (refine_landmarks): the irises are drawn as circles through their edge points", async () => {
    const W = 100;
    const H = 80;
    const row = new Float32Array(957);
    // All mesh points at one pixel far from the irises; iris centres at (30.5, 40.5) and (70.5, 40.5) pixels
    // (normalized (x+0.5)/W so the continuous coordinate lands on pixel centres), edge points 6 px away.
    for (let i = 0; i < 468; i++) [row[2 * i], row[2 * i + 1]] = [10.5 / H, 10.5 / W];
    const put = (i: number, x: number, y: number) => ([row[2 * i], row[2 * i + 1]] = [(y + 0.5) / H, (x + 0.5) / W]);
    for (const [first, cx] of [[468, 30], [473, 70]] as const) {
      put(first, cx, 40);
      put(first + 1, cx + 6, 40);
      put(first + 2, cx, 34);
      put(first + 3, cx - 6, 40);
      put(first + 4, cx, 46);
    }
    row[956] = 0.9;
    const img = blank(W, H);
    assert.equal(drawFaceMesh(img, row, new Uint32Array(0), { pointColor: null, irisColor: [0, 0, 255] }), true);
    const lit = litPixels(img);
    for (const cx of [30, 70]) {
      // Every lit pixel near this iris lies about 6 px from its centre; the circle passes its four edge points.
      const near = lit.filter(([x]) => Math.abs(x - cx) < 10);
      assert.ok(near.length >= 24, `iris at ${cx}: ${near.length} pixels`);
      for (const [x, y] of near) assert.ok(Math.abs(Math.hypot(x - cx, y - 40) - 6) <= 1, `pixel (${x}, ${y}) is not on the circle around (${cx}, 40)`);
      for (const [x, y] of [[cx + 6, 40], [cx, 34], [cx - 6, 40], [cx, 46]]) assert.ok(near.some((p) => p[0] === x && p[1] === y), `edge point (${x}, ${y})`);
      assert.deepEqual(Array.from(img.data.subarray((40 * W + cx) * 3, (40 * W + cx) * 3 + 3)), [0, 0, 0], "the centre is not filled");
    }
    for (const [x, y] of lit) assert.deepEqual(Array.from(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)), [0, 0, 255]);
    // A 468-point row draws no circles: the same mesh points, no iris colour anywhere.
    const plain = blank(W, H);
    drawFaceMesh(plain, row.subarray(0, 937).map((v, i) => (i === 936 ? 0.9 : v)), new Uint32Array(0), { pointColor: null, irisColor: [0, 0, 255] });
    assert.deepEqual(litPixels(plain), []);
  });

  test("a row of the wrong length or an image of the wrong size is an error", async () => {
    const edges = await loadMeshEdges();
    assert.throws(() => drawFaceMesh(blank(4, 4), new Float32Array(10), edges), /937 values/);
    assert.throws(() => drawFaceMesh({ width: 4, height: 4, data: new Uint8Array(5) }, new Float32Array(ROW_DIM), edges), /5 bytes/);
  });
});
