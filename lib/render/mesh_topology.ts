/**
 * The canonical face mesh's topology (which of the 468 landmarks form triangles), read from MediaPipe's
 * geometry_pipeline_metadata_landmarks.binarypb packed in @mediapipe/face_mesh.
 *
 * Schema (mediapipe/modules/face_geometry/protos/geometry_pipeline_metadata.proto and mesh_3d.proto, proto2):
 *   GeometryPipelineMetadata { InputSource input_source = 3; Mesh3d canonical_mesh = 1;
 *                              repeated WeightedLandmarkRef procrustes_landmark_basis = 2; }
 *   Mesh3d { VertexType vertex_type = 1 (VERTEX_PT = 0: x y z u v); PrimitiveType primitive_type = 2 (TRIANGLE = 0);
 *            repeated float vertex_buffer = 3; repeated uint32 index_buffer = 4; }
 *   WeightedLandmarkRef { uint32 landmark_id = 1; float weight = 2; }
 */
import { loadPackedAsset } from "../convert/sources.js";
import { NUM_LANDMARKS } from "../types.js";
import { ProtoReader, readRepeatedFloat, readRepeatedVarint, WireType } from "./protobuf_wire.js";

export const METADATA_ASSET = "geometry_pipeline_metadata_landmarks.binarypb";

/** Floats per vertex for Mesh3d.VERTEX_PT: position x, y, z (cm) and texture u, v. */
const VERTEX_PT_SIZE = 5;

export interface CanonicalMesh {
  vertexCount: number;
  /** x, y, z per vertex, in centimetres. */
  positions: Float32Array;
  /** u, v per vertex. */
  uvs: Float32Array;
  /** Three vertex indices per triangle. */
  triangles: Uint32Array;
}

export interface WeightedLandmarkRef {
  landmarkId: number;
  weight: number;
}

export interface GeometryPipelineMetadata {
  /** 0 DEFAULT (= face landmark pipeline), 1 FACE_LANDMARK_PIPELINE, 2 FACE_DETECTION_PIPELINE. */
  inputSource: number;
  canonicalMesh: CanonicalMesh;
  procrustesLandmarkBasis: WeightedLandmarkRef[];
}

function parseMesh3d(bytes: Uint8Array, what: string): CanonicalMesh {
  const r = new ProtoReader(bytes, what);
  let vertexType = 0;
  let primitiveType = 0;
  const vertices: number[] = [];
  const indices: number[] = [];
  while (!r.done) {
    const f = r.next();
    if (f.field === 1 && f.wireType === WireType.Varint) vertexType = f.varint!;
    else if (f.field === 2 && f.wireType === WireType.Varint) primitiveType = f.varint!;
    else if (f.field === 3) readRepeatedFloat(f, vertices, what);
    else if (f.field === 4) readRepeatedVarint(f, indices, what);
  }
  if (vertexType !== 0) throw new Error(`${what}: canonical mesh vertex_type ${vertexType}, only VERTEX_PT (0) is known`);
  if (primitiveType !== 0) throw new Error(`${what}: canonical mesh primitive_type ${primitiveType}, only TRIANGLE (0) is known`);
  if (vertices.length === 0 || vertices.length % VERTEX_PT_SIZE !== 0) {
    throw new Error(`${what}: vertex_buffer has ${vertices.length} floats, not a positive multiple of ${VERTEX_PT_SIZE}`);
  }
  if (indices.length === 0 || indices.length % 3 !== 0) throw new Error(`${what}: index_buffer has ${indices.length} indices, not a positive multiple of 3`);
  const vertexCount = vertices.length / VERTEX_PT_SIZE;
  const positions = new Float32Array(vertexCount * 3);
  const uvs = new Float32Array(vertexCount * 2);
  for (let v = 0; v < vertexCount; v++) {
    const s = v * VERTEX_PT_SIZE;
    positions.set(vertices.slice(s, s + 3), v * 3);
    uvs.set(vertices.slice(s + 3, s + 5), v * 2);
  }
  for (const i of indices) if (i >= vertexCount) throw new Error(`${what}: triangle index ${i} >= vertex count ${vertexCount}`);
  return { vertexCount, positions, uvs, triangles: Uint32Array.from(indices) };
}

function parseWeightedLandmarkRef(bytes: Uint8Array, what: string): WeightedLandmarkRef {
  const r = new ProtoReader(bytes, what);
  let landmarkId = 0;
  const weight: number[] = [];
  while (!r.done) {
    const f = r.next();
    if (f.field === 1 && f.wireType === WireType.Varint) landmarkId = f.varint!;
    else if (f.field === 2) readRepeatedFloat(f, weight, what);
  }
  return { landmarkId, weight: weight.at(-1) ?? 0 };
}

/** Parses a serialized GeometryPipelineMetadata; `what` names the source in errors. */
export function parseGeometryPipelineMetadata(bytes: Uint8Array, what: string): GeometryPipelineMetadata {
  const r = new ProtoReader(bytes, what);
  let inputSource = 0;
  let mesh: CanonicalMesh | undefined;
  const basis: WeightedLandmarkRef[] = [];
  while (!r.done) {
    const f = r.next();
    if (f.field === 3 && f.wireType === WireType.Varint) inputSource = f.varint!;
    else if (f.field === 1 && f.wireType === WireType.LengthDelimited) mesh = parseMesh3d(f.bytes!, `${what} canonical_mesh`);
    else if (f.field === 2 && f.wireType === WireType.LengthDelimited) basis.push(parseWeightedLandmarkRef(f.bytes!, `${what} procrustes_landmark_basis`));
  }
  if (!mesh) throw new Error(`${what}: no canonical_mesh (field 1)`);
  return { inputSource, canonicalMesh: mesh, procrustesLandmarkBasis: basis };
}

let metadata: Promise<GeometryPipelineMetadata> | undefined;

/** The parsed metadata from @mediapipe/face_mesh (read once per process). */
export function loadGeometryPipelineMetadata(): Promise<GeometryPipelineMetadata> {
  metadata ??= loadPackedAsset(METADATA_ASSET).then((src) => {
    const parsed = parseGeometryPipelineMetadata(src.bytes, src.origin);
    if (parsed.canonicalMesh.vertexCount !== NUM_LANDMARKS) {
      throw new Error(`${src.origin}: canonical mesh has ${parsed.canonicalMesh.vertexCount} vertices, expected ${NUM_LANDMARKS}`);
    }
    return parsed;
  });
  metadata.catch(() => {
    metadata = undefined; // let a later call retry (e.g. after npm ci)
  });
  return metadata;
}

/** The canonical mesh's triangles: three landmark indices each (898 triangles for MediaPipe's 468-point mesh). */
export async function loadMeshTriangles(): Promise<Uint32Array> {
  return (await loadGeometryPipelineMetadata()).canonicalMesh.triangles;
}

/** Unique undirected edges of a triangle list, as pairs (a < b) sorted by a then b. */
export function uniqueEdges(triangles: Uint32Array): Uint32Array {
  const seen = new Set<number>();
  const pairs: Array<[number, number]> = [];
  for (let t = 0; t + 2 < triangles.length; t += 3) {
    for (let k = 0; k < 3; k++) {
      const p = triangles[t + k]!;
      const q = triangles[t + ((k + 1) % 3)]!;
      const a = Math.min(p, q);
      const b = Math.max(p, q);
      if (a === b) continue;
      const key = a * 0x100000 + b;
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push([a, b]);
    }
  }
  pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  return Uint32Array.from(pairs.flat());
}

let edges: Promise<Uint32Array> | undefined;

/** The unique edges of the canonical mesh (pairs of landmark indices), for drawing. */
export function loadMeshEdges(): Promise<Uint32Array> {
  edges ??= loadMeshTriangles().then(uniqueEdges);
  edges.catch(() => {
    edges = undefined;
  });
  return edges;
}
