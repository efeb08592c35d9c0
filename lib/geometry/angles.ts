/**
 * Head-pose angles from a rotation: R = Ry(yaw) · Rx(pitch) · Rz(roll), the standard right-handed rotations
 * about the camera's x (right), y (up) and z (towards the viewer) axes. Multiplying out:
 *
 *   R = | cy·cr + sy·sp·sr   -cy·sr + sy·sp·cr   sy·cp |
 *       | cp·sr               cp·cr              -sp    |
 *       | -sy·cr + cy·sp·sr   sy·sr + cy·sp·cr   cy·cp |
 *
 * so pitch = asin(-R12), yaw = atan2(R02, R22), roll = atan2(R10, R11) (c/s: cos/sin of yaw y, pitch p, roll r).
 * With the canonical face looking at the camera R = I; positive yaw turns the face towards image right (the
 * person's own left), positive pitch tilts it down, positive roll turns it counter-clockwise on screen.
 */

export interface HeadAngles {
  /** Degrees. */
  pitch: number;
  yaw: number;
  roll: number;
}

const DEG = 180 / Math.PI;

/** R (row-major 3x3) from angles in degrees. */
export function rotationFromAngles({ pitch, yaw, roll }: HeadAngles): Float64Array {
  const [p, y, r] = [pitch / DEG, yaw / DEG, roll / DEG];
  const cp = Math.cos(p);
  const sp = Math.sin(p);
  const cy = Math.cos(y);
  const sy = Math.sin(y);
  const cr = Math.cos(r);
  const sr = Math.sin(r);
  return Float64Array.of(
    cy * cr + sy * sp * sr, -cy * sr + sy * sp * cr, sy * cp,
    cp * sr, cp * cr, -sp,
    -sy * cr + cy * sp * sr, sy * sr + cy * sp * cr, cy * cp,
  );
}

/**
 * Angles in degrees: pitch in [-90, 90], yaw and roll in (-180, 180]. At pitch ±90° (gimbal lock) yaw and roll
 * turn about the same axis; roll is then 0 and yaw carries the whole turn.
 */
export function anglesFromRotation(r: ArrayLike<number>): HeadAngles {
  const sp = Math.max(-1, Math.min(1, -r[5]!));
  const pitch = Math.asin(sp) * DEG;
  if (Math.abs(sp) > 1 - 1e-12) return { pitch, yaw: Math.atan2(-r[6]!, r[0]!) * DEG, roll: 0 };
  return { pitch, yaw: Math.atan2(r[2]!, r[8]!) * DEG, roll: Math.atan2(r[3]!, r[4]!) * DEG };
}

/**
 * The angle in degrees of the rotation Aᵀ·B (how far apart two rotations are). From both its cosine (trace) and
 * its sine (the antisymmetric part), so that small angles keep their precision (acos alone loses half the digits).
 */
export function rotationDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  // m = Aᵀ·B, row-major.
  const m = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) m[3 * i + j] += a[3 * k + i]! * b[3 * k + j]!;
  const cos = (m[0]! + m[4]! + m[8]! - 1) / 2;
  const sin = Math.hypot(m[7]! - m[5]!, m[2]! - m[6]!, m[3]! - m[1]!) / 2;
  return Math.atan2(sin, cos) * DEG;
}
