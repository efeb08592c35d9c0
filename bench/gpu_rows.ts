/**
 * Compares two facemesh output streams of the same video row by row (bench/gpu.sh: a GPU run against the CPU
 * run on the GPU machine):
 *
 *   node dist/bench/gpu_rows.js REFERENCE.stream OTHER.stream WIDTH HEIGHT
 *
 * Rows are 468 (y, x) pairs normalized to the frame, then the face score (README: output stream). Prints one
 * JSON object: rows, rows where exactly one of the two has landmarks (lib/rows.ts rowHasFace), and over rows
 * where both did, the largest and mean landmark distance in frame pixels and the largest score difference.
 */
import { rowHasFace } from "../lib/rows.js";
import { readSsiStream, type SsiStream } from "../lib/ssi/stream.js";
import { NUM_LANDMARKS, ROW_DIM } from "../lib/types.js";

async function main(): Promise<void> {
  const [refPath, otherPath, w, h] = process.argv.slice(2);
  const width = Number(w);
  const height = Number(h);
  if (!refPath || !otherPath || !(width > 0) || !(height > 0)) throw new Error("usage: gpu_rows.js REFERENCE.stream OTHER.stream WIDTH HEIGHT");
  const [ref, other] = await Promise.all([readSsiStream(refPath), readSsiStream(otherPath)]);
  for (const s of [ref, other]) if (s.dim !== ROW_DIM) throw new Error(`${s.path}: ${s.dim} values per row, expected ${ROW_DIM}`);
  if (ref.rows !== other.rows) throw new Error(`${refPath} has ${ref.rows} rows, ${otherPath} ${other.rows}`);
  const floats = (st: SsiStream): Float32Array => {
    if (!(st.data instanceof Float32Array)) throw new Error(`${st.path}: expected FLOAT values (facemesh's output)`);
    return st.data;
  };
  const a = floats(ref);
  const b = floats(other);
  let both = 0;
  let disagree = 0;
  let maxPx = 0;
  let sumPx = 0;
  let maxScore = 0;
  for (let r = 0; r < ref.rows; r++) {
    const o = r * ROW_DIM;
    const faceA = rowHasFace(a, o);
    const faceB = rowHasFace(b, o);
    if (faceA !== faceB) {
      disagree++;
      continue;
    }
    if (!faceA) continue;
    both++;
    maxScore = Math.max(maxScore, Math.abs(a[o + ROW_DIM - 1] - b[o + ROW_DIM - 1]));
    for (let p = 0; p < NUM_LANDMARKS; p++) {
      const dy = (a[o + 2 * p] - b[o + 2 * p]) * height;
      const dx = (a[o + 2 * p + 1] - b[o + 2 * p + 1]) * width;
      const d = Math.hypot(dx, dy);
      maxPx = Math.max(maxPx, d);
      sumPx += d;
    }
  }
  console.log(JSON.stringify({ rows: ref.rows, bothFace: both, faceDisagree: disagree, maxPx, meanPx: both ? sumPx / (both * NUM_LANDMARKS) : null, maxScoreDiff: maxScore }));
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ error: (e as Error).message }));
  process.exit(1);
});
