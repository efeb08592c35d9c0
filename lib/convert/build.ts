/**
 * The install-time build: MediaPipe .tflite (from the npm packages) -> models/*.onnx + models/manifest.json.
 *
 * The manifest records, per model, the source's origin and sha256, the output's sha256 and size, node counts and
 * parameters, plus the converter's version and a hash of its own code. A model is rebuilt when any of those no
 * longer match (or with force); files are written to a temp file in the same folder and renamed, so an
 * interrupted build never leaves a half-written model where a good one was. The manifest is written last.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../atomic_file.js";

import { type ConversionSpec, convertTflite } from "./convert.js";
import { type GraphStats, graphStats } from "./graph.js";
import { MODEL_NAMES, MODEL_SPECS, MODELS_MANIFEST_FILE, type ModelName } from "./models.js";
import { ONNX_IR_VERSION, ONNX_OPSET, encodeOnnx } from "./onnx_writer.js";
import { optimizeGraph } from "./optimize.js";
import { type SourceFile, loadTfliteSource } from "./sources.js";
import { readTflite } from "./tflite_reader.js";

/** Bump when the converted graphs change in a way worth noting; code changes are caught by CONVERTER_CODE_SHA256 too. */
export const CONVERTER_VERSION = "1.0.0";

/**
 * sha256 over the converter's own module files (this folder, same extension as this file), so editing the
 * converter rebuilds the models on the next install even if nobody bumps CONVERTER_VERSION.
 */
export const CONVERTER_CODE_SHA256: string = (() => {
  const self = fileURLToPath(import.meta.url);
  const dir = path.dirname(self);
  const ext = path.extname(self);
  const hash = createHash("sha256");
  for (const f of readdirSync(dir).filter((f) => f.endsWith(ext)).sort()) {
    hash.update(f).update("\0").update(readFileSync(path.join(dir, f))).update("\0");
  }
  return hash.digest("hex");
})();

/** Tensor names inside MediaPipe's .tflite files that the ONNX contract (models.ts) binds to. */
const TFLITE_TENSORS: Record<ModelName, { input: string; outputs: string[] }> = {
  face_landmark: { input: "input_1", outputs: ["conv2d_21", "conv2d_31"] },
  face_landmark_with_attention: {
    input: "input_1",
    outputs: ["output_mesh_identity", "output_lips", "output_left_eye", "output_right_eye", "output_left_iris", "output_right_iris", "conv_faceflag"],
  },
  face_detection_short_range: { input: "input", outputs: ["regressors", "classificators"] },
  face_detection_full_range: { input: "input", outputs: ["reshaped_regressor_face_4", "reshaped_classifier_face_4"] },
};

/** How one MediaPipe model maps onto its ONNX contract. */
export function conversionSpec(name: ModelName): ConversionSpec {
  const spec = MODEL_SPECS[name];
  const t = TFLITE_TENSORS[name];
  return {
    graphName: name,
    inputs: [{ tflite: t.input, onnx: spec.inputName }],
    outputs: spec.outputs.map((o, i) => ({ tflite: t.outputs[i], onnx: o.name, shape: o.shape })),
  };
}

export interface ConvertedModel {
  bytes: Uint8Array;
  stats: GraphStats;
  sha256: string;
  ms: number;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Converts one .tflite file to ONNX bytes (errors name `source.origin`). */
export function convertModel(name: ModelName, source: SourceFile, spec: ConversionSpec = conversionSpec(name)): ConvertedModel {
  const t0 = performance.now();
  const graph = optimizeGraph(convertTflite(readTflite(source.bytes, source.origin), spec));
  const bytes = encodeOnnx(graph, {
    producerVersion: CONVERTER_VERSION,
    metadata: { source: source.origin, source_sha256: source.sha256, converter_code_sha256: CONVERTER_CODE_SHA256 },
  });
  return { bytes, stats: graphStats(graph), sha256: sha256(bytes), ms: performance.now() - t0 };
}

export interface ManifestEntry {
  file: string;
  source: { origin: string; sha256: string };
  output: { sha256: string; bytes: number };
  nodes: number;
  byOp: Record<string, number>;
  params: number;
}

export interface ModelsManifest {
  converter: { version: string; codeSha256: string };
  onnx: { irVersion: number; opset: number };
  builtAt: string;
  models: Partial<Record<ModelName, ManifestEntry>>;
}

export type SourceLoader = (name: ModelName) => Promise<SourceFile>;

/** Reads `<dir>/<name>.tflite` instead of the npm packages (offline conversions of other model files; tests). */
export function directorySourceLoader(dir: string): SourceLoader {
  return async (name) => {
    const file = path.resolve(dir, `${name}.tflite`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(file));
    } catch (err) {
      throw new Error(`source model ${file} cannot be read: ${(err as Error).message}`);
    }
    return { origin: file, bytes, sha256: sha256(bytes) };
  };
}

export interface BuildOptions {
  outDir: string;
  force?: boolean;
  models?: ModelName[];
  loadSource?: SourceLoader;
  log?: (line: string) => void;
}

export interface BuildResult {
  built: ModelName[];
  upToDate: ModelName[];
  manifest: ModelsManifest;
}


async function readManifest(file: string): Promise<ModelsManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(file, "utf8")) as ModelsManifest;
    return typeof m === "object" && m !== null && typeof m.models === "object" ? m : undefined;
  } catch {
    return undefined; // absent or unreadable: everything is rebuilt
  }
}

async function fileSha256(file: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(file));
  } catch {
    return undefined;
  }
}

function describe(name: ModelName, e: ManifestEntry, ms: number): string {
  const ops = Object.entries(e.byOp)
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op} ${n}`)
    .join(", ");
  return `${name}: ${e.nodes} nodes (${ops}), ${e.params.toLocaleString("en-US")} params, ${(e.output.bytes / 1e6).toFixed(2)} MB, ${ms.toFixed(0)} ms`;
}

/** Converts the models whose manifest entry is missing or stale (all with force). */
export async function buildModels(options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const load = options.loadSource ?? loadTfliteSource;
  const names = options.models ?? MODEL_NAMES;
  await mkdir(options.outDir, { recursive: true });
  const manifestFile = path.join(options.outDir, MODELS_MANIFEST_FILE);
  const previous = await readManifest(manifestFile);
  const converter = { version: CONVERTER_VERSION, codeSha256: CONVERTER_CODE_SHA256 };
  const sameConverter =
    previous?.converter?.version === converter.version &&
    previous.converter.codeSha256 === converter.codeSha256 &&
    previous.onnx?.opset === ONNX_OPSET &&
    previous.onnx?.irVersion === ONNX_IR_VERSION;

  // Sources first, all of them: a missing package fails the install before anything is written.
  const sources = new Map<ModelName, SourceFile>();
  for (const name of names) sources.set(name, await load(name));

  const manifest: ModelsManifest = { converter, onnx: { irVersion: ONNX_IR_VERSION, opset: ONNX_OPSET }, builtAt: new Date().toISOString(), models: {} };
  const built: ModelName[] = [];
  const upToDate: ModelName[] = [];
  for (const name of names) {
    const source = sources.get(name)!;
    const file = path.join(options.outDir, MODEL_SPECS[name].file);
    const old = previous?.models?.[name];
    if (
      !options.force &&
      sameConverter &&
      old &&
      old.file === MODEL_SPECS[name].file &&
      old.source?.sha256 === source.sha256 &&
      old.output?.sha256 !== undefined &&
      (await fileSha256(file)) === old.output.sha256
    ) {
      manifest.models[name] = old;
      upToDate.push(name);
      continue;
    }
    const result = convertModel(name, source);
    await writeFileAtomic(file, result.bytes);
    const entry: ManifestEntry = {
      file: MODEL_SPECS[name].file,
      source: { origin: source.origin, sha256: source.sha256 },
      output: { sha256: result.sha256, bytes: result.bytes.length },
      nodes: result.stats.nodes,
      byOp: result.stats.byOp,
      params: result.stats.params,
    };
    manifest.models[name] = entry;
    built.push(name);
    log(describe(name, entry, result.ms));
  }
  if (built.length === 0 && previous) {
    log(`${options.outDir}: ${upToDate.length} models up to date (converter ${converter.version}); --force rebuilds`);
    return { built, upToDate, manifest: previous };
  }
  // Entries of models not in this run stay as they were.
  for (const [name, entry] of Object.entries(previous?.models ?? {}) as Array<[ModelName, ManifestEntry]>) {
    if (!(name in manifest.models) && sameConverter) manifest.models[name] = entry;
  }
  await writeFileAtomic(manifestFile, JSON.stringify(manifest, null, 2) + "\n");
  return { built, upToDate, manifest };
}
