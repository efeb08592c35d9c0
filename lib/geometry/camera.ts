/**
 * MediaPipe's virtual perspective camera for face geometry (environment.proto, the face mesh solution's
 * environment): vertical field of view 63°, near plane 1, far plane 10000, image origin at the top left.
 *
 * Camera space (metric, cm, right-handed): x to the right of the image, y up, the camera at the origin looking
 * down -z, so faces have negative z. A normalized image point (u, v) (0,0 = top left, v down) lies on the near
 * plane at x = left + u·(right - left), y = bottom + (1 - v)·(top - bottom), z = -near.
 */

export interface PerspectiveCamera {
  verticalFovDegrees: number;
  near: number;
  far: number;
}

export const MEDIAPIPE_CAMERA: PerspectiveCamera = { verticalFovDegrees: 63, near: 1, far: 10000 };

/** The near plane's extent for a frame of width x height pixels (MediaPipe's PerspectiveCameraFrustum). */
export interface Frustum {
  left: number;
  right: number;
  bottom: number;
  top: number;
  near: number;
  far: number;
}

export function frustum(camera: PerspectiveCamera, width: number, height: number): Frustum {
  if (!(width > 0) || !(height > 0)) throw new RangeError(`frustum: frame size must be positive, got ${width}x${height}`);
  if (!(camera.verticalFovDegrees > 0 && camera.verticalFovDegrees < 180)) throw new RangeError(`frustum: vertical field of view ${camera.verticalFovDegrees}° is not in (0, 180)`);
  if (!(camera.near > 0) || !(camera.far > camera.near)) throw new RangeError(`frustum: need 0 < near < far, got ${camera.near}, ${camera.far}`);
  const heightAtNear = 2 * camera.near * Math.tan(((camera.verticalFovDegrees / 2) * Math.PI) / 180);
  const widthAtNear = (width * heightAtNear) / height;
  return { left: -widthAtNear / 2, right: widthAtNear / 2, bottom: -heightAtNear / 2, top: heightAtNear / 2, near: camera.near, far: camera.far };
}

/** A camera-space point (z < 0) to normalized image coordinates [u, v] (0,0 = top left); NaN behind the camera. */
export function projectToImage(f: Frustum, x: number, y: number, z: number): [number, number] {
  if (!(z < 0)) return [Number.NaN, Number.NaN];
  const xn = (x * f.near) / -z;
  const yn = (y * f.near) / -z;
  return [(xn - f.left) / (f.right - f.left), 1 - (yn - f.bottom) / (f.top - f.bottom)];
}
