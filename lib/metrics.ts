/**
 * Landmark comparison metrics (pure functions, no I/O): used by scripts/parity.ts to compare our pipeline with
 * MediaPipe's own web pipeline and with 68-point ground truth, and reusable in tests.
 *
 * Conventions:
 * - A 468-point set is a flat array of x, y, z triplets (stride 3) normalized to image width/height, as
 *   FaceLandmarks.points and MediaPipe's NormalizedLandmark. z is ignored everywhere here: ground truth and the
 *   parity targets are 2-D, and z has no pixel unit.
 * - Distances are measured in *pixels* (x scaled by width, y by height), so that non-square frames weigh both
 *   axes alike, then divided by an inter-ocular distance (IOD) to make faces of any size comparable.
 */

/** Mesh indices of the outer eye corners (subject's right eye, subject's left eye), as MediaPipe's geometry uses. */
export const MESH_RIGHT_EYE_OUTER = 33;
export const MESH_LEFT_EYE_OUTER = 263;
/** 68-point (iBUG) indices of the outer eye corners, the usual NME normalization. */
export const PT68_RIGHT_EYE_OUTER = 36;
export const PT68_LEFT_EYE_OUTER = 45;
/** 68-point indices 0..16 are the jaw line; 17..67 are the 51 inner points (brows, nose, eyes, mouth). */
export const PT68_FIRST_INNER = 17;

export type Point2 = readonly [number, number];

function pointCount(points: ArrayLike<number>, what: string): number {
  if (points.length % 3 !== 0) throw new Error(`${what}: length ${points.length} is not a multiple of 3 (x, y, z triplets)`);
  return points.length / 3;
}

function dist(ax: number, ay: number, bx: number, by: number): number {
  return Math.hypot(ax - bx, ay - by);
}

export interface MeshDistance {
  /** Mean Euclidean distance over all points, in pixels. */
  meanPx: number;
  /** Reference's inter-ocular distance (mesh 33 to 263), in pixels. */
  iodPx: number;
  /** meanPx / iodPx. */
  relative: number;
}

/**
 * Mean per-point 2-D distance between two landmark sets of equal size, in pixels, divided by the reference's
 * inter-ocular distance (outer eye corners 33 and 263). `reference` is the set taken as truth (MediaPipe's).
 */
export function meshDistance(ours: ArrayLike<number>, reference: ArrayLike<number>, width: number, height: number): MeshDistance {
  const n = pointCount(ours, "ours");
  if (pointCount(reference, "reference") !== n) {
    throw new Error(`meshDistance: ours has ${n} points, reference has ${reference.length / 3}`);
  }
  if (n <= MESH_LEFT_EYE_OUTER) throw new Error(`meshDistance: need the 468-point mesh (got ${n} points)`);
  if (!(width > 0 && height > 0)) throw new Error(`meshDistance: bad image size ${width}x${height}`);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += dist(ours[3 * i] * width, ours[3 * i + 1] * height, reference[3 * i] * width, reference[3 * i + 1] * height);
  }
  const r = 3 * MESH_RIGHT_EYE_OUTER;
  const l = 3 * MESH_LEFT_EYE_OUTER;
  const iodPx = dist(reference[r] * width, reference[r + 1] * height, reference[l] * width, reference[l + 1] * height);
  if (!(iodPx > 0)) throw new Error("meshDistance: reference inter-ocular distance is zero");
  const meanPx = sum / n;
  return { meanPx, iodPx, relative: meanPx / iodPx };
}

/**
 * Distance of one landmark (e.g. an iris centre, 468 or 473) between two sets, in pixels, divided by the
 * reference's inter-ocular distance (as meshDistance).
 */
export function pointDistance(ours: ArrayLike<number>, reference: ArrayLike<number>, index: number, width: number, height: number): number {
  const n = Math.min(pointCount(ours, "ours"), pointCount(reference, "reference"));
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new Error(`pointDistance: landmark ${index} is not in both sets (${n} points)`);
  const r = 3 * MESH_RIGHT_EYE_OUTER;
  const l = 3 * MESH_LEFT_EYE_OUTER;
  const iodPx = dist(reference[r] * width, reference[r + 1] * height, reference[l] * width, reference[l + 1] * height);
  if (!(iodPx > 0)) throw new Error("pointDistance: reference inter-ocular distance is zero");
  const i = 3 * index;
  return dist(ours[i] * width, ours[i + 1] * height, reference[i] * width, reference[i + 1] * height) / iodPx;
}

/** mp468_to_68.json: for each of the 68 iBUG points, one or two mesh indices (average when two). */
export type Mesh68Mapping = ReadonlyArray<readonly number[]>;

/** Checks the parsed mp468_to_68.json (`{mp_indices: [[i] | [i, j], ...68]}`) and returns its table. */
export function parseMesh68Mapping(json: unknown, source = "mp468_to_68.json"): Mesh68Mapping {
  const table = (json as { mp_indices?: unknown } | null)?.mp_indices;
  if (!Array.isArray(table) || table.length !== 68) throw new Error(`${source}: mp_indices must be a list of 68 entries`);
  table.forEach((entry: unknown, k) => {
    if (!Array.isArray(entry) || entry.length < 1 || entry.length > 2 || !entry.every((i) => Number.isInteger(i) && i >= 0 && i < 468)) {
      throw new Error(`${source}: mp_indices[${k}] must hold one or two mesh indices in 0..467, got ${JSON.stringify(entry)}`);
    }
  });
  return table as number[][];
}

/** The 68 iBUG points, in pixels, derived from a 468-point mesh (normalized) through the mapping. */
export function meshTo68(points: ArrayLike<number>, mapping: Mesh68Mapping, width: number, height: number): Point2[] {
  const n = pointCount(points, "meshTo68");
  return mapping.map((indices) => {
    let x = 0;
    let y = 0;
    for (const i of indices) {
      if (i >= n) throw new Error(`meshTo68: mesh index ${i} out of range (${n} points)`);
      x += points[3 * i] * width;
      y += points[3 * i + 1] * height;
    }
    return [x / indices.length, y / indices.length] as const;
  });
}

export interface Nme68 {
  /** Mean distance over all 68 points / IOD(36, 45 of the ground truth). */
  all: number;
  /** Mean distance over the 51 inner points (17..67) / the same IOD: the jaw is defined differently in the two schemes. */
  inner: number;
  iodPx: number;
}

/** Normalized mean error of 68 predicted points against 68 ground-truth points (both in pixels). */
export function nme68(predicted: readonly Point2[], truth: readonly Point2[]): Nme68 {
  if (predicted.length !== 68 || truth.length !== 68) {
    throw new Error(`nme68: need 68 points each (got ${predicted.length} predicted, ${truth.length} ground truth)`);
  }
  const iodPx = dist(truth[PT68_RIGHT_EYE_OUTER][0], truth[PT68_RIGHT_EYE_OUTER][1], truth[PT68_LEFT_EYE_OUTER][0], truth[PT68_LEFT_EYE_OUTER][1]);
  if (!(iodPx > 0)) throw new Error("nme68: ground-truth inter-ocular distance is zero");
  let all = 0;
  let inner = 0;
  for (let k = 0; k < 68; k++) {
    const d = dist(predicted[k][0], predicted[k][1], truth[k][0], truth[k][1]);
    all += d;
    if (k >= PT68_FIRST_INNER) inner += d;
  }
  return { all: all / 68 / iodPx, inner: inner / (68 - PT68_FIRST_INNER) / iodPx, iodPx };
}

/**
 * Index of the ground-truth face a prediction belongs to (images with several annotated faces, while the
 * pipelines return one face): the face whose point centroid is nearest the prediction's, or -1 when that
 * centroid distance exceeds `maxIodFraction` x the candidate's IOD (the prediction is some other, unannotated face).
 */
export function nearestFace(predicted: readonly Point2[], faces: ReadonlyArray<readonly Point2[]>, maxIodFraction = 0.5): number {
  const centroid = (pts: readonly Point2[]): Point2 => {
    let x = 0;
    let y = 0;
    for (const p of pts) {
      x += p[0];
      y += p[1];
    }
    return [x / pts.length, y / pts.length];
  };
  const c = centroid(predicted);
  let best = -1;
  let bestD = Infinity;
  faces.forEach((face, i) => {
    const g = centroid(face);
    const iod = dist(face[PT68_RIGHT_EYE_OUTER][0], face[PT68_RIGHT_EYE_OUTER][1], face[PT68_LEFT_EYE_OUTER][0], face[PT68_LEFT_EYE_OUTER][1]);
    const d = dist(c[0], c[1], g[0], g[1]);
    if (d <= maxIodFraction * iod && d < bestD) {
      best = i;
      bestD = d;
    }
  });
  return best;
}

export interface Summary {
  n: number;
  mean: number;
  median: number;
  p95: number;
  max: number;
}

/**
 * Percentile by linear interpolation between closest ranks (position q*(n-1) in the sorted values; numpy's
 * default), so the median of an even count is the mean of the middle two and p95 does not jump between samples.
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new Error(`percentile: q must be in [0, 1], got ${q}`);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** mean, median, p95 and max; NaN everywhere (n = 0) for an empty list. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n, mean: NaN, median: NaN, p95: NaN, max: NaN };
  return {
    n,
    mean: sorted.reduce((s, v) => s + v, 0) / n,
    median: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    max: sorted[n - 1],
  };
}

/** Fraction of frames on which two face-found decisions agree (NaN for no frames). */
export function agreementRate(a: readonly boolean[], b: readonly boolean[]): number {
  if (a.length !== b.length) throw new Error(`agreementRate: ${a.length} vs ${b.length} decisions`);
  if (a.length === 0) return NaN;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}
