/**
 * The face's pose in MediaPipe's camera space from its screen landmarks: MediaPipe's face geometry pipeline
 * (geometry_pipeline.cc, input source FACE_LANDMARK_PIPELINE), from the same facts:
 *
 *   1. Landmarks onto the near plane: x, y through the frustum (y flipped: the image origin is top left), z scaled
 *      like x (the landmark model's z is relative, in units of the image width).
 *   2. Fit the canonical face to those near-plane points (their z negated: screen space is left-handed, metric
 *      space right-handed); keep the fit's scale s1. Un-projecting now would be unsafe, z being relative.
 *   3. Depth per point: (z - mean z + near) / s1; x, y un-projected along the rays (x·depth/near); fit again: s2.
 *   4. Un-project once more with depth (z - mean z + near) / (s1·s2) and fit: the pose transform, s·R and t.
 *
 * Then rotation = R, translation = t in cm. Only the first 468 points are used, so 478-point (refined) landmarks
 * work too (MediaPipe's own calculator refuses them).
 */
import type { GeometryMetadata } from "./metadata.js";
import { frustum, type Frustum, type PerspectiveCamera, MEDIAPIPE_CAMERA } from "./camera.js";
import { solveWeightedProcrustes, type SimilarityTransform } from "./procrustes.js";

/** Landmarks spread over less than this (normalized) radius are refused, as MediaPipe does (numerically unstable). */
const TOO_COMPACT = 1e-3;

export interface FacePose extends SimilarityTransform {
  /** The 4x4 pose transform (s·R | t), column-major like MediaPipe's MatrixData layout 0. */
  matrix: Float64Array;
}

/** Step 1: normalized landmarks (x, y, z) to the near plane, in place on a copy of the first `count` points. */
export function projectToNearPlane(points: ArrayLike<number>, count: number, f: Frustum): Float64Array {
  const out = new Float64Array(count * 3);
  const xs = f.right - f.left;
  const ys = f.top - f.bottom;
  for (let i = 0; i < count; i++) {
    out[3 * i] = points[3 * i]! * xs + f.left;
    out[3 * i + 1] = (1 - points[3 * i + 1]!) * ys + f.bottom;
    out[3 * i + 2] = points[3 * i + 2]! * xs;
  }
  return out;
}

/**
 * Steps 3-4's un-projection: near-plane points to metric camera space for a canonical-to-runtime `scale`
 * (depth = (z - depthOffset + near) / scale, x and y along the ray), right-handed (z negated).
 */
export function unproject(nearPlane: Float64Array, f: Frustum, depthOffset: number, scale: number): Float64Array {
  const out = new Float64Array(nearPlane.length);
  for (let i = 0; i < nearPlane.length; i += 3) {
    const depth = (nearPlane[i + 2]! - depthOffset + f.near) / scale;
    out[i] = (nearPlane[i]! * depth) / f.near;
    out[i + 1] = (nearPlane[i + 1]! * depth) / f.near;
    out[i + 2] = -depth;
  }
  return out;
}

function tooCompact(points: ArrayLike<number>, count: number): boolean {
  let mx = 0;
  let my = 0;
  for (let i = 0; i < count; i++) {
    mx += points[3 * i]!;
    my += points[3 * i + 1]!;
  }
  mx /= count;
  my /= count;
  let max = 0;
  for (let i = 0; i < count; i++) max = Math.max(max, (points[3 * i]! - mx) ** 2 + (points[3 * i + 1]! - my) ** 2);
  return Math.sqrt(max) <= TOO_COMPACT;
}

/**
 * MediaPipe's pose transform for one face. points: at least 468 x, y, z (x, y normalized to the frame, z scaled
 * like x: FaceLandmarks.points); width x height: the frame in pixels. Null when the landmarks are not finite, too
 * compact, or the fit is degenerate (MediaPipe reports no geometry for such a face).
 */
export function estimatePose(
  points: ArrayLike<number>,
  width: number,
  height: number,
  metadata: GeometryMetadata,
  camera: PerspectiveCamera = MEDIAPIPE_CAMERA,
): FacePose | null {
  const n = metadata.numVertices;
  if (points.length < 3 * n) throw new RangeError(`estimatePose: ${points.length / 3} landmarks, the canonical face has ${n}`);
  for (let i = 0; i < 3 * n; i++) if (!Number.isFinite(points[i])) return null;
  if (tooCompact(points, n)) return null;
  const f = frustum(camera, width, height);
  const { canonical, weights } = metadata;
  const screen = projectToNearPlane(points, n, f);
  let depthOffset = 0;
  for (let i = 0; i < n; i++) depthOffset += screen[3 * i + 2]!;
  depthOffset /= n;
  try {
    const firstInput = Float64Array.from(screen);
    for (let i = 2; i < firstInput.length; i += 3) firstInput[i] = -firstInput[i]!;
    const s1 = solveWeightedProcrustes(canonical, firstInput, weights).scale;
    const s2 = solveWeightedProcrustes(canonical, unproject(screen, f, depthOffset, s1), weights).scale;
    const fit = solveWeightedProcrustes(canonical, unproject(screen, f, depthOffset, s1 * s2), weights);
    const matrix = new Float64Array(16);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) matrix[c * 4 + r] = fit.scale * fit.rotation[r * 3 + c]!;
      matrix[12 + r] = fit.translation[r]!;
    }
    matrix[15] = 1;
    return { ...fit, matrix };
  } catch {
    return null;
  }
}
