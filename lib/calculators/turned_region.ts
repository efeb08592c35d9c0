/**
 * Running BlazeFace on a turned region of the frame, and bringing its detections back (beyond MediaPipe, which
 * only ever runs it upright on the whole frame): the detector sees the region `roi` cropped and de-rotated by
 * roi.rotation (ImageToTensorCalculator's mapping, as for the landmark crop), so a face lying on its side in the
 * frame stands upright in the detector's input when the region is turned by the same quarter turn.
 *
 * A point p (normalized to the detector's square input) came from the frame at c + R(rotation)·((p - 1/2)·size),
 * in pixels; boxes come back as the axis-aligned box around the turned box (exact for quarter turns).
 */
import type { Detection, Roi } from "../types.js";
import { normalizeRadians } from "./rect_transformation.js";

/** A quarter turn of the detector's input: 0, 90, 180 or 270 degrees (clockwise on screen, image y down). */
export type QuarterTurn = 0 | 1 | 2 | 3;
export const QUARTER_TURNS: readonly QuarterTurn[] = [0, 1, 2, 3];

/** The rotation, in radians in [-pi, pi), of a quarter turn. */
export function turnRadians(turn: QuarterTurn): number {
  return normalizeRadians((turn * Math.PI) / 2);
}

/** `roi` turned by a quarter turn (centre and size kept). */
export function turnedRoi(roi: Roi, turn: QuarterTurn): Roi {
  return { ...roi, rotation: turnRadians(turn) };
}

/** A detection normalized to the detector's input of region `roi` -> normalized to the width x height frame. */
export function detectionFromRegion(det: Detection, roi: Roi, width: number, height: number): Detection {
  const cos = Math.cos(roi.rotation);
  const sin = Math.sin(roi.rotation);
  const toFrame = (x: number, y: number): [number, number] => {
    const u = (x - 0.5) * roi.width;
    const v = (y - 0.5) * roi.height;
    return [(roi.cx + cos * u - sin * v) / width, (roi.cy + sin * u + cos * v) / height];
  };
  const [cx, cy] = toFrame(det.xmin + det.width / 2, det.ymin + det.height / 2);
  const w = det.width * roi.width;
  const h = det.height * roi.height;
  const boxW = (Math.abs(cos) * w + Math.abs(sin) * h) / width;
  const boxH = (Math.abs(sin) * w + Math.abs(cos) * h) / height;
  return {
    score: det.score,
    xmin: cx - boxW / 2,
    ymin: cy - boxH / 2,
    width: boxW,
    height: boxH,
    keypoints: det.keypoints.map(([x, y]) => toFrame(x, y)),
  };
}

/** True when the detection's box centre lies inside the normalized box. */
export function centreInBox(det: Detection, box: { xmin: number; ymin: number; xmax: number; ymax: number }): boolean {
  const x = det.xmin + det.width / 2;
  const y = det.ymin + det.height / 2;
  return x >= box.xmin && x <= box.xmax && y >= box.ymin && y <= box.ymax;
}
