/**
 * MediaPipe ImageToTensorCalculator: crop a rotated ROI out of an RGB image, resample it bilinearly to a
 * size x size tensor and map 0..255 to a float range.
 *
 * Mapping (c = ROI centre, w/h = ROI size, all in source pixels, R = rotation matrix of roi.rotation):
 *   output pixel (u, v) samples the source at  c + R·(((u+d)/size - 1/2)·w, ((v+d)/size - 1/2)·h) - e
 * - halfPixel = false (default; MediaPipe's OpenCV CPU converter, cv::warpPerspective taking the ROI's corners
 *   to the output's corners, pixel centres at integer coordinates): d = 0, e = 0.
 * - halfPixel = true (MediaPipe's GL converter, texture coordinates at texel centres): d = 0.5, e = 0.5.
 * Either way the identity ROI (centre = image centre, size = image size, size = image side) reproduces pixels.
 *
 * This runs on every frame (192x192 for the landmark model, 128x128 or 192x192 for the detector), so: the
 * affine map is evaluated per row and column (no per-pixel trig); each output row is split into the interval
 * of samples whose four taps are all inside the image (a tight loop, no clamping, range scale folded into the
 * bilinear weights) and the runs before/after it (clamping or zero taps, fully-outside samples short-cut);
 * nothing is allocated.
 */
import type { RgbImage, Roi } from "../types.js";

export type BorderMode = "replicate" | "zero";

/** Pixel value 0 maps to min, 255 to max (linearly). */
export interface TensorRange {
  min: number;
  max: number;
}

export interface ImageToTensorOptions {
  range: TensorRange;
  /** "replicate" clamps to the nearest edge pixel (BORDER_REPLICATE); "zero" reads pixel value 0 (-> range.min) outside. */
  border: BorderMode;
  /** false (default): OpenCV CPU-path mapping; true: GL-path mapping with texel centres. See the file comment. */
  halfPixel?: boolean;
}

function checkFinite(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`imageToTensor: ${name} must be a finite number, got ${value}`);
}

/**
 * Writes a size x size crop of the rotated roi as planar CHW float32 (R plane, G plane, B plane) into
 * out[offset .. offset + 3*size*size). Bilinear.
 */
export function imageToTensor(
  image: RgbImage,
  roi: Roi,
  size: number,
  out: Float32Array,
  offset: number,
  opts: ImageToTensorOptions,
): void {
  const W = image.width;
  const H = image.height;
  const src = image.data;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 1 || H < 1) {
    throw new RangeError(`imageToTensor: image size must be positive integers, got ${W}x${H}`);
  }
  if (src.length < W * H * 3) {
    throw new RangeError(`imageToTensor: image data holds ${src.length} bytes, ${W}x${H} RGB needs ${W * H * 3}`);
  }
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`imageToTensor: size must be a positive integer, got ${size}`);
  const plane = size * size;
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > out.length) {
    throw new RangeError(
      `imageToTensor: out (length ${out.length}) has no room for 3x${size}x${size} values at offset ${offset}`,
    );
  }
  checkFinite("roi.cx", roi.cx);
  checkFinite("roi.cy", roi.cy);
  checkFinite("roi.width", roi.width);
  checkFinite("roi.height", roi.height);
  checkFinite("roi.rotation", roi.rotation);
  checkFinite("range.min", opts.range.min);
  checkFinite("range.max", opts.range.max);
  if (opts.border !== "replicate" && opts.border !== "zero") {
    throw new RangeError(`imageToTensor: border must be "replicate" or "zero", got ${String(opts.border)}`);
  }

  const half = opts.halfPixel === true ? 0.5 : 0;
  const cos = Math.cos(roi.rotation);
  const sin = Math.sin(roi.rotation);
  const sx = roi.width / size;
  const sy = roi.height / size;
  // Source position = origin + u·stepU + v·stepV (affine in u, v).
  const dxu = cos * sx;
  const dyu = sin * sx;
  const dxv = -sin * sy;
  const dyv = cos * sy;
  const lx = half * sx - roi.width / 2;
  const ly = half * sy - roi.height / 2;
  const x00 = roi.cx + cos * lx - sin * ly - half;
  const y00 = roi.cy + sin * lx + cos * ly - half;

  const scale = (opts.range.max - opts.range.min) / 255;
  const bias = opts.range.min;
  const zero = opts.border === "zero";
  const rowBytes = W * 3;
  const xLast = W - 1;
  const yLast = H - 1;
  const plane2 = 2 * plane;

  for (let v = 0; v < size; v++) {
    const xr = x00 + v * dxv;
    const yr = y00 + v * dyv;
    const o = offset + v * size;
    // Samples with 0 <= x < W-1 and 0 <= y < H-1 have all four taps inside. Along a row x and y are monotone in
    // u, so these samples form one interval [us, ue): estimate it, then settle its ends with the exact test.
    let us = Math.min(Math.max(spanStart(xr, dxu, xLast), spanStart(yr, dyu, yLast), 0), size);
    let ue = Math.max(Math.min(spanEnd(xr, dxu, xLast), spanEnd(yr, dyu, yLast), size), us);
    while (us < ue && !interior(xr + us * dxu, yr + us * dyu, xLast, yLast)) us++;
    while (ue > us && !interior(xr + (ue - 1) * dxu, yr + (ue - 1) * dyu, xLast, yLast)) ue--;
    if (us > 0) edgeSpan(image, xr, yr, dxu, dyu, 0, us, zero, out, o, plane, scale, bias);
    for (let u = us; u < ue; u++) {
      // Positions by multiplication, exactly as tested above (an accumulated x += dxu could drift past W-1).
      const x = xr + u * dxu;
      const y = yr + u * dyu;
      const xi = x | 0; // x, y >= 0 here, so truncation is floor
      const yi = y | 0;
      const fx = x - xi;
      const fy = y - yi;
      // Bilinear weights with the range scale folded in: 4 multiplies per channel.
      const w11 = fx * fy * scale;
      const w10 = fx * scale - w11;
      const w01 = fy * scale - w11;
      const w00 = scale - fx * scale - w01;
      const i = yi * rowBytes + xi * 3;
      const j = i + rowBytes;
      const k = o + u;
      out[k] = bias + src[i] * w00 + src[i + 3] * w10 + src[j] * w01 + src[j + 3] * w11;
      out[k + plane] = bias + src[i + 1] * w00 + src[i + 4] * w10 + src[j + 1] * w01 + src[j + 4] * w11;
      out[k + plane2] = bias + src[i + 2] * w00 + src[i + 5] * w10 + src[j + 2] * w01 + src[j + 5] * w11;
    }
    if (ue < size) edgeSpan(image, xr, yr, dxu, dyu, ue, size, zero, out, o, plane, scale, bias);
  }
}

function interior(x: number, y: number, xLast: number, yLast: number): boolean {
  return x >= 0 && x < xLast && y >= 0 && y < yLast;
}

/** First integer u with p0 + u·dp >= 0 and (for dp < 0) < last; an estimate, refined by the caller. */
function spanStart(p0: number, dp: number, last: number): number {
  if (dp > 0) return Math.ceil(-p0 / dp);
  if (dp < 0) return Math.floor((last - p0) / dp) + 1;
  return p0 >= 0 && p0 < last ? 0 : Infinity;
}

/** One past the last integer u with 0 <= p0 + u·dp < last; an estimate, refined by the caller. */
function spanEnd(p0: number, dp: number, last: number): number {
  if (dp > 0) return Math.ceil((last - p0) / dp);
  if (dp < 0) return Math.floor(-p0 / dp) + 1;
  return p0 >= 0 && p0 < last ? Infinity : 0;
}

/**
 * Samples u in [u0, u1) of one output row near or beyond the image edge: taps clamped (replicate) or read as 0
 * (zero). One call per run of edge pixels, with the border test hoisted out of the loop.
 */
function edgeSpan(
  image: RgbImage,
  xr: number,
  yr: number,
  dxu: number,
  dyu: number,
  u0: number,
  u1: number,
  zero: boolean,
  out: Float32Array,
  o: number,
  plane: number,
  scale: number,
  bias: number,
): void {
  const src = image.data;
  const xLast = image.width - 1;
  const yLast = image.height - 1;
  const rowBytes = image.width * 3;
  const plane2 = 2 * plane;
  if (zero) {
    for (let u = u0; u < u1; u++) {
      const k = o + u;
      const x = xr + u * dxu;
      const y = yr + u * dyu;
      const xf = Math.floor(x);
      const yf = Math.floor(y);
      if (xf < -1 || xf > xLast || yf < -1 || yf > yLast) {
        // No tap inside (the letterbox border): pixel value 0.
        out[k] = bias;
        out[k + plane] = bias;
        out[k + plane2] = bias;
        continue;
      }
      const fx = x - xf;
      const fy = y - yf;
      // Weight of each tap, 0 for taps outside the image.
      const in0x = xf >= 0;
      const in1x = xf < xLast;
      const wy0 = yf >= 0 ? (1 - fy) * scale : 0;
      const wy1 = yf < yLast ? fy * scale : 0;
      const w00 = in0x ? (1 - fx) * wy0 : 0;
      const w10 = in1x ? fx * wy0 : 0;
      const w01 = in0x ? (1 - fx) * wy1 : 0;
      const w11 = in1x ? fx * wy1 : 0;
      // Clamped addresses: a tap outside has weight 0, so any in-image address will do.
      const xa = in0x ? xf : 0;
      const xb = in1x ? xf + 1 : xLast;
      const ya = yf >= 0 ? yf : 0;
      const yb = yf < yLast ? yf + 1 : yLast;
      const i0 = ya * rowBytes + xa * 3;
      const i1 = ya * rowBytes + xb * 3;
      const j0 = yb * rowBytes + xa * 3;
      const j1 = yb * rowBytes + xb * 3;
      out[k] = bias + src[i0] * w00 + src[i1] * w10 + src[j0] * w01 + src[j1] * w11;
      out[k + plane] = bias + src[i0 + 1] * w00 + src[i1 + 1] * w10 + src[j0 + 1] * w01 + src[j1 + 1] * w11;
      out[k + plane2] = bias + src[i0 + 2] * w00 + src[i1 + 2] * w10 + src[j0 + 2] * w01 + src[j1 + 2] * w11;
    }
  } else {
    for (let u = u0; u < u1; u++) {
      const k = o + u;
      const x = xr + u * dxu;
      const y = yr + u * dyu;
      const xf = Math.floor(x);
      const yf = Math.floor(y);
      const fx = x - xf;
      const fy = y - yf;
      const w11 = fx * fy * scale;
      const w10 = fx * scale - w11;
      const w01 = fy * scale - w11;
      const w00 = scale - fx * scale - w01;
      const xa = xf < 0 ? 0 : xf > xLast ? xLast : xf;
      const xb = xf < 0 ? 0 : xf >= xLast ? xLast : xf + 1;
      const ya = yf < 0 ? 0 : yf > yLast ? yLast : yf;
      const yb = yf < 0 ? 0 : yf >= yLast ? yLast : yf + 1;
      const i0 = ya * rowBytes + xa * 3;
      const i1 = ya * rowBytes + xb * 3;
      const j0 = yb * rowBytes + xa * 3;
      const j1 = yb * rowBytes + xb * 3;
      out[k] = bias + src[i0] * w00 + src[i1] * w10 + src[j0] * w01 + src[j1] * w11;
      out[k + plane] = bias + src[i0 + 1] * w00 + src[i1 + 1] * w10 + src[j0 + 1] * w01 + src[j1 + 1] * w11;
      out[k + plane2] = bias + src[i0 + 2] * w00 + src[i1 + 2] * w10 + src[j0 + 2] * w01 + src[j1 + 2] * w11;
    }
  }
}
