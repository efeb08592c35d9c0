/**
 * The head-pose output row (io id `head_pose`): per frame pitch, yaw, roll in degrees (R = Ry(yaw)·Rx(pitch)·Rz(roll),
 * angles.ts), tx, ty, tz in cm (MediaPipe's camera space, camera.ts), then the face score, as in the landmark
 * row. A frame without landmarks (or whose landmarks give no pose) carries the score and zeros or NaN (no_face).
 */
import type { NoFaceValue } from "../rows.js";
import { anglesFromRotation } from "./angles.js";
import type { GeometryMetadata } from "./metadata.js";
import { estimatePose } from "./pose.js";

export const HEAD_POSE_DIM = 7;
/** NOVA's media type of the stream (super type feature;face like the landmarks). */
export const HEAD_POSE_MEDIA_TYPE = "feature;face;headpose;facemesh";
export const HEAD_POSE_FIELDS = ["pitch", "yaw", "roll", "tx", "ty", "tz", "score"] as const;

/**
 * Writes one row at `offset` of `out`. points: the frame's landmarks (x, y, z; at least 468 points) or null when
 * the landmark row has none. Returns whether a pose was written.
 */
export function writeHeadPoseRow(
  out: Float32Array,
  offset: number,
  points: ArrayLike<number> | null,
  score: number,
  width: number,
  height: number,
  metadata: GeometryMetadata,
  noFace: NoFaceValue,
): boolean {
  const pose = points ? estimatePose(points, width, height, metadata) : null;
  if (!pose) {
    out.fill(noFace === "nan" ? Number.NaN : 0, offset, offset + HEAD_POSE_DIM - 1);
    out[offset + HEAD_POSE_DIM - 1] = score;
    return false;
  }
  const a = anglesFromRotation(pose.rotation);
  out[offset] = a.pitch;
  out[offset + 1] = a.yaw;
  out[offset + 2] = a.roll;
  out[offset + 3] = pose.translation[0];
  out[offset + 4] = pose.translation[1];
  out[offset + 5] = pose.translation[2];
  out[offset + 6] = score;
  return true;
}
