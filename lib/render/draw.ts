/**
 * Drawing a face mesh onto an RgbImage, in place: the mesh's triangle edges as 1-pixel lines (Bresenham, no
 * anti-aliasing) and the landmarks as small filled disks.
 *
 * Landmarks come as one SSI output row (ROW_DIM = 937 floats: y0, x0, ..., y467, x467, score; or 957 with
 * refine_landmarks: 478 pairs, irises 468..477), normalized to the image height/width, the way NOVA's renderer
 * reads them (pixel = (y*height, x*width)). A 478-point row also gets its irises drawn as circles. A normalized coordinate
 * c maps to the continuous pixel coordinate c*size - 0.5, whose integer values are pixel centres (pixel i covers
 * [i/size, (i+1)/size) in normalized units); lines join the pixels nearest to the landmarks.
 */
import type { RgbImage } from "../types.js";
import { NUM_LANDMARKS, ROW_DIM } from "../types.js";
import { pointsForRowDim, rowHasFace } from "../rows.js";

export type Rgb = readonly [number, number, number];

export interface DrawOptions {
  /** Colour of the mesh edges; default green. null: no edges. */
  edgeColor?: Rgb | null;
  /** Colour of the landmark points; default red. null: no points. */
  pointColor?: Rgb | null;
  /** Radius of a landmark point in pixels (0 = one pixel); default 1. */
  pointRadius?: number;
  /** Width of the edges in pixels; default 1. */
  lineWidth?: number;
  /** Colour of the iris circles (478-point rows); default magenta (the head-pose axes use cyan). null: no circles. */
  irisColor?: Rgb | null;
}

const DEFAULT_EDGE: Rgb = [0, 255, 0];
const DEFAULT_POINT: Rgb = [255, 0, 0];
export const DEFAULT_IRIS: Rgb = [255, 0, 255];
/** First landmark of each iris in a 478-point row: its centre, then four points on its edge. */
const IRIS_FIRST = [468, 473] as const;

function setPixel(image: RgbImage, x: number, y: number, c: Rgb): void {
  const i = (y * image.width + x) * 3;
  image.data[i] = c[0];
  image.data[i + 1] = c[1];
  image.data[i + 2] = c[2];
}

/**
 * Clips the segment (x0,y0)-(x1,y1) to the rectangle [0,w-1] x [0,h-1] (Liang-Barsky).
 * Returns the clipped endpoints, or undefined when the segment misses the rectangle or is not finite.
 */
export function clipSegment(x0: number, y0: number, x1: number, y1: number, w: number, h: number): [number, number, number, number] | undefined {
  if (![x0, y0, x1, y1].every(Number.isFinite)) return undefined;
  const dx = x1 - x0;
  const dy = y1 - y0;
  let t0 = 0;
  let t1 = 1;
  // Each pair: p * t <= q must hold for the point at parameter t to be inside one edge's half-plane.
  const edges: Array<[number, number]> = [
    [-dx, x0],
    [dx, w - 1 - x0],
    [-dy, y0],
    [dy, h - 1 - y0],
  ];
  for (const [p, q] of edges) {
    if (p === 0) {
      if (q < 0) return undefined;
    } else {
      const t = q / p;
      if (p < 0) {
        if (t > t1) return undefined;
        if (t > t0) t0 = t;
      } else {
        if (t < t0) return undefined;
        if (t < t1) t1 = t;
      }
    }
  }
  return [x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy];
}

/**
 * Draws a line between continuous pixel coordinates (integers = pixel centres); the parts outside the image are
 * clipped away, so endpoints far outside (or an enormous segment) cost nothing extra. Width 1: one pixel per
 * step (Bresenham); wider: a disk of that diameter at each step.
 */
export function drawLine(image: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, width = 1): void {
  const plot = width > 1 ? (x: number, y: number) => drawDisk(image, x, y, (width - 1) / 2, color) : (x: number, y: number) => setPixel(image, x, y, color);
  const clipped = clipSegment(x0, y0, x1, y1, image.width, image.height);
  if (!clipped) return;
  const clampX = (v: number) => Math.min(image.width - 1, Math.max(0, Math.round(v)));
  const clampY = (v: number) => Math.min(image.height - 1, Math.max(0, Math.round(v)));
  let x = clampX(clipped[0]);
  let y = clampY(clipped[1]);
  const xe = clampX(clipped[2]);
  const ye = clampY(clipped[3]);
  // Integer Bresenham, all octants.
  const dx = Math.abs(xe - x);
  const dy = -Math.abs(ye - y);
  const sx = x < xe ? 1 : -1;
  const sy = y < ye ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    plot(x, y);
    if (x === xe && y === ye) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}

/** Fills the pixels whose centres lie within `radius` of the pixel nearest to (cx, cy) (continuous coordinates). */
export function drawDisk(image: RgbImage, cx: number, cy: number, radius: number, color: Rgb): void {
  if (!Number.isFinite(cx) || !Number.isFinite(cy)) return;
  const px = Math.round(cx);
  const py = Math.round(cy);
  const r = Math.max(0, Math.floor(radius));
  for (let y = Math.max(0, py - r); y <= Math.min(image.height - 1, py + r); y++) {
    for (let x = Math.max(0, px - r); x <= Math.min(image.width - 1, px + r); x++) {
      if ((x - px) ** 2 + (y - py) ** 2 <= radius * radius) setPixel(image, x, y, color);
    }
  }
}

/** A circle outline of `radius` pixels around (cx, cy) (continuous coordinates), as a polygon fine enough to look round. */
export function drawCircle(image: RgbImage, cx: number, cy: number, radius: number, color: Rgb, width = 1): void {
  if (![cx, cy, radius].every(Number.isFinite) || radius < 0) return;
  // About one segment per 2 pixels of circumference, at least 8.
  const n = Math.max(8, Math.ceil((Math.PI * radius) / 1));
  for (let k = 0; k < n; k++) {
    const a0 = (2 * Math.PI * k) / n;
    const a1 = (2 * Math.PI * (k + 1)) / n;
    drawLine(image, cx + radius * Math.cos(a0), cy + radius * Math.sin(a0), cx + radius * Math.cos(a1), cy + radius * Math.sin(a1), color, width);
  }
}

/**
 * Draws one face (an SSI landmark row) onto `image`, in place.
 * @param edges pairs of landmark indices (e.g. loadMeshEdges() from mesh_topology.ts)
 * @returns false when the row was skipped (no landmarks: see rowHasFace), true when drawn.
 */
export function drawFaceMesh(image: RgbImage, row: ArrayLike<number>, edges: ArrayLike<number>, opts: DrawOptions = {}): boolean {
  const points = pointsForRowDim(row.length);
  if (points === null) throw new Error(`drawFaceMesh: a landmark row has ${ROW_DIM} values (468 y,x pairs + score) or 957 (478 pairs), got ${row.length}`);
  if (image.data.length !== image.width * image.height * 3) {
    throw new Error(`drawFaceMesh: image data has ${image.data.length} bytes, expected ${image.width}x${image.height}x3`);
  }
  if (!rowHasFace(row, 0, row.length)) return false;
  const { width, height } = image;
  const px = (i: number) => row[2 * i + 1]! * width - 0.5;
  const py = (i: number) => row[2 * i]! * height - 0.5;
  const edgeColor = opts.edgeColor === undefined ? DEFAULT_EDGE : opts.edgeColor;
  const pointColor = opts.pointColor === undefined ? DEFAULT_POINT : opts.pointColor;
  if (edgeColor) {
    for (let e = 0; e + 1 < edges.length; e += 2) {
      const a = edges[e]!;
      const b = edges[e + 1]!;
      if (a >= NUM_LANDMARKS || b >= NUM_LANDMARKS) throw new Error(`drawFaceMesh: edge ${a}-${b} names a landmark >= ${NUM_LANDMARKS}`);
      drawLine(image, px(a), py(a), px(b), py(b), edgeColor, opts.lineWidth ?? 1);
    }
  }
  if (pointColor) {
    const radius = opts.pointRadius ?? 1;
    for (let i = 0; i < points; i++) drawDisk(image, px(i), py(i), radius, pointColor);
  }
  const irisColor = opts.irisColor === undefined ? DEFAULT_IRIS : opts.irisColor;
  if (irisColor && points > NUM_LANDMARKS) {
    // Centre = the iris's first point; radius = mean distance (in pixels) to its four edge points.
    for (const c of IRIS_FIRST) {
      let r = 0;
      for (let k = 1; k <= 4; k++) r += Math.hypot(px(c + k) - px(c), py(c + k) - py(c));
      drawCircle(image, px(c), py(c), r / 4, irisColor, opts.lineWidth ?? 1);
    }
  }
  return true;
}
