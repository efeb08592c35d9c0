/**
 * MediaPipe's geometry pipeline metadata (geometry_pipeline_metadata_landmarks.binarypb, one of the packed assets of
 * @mediapipe/face_mesh): the canonical face mesh in centimetres and the weights of the landmarks the pose fit uses.
 *
 * Wire layout (mediapipe/modules/face_geometry/protos): GeometryPipelineMetadata { 1: Mesh3d canonical_mesh,
 * 2: repeated WeightedLandmarkRef { 1: uint32 landmark_id, 2: float weight }, 3: enum input_source };
 * Mesh3d { 1: vertex_type (0 = position xyz + texture uv, 5 floats per vertex), 2: primitive_type (0 = triangles),
 * 3: repeated float vertex_buffer, 4: repeated uint32 index_buffer }.
 */
import { loadPackedAsset } from "../convert/sources.js";
import { ProtoReader, readRepeatedFloat, readRepeatedVarint, WireType } from "../render/protobuf_wire.js";

export const METADATA_ASSET = "geometry_pipeline_metadata_landmarks.binarypb";

/** Floats per vertex of Mesh3d's only vertex type (VERTEX_PT): x, y, z, u, v. */
const VERTEX_PT_SIZE = 5;

/** Where the landmarks come from; MediaPipe adjusts its fit for 2-D detection keypoints. We only take the face landmark pipeline's. */
export type InputSource = "face_landmark_pipeline" | "face_detection_pipeline";

export interface GeometryMetadata {
  /** Vertices of the canonical face, x, y, z in cm (right-handed, y up, the face looking towards +z). */
  canonical: Float64Array;
  numVertices: number;
  /** Procrustes weight of each vertex (0 for those outside the landmark basis). */
  weights: Float64Array;
  /** Triangles, 3 vertex indices each. */
  triangles: Uint32Array;
  inputSource: InputSource;
  /** Where the bytes came from, for messages. */
  origin: string;
}

function parseMesh(bytes: Uint8Array, what: string): { vertexType: number; vertices: number[]; indices: number[] } {
  const r = new ProtoReader(bytes, what);
  let vertexType = 0;
  const vertices: number[] = [];
  const indices: number[] = [];
  while (!r.done) {
    const f = r.next();
    if (f.field === 1 && f.wireType === WireType.Varint) vertexType = f.varint!;
    else if (f.field === 3) readRepeatedFloat(f, vertices, what);
    else if (f.field === 4) readRepeatedVarint(f, indices, what);
  }
  return { vertexType, vertices, indices };
}

/** Parses the metadata message; throws with `what` (the file) and the problem on anything unexpected. */
export function parseGeometryMetadata(bytes: Uint8Array, what: string): GeometryMetadata {
  const r = new ProtoReader(bytes, what);
  let mesh: ReturnType<typeof parseMesh> | null = null;
  const basis: Array<{ id: number; weight: number }> = [];
  let source = 0;
  while (!r.done) {
    const f = r.next();
    if (f.field === 1 && f.wireType === WireType.LengthDelimited) mesh = parseMesh(f.bytes!, `${what} (canonical_mesh)`);
    else if (f.field === 2 && f.wireType === WireType.LengthDelimited) {
      const lr = new ProtoReader(f.bytes!, `${what} (procrustes_landmark_basis)`);
      let id = -1;
      const weight: number[] = [];
      while (!lr.done) {
        const g = lr.next();
        if (g.field === 1 && g.wireType === WireType.Varint) id = g.varint!;
        else if (g.field === 2) readRepeatedFloat(g, weight, what);
      }
      if (id < 0 || weight.length !== 1) throw new Error(`${what}: a procrustes_landmark_basis entry lacks landmark_id or weight`);
      basis.push({ id, weight: weight[0]! });
    } else if (f.field === 3 && f.wireType === WireType.Varint) source = f.varint!;
  }
  if (!mesh) throw new Error(`${what}: no canonical_mesh`);
  if (mesh.vertexType !== 0) throw new Error(`${what}: canonical_mesh vertex_type ${mesh.vertexType}, expected 0 (position + texture coordinate)`);
  if (mesh.vertices.length === 0 || mesh.vertices.length % VERTEX_PT_SIZE !== 0) {
    throw new Error(`${what}: canonical_mesh has ${mesh.vertices.length} vertex values, not a positive multiple of ${VERTEX_PT_SIZE}`);
  }
  if (mesh.indices.length % 3 !== 0) throw new Error(`${what}: canonical_mesh has ${mesh.indices.length} indices, not whole triangles`);
  const numVertices = mesh.vertices.length / VERTEX_PT_SIZE;
  const canonical = new Float64Array(numVertices * 3);
  for (let i = 0; i < numVertices; i++) for (let k = 0; k < 3; k++) canonical[3 * i + k] = mesh.vertices[VERTEX_PT_SIZE * i + k]!;
  const weights = new Float64Array(numVertices);
  for (const { id, weight } of basis) {
    if (id >= numVertices) throw new Error(`${what}: landmark_id ${id} in the Procrustes basis, but the mesh has ${numVertices} vertices`);
    if (!(weight >= 0)) throw new Error(`${what}: landmark ${id} has weight ${weight}; weights must be non-negative`);
    weights[id] = weight;
  }
  if (!(weights.reduce((a, b) => a + b, 0) > 0)) throw new Error(`${what}: the Procrustes landmark basis is empty`);
  if (source > 2) throw new Error(`${what}: unknown input_source ${source}`);
  for (const i of mesh.indices) if (i >= numVertices) throw new Error(`${what}: triangle index ${i} >= ${numVertices} vertices`);
  return {
    canonical,
    numVertices,
    weights,
    triangles: Uint32Array.from(mesh.indices),
    // 0 (DEFAULT) means the face landmark pipeline.
    inputSource: source === 2 ? "face_detection_pipeline" : "face_landmark_pipeline",
    origin: what,
  };
}

let cached: Promise<GeometryMetadata> | null = null;

/** The metadata shipped in @mediapipe/face_mesh (read once per process). */
export function loadGeometryMetadata(): Promise<GeometryMetadata> {
  cached ??= loadPackedAsset(METADATA_ASSET).then((src) => parseGeometryMetadata(src.bytes, src.origin));
  cached.catch(() => (cached = null));
  return cached;
}
