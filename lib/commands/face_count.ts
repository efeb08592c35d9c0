/**
 * How many frames had a face, and what to say when that is few: a video whose faces are small (full body, a
 * room) gives the short-range detector nothing to find, silently, where the full-range model finds them.
 */
import { rowHasFace } from "../rows.js";
import { ROW_DIM } from "../types.js";

/** Below this share of frames with a face, a detection run says so. */
export const FEW_FACES_SHARE = 0.5;

/** Counts the rows (`dim` values each: 937, or 957 with refine_landmarks) with a face as the batches pass through (the batches are yielded unchanged). */
export async function* countingFaces<T extends { rows: Float32Array; count: number }>(
  batches: AsyncIterable<T>,
  tally: { rows: number; faces: number },
  dim = ROW_DIM,
): AsyncGenerator<T> {
  for await (const batch of batches) {
    for (let r = 0; r < batch.count; r++) if (rowHasFace(batch.rows, r * dim, dim)) tally.faces++;
    tally.rows += batch.count;
    yield batch;
  }
}

/**
 * A warning when the detector found a face on fewer than FEW_FACES_SHARE of the frames, or undefined. With the
 * short-range model it suggests the full-range one; with a bbox stream the boxes decided, so there is nothing
 * to suggest about the detector.
 */
export function fewFacesWarning(faces: number, rows: number, detector: "short" | "full" | "bbox"): string | undefined {
  if (rows === 0 || faces >= FEW_FACES_SHARE * rows) return undefined;
  const found = `a face was found on only ${faces} of ${rows} frames`;
  switch (detector) {
    case "short":
      return `${found}: the short-range detector sees faces within about 2 m of the camera; for smaller faces (full body, a room) try --detector full`;
    case "full":
      return `${found} (full-range detector)`;
    case "bbox":
      return `${found}: the bbox stream has no usable box, or the landmark model scored below --min-score-thresh, on the others`;
  }
}
