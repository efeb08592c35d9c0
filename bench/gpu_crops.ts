/**
 * Real face crops for bench/gpu.sh's parity check, made here (the GPU machine has no ffmpeg and no shared data):
 * frames of a few videos, the face found by our detector, cropped exactly as the pipeline crops a detection ROI,
 * stored as 8-bit planar RGB (the GPU and CPU runs then read identical inputs).
 *
 *   node dist/bench/gpu_crops.js OUTDIR [--per-video 16]
 *
 * Writes OUTDIR/crops.u8 (N x 3 x 192 x 192 bytes) and OUTDIR/crops.json ({count, sides, sources}).
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic_file.js";
import { parseArgs } from "node:util";
import { FaceMesh } from "../lib/pipeline.js";
import { imageToTensor } from "../lib/calculators/image_to_tensor.js";
import { roiFromDetection } from "../lib/calculators/detection_to_roi.js";
import { decodeFrames } from "../lib/video/decode.js";
import { probeVideo } from "../lib/video/probe.js";
import { projectRoot } from "../lib/convert/models.js";
import type { RgbImage } from "../lib/types.js";
import { generatedVideos, sharedVideos } from "./media.js";
import type { CropSet } from "./gpu_check.js";

const SIZE = 192;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { "per-video": { type: "string", default: "16" } } });
  const out = positionals[0];
  if (!out) throw new Error("usage: gpu_crops.js OUTDIR [--per-video 16]");
  const perVideo = Number(values["per-video"]);
  const root = projectRoot();
  const shared = sharedVideos(path.resolve(root, "../shared/data")).slice(0, 4);
  const videos = shared.length > 0 ? shared : [(await generatedVideos(path.join(root, ".cache/bench"), false, (m) => console.error(m))).clip512];
  const mesh = await FaceMesh.create({ devices: ["cpu"] });
  const crops: Uint8Array[] = [];
  const set: CropSet = { count: 0, sides: [], sources: [] };
  const tensor = new Float32Array(3 * SIZE * SIZE);
  try {
    for (const v of videos) {
      const info = await probeVideo(v.file);
      const step = Math.max(1, Math.floor(info.frameCount / perVideo));
      let taken = 0;
      let index = 0;
      for await (const frame of decodeFrames(v.file, info)) {
        if (index++ % step !== 0 || taken >= perVideo) continue;
        const img: RgbImage = { width: frame.width, height: frame.height, data: frame.data };
        const [dets] = await mesh.detect([img]);
        if (dets.length === 0) continue;
        const roi = roiFromDetection(dets[0], img.width, img.height);
        imageToTensor(img, roi, SIZE, tensor, 0, { range: { min: 0, max: 1 }, border: "replicate", halfPixel: true });
        crops.push(Uint8Array.from(tensor, (x) => Math.round(Math.min(1, Math.max(0, x)) * 255)));
        set.sides.push(roi.width);
        set.sources.push(`${v.name}#${index - 1}`);
        taken++;
      }
    }
  } finally {
    await mesh.dispose();
  }
  set.count = crops.length;
  if (set.count === 0) throw new Error("no face found in the videos: no crops");
  await mkdir(out, { recursive: true });
  // The crops first, their description last: a crops.json always describes a whole crops.u8.
  await writeFileAtomic(path.join(out, "crops.u8"), Buffer.concat(crops));
  await writeFileAtomic(path.join(out, "crops.json"), JSON.stringify(set));
  console.log(`${out}: ${set.count} crops from ${videos.map((v) => v.name).join(", ")}`);
}

main().catch((e: unknown) => {
  console.error(`gpu_crops: ${(e as Error).message}`);
  process.exit(1);
});
