/**
 * `facemesh detect`: BlazeFace on every frame, written in the blazeface module's exact layout, so that our
 * output can feed this module (and any other NOVA module that reads face boxes).
 * Per frame: the most confident face's box as [ymin, xmin, ymax, xmax, conf], squared in pixels around the
 * detection's centre (blazeface's default); a frame without a face repeats the previous box with conf 0, or
 * [0,0,1,1,0] before the first face (blazeface's repeat-last convention).
 */
import path from "node:path";
import type { HookContext } from "../nova/hooks.js";
import type { Detection, RgbImage } from "../types.js";
import type { Device } from "../inference/session.js";
import { FaceMesh } from "../pipeline.js";
import { probeVideo } from "../video/probe.js";
import { decodeFrames } from "../video/decode.js";
import { BBOX_DIM, KEYPOINT_DIM, createBboxStreamWriter, createKeypointStreamWriter, detectionToBboxRow, detectionToKeypointRow, noFaceRow } from "../ssi/bbox.js";
import type { SsiStreamWriter } from "../ssi/stream.js";
import type { MediaTools } from "../job.js";
import { MAX_BATCH_SIZE } from "../nova/options.js";
import { assertOutputsDistinct } from "../output_guard.js";

export interface DetectSettings {
  input: string;
  out: string;
  keypointsOut?: string;
  detector: "short" | "full";
  batchSize: number;
  devices: Device[];
  tools: MediaTools;
  context: HookContext;
}

/** The detection's box made square in pixels around its centre (side = the longer side). */
export function squareInPixels(d: Detection, width: number, height: number): Detection {
  const side = Math.max(d.width * width, d.height * height);
  const cx = d.xmin + d.width / 2;
  const cy = d.ymin + d.height / 2;
  return { ...d, xmin: cx - side / width / 2, ymin: cy - side / height / 2, width: side / width, height: side / height };
}

export async function detectToStreams(s: DetectSettings): Promise<{ rows: number; faces: number }> {
  if (!Number.isInteger(s.batchSize) || s.batchSize < 1 || s.batchSize > MAX_BATCH_SIZE) {
    throw new Error(`--batch-size ${s.batchSize}: must be a whole number from 1 to ${MAX_BATCH_SIZE}`);
  }
  assertOutputsDistinct({ input: s.input }, { "--out": s.out, "--keypoints-out": s.keypointsOut });
  const video = await probeVideo(s.input, { ffprobe: s.tools.ffprobe });
  const mesh = await FaceMesh.create({ devices: s.devices, detector: s.detector, onFallback: (m) => s.context.logger.warn(m) });
  const sr = video.isImage ? 1 : video.fps;
  const writers: SsiStreamWriter[] = [];
  try {
    const boxes = await createBboxStreamWriter(path.resolve(s.out), { sr, width: video.width, height: video.height });
    writers.push(boxes);
    const keypoints = s.keypointsOut ? await createKeypointStreamWriter(path.resolve(s.keypointsOut), { sr, width: video.width, height: video.height }) : null;
    if (keypoints) writers.push(keypoints);
    let prevBox: Float32Array | null = null;
    let prevKp: Float32Array | null = null;
    let rows = 0;
    let faces = 0;
    const flush = async (batch: RgbImage[]) => {
      const found = await mesh.detect(batch);
      const boxRows = new Float32Array(batch.length * BBOX_DIM);
      const kpRows = new Float32Array(batch.length * KEYPOINT_DIM);
      found.forEach((dets, i) => {
        if (dets.length > 0) {
          faces++;
          prevBox = detectionToBboxRow(squareInPixels(dets[0], batch[i].width, batch[i].height), boxRows, i * BBOX_DIM).subarray(i * BBOX_DIM, (i + 1) * BBOX_DIM);
          prevKp = detectionToKeypointRow(dets[0], kpRows, i * KEYPOINT_DIM).subarray(i * KEYPOINT_DIM, (i + 1) * KEYPOINT_DIM);
        } else {
          prevBox = noFaceRow(prevBox, BBOX_DIM, boxRows, i * BBOX_DIM).subarray(i * BBOX_DIM, (i + 1) * BBOX_DIM);
          prevKp = noFaceRow(prevKp, KEYPOINT_DIM, kpRows, i * KEYPOINT_DIM).subarray(i * KEYPOINT_DIM, (i + 1) * KEYPOINT_DIM);
        }
      });
      await boxes.append(boxRows);
      if (keypoints) await keypoints.append(kpRows);
      rows += batch.length;
      s.context.progress?.(rows, video.frameCount);
    };
    let batch: RgbImage[] = [];
    for await (const frame of decodeFrames(video.path, video, { ffmpeg: s.tools.ffmpeg, signal: s.context.signal })) {
      batch.push(frame);
      if (batch.length === s.batchSize) {
        await flush(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await flush(batch);
    // Commit both only when both are complete.
    for (const w of writers) await w.commit();
    return { rows, faces };
  } catch (err) {
    for (const w of writers) await w.abort().catch(() => undefined);
    throw err;
  } finally {
    await mesh.dispose();
  }
}
