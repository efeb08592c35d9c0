/** `facemesh info`: what an SSI stream holds, and for a landmark stream how many frames have a face. */
import { readSsiStream } from "../ssi/stream.js";
import { pointsForRowDim } from "../rows.js";

export interface StreamDescription {
  path: string;
  ftype: string;
  type: string;
  dim: number;
  sr: number;
  rows: number;
  durationSec: number;
  meta: Record<string, string>;
  /** Landmark streams (937 dims, or 957 with refine_landmarks) only: frames whose landmarks are set (score above the threshold used by run). */
  framesWithFace?: number;
  meanScore?: number;
}

export async function describeStream(file: string): Promise<StreamDescription> {
  const s = await readSsiStream(file);
  const h = s.header;
  const d: StreamDescription = { path: s.path, ftype: h.ftype, type: h.type, dim: h.dim, sr: h.sr, rows: s.rows, durationSec: s.rows / h.sr, meta: h.meta };
  const dim = h.dim;
  if (pointsForRowDim(dim) !== null && (s.data instanceof Float32Array || s.data instanceof Float64Array)) {
    let faces = 0;
    let scores = 0;
    for (let r = 0; r < s.rows; r++) {
      const score = s.data[r * dim + dim - 1];
      scores += Number.isFinite(score) ? score : 0;
      const x0 = s.data[r * dim + 1];
      if (Number.isFinite(x0) && !(x0 === 0 && s.data[r * dim] === 0)) faces++;
    }
    d.framesWithFace = faces;
    d.meanScore = s.rows > 0 ? scores / s.rows : 0;
  }
  return d;
}
