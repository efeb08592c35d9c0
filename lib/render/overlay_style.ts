/**
 * What `facemesh render` draws and how: which parts (the mesh's triangle edges, MediaPipe's contours, the
 * points), their colours, and sizes that follow the face, so that a face filling a 4K frame and one 80 px wide
 * both get a readable overlay. The contours are MediaPipe's own connection lists (FACEMESH_CONTOURS: lips, eyes,
 * eyebrows, face oval), read from @mediapipe/face_mesh, a dependency.
 */
import { createRequire } from "node:module";
import { NUM_LANDMARKS } from "../types.js";
import type { Rgb } from "./draw.js";

/** "irises": circles around the irises of 478-point rows (refine_landmarks); nothing on 468-point rows. */
export const MESH_PARTS = ["mesh", "contours", "points", "irises"] as const;
export type MeshPart = (typeof MESH_PARTS)[number];

/** Parses a part list such as "mesh,points" (the flag name goes into the error). */
export function parseParts(text: string, flag = "--draw"): MeshPart[] {
  const parts = text.split(",").map((p) => p.trim().toLowerCase()).filter((p) => p !== "");
  if (parts.length === 0) throw new Error(`${flag}: empty (use some of ${MESH_PARTS.join(", ")}, comma-separated)`);
  for (const p of parts) if (!(MESH_PARTS as readonly string[]).includes(p)) throw new Error(`${flag}: unknown part '${p}' (use some of ${MESH_PARTS.join(", ")}, comma-separated)`);
  return [...new Set(parts)] as MeshPart[];
}

const NAMED: Record<string, Rgb> = {
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  yellow: [255, 255, 0],
  cyan: [0, 255, 255],
  magenta: [255, 0, 255],
  white: [255, 255, 255],
  black: [0, 0, 0],
};

/** Parses a colour: a name (red, green, ...), #rrggbb, or r,g,b with 0-255 components. */
export function parseColor(text: string, flag: string): Rgb {
  const t = text.trim().toLowerCase();
  if (NAMED[t]) return NAMED[t];
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/.exec(t);
  if (hex) return [parseInt(hex[1], 16), parseInt(hex[2], 16), parseInt(hex[3], 16)];
  const parts = t.split(",").map((p) => Number(p.trim()));
  if (parts.length === 3 && parts.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) return [parts[0], parts[1], parts[2]];
  throw new Error(`${flag}=${text}: not a colour (a name such as ${Object.keys(NAMED).join(", ")}; #rrggbb; or r,g,b from 0 to 255)`);
}

/**
 * Point radius and line width (odd: a line is centred on its pixels) for a face of `faceSize` pixels (the long
 * side of its landmarks' box): radius 1 and 1-pixel lines up to ~300 px, growing in proportion beyond, so that
 * on a face filling a 4K frame the lines do not vanish in the video codec's blur, and on a small face the points
 * do not cover the mesh.
 */
export function overlaySizes(faceSize: number): { pointRadius: number; lineWidth: number } {
  const size = Number.isFinite(faceSize) && faceSize > 0 ? faceSize : 0;
  return { pointRadius: Math.max(1, Math.round(size / 200)), lineWidth: 1 + 2 * Math.round(size / 600) };
}

/** The long side, in pixels, of the box around a row's landmarks (y, x pairs normalized); NaN without finite ones. */
export function faceSizeOfRow(row: ArrayLike<number>, width: number, height: number): number {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < NUM_LANDMARKS; i++) {
    const y = row[2 * i]! * height;
    const x = row[2 * i + 1]! * width;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  return x1 >= x0 ? Math.max(x1 - x0, y1 - y0) : Number.NaN;
}

/** MediaPipe's contour connections (lips, eyes, eyebrows, face oval) as flat index pairs, from @mediapipe/face_mesh. */
export function contourEdges(): Uint32Array {
  const require = createRequire(import.meta.url);
  const { FACEMESH_CONTOURS } = require("@mediapipe/face_mesh") as { FACEMESH_CONTOURS?: Array<[number, number]> };
  if (!Array.isArray(FACEMESH_CONTOURS)) throw new Error("@mediapipe/face_mesh does not export FACEMESH_CONTOURS (package changed?)");
  return Uint32Array.from(FACEMESH_CONTOURS.flat());
}
