/**
 * Segments measured against the unsplit run: how the rows at segment boundaries differ (per warm-up length), and
 * that segments side by side give the rows of segments one by one. Used by test/segments.test.ts and by
 *
 *   node dist/bench/segment_rows.js [--seconds 2] [--warmups 0,2,5,10,20] VIDEO[=BBOX_STREAM] ...
 *
 * which prints, per video and mode (bbox mode where a bbox stream is given, video mode always), the frames whose
 * rows differ from the unsplit run's, those beyond 0.5% of the inter-ocular distance (NME), and the largest NME.
 */
import { FaceMesh } from "../lib/pipeline.js";
import { openInputs, predictRows, type PredictSettings } from "../lib/job.js";
import type { Logger } from "../lib/nova/hooks.js";
import type { FaceMeshOptions } from "../lib/nova/options.js";
import { meshDistance } from "../lib/metrics.js";
import { NUM_LANDMARKS, ROW_DIM } from "../lib/types.js";

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const BASE_OPTIONS: FaceMeshOptions = { min_score_thresh: 0.5, batch_size: 50, device: "cpu", no_face: "zeros", tracking: true, smoothing: "none", refine_landmarks: false, segment_seconds: 0 };

/** All rows of a run, concatenated, and the frame size. */
export async function runRows(mesh: FaceMesh, video: string, bbox: string | undefined, options: FaceMeshOptions, extra: Omit<PredictSettings, "options"> = {}): Promise<{ rows: Float32Array; width: number; height: number }> {
  const opened = await openInputs({ video, bbox }, quiet);
  const parts: Float32Array[] = [];
  let expected = 0;
  for await (const b of predictRows(mesh, opened, { options, ...extra }, { logger: quiet })) {
    if (b.firstFrame !== expected) throw new Error(`${video}: a batch starts at frame ${b.firstFrame}, expected ${expected}`);
    expected += b.count;
    parts.push(b.rows.slice(0, b.count * ROW_DIM));
  }
  const rows = new Float32Array(expected * ROW_DIM);
  let at = 0;
  for (const p of parts) {
    rows.set(p, at);
    at += p.length;
  }
  return { rows, width: opened.video.width, height: opened.video.height };
}

function points(rows: Float32Array, frame: number): Float32Array {
  const out = new Float32Array(NUM_LANDMARKS * 3);
  const o = frame * ROW_DIM;
  for (let i = 0; i < NUM_LANDMARKS; i++) {
    out[3 * i] = rows[o + 2 * i + 1]!;
    out[3 * i + 1] = rows[o + 2 * i]!;
  }
  return out;
}

function hasFace(rows: Float32Array, frame: number): boolean {
  const o = frame * ROW_DIM;
  for (let i = 0; i < ROW_DIM - 1; i++) if (rows[o + i] !== 0 && !Number.isNaN(rows[o + i])) return true;
  return false;
}

export interface RowDifference {
  frames: number;
  /** Frames whose rows differ in any value. */
  differing: number;
  /** Frames where one run has a face and the other not. */
  presence: number;
  /** Frames with a face in both whose NME exceeds 0.5%. */
  over: number;
  /** Largest NME (relative to the inter-ocular distance) of the frames with a face in both. */
  maxNme: number;
  /** Frame indices that differ (the first 20). */
  where: number[];
}

/** How `b`'s rows differ from `a`'s (same frame count required). */
export function compareRows(a: Float32Array, b: Float32Array, width: number, height: number): RowDifference {
  if (a.length !== b.length) throw new Error(`row counts differ: ${a.length / ROW_DIM} vs ${b.length / ROW_DIM}`);
  const frames = a.length / ROW_DIM;
  const d: RowDifference = { frames, differing: 0, presence: 0, over: 0, maxNme: 0, where: [] };
  for (let f = 0; f < frames; f++) {
    let same = true;
    for (let i = f * ROW_DIM; i < (f + 1) * ROW_DIM; i++) {
      if (!Object.is(a[i], b[i])) {
        same = false;
        break;
      }
    }
    if (same) continue;
    d.differing++;
    if (d.where.length < 20) d.where.push(f);
    const fa = hasFace(a, f);
    if (fa !== hasFace(b, f)) {
      d.presence++;
      continue;
    }
    if (!fa) continue;
    const nme = meshDistance(points(b, f), points(a, f), width, height).relative;
    d.maxNme = Math.max(d.maxNme, nme);
    if (nme > 0.005) d.over++;
  }
  return d;
}

async function main(argv: string[]): Promise<void> {
  let seconds = 2;
  let warmups = [0, 2, 5, 10, 20];
  const inputs: Array<{ video: string; bbox?: string }> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--seconds") seconds = Number(argv[++i]);
    else if (a === "--warmups") warmups = argv[++i]!.split(",").map(Number);
    else {
      const [video, bbox] = a.split("=");
      inputs.push({ video: video!, bbox });
    }
  }
  const mesh = await FaceMesh.create();
  try {
    for (const { video, bbox } of inputs) {
      for (const bboxMode of bbox ? [true, false] : [false]) {
        const b = bboxMode ? bbox : undefined;
        const whole = await runRows(mesh, video, b, BASE_OPTIONS);
        for (const warmup of warmups) {
          const settings = { segmentWarmup: warmup, parallelSegments: 4, splitVideoMode: true };
          const unchecked = await runRows(mesh, video, b, { ...BASE_OPTIONS, segment_seconds: seconds }, { ...settings, segmentCheck: false });
          const stats = { repairs: 0, repairedFrames: 0 };
          const seg = await runRows(mesh, video, b, { ...BASE_OPTIONS, segment_seconds: seconds }, { ...settings, segmentStats: stats });
          const one = await runRows(mesh, video, b, { ...BASE_OPTIONS, segment_seconds: seconds }, { ...settings, parallelSegments: 1 });
          const sideBySide = compareRows(one.rows, seg.rows, whole.width, whole.height);
          const show = (what: string, d: RowDifference) =>
            `${what}: ${d.differing}/${d.frames} frames differ, ${d.presence} in face presence, ${d.over} over 0.5% NME, max NME ${(d.maxNme * 100).toFixed(3)}% (frames ${d.where.join(",")})`;
          console.log(
            `${video} ${bboxMode ? "bbox" : "video"} mode, ${seconds}-s segments, warm-up ${warmup}: ` +
              `${show("warm-up alone", compareRows(whole.rows, unchecked.rows, whole.width, whole.height))}; ` +
              `${show(`checked (${stats.repairs} repairs, ${stats.repairedFrames} frames)`, compareRows(whole.rows, seg.rows, whole.width, whole.height))}; ` +
              `side by side vs one by one: ${sideBySide.differing} frames differ`,
          );
        }
      }
    }
  } finally {
    await mesh.dispose();
  }
}

if (process.argv[1]?.endsWith("segment_rows.js")) await main(process.argv.slice(2));
