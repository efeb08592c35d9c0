/** `facemesh info`: what an SSI stream holds, and for a landmark stream how many frames have a face. */
import { readSsiStream } from "../ssi/stream.js";
import { pointsForRowDim, rowHasFace } from "../rows.js";

export interface StreamDescription {
  path: string;
  ftype: string;
  type: string;
  dim: number;
  /** Rows per second. */
  sr: number;
  rows: number;
  /** rows / sr, in seconds, rounded to the millisecond. */
  durationSec: number;
  meta: Record<string, string>;
  /** Landmark streams (937 dims, or 957 with refine_landmarks) only: frames whose landmarks are set (score above the threshold used by run). */
  framesWithFace?: number;
  /** Landmark streams only: the face score's mean and lowest value over the frames with a face (absent without one). */
  meanScore?: number;
  minScore?: number;
}

export async function describeStream(file: string): Promise<StreamDescription> {
  const s = await readSsiStream(file);
  const h = s.header;
  const d: StreamDescription = { path: s.path, ftype: h.ftype, type: h.type, dim: h.dim, sr: h.sr, rows: s.rows, durationSec: roundTo(s.rows / h.sr, 3), meta: h.meta };
  const dim = h.dim;
  if (pointsForRowDim(dim) !== null && (s.data instanceof Float32Array || s.data instanceof Float64Array)) {
    let faces = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let r = 0; r < s.rows; r++) {
      if (!rowHasFace(s.data, r * dim, dim)) continue;
      const score = s.data[r * dim + dim - 1];
      faces++;
      sum += score;
      min = Math.min(min, score);
    }
    d.framesWithFace = faces;
    if (faces > 0) {
      d.meanScore = roundTo(sum / faces, 4);
      d.minScore = roundTo(min, 4);
    }
  }
  return d;
}

function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What each figure of the text form means, printed beside it. */
const EXPLAIN: Partial<Record<keyof StreamDescription, string>> = {
  sr: "rows per second",
  durationSec: "seconds: rows / sr",
  framesWithFace: "rows with landmarks: face score above the threshold run used",
  meanScore: "mean face score over the rows with a face",
  minScore: "lowest face score over the rows with a face",
};

/** The text form: one figure a line, `name value  (what it means)`. */
export function formatDescription(info: StreamDescription): string {
  return Object.entries(info)
    .map(([k, v]) => {
      const value = typeof v === "object" ? JSON.stringify(v) : String(v);
      const note = EXPLAIN[k as keyof StreamDescription];
      return note ? `${k.padEnd(14)} ${value.padEnd(10)} (${note})` : `${k.padEnd(14)} ${value}`;
    })
    .join("\n");
}
