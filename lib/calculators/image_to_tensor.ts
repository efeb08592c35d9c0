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
 * This runs on every frame (192x192 for the landmark model, 128x128 or 192x192 for the detector), so the
 * affine map is stepped per row and column (no per-pixel trig), interior samples take a branch without
 * clamping, and nothing is allocated.
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
    let o = offset + v * size;
    for (let u = 0; u < size; u++, o++) {
      const x = xr + u * dxu;
      const y = yr + u * dyu;
      const xf = Math.floor(x);
      const yf = Math.floor(y);
      const fx = x - xf;
      const fy = y - yf;
      let r: number;
      let gr: number;
      let bl: number;
      if (xf >= 0 && yf >= 0 && xf < xLast && yf < yLast) {
        // Interior: all four taps exist.
        const i = yf * rowBytes + xf * 3;
        const j = i + rowBytes;
        let t = src[i] + (src[i + 3] - src[i]) * fx;
        let m = src[j] + (src[j + 3] - src[j]) * fx;
        r = t + (m - t) * fy;
        t = src[i + 1] + (src[i + 4] - src[i + 1]) * fx;
        m = src[j + 1] + (src[j + 4] - src[j + 1]) * fx;
        gr = t + (m - t) * fy;
        t = src[i + 2] + (src[i + 5] - src[i + 2]) * fx;
        m = src[j + 2] + (src[j + 5] - src[j + 2]) * fx;
        bl = t + (m - t) * fy;
      } else if (zero) {
        // Taps outside the image read 0.
        const w00 = (1 - fx) * (1 - fy);
        const w10 = fx * (1 - fy);
        const w01 = (1 - fx) * fy;
        const w11 = fx * fy;
        const x1 = xf + 1;
        const y1 = yf + 1;
        const in0x = xf >= 0 && xf <= xLast;
        const in1x = x1 >= 0 && x1 <= xLast;
        const in0y = yf >= 0 && yf <= yLast;
        const in1y = y1 >= 0 && y1 <= yLast;
        r = 0;
        gr = 0;
        bl = 0;
        if (in0y) {
          const row = yf * rowBytes;
          if (in0x) {
            const k = row + xf * 3;
            r += src[k] * w00;
            gr += src[k + 1] * w00;
            bl += src[k + 2] * w00;
          }
          if (in1x) {
            const k = row + x1 * 3;
            r += src[k] * w10;
            gr += src[k + 1] * w10;
            bl += src[k + 2] * w10;
          }
        }
        if (in1y) {
          const row = y1 * rowBytes;
          if (in0x) {
            const k = row + xf * 3;
            r += src[k] * w01;
            gr += src[k + 1] * w01;
            bl += src[k + 2] * w01;
          }
          if (in1x) {
            const k = row + x1 * 3;
            r += src[k] * w11;
            gr += src[k + 1] * w11;
            bl += src[k + 2] * w11;
          }
        }
      } else {
        // Replicate: clamp each tap's coordinate to the image.
        const xa = xf < 0 ? 0 : xf > xLast ? xLast : xf;
        const xb = xf + 1 < 0 ? 0 : xf + 1 > xLast ? xLast : xf + 1;
        const ya = yf < 0 ? 0 : yf > yLast ? yLast : yf;
        const yb = yf + 1 < 0 ? 0 : yf + 1 > yLast ? yLast : yf + 1;
        const i0 = ya * rowBytes + xa * 3;
        const i1 = ya * rowBytes + xb * 3;
        const j0 = yb * rowBytes + xa * 3;
        const j1 = yb * rowBytes + xb * 3;
        let t = src[i0] + (src[i1] - src[i0]) * fx;
        let m = src[j0] + (src[j1] - src[j0]) * fx;
        r = t + (m - t) * fy;
        t = src[i0 + 1] + (src[i1 + 1] - src[i0 + 1]) * fx;
        m = src[j0 + 1] + (src[j1 + 1] - src[j0 + 1]) * fx;
        gr = t + (m - t) * fy;
        t = src[i0 + 2] + (src[i1 + 2] - src[i0 + 2]) * fx;
        m = src[j0 + 2] + (src[j1 + 2] - src[j0 + 2]) * fx;
        bl = t + (m - t) * fy;
      }
      out[o] = bias + r * scale;
      out[o + plane] = bias + gr * scale;
      out[o + plane2] = bias + bl * scale;
    }
  }
}
