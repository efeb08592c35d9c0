/**
 * Compares two facemesh output streams of the same video row by row (bench/gpu.sh: a GPU run against the CPU
 * run on the GPU machine):
 *
 *   node dist/bench/gpu_rows.js REFERENCE.stream OTHER.stream WIDTH HEIGHT
 *
 * Rows are 468 (y, x) pairs normalized to the frame, then the face score (README: output stream). Prints one
 * JSON object: rows, rows where exactly one of the two found a face (score column 0 against not), and over rows
 * where both did, the largest and mean landmark distance in frame pixels and the largest score difference.
 */
import { readSsiStream } from "../lib/ssi/stream.js";

const LANDMARKS = 468;
const DIM = 2 * LANDMARKS + 1;

async function main(): Promise<void> {
  const [refPath, otherPath, w, h] = process.argv.slice(2);
  const width = Number(w);
  const height = Number(h);
  if (!refPath || !otherPath || !(width > 0) || !(height > 0)) throw new Error("usage: gpu_rows.js REFERENCE.stream OTHER.stream WIDTH HEIGHT");
  const [ref, other] = await Promise.all([readSsiStream(refPath), readSsiStream(otherPath)]);
  for (const s of [ref, other]) if (s.dim !== DIM) throw new Error(`${s.path}: ${s.dim} values per row, expected ${DIM}`);
  if (ref.rows !== other.rows) throw new Error(`${refPath} has ${ref.rows} rows, ${otherPath} ${other.rows}`);
  let both = 0;
  let disagree = 0;
  let maxPx = 0;
  let sumPx = 0;
  let maxScore = 0;
  for (let r = 0; r < ref.rows; r++) {
    const o = r * DIM;
    const a = Number(ref.data[o + DIM - 1]);
    const b = Number(other.data[o + DIM - 1]);
    // A row without a face has all-zero (or NaN) landmarks; a face row has non-zero ones.
    const faceA = Number(ref.data[o]) !== 0 && !Number.isNaN(Number(ref.data[o]));
    const faceB = Number(other.data[o]) !== 0 && !Number.isNaN(Number(other.data[o]));
    if (faceA !== faceB) {
      disagree++;
      continue;
    }
    if (!faceA) continue;
    both++;
    maxScore = Math.max(maxScore, Math.abs(a - b));
    for (let p = 0; p < LANDMARKS; p++) {
      const dy = (Number(ref.data[o + 2 * p]) - Number(other.data[o + 2 * p])) * height;
      const dx = (Number(ref.data[o + 2 * p + 1]) - Number(other.data[o + 2 * p + 1])) * width;
      const d = Math.hypot(dx, dy);
      maxPx = Math.max(maxPx, d);
      sumPx += d;
    }
  }
  console.log(JSON.stringify({ rows: ref.rows, bothFace: both, faceDisagree: disagree, maxPx, meanPx: both ? sumPx / (both * LANDMARKS) : null, maxScoreDiff: maxScore }));
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ error: (e as Error).message }));
  process.exit(1);
});
