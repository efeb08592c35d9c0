/**
 * MediaPipe face_detection_front_detection_to_roi (the face_landmark_front graph's detection -> ROI subgraph):
 * DetectionsToRectsCalculator (box centre and size; rotation from keypoint 0 to keypoint 1, target 0°) then
 * RectTransformationCalculator (square_long, scale 1.5).
 *
 * Keypoint 0 is the subject's right eye, 1 the left eye: on a frontal, upright face 0 is left of 1 in the
 * image and the rotation is 0; a face tilted clockwise on screen gets a positive rotation.
 */
import type { Detection, Roi } from "../types.js";
import { rotationFromPoints, squareLongRoi } from "./rect_transformation.js";

/** Detection (normalized) -> ROI in source pixels of a width x height image. */
export function roiFromDetection(det: Detection, width: number, height: number): Roi {
  if (!(width > 0) || !(height > 0)) throw new RangeError(`roiFromDetection: image size must be positive, got ${width}x${height}`);
  if (det.keypoints.length < 2) {
    throw new RangeError(`roiFromDetection: detection has ${det.keypoints.length} keypoints, needs the two eyes (0 and 1)`);
  }
  const [x0, y0] = det.keypoints[0];
  const [x1, y1] = det.keypoints[1];
  const rotation = rotationFromPoints(x0 * width, y0 * height, x1 * width, y1 * height);
  return squareLongRoi(
    (det.xmin + det.width / 2) * width,
    (det.ymin + det.height / 2) * height,
    det.width * width,
    det.height * height,
    rotation,
  );
}
