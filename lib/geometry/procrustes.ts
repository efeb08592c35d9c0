/**
 * Weighted orthogonal Procrustes with uniform scale: the s, R (a proper rotation), t minimising
 * Σ w_i |s·R·a_i + t - b_i|², as MediaPipe's face geometry fits the canonical face to the landmarks.
 *
 * MediaPipe (procrustes_solver.cc, after Akca 2003) takes R from an SVD of the weighted cross-covariance with the
 * smallest singular direction flipped when it would reflect; then s = Σ w (R(a - ā))·b / Σ w (a - ā)·a and
 * t = Σ w (b - s·R·a) / Σ w. We get the same R from Horn's closed form (the unit quaternion maximising
 * Σ w (R(a - ā))·b is the top eigenvector of a symmetric 4x4 matrix), which is the optimum over rotations by
 * construction and needs only a symmetric eigen-solver; s and t follow MediaPipe's formulas.
 */

export interface SimilarityTransform {
  /** Proper rotation, row-major 3x3. */
  rotation: Float64Array;
  scale: number;
  translation: [number, number, number];
}

/** Below this the problem is degenerate (MediaPipe's kAbsoluteErrorEps). */
const EPS = 1e-9;

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major, destroyed) by cyclic Jacobi rotations.
 * Returns the eigenvalues and the eigenvectors as the columns of a row-major matrix.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // A <- Jᵀ A J, applied as column then row rotations.
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** Rotation matrix (row-major) of a unit quaternion (w, x, y, z). */
export function quaternionToMatrix(w: number, x: number, y: number, z: number): Float64Array {
  return Float64Array.of(
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  );
}

/**
 * Fits source -> target. source, target: n points, x, y, z each (target may hold more points; the first n count).
 * weights: n non-negative values. Throws when the problem is degenerate (too little weight, all points alike).
 */
export function solveWeightedProcrustes(source: ArrayLike<number>, target: ArrayLike<number>, weights: ArrayLike<number>): SimilarityTransform {
  const n = weights.length;
  if (source.length < 3 * n || target.length < 3 * n) throw new Error(`Procrustes: ${n} weights but ${source.length / 3} source and ${target.length / 3} target points`);
  let total = 0;
  const ca = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!(w >= 0)) throw new Error(`Procrustes: weight ${i} is ${w}; weights must be non-negative`);
    total += w;
    for (let k = 0; k < 3; k++) ca[k]! += w * source[3 * i + k]!;
  }
  if (!(total > EPS)) throw new Error("Procrustes: the total weight is too small");
  for (let k = 0; k < 3; k++) ca[k]! /= total;
  // m[j][k] = Σ w (a - ā)_j b_k: the weighted cross-covariance (the target needs no centring: Σ w (a - ā) = 0).
  const m = new Float64Array(9);
  let denominator = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    for (let j = 0; j < 3; j++) {
      const aj = source[3 * i + j]! - ca[j]!;
      denominator += w * aj * source[3 * i + j]!;
      for (let k = 0; k < 3; k++) m[3 * j + k]! += w * aj * target[3 * i + k]!;
    }
  }
  if (!(Math.hypot(...m) > EPS)) throw new Error("Procrustes: the cross-covariance is too small (points all alike)");
  if (!(denominator > EPS)) throw new Error("Procrustes: the source points are all alike");
  const [sxx, sxy, sxz, syx, syy, syz, szx, szy, szz] = m as unknown as number[];
  // Horn (1987): the quaternion of the best rotation is the eigenvector of the largest eigenvalue of N.
  const nm = Float64Array.of(
    sxx + syy + szz, syz - szy, szx - sxz, sxy - syx,
    syz - szy, sxx - syy - szz, sxy + syx, szx + sxz,
    szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy,
    sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz,
  );
  const { values, vectors } = symmetricEigen(nm, 4);
  let best = 0;
  for (let i = 1; i < 4; i++) if (values[i]! > values[best]!) best = i;
  const q = [0, 1, 2, 3].map((r) => vectors[r * 4 + best]!);
  const norm = Math.hypot(...q);
  const rotation = quaternionToMatrix(q[0]! / norm, q[1]! / norm, q[2]! / norm, q[3]! / norm);
  // s = Σ w (R(a - ā))·b / Σ w (a - ā)·a = trace(R M) / denominator, with M as above.
  let numerator = 0;
  for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) numerator += rotation[3 * k + j]! * m[3 * j + k]!;
  const scale = numerator / denominator;
  if (!(scale > EPS)) throw new Error(`Procrustes: scale ${scale} is not positive`);
  const translation: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    const ax = source[3 * i]!;
    const ay = source[3 * i + 1]!;
    const az = source[3 * i + 2]!;
    for (let k = 0; k < 3; k++) {
      const ra = rotation[3 * k]! * ax + rotation[3 * k + 1]! * ay + rotation[3 * k + 2]! * az;
      translation[k] += w * (target[3 * i + k]! - scale * ra);
    }
  }
  for (let k = 0; k < 3; k++) translation[k] /= total;
  return { rotation, scale, translation };
}
