/**
 * The face streams of the blazeface module (discover-modules), which facemesh reads and our `detect` command
 * writes:
 *   bounding box  5 dims: ymin, xmin, ymax, xmax (normalized to frame height/width; may lie outside [0, 1]),
 *                 confidence (0 = no face in this frame). Meta type "feature;face;boundingbox;blazeface".
 *   keypoints    13 dims: right_eye y,x; left_eye y,x; nose y,x; mouth y,x; right_ear y,x; left_ear y,x
 *                 (the subject's right/left), confidence. Meta type "feature;face;landmarks;blazeface".
 * Both: FLOAT, one row per decoded video frame, sr = the video's frame rate, meta size = "W:H".
 */
import type { Detection } from "../types.js";
import { readSsiStream, SsiStreamWriter, type SsiFileType, type SsiHeader, type SsiStream } from "./stream.js";

export const BBOX_DIM = 5;
export const KEYPOINT_DIM = 13;
export const BBOX_MEDIA_TYPE = "feature;face;boundingbox;blazeface";
export const KEYPOINT_MEDIA_TYPE = "feature;face;landmarks;blazeface";
/** What an input must be a kind of (the trainer's io specific part); the module-specific suffix may vary. */
const BBOX_TYPE_PREFIX = "feature;face;boundingbox";
const KEYPOINT_TYPE_PREFIX = "feature;face;landmarks";

/** Column indices of a bbox row. */
export const BBOX = { ymin: 0, xmin: 1, ymax: 2, xmax: 3, conf: 4 } as const;
/** Column indices of a keypoint row (the eyes, which give a ROI its rotation, and the confidence). */
export const KEYPOINT = { rightEyeY: 0, rightEyeX: 1, leftEyeY: 2, leftEyeX: 3, conf: 12 } as const;

export interface FaceStream {
  path: string;
  header: SsiHeader;
  sr: number;
  rows: number;
  dim: number;
  /** rows * dim values. Float32 because that is what blazeface writes; a DOUBLE stream is narrowed (its values are normalized coordinates, far inside float32's precision). */
  data: Float32Array;
  /** From meta size="W:H", when present and well-formed. */
  size?: { width: number; height: number };
}

/** Reads a blazeface bounding-box stream (5 dims). */
export function readBboxStream(file: string): Promise<FaceStream> {
  return readFaceStream(file, BBOX_DIM, BBOX_TYPE_PREFIX, "bounding-box");
}

/** Reads a blazeface keypoint stream (13 dims). */
export function readKeypointStream(file: string): Promise<FaceStream> {
  return readFaceStream(file, KEYPOINT_DIM, KEYPOINT_TYPE_PREFIX, "face keypoint");
}

async function readFaceStream(file: string, dim: number, typePrefix: string, what: string): Promise<FaceStream> {
  const stream: SsiStream = await readSsiStream(file);
  const { header } = stream;
  const mediaType = header.meta.type;
  // A stream without a media type is accepted on its dim alone (hand-made or older files have no <meta>).
  if (mediaType !== undefined && !isKindOf(mediaType, typePrefix)) {
    throw new Error(`${stream.path}: not a ${what} stream: its meta type is "${mediaType}", expected "${typePrefix}[;...]"`);
  }
  if (header.dim !== dim) {
    throw new Error(`${stream.path}: a ${what} stream has ${dim} dims per frame, this one has dim=${header.dim}`);
  }
  if (header.type !== "FLOAT" && header.type !== "DOUBLE") {
    throw new Error(`${stream.path}: a ${what} stream holds FLOAT values, this one holds ${header.type}`);
  }
  const data = stream.data instanceof Float32Array ? stream.data : Float32Array.from(stream.data as Float64Array);
  const result: FaceStream = { path: stream.path, header, sr: header.sr, rows: stream.rows, dim, data };
  const size = parseSize(header.meta.size);
  if (size) result.size = size;
  return result;
}

/** "feature;face;boundingbox;blazeface" is a kind of "feature;face;boundingbox"; compared per ';' part, case-insensitively. */
function isKindOf(mediaType: string, prefix: string): boolean {
  const have = mediaType.toLowerCase().split(";").map((s) => s.trim());
  const want = prefix.toLowerCase().split(";");
  return want.every((part, i) => have[i] === part);
}

/** Parses meta size "W:H" (pixels). */
export function parseSize(text: string | undefined): { width: number; height: number } | undefined {
  const m = text === undefined ? null : /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const width = Number(m[1]);
  const height = Number(m[2]);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Classification

/**
 * What a bbox row tells the pipeline:
 *   "ok"       a usable face box: finite, confidence in (0, 1], ymin < ymax and xmin < xmax, at least part of it
 *              inside the frame. The module crops it and writes the landmarks with the model's score (rows whose
 *              score is not above min_score_thresh are written like "no_face").
 *   "no_face"  the detector found no face in this frame: confidence 0. Blazeface writes the previous box with
 *              confidence 0 (repeat_last), [0,0,1,1,0] before the first face, or all zeros.
 *   "invalid"  a row no crop can come from: a NaN/Inf value, confidence outside [0, 1], an inverted or degenerate
 *              box (zero width or height; less than one pixel when the frame size is given), or a box entirely
 *              outside the frame. (A conf-0 row is "no_face" whatever its box holds, unless a value is NaN/Inf.)
 * For "no_face" and "invalid" the module writes score 0 and no landmarks (zeros or NaN, option no_face),
 * unless tracking from the previous frame's landmarks can continue: that decision is the pipeline's.
 * The confidence threshold is not applied here (a low-confidence box is still "ok"): it is the pipeline's too.
 */
export type BoxClass = "ok" | "no_face" | "invalid";

export function classifyBox(row: ArrayLike<number>, frame?: { width: number; height: number }): BoxClass {
  if (row.length < BBOX_DIM) return "invalid";
  const ymin = row[0], xmin = row[1], ymax = row[2], xmax = row[3], conf = row[4];
  if (![ymin, xmin, ymax, xmax, conf].every(Number.isFinite)) return "invalid";
  if (conf < 0 || conf > 1) return "invalid";
  if (conf === 0) return "no_face";
  const height = ymax - ymin;
  const width = xmax - xmin;
  if (!(height > 0) || !(width > 0)) return "invalid"; // inverted or degenerate (all zeros included)
  if (frame && (width * frame.width < 1 || height * frame.height < 1)) return "invalid";
  if (xmax <= 0 || xmin >= 1 || ymax <= 0 || ymin >= 1) return "invalid"; // entirely outside the frame
  return "ok";
}

// ---------------------------------------------------------------------------------------------------------------
// Writing (the `detect` command's output, in blazeface's exact layout)

export interface FaceStreamWriteOptions {
  /** The video's frame rate. */
  sr: number;
  /** Frame size in pixels: meta size="W:H". */
  width: number;
  height: number;
  ftype?: SsiFileType;
}

function faceMeta(file: string, type: string, o: FaceStreamWriteOptions): Record<string, string> {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1) {
    throw new Error(`${file}: frame size ${o.width}x${o.height} must be positive integers`);
  }
  return { type, size: `${o.width}:${o.height}` };
}

/** A writer for blazeface's bbox stream: append 5 values per frame (see detectionToBboxRow). */
export async function createBboxStreamWriter(file: string, o: FaceStreamWriteOptions): Promise<SsiStreamWriter> {
  return SsiStreamWriter.create(file, { sr: o.sr, dim: BBOX_DIM, type: "FLOAT", ftype: o.ftype ?? "BINARY", meta: faceMeta(file, BBOX_MEDIA_TYPE, o) });
}

/** A writer for blazeface's keypoint stream: append 13 values per frame (see detectionToKeypointRow). */
export async function createKeypointStreamWriter(file: string, o: FaceStreamWriteOptions): Promise<SsiStreamWriter> {
  return SsiStreamWriter.create(file, { sr: o.sr, dim: KEYPOINT_DIM, type: "FLOAT", ftype: o.ftype ?? "BINARY", meta: faceMeta(file, KEYPOINT_MEDIA_TYPE, o) });
}

/** A detection (normalized xmin/ymin/width/height) as a bbox row [ymin, xmin, ymax, xmax, score]. */
export function detectionToBboxRow(d: Detection, out = new Float32Array(BBOX_DIM), offset = 0): Float32Array {
  out[offset] = d.ymin;
  out[offset + 1] = d.xmin;
  out[offset + 2] = d.ymin + d.height;
  out[offset + 3] = d.xmin + d.width;
  out[offset + 4] = d.score;
  return out;
}

/**
 * A detection's 6 keypoints ([x, y] each, in Detection's order: right eye, left eye, nose, mouth, right ear,
 * left ear) as a keypoint row: y, x per point, then the score.
 */
export function detectionToKeypointRow(d: Detection, out = new Float32Array(KEYPOINT_DIM), offset = 0): Float32Array {
  if (d.keypoints.length < 6) throw new Error(`a detection has ${d.keypoints.length} keypoints, the keypoint stream needs 6`);
  for (let k = 0; k < 6; k++) {
    out[offset + 2 * k] = d.keypoints[k][1];
    out[offset + 2 * k + 1] = d.keypoints[k][0];
  }
  out[offset + 12] = d.score;
  return out;
}

/**
 * The row blazeface writes for a frame without a face: the previous row with confidence 0 (its repeat_last
 * default), or [0,0,1,1,0] / all zeros before any face was seen. Works for both layouts (confidence is last).
 */
export function noFaceRow(previous: ArrayLike<number> | null, dim: number = BBOX_DIM, out = new Float32Array(dim), offset = 0): Float32Array {
  if (previous) {
    for (let j = 0; j < dim - 1; j++) out[offset + j] = previous[j];
  } else if (dim === BBOX_DIM) {
    out.set([0, 0, 1, 1], offset);
  } else {
    out.fill(0, offset, offset + dim - 1);
  }
  out[offset + dim - 1] = 0;
  return out;
}
