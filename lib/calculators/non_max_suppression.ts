/**
 * MediaPipe NonMaxSuppressionCalculator, algorithm WEIGHTED, overlap INTERSECTION_OVER_UNION, as the face
 * detection graphs configure it (min_suppression_threshold 0.3, no max count, no score threshold).
 *
 * Repeatedly: take the best remaining detection; every remaining detection whose IoU with it exceeds the
 * threshold (the best one included) is a candidate; output the candidates' score-weighted mean box (averaging
 * the corners) and keypoints, carrying the best one's score; drop the candidates.
 */
import type { Detection } from "../types.js";

/** IoU of two normalized boxes; 0 when the union is empty (MediaPipe's OverlapSimilarity). */
export function iou(a: Detection, b: Detection): number {
  const ix = Math.min(a.xmin + a.width, b.xmin + b.width) - Math.max(a.xmin, b.xmin);
  const iy = Math.min(a.ymin + a.height, b.ymin + b.height) - Math.max(a.ymin, b.ymin);
  if (ix < 0 || iy < 0) return 0;
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Weighted NMS; returns new detections, best score first. The input is not modified. */
export function weightedNms(dets: Detection[], iouThreshold = 0.3): Detection[] {
  // Stable sort, best first (MediaPipe sorts by score descending).
  let remaining = dets.map((d, i) => ({ d, i })).sort((p, q) => q.d.score - p.d.score || p.i - q.i).map((p) => p.d);
  const out: Detection[] = [];
  while (remaining.length > 0) {
    const top = remaining[0];
    const candidates: Detection[] = [];
    const rest: Detection[] = [];
    for (const d of remaining) (iou(d, top) > iouThreshold ? candidates : rest).push(d);
    if (candidates.length === 0) {
      // Only a degenerate (zero-area) top box fails to overlap itself. MediaPipe outputs it as it is and then
      // stops because nothing was removed; we do the same so results match.
      out.push(copy(top));
      break;
    }
    out.push(weightedMean(top, candidates));
    remaining = rest;
  }
  return out;
}

function copy(d: Detection): Detection {
  return { ...d, keypoints: d.keypoints.map(([x, y]): [number, number] => [x, y]) };
}

function weightedMean(top: Detection, candidates: Detection[]): Detection {
  let total = 0;
  let xmin = 0;
  let ymin = 0;
  let xmax = 0;
  let ymax = 0;
  const kp = top.keypoints.map((): [number, number] => [0, 0]);
  for (const c of candidates) {
    if (c.keypoints.length < kp.length) {
      throw new RangeError(`weightedNms: detections differ in keypoint count (${c.keypoints.length} vs ${kp.length})`);
    }
    const w = c.score;
    total += w;
    xmin += c.xmin * w;
    ymin += c.ymin * w;
    xmax += (c.xmin + c.width) * w;
    ymax += (c.ymin + c.height) * w;
    for (let k = 0; k < kp.length; k++) {
      kp[k][0] += c.keypoints[k][0] * w;
      kp[k][1] += c.keypoints[k][1] * w;
    }
  }
  xmin /= total;
  ymin /= total;
  return {
    score: top.score,
    xmin,
    ymin,
    width: xmax / total - xmin,
    height: ymax / total - ymin,
    keypoints: kp.map(([x, y]): [number, number] => [x / total, y / total]),
  };
}
