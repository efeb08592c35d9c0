/**
 * What the pose fit needs from MediaPipe's geometry pipeline metadata (geometry_pipeline_metadata_landmarks.binarypb,
 * parsed by lib/render/mesh_topology.ts): the canonical face's vertices in centimetres, and the Procrustes weight of
 * every vertex (0 outside the 33-landmark basis), checked and laid out for the arithmetic.
 */
import { loadGeometryPipelineMetadata, type GeometryPipelineMetadata } from "../render/mesh_topology.js";

/** Where the landmarks come from; MediaPipe adjusts its fit for 2-D detection keypoints. We only take the face landmark pipeline's. */
export type InputSource = "face_landmark_pipeline" | "face_detection_pipeline";

export interface GeometryMetadata {
  /** Vertices of the canonical face, x, y, z in cm (right-handed, y up, the face looking towards +z). */
  canonical: Float64Array;
  numVertices: number;
  /** Procrustes weight of each vertex (0 for those outside the landmark basis). */
  weights: Float64Array;
  inputSource: InputSource;
}

/** Dense weights and float64 vertices from the parsed metadata; `what` names the source in errors. */
export function geometryMetadata(parsed: GeometryPipelineMetadata, what: string): GeometryMetadata {
  const mesh = parsed.canonicalMesh;
  const numVertices = mesh.vertexCount;
  const weights = new Float64Array(numVertices);
  for (const { landmarkId, weight } of parsed.procrustesLandmarkBasis) {
    if (landmarkId >= numVertices) throw new Error(`${what}: landmark_id ${landmarkId} in the Procrustes basis, but the mesh has ${numVertices} vertices`);
    if (!(weight >= 0)) throw new Error(`${what}: landmark ${landmarkId} has weight ${weight}; weights must be non-negative`);
    weights[landmarkId] = weight;
  }
  if (!(weights.reduce((a, b) => a + b, 0) > 0)) throw new Error(`${what}: the Procrustes landmark basis is empty`);
  if (parsed.inputSource > 2) throw new Error(`${what}: unknown input_source ${parsed.inputSource}`);
  return {
    canonical: Float64Array.from(mesh.positions),
    numVertices,
    weights,
    // 0 (DEFAULT) means the face landmark pipeline.
    inputSource: parsed.inputSource === 2 ? "face_detection_pipeline" : "face_landmark_pipeline",
  };
}

let cached: Promise<GeometryMetadata> | null = null;

/** The metadata shipped in @mediapipe/face_mesh (read once per process). */
export function loadGeometryMetadata(): Promise<GeometryMetadata> {
  cached ??= loadGeometryPipelineMetadata().then((parsed) => geometryMetadata(parsed, "@mediapipe/face_mesh geometry_pipeline_metadata_landmarks.binarypb"));
  cached.catch(() => (cached = null));
  return cached;
}
