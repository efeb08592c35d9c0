/**
 * Where the model weights come from: MediaPipe's own npm packages, read offline from node_modules.
 *
 * @mediapipe/face_mesh packs its assets into one .data file; the byte ranges are listed in the package's
 * loader script as a `loadPackage({"files": [...]})` call. We read the ranges from that script rather than
 * hard-coding them, so a repackaged release fails loudly instead of yielding garbage.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

export type ModelName = "face_landmark" | "face_landmark_with_attention" | "face_detection_short_range" | "face_detection_full_range";

/** A packed asset of @mediapipe/face_mesh, e.g. "face_landmark.tflite" or "geometry_pipeline_metadata_landmarks.binarypb". */
export type PackedAssetName = string;

export interface SourceFile {
  /** Human-readable origin, e.g. "@mediapipe/face_mesh@0.4.1657299874:face_landmark.tflite". */
  origin: string;
  bytes: Uint8Array;
  sha256: string;
}

function packageDir(pkg: string): string {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`npm package ${pkg} is not installed (run npm ci): it carries the MediaPipe model weights`);
  }
}

async function packageVersion(dir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
}

interface PackedEntry {
  filename: string;
  start: number;
  end: number;
}

/** Parses the file table out of face_mesh_solution_packed_assets_loader.js. */
export function parsePackedAssetTable(loaderSource: string, loaderFile: string): PackedEntry[] {
  const match = /loadPackage\((\{"files":[\s\S]*?\})\);/.exec(loaderSource);
  if (!match) throw new Error(`${loaderFile}: no loadPackage({"files": ...}) table found`);
  const table = JSON.parse(match[1]) as { files?: PackedEntry[] };
  if (!Array.isArray(table.files) || table.files.length === 0) throw new Error(`${loaderFile}: empty asset table`);
  for (const f of table.files) {
    if (typeof f.filename !== "string" || !Number.isInteger(f.start) || !Number.isInteger(f.end) || f.end <= f.start) {
      throw new Error(`${loaderFile}: malformed asset entry ${JSON.stringify(f)}`);
    }
  }
  return table.files;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Reads one asset out of @mediapipe/face_mesh's packed data file by its base name. */
export async function loadPackedAsset(name: PackedAssetName): Promise<SourceFile> {
  const dir = packageDir("@mediapipe/face_mesh");
  const loaderFile = path.join(dir, "face_mesh_solution_packed_assets_loader.js");
  const dataFile = path.join(dir, "face_mesh_solution_packed_assets.data");
  const table = parsePackedAssetTable(await readFile(loaderFile, "utf8"), loaderFile);
  const entry = table.find((f) => path.posix.basename(f.filename) === name);
  if (!entry) {
    throw new Error(`${loaderFile}: no packed asset named ${name} (have: ${table.map((f) => path.posix.basename(f.filename)).join(", ")})`);
  }
  const data = await readFile(dataFile);
  if (data.length < entry.end) {
    throw new Error(`${dataFile}: ${data.length} bytes, but ${name} is listed at ${entry.start}..${entry.end}`);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset + entry.start, entry.end - entry.start);
  return { origin: `@mediapipe/face_mesh@${await packageVersion(dir)}:${name}`, bytes, sha256: sha256(bytes) };
}

/** The .tflite file of one of our models. */
export async function loadTfliteSource(model: ModelName): Promise<SourceFile> {
  if (model === "face_detection_full_range") {
    // Only @mediapipe/face_detection ships the full-range detector; we take the dense variant (no DENSIFY ops).
    const dir = packageDir("@mediapipe/face_detection");
    const file = path.join(dir, "face_detection_full_range.tflite");
    const bytes = new Uint8Array(await readFile(file));
    return { origin: `@mediapipe/face_detection@${await packageVersion(dir)}:face_detection_full_range.tflite`, bytes, sha256: sha256(bytes) };
  }
  return loadPackedAsset(`${model}.tflite`);
}
