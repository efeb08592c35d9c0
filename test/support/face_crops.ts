/**
 * Model inputs built from the real face images in ../shared/data, for tests that feed the same pixels to two
 * runtimes. Deliberately independent of lib/calculators: these tensors only need to be realistic and identical on
 * both sides, and a bug shared with the pipeline's own preprocessing must not hide behind them.
 *
 * Images are decoded with the ffmpeg binary from @ffmpeg-installer/ffmpeg into 8-bit RGB (a PPM on stdout, whose
 * header carries the size). Sampling is bilinear at pixel centres, in float64, then stored as float32.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import ffmpeg from "@ffmpeg-installer/ffmpeg";

const execFileAsync = promisify(execFile);

/** A decoded image: rgb24, row-major, no padding. */
export interface RgbImage {
  file: string;
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Parses a binary PPM (P6, maxval 255) as ffmpeg writes it. */
export function parsePpm(bytes: Uint8Array, file: string): RgbImage {
  // Header: "P6" whitespace width whitespace height whitespace maxval, then exactly one whitespace byte.
  const fields: string[] = [];
  let pos = 0;
  while (fields.length < 4) {
    while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]))) pos++;
    if (bytes[pos] === 0x23) {
      while (pos < bytes.length && bytes[pos] !== 0x0a) pos++; // "#" comment to end of line
      continue;
    }
    const start = pos;
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]))) pos++;
    if (pos === start) throw new Error(`${file}: ffmpeg output ends inside the PPM header`);
    fields.push(String.fromCharCode(...bytes.subarray(start, pos)));
  }
  pos++;
  const [magic, w, h, maxval] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== "P6" || maxval !== "255" || !(width > 0) || !(height > 0)) {
    throw new Error(`${file}: ffmpeg did not write an 8-bit P6 PPM (header ${fields.join(" ")})`);
  }
  const rgb = bytes.subarray(pos, pos + width * height * 3);
  if (rgb.length !== width * height * 3) {
    throw new Error(`${file}: PPM pixel data has ${rgb.length} bytes, ${width}x${height} RGB needs ${width * height * 3}`);
  }
  return { file, width, height, rgb };
}

/** Decodes the first frame of an image file to rgb24 with ffmpeg. */
export async function decodeImage(file: string): Promise<RgbImage> {
  const args = ["-v", "error", "-i", file, "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "image2pipe", "-c:v", "ppm", "-"];
  let stdout: Buffer;
  try {
    ({ stdout } = await execFileAsync(ffmpeg.path, args, { encoding: "buffer", maxBuffer: 1 << 28 }));
  } catch (e) {
    throw new Error(`${file}: ffmpeg could not decode it: ${(e as Error).message}`);
  }
  return parsePpm(new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.byteLength), file);
}

/** Maps output pixel centre (u + 0.5, v + 0.5) to continuous source coordinates (pixel centres at k + 0.5). */
type PixelMap = (u: number, v: number) => [number, number];

/**
 * Samples a size x size RGB tensor, NHWC, values pixel/255 in [0,1]. "replicate" clamps to the edge pixels (like
 * MediaPipe's ImageToTensorCalculator with BORDER_REPLICATE); "zero" makes points outside the image 0 (letterbox
 * padding).
 */
function sample(img: RgbImage, size: number, map: PixelMap, border: "replicate" | "zero"): Float32Array {
  const out = new Float32Array(size * size * 3);
  const { width: W, height: H, rgb } = img;
  const px = (x: number, y: number, c: number): number => rgb[(y * W + x) * 3 + c];
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const [sx, sy] = map(u + 0.5, v + 0.5);
      const o = (v * size + u) * 3;
      if (border === "zero" && (sx < 0 || sy < 0 || sx > W || sy > H)) continue; // stays 0
      // Continuous coordinate -> index space where pixel k's centre is at k.
      const x = Math.min(Math.max(sx - 0.5, 0), W - 1);
      const y = Math.min(Math.max(sy - 0.5, 0), H - 1);
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const x1 = Math.min(x0 + 1, W - 1);
      const y1 = Math.min(y0 + 1, H - 1);
      const fx = x - x0;
      const fy = y - y0;
      for (let c = 0; c < 3; c++) {
        const top = px(x0, y0, c) * (1 - fx) + px(x1, y0, c) * fx;
        const bottom = px(x0, y1, c) * (1 - fx) + px(x1, y1, c) * fx;
        out[o + c] = (top * (1 - fy) + bottom * fy) / 255;
      }
    }
  }
  return out;
}

/** An axis-aligned square in source pixels. */
export interface SquareRoi {
  cx: number;
  cy: number;
  side: number;
}

/** A square ROI around a set of face points: centred on their bounding box, side = long side x scale. */
export function roiAroundPoints(points: readonly (readonly [number, number])[], scale: number): SquareRoi {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, side: Math.max(x1 - x0, y1 - y0) * scale };
}

/** The landmark model's input: the ROI resampled to size x size, NHWC RGB in [0,1], edges replicated. */
export function cropSquare(img: RgbImage, roi: SquareRoi, size: number): Float32Array {
  const step = roi.side / size;
  const x0 = roi.cx - roi.side / 2;
  const y0 = roi.cy - roi.side / 2;
  return sample(img, size, (u, v) => [x0 + u * step, y0 + v * step], "replicate");
}

/** Where the image landed inside a letterboxed square tensor, in tensor pixels. */
export interface Letterbox {
  scale: number;
  offsetX: number;
  offsetY: number;
}

/** The detectors' input: the whole image scaled to fit size x size, centred, zero border; NHWC RGB in [0,1]. */
export function letterbox(img: RgbImage, size: number): { tensor: Float32Array; box: Letterbox } {
  const scale = size / Math.max(img.width, img.height);
  const offsetX = (size - img.width * scale) / 2;
  const offsetY = (size - img.height * scale) / 2;
  const tensor = sample(img, size, (u, v) => [(u - offsetX) / scale, (v - offsetY) / scale], "zero");
  return { tensor, box: { scale, offsetX, offsetY } };
}

/** [0,1] -> [-1,1] (pixel/127.5 - 1), the BlazeFace detectors' input range. */
export function toSignedUnit(x: Float32Array): Float32Array {
  return x.map((v) => v * 2 - 1);
}

/** Stacks NHWC items (each h x w x c) into one NCHW batch. */
export function nhwcToNchw(items: readonly Float32Array[], h: number, w: number, c: number): Float32Array {
  const plane = h * w;
  const out = new Float32Array(items.length * c * plane);
  items.forEach((item, b) => {
    if (item.length !== plane * c) throw new Error(`item ${b} has ${item.length} floats, expected ${h}x${w}x${c}`);
    for (let i = 0; i < plane; i++) {
      for (let k = 0; k < c; k++) out[(b * c + k) * plane + i] = item[i * c + k];
    }
  });
  return out;
}

/** The 68-point annotations in ../shared/data/gt68.json: {set: {image: [{pts: [[x, y] x 68]}]}} in pixels. */
export type Gt68 = Record<string, Record<string, { pts: [number, number][] }[]>>;

export async function readGt68(dataDir: string): Promise<Gt68> {
  const file = path.join(dataDir, "gt68.json");
  return JSON.parse(await readFile(file, "utf8")) as Gt68;
}

/** One annotated face: the image file (relative to the data dir) and its 68 points. */
export function gt68Face(gt: Gt68, set: string, image: string, face = 0): [number, number][] {
  const pts = gt[set]?.[image]?.[face]?.pts;
  if (!pts || pts.length !== 68) throw new Error(`gt68.json: no 68-point face ${face} for ${set}/${image}`);
  return pts;
}
