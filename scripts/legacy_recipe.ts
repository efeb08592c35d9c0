/**
 * The original Python facemesh module's recipe (discover-modules, see ../shared/docs/NOVA.md §3), rebuilt as a
 * baseline for parity.ts, on our converted models/face_landmark.onnx (same weights), so that the numbers say how
 * far the old recipe is from MediaPipe and from ground truth, and how much the MediaPipe-faithful pipeline gains.
 *
 * Reproduced as the original does it, defects included:
 * - the bbox row [ymin, xmin, ymax, xmax] (normalized) times [H, W, H, W], truncated to int (toward zero);
 * - the crop zero-padded where the box leaves the image; an overflow past the right edge is padded at the
 *   *bottom* (and then replaces any bottom overflow), so such crops are distorted;
 * - the crop stretched (not letterboxed) to 192x192 with OpenCV's default bilinear resize;
 * - pixels normalized as v/127 - 1, i.e. to [-1, 1.008], although the model was trained on [0, 1];
 * - no enlargement of the box (MediaPipe crops 1.5x the detection) and no rotation;
 * - landmarks mapped back with the truncated, unclamped box; confidence = clip(raw face flag / 100, 0, 1)
 *   (the flag is a logit; the original never applies a sigmoid and gates nothing on it).
 * Not reproduced: the original ran a PyTorch port whose first convolution pads top/left by reflection where
 * TFLite pads bottom/right with zeros; we run the converted TFLite graph instead.
 */
import path from "node:path";
import * as ort from "onnxruntime-node";
import type { Detection, RgbImage } from "../lib/types.js";
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS } from "../lib/types.js";
import { PROJECT_ROOT } from "./mediapipe_reference.js";

/** A NOVA bbox row without its confidence: normalized ymin, xmin, ymax, xmax. */
export type NovaBox = readonly [number, number, number, number];

/**
 * What the blazeface module's stream would hold for a MediaPipe detection: the detection's box made square in
 * pixels around its centre (side = the longer side in pixels), normalized to the image.
 */
export function novaBoxFromDetection(d: Detection, width: number, height: number): NovaBox {
  const cx = (d.xmin + d.width / 2) * width;
  const cy = (d.ymin + d.height / 2) * height;
  const side = Math.max(d.width * width, d.height * height);
  return [(cy - side / 2) / height, (cx - side / 2) / width, (cy + side / 2) / height, (cx + side / 2) / width];
}

/** The box in pixels as the original computes it: times [H, W, H, W], truncated toward zero (numpy astype(int32)). */
export function legacyPixelBox(box: NovaBox, width: number, height: number): [number, number, number, number] {
  return [Math.trunc(box[0] * height), Math.trunc(box[1] * width), Math.trunc(box[2] * height), Math.trunc(box[3] * width)];
}

/** An 8-bit RGB image from a sub-rectangle of `img`, zero-padded by the given amounts (the original's crop + np.pad). */
function cropAndPad(img: RgbImage, y0: number, x0: number, y1: number, x1: number, padTop: number, padBottom: number, padLeft: number, padRight: number): RgbImage {
  const cw = x1 - x0;
  const ch = y1 - y0;
  const width = cw + padLeft + padRight;
  const height = ch + padTop + padBottom;
  const data = new Uint8Array(Math.max(0, width * height * 3));
  for (let y = 0; y < ch; y++) {
    const src = ((y0 + y) * img.width + x0) * 3;
    data.set(img.data.subarray(src, src + cw * 3), ((padTop + y) * width + padLeft) * 3);
  }
  return { width, height, data };
}

/**
 * The original's crop_and_resize: the truncated box, clamped to the image with zero padding for the part
 * outside (right-edge overflow padded at the bottom, as the original does), then resized to size x size.
 */
export function legacyCrop(img: RgbImage, box: NovaBox, size = LANDMARK_INPUT_SIZE): Uint8Array {
  let [y0, x0, y1, x1] = legacyPixelBox(box, img.width, img.height);
  let padTop = 0;
  let padLeft = 0;
  let padBottom = 0;
  const padRight = 0; // never set by the original: see below
  if (y0 < 0) {
    padTop = -y0;
    y0 = 0;
  }
  if (x0 < 0) {
    padLeft = -x0;
    x0 = 0;
  }
  if (y1 > img.height) {
    padBottom = y1 - img.height;
    y1 = img.height;
  }
  if (x1 > img.width) {
    // The original's defect: the right-edge overflow goes to the bottom padding, overwriting a bottom overflow.
    padBottom = x1 - img.width;
    x1 = img.width;
  }
  // numpy slicing of an inverted or empty range yields an empty crop, which cv2.resize rejects.
  if (x1 <= x0 || y1 <= y0) throw new Error(`legacy recipe: empty crop for box ${JSON.stringify(box)} on a ${img.width}x${img.height} image`);
  return resizeBilinearCv(cropAndPad(img, y0, x0, y1, x1, padTop, padBottom, padLeft, padRight), size, size);
}

/**
 * cv2.resize(..., INTER_LINEAR) on 8-bit RGB: source coordinate (d + 0.5) * scale - 0.5, clamped to the edge
 * pixels, in OpenCV's fixed-point arithmetic for 8-bit images: weights rounded to 1/2048 (11 bits), a horizontal
 * pass in integers, then the vertical pass as its SIMD code computes it (each row sum shifted right by 4, times
 * the weight, shifted right by 16, summed, + 2, shifted right by 2). Checked against opencv-python 5.0 on random
 * 8-bit images (up- and downscaling to 192x192): identical except for up to 1 level on some pixels of the rows
 * that sample a single source row (the first and last), about 0.2% of values.
 */
export function resizeBilinearCv(src: RgbImage, outWidth: number, outHeight: number): Uint8Array {
  const taps = (outSize: number, inSize: number): { i0: Int32Array; i1: Int32Array; w1: Int32Array } => {
    const scale = inSize / outSize;
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const w1 = new Int32Array(outSize);
    for (let d = 0; d < outSize; d++) {
      const f = (d + 0.5) * scale - 0.5;
      let s = Math.floor(f);
      let frac = f - s;
      if (s < 0) {
        s = 0;
        frac = 0;
      }
      if (s >= inSize - 1) {
        s = inSize - 1;
        frac = 0;
      }
      i0[d] = s;
      i1[d] = Math.min(s + 1, inSize - 1);
      w1[d] = Math.round(frac * 2048);
    }
    return { i0, i1, w1 };
  };
  const xs = taps(outWidth, src.width);
  const ys = taps(outHeight, src.height);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const s = src.data;
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.i0[y] * src.width * 3;
    const r1 = ys.i1[y] * src.width * 3;
    const wy = ys.w1[y];
    for (let x = 0; x < outWidth; x++) {
      const c0 = xs.i0[x] * 3;
      const c1 = xs.i1[x] * 3;
      const wx = xs.w1[x];
      for (let c = 0; c < 3; c++) {
        const top = s[r0 + c0 + c] * (2048 - wx) + s[r0 + c1 + c] * wx;
        const bottom = s[r1 + c0 + c] * (2048 - wx) + s[r1 + c1 + c] * wx;
        const v = (((2048 - wy) * (top >> 4)) >> 16) + ((wy * (bottom >> 4)) >> 16);
        out[(y * outWidth + x) * 3 + c] = Math.min(255, (v + 2) >> 2);
      }
    }
  }
  return out;
}

export interface LegacyResult {
  /** 468 x, y, z; x, y normalized to the image (z: crop-relative depth scaled like x; the original drops it). */
  points: Float32Array;
  /** The original's confidence: clip(raw / 100, 0, 1). */
  conf: number;
  /** The raw face-flag value (a logit). */
  rawFlag: number;
}

export class LegacyRecipe {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(modelFile = path.join(PROJECT_ROOT, "models/face_landmark.onnx")): Promise<LegacyRecipe> {
    try {
      return new LegacyRecipe(await ort.InferenceSession.create(modelFile, { intraOpNumThreads: 1 }));
    } catch (e) {
      throw new Error(`${modelFile}: cannot load the landmark model for the legacy recipe (${e instanceof Error ? e.message : e}); build the models first`);
    }
  }

  /** The original recipe on one frame and one NOVA bbox row. */
  async run(img: RgbImage, box: NovaBox): Promise<LegacyResult> {
    const size = LANDMARK_INPUT_SIZE;
    const crop = legacyCrop(img, box, size);
    // v/127 - 1 (the defect: the model wants v/255), NHWC -> NCHW.
    const plane = size * size;
    const input = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) input[c * plane + i] = crop[i * 3 + c] / 127 - 1;
    }
    const out = await this.session.run({ input: new ort.Tensor("float32", input, [1, 3, size, size]) });
    const lm = out.landmarks.data as Float32Array;
    const rawFlag = (out.face_flag.data as Float32Array)[0];
    const [y0, x0, y1, x1] = legacyPixelBox(box, img.width, img.height);
    const bw = x1 - x0;
    const bh = y1 - y0;
    const points = new Float32Array(NUM_LANDMARKS * 3);
    for (let i = 0; i < NUM_LANDMARKS; i++) {
      points[3 * i] = ((lm[3 * i] / size) * bw + x0) / img.width;
      points[3 * i + 1] = ((lm[3 * i + 1] / size) * bh + y0) / img.height;
      points[3 * i + 2] = ((lm[3 * i + 2] / size) * bw) / img.width;
    }
    return { points, conf: Math.min(1, Math.max(0, rawFlag / 100)), rawFlag };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
