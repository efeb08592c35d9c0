/**
 * The head's axes drawn at the nose tip from a head-pose row (lib/geometry/head_pose.ts): the canonical face's
 * x (orange, towards the person's left), y (yellow, up) and z (cyan, out of the face) axes, rotated by the row's pose,
 * placed at the canonical nose tip moved by the pose, and projected with the same camera as the pose was fitted
 * with (MediaPipe's, lib/geometry/camera.ts). The pose's scale is 1 by construction (the fit un-projects the
 * landmarks at the canonical face's size), so R·c + t is the nose tip in camera space.
 */
import type { RgbImage } from "../types.js";
import { rotationFromAngles } from "../geometry/angles.js";
import { frustum, MEDIAPIPE_CAMERA, projectToImage } from "../geometry/camera.js";
import type { GeometryMetadata } from "../geometry/metadata.js";
import { HEAD_POSE_DIM } from "../geometry/head_pose.js";
import { drawDisk, drawLine, type Rgb } from "./draw.js";

/** MediaPipe's nose-tip landmark. */
export const NOSE_TIP = 1;
/** x, y, z: colours the mesh (green edges, red points) does not use. */
export const AXIS_COLORS: readonly [Rgb, Rgb, Rgb] = [
  [255, 128, 0],
  [255, 255, 0],
  [0, 255, 255],
];

/** Pixel coordinates (continuous, integers = pixel centres) of the axes' origin and of the x, y, z tips. */
export interface HeadAxes {
  origin: [number, number];
  tips: [[number, number], [number, number], [number, number]];
}

/** The projected axes of one head-pose row, or null when the row has no pose (no face: zeros or NaN). */
export function headAxes(row: ArrayLike<number>, width: number, height: number, metadata: GeometryMetadata, lengthCm = 6): HeadAxes | null {
  if (row.length !== HEAD_POSE_DIM) throw new Error(`headAxes: a head-pose row has ${HEAD_POSE_DIM} values, got ${row.length}`);
  const [pitch, yaw, roll, tx, ty, tz] = [row[0]!, row[1]!, row[2]!, row[3]!, row[4]!, row[5]!];
  // A real pose is in front of the camera; zeros (no_face=zeros) and NaN are not.
  if (![pitch, yaw, roll, tx, ty].every(Number.isFinite) || !(tz < 0)) return null;
  const r = rotationFromAngles({ pitch, yaw, roll });
  const f = frustum(MEDIAPIPE_CAMERA, width, height);
  const c = metadata.canonical.subarray(3 * NOSE_TIP, 3 * NOSE_TIP + 3);
  const nose = [0, 1, 2].map((k) => r[3 * k]! * c[0]! + r[3 * k + 1]! * c[1]! + r[3 * k + 2]! * c[2]! + [tx, ty, tz][k]!);
  const toPixels = (x: number, y: number, z: number): [number, number] => {
    const [u, v] = projectToImage(f, x, y, z);
    return [u * width - 0.5, v * height - 0.5];
  };
  // Axis k of the face is R's column k.
  const tip = (k: number) => toPixels(nose[0]! + lengthCm * r[k]!, nose[1]! + lengthCm * r[3 + k]!, nose[2]! + lengthCm * r[6 + k]!);
  return { origin: toPixels(nose[0]!, nose[1]!, nose[2]!), tips: [tip(0), tip(1), tip(2)] };
}

/** Draws the axes of one head-pose row onto `image`, in place, lines `lineWidth` pixels wide; false when the row has no pose. */
export function drawHeadAxes(image: RgbImage, row: ArrayLike<number>, metadata: GeometryMetadata, lineWidth = 1): boolean {
  const axes = headAxes(row, image.width, image.height, metadata);
  if (!axes) return false;
  axes.tips.forEach((t, k) => drawLine(image, axes.origin[0], axes.origin[1], t[0], t[1], AXIS_COLORS[k]!, lineWidth));
  drawDisk(image, axes.origin[0], axes.origin[1], Math.max(2, lineWidth), [255, 255, 255]);
  return true;
}
