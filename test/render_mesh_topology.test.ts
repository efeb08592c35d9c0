/**
 * The canonical face mesh parsed from MediaPipe's geometry_pipeline_metadata_landmarks.binarypb.
 * References: the counts in MEDIAPIPE.md (468 vertices, 898 triangles, 33 Procrustes landmarks), MediaPipe's own
 * FACEMESH_FACE_OVAL connection list exported by @mediapipe/face_mesh (the mesh's open boundary must be exactly the
 * face oval), and hand-encoded protobuf bytes for the wire reader.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import {
  loadGeometryPipelineMetadata,
  loadMeshEdges,
  loadMeshTriangles,
  parseGeometryPipelineMetadata,
  uniqueEdges,
} from "../lib/render/mesh_topology.js";

const require = createRequire(import.meta.url);

/** Undirected edge key. */
const key = (a: number, b: number) => `${Math.min(a, b)}-${Math.max(a, b)}`;

describe("canonical face mesh", () => {
  test("468 vertices, 898 triangles, all indices valid, every vertex used", async () => {
    const md = await loadGeometryPipelineMetadata();
    assert.equal(md.canonicalMesh.vertexCount, 468);
    const tris = await loadMeshTriangles();
    assert.equal(tris.length, 898 * 3);
    assert.ok(tris.every((i) => i < 468));
    assert.equal(new Set(tris).size, 468);
    for (let t = 0; t < tris.length; t += 3) {
      assert.equal(new Set([tris[t], tris[t + 1], tris[t + 2]]).size, 3, `triangle ${t / 3} is degenerate`);
    }
  });

  test("a surface: each edge borders one or two triangles, and the open boundary is MediaPipe's face oval", async () => {
    const tris = await loadMeshTriangles();
    const uses = new Map<string, number>();
    for (let t = 0; t < tris.length; t += 3) {
      for (let k = 0; k < 3; k++) {
        const e = key(tris[t + k]!, tris[t + ((k + 1) % 3)]!);
        uses.set(e, (uses.get(e) ?? 0) + 1);
      }
    }
    assert.ok([...uses.values()].every((n) => n === 1 || n === 2), "no edge shared by 3+ triangles");
    const boundary = new Set([...uses].filter(([, n]) => n === 1).map(([e]) => e));
    const { FACEMESH_FACE_OVAL } = require("@mediapipe/face_mesh") as { FACEMESH_FACE_OVAL: Array<[number, number]> };
    const oval = new Set(FACEMESH_FACE_OVAL.map(([a, b]) => key(a, b)));
    assert.equal(oval.size, 36);
    assert.deepEqual([...boundary].sort(), [...oval].sort());
    // One boundary loop and no holes: Euler characteristic V - E + F = 1 (a disk).
    assert.equal(468 - uses.size + 898, 1);
  });

  test("unique edges: every triangle side once, sorted pairs a < b", async () => {
    const edges = await loadMeshEdges();
    const tris = await loadMeshTriangles();
    const expected = new Set<string>();
    for (let t = 0; t < tris.length; t += 3) for (let k = 0; k < 3; k++) expected.add(key(tris[t + k]!, tris[t + ((k + 1) % 3)]!));
    assert.equal(edges.length / 2, expected.size);
    for (let e = 0; e < edges.length; e += 2) {
      assert.ok(edges[e]! < edges[e + 1]!);
      assert.ok(expected.has(key(edges[e]!, edges[e + 1]!)));
    }
  });

  test("vertex buffer: the canonical face is left-right symmetric, uv inside the texture", async () => {
    const { positions, uvs } = (await loadGeometryPipelineMetadata()).canonicalMesh;
    // A misread float buffer (wrong offset or stride) would break the mirror pairing.
    for (let i = 0; i < 468; i++) {
      let best = Infinity;
      for (let j = 0; j < 468; j++) {
        best = Math.min(best, Math.hypot(positions[3 * i]! + positions[3 * j]!, positions[3 * i + 1]! - positions[3 * j + 1]!, positions[3 * i + 2]! - positions[3 * j + 2]!));
      }
      assert.ok(best < 1e-3, `vertex ${i} has no mirror image (nearest ${best} cm)`);
    }
    assert.ok(uvs.every((v) => v > 0 && v < 1));
  });

  test("33 weighted Procrustes landmarks", async () => {
    const md = await loadGeometryPipelineMetadata();
    assert.equal(md.procrustesLandmarkBasis.length, 33);
    assert.ok(md.procrustesLandmarkBasis.every((r) => r.landmarkId < 468 && r.weight > 0));
  });
});

describe("uniqueEdges", () => {
  test("two triangles sharing a side give five edges", () => {
    assert.deepEqual(Array.from(uniqueEdges(Uint32Array.from([0, 1, 2, 2, 1, 3]))), [0, 1, 0, 2, 1, 2, 1, 3, 2, 3]);
  });
});

describe("parseGeometryPipelineMetadata (hand-encoded protobuf)", () => {
  const f32 = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
  // Mesh3d with two vertices of x y z u v, one triangle 0 1 1 (parser does not judge geometry).
  // vertex_buffer (field 3) packed: key 0x1a, length 40; index_buffer (field 4) unpacked: key 0x20 + varint each.
  const vertexFloats = [1, 2, 3, 0.25, 0.5, -1, -2, -3, 0.75, 0.125];
  const mesh = [0x08, 0x00, 0x10, 0x00, 0x1a, 40, ...vertexFloats.flatMap(f32), 0x20, 0, 0x20, 1, 0x20, 1];
  // WeightedLandmarkRef { landmark_id = 300 (varint 0xac 0x02), weight = 0.5 (fixed32) }
  const ref = [0x08, 0xac, 0x02, 0x15, ...f32(0.5)];
  // input_source = 1 (field 3), canonical_mesh (field 1, bytes), procrustes (field 2, bytes), an unknown field 9
  const message = Uint8Array.from([0x18, 0x01, 0x0a, mesh.length, ...mesh, 0x12, ref.length, ...ref, 0x48, 0x07]);

  test("reads packed floats, unpacked varints, nested messages; skips unknown fields", () => {
    const md = parseGeometryPipelineMetadata(message, "hand-made");
    assert.equal(md.inputSource, 1);
    assert.equal(md.canonicalMesh.vertexCount, 2);
    assert.deepEqual(Array.from(md.canonicalMesh.positions), [1, 2, 3, -1, -2, -3]);
    assert.deepEqual(Array.from(md.canonicalMesh.uvs), [0.25, 0.5, 0.75, 0.125]);
    assert.deepEqual(Array.from(md.canonicalMesh.triangles), [0, 1, 1]);
    assert.deepEqual(md.procrustesLandmarkBasis, [{ landmarkId: 300, weight: 0.5 }]);
  });

  test("packed index buffer works too", () => {
    const packedMesh = [0x1a, 40, ...vertexFloats.flatMap(f32), 0x22, 3, 1, 0, 1];
    const md = parseGeometryPipelineMetadata(Uint8Array.from([0x0a, packedMesh.length, ...packedMesh]), "packed");
    assert.deepEqual(Array.from(md.canonicalMesh.triangles), [1, 0, 1]);
  });

  test("damaged input is an error naming the source", () => {
    assert.throws(() => parseGeometryPipelineMetadata(message.subarray(0, 30), "cut.binarypb"), /cut\.binarypb: malformed protobuf/);
    const badIndex = [0x1a, 40, ...vertexFloats.flatMap(f32), 0x20, 0, 0x20, 1, 0x20, 5];
    assert.throws(() => parseGeometryPipelineMetadata(Uint8Array.from([0x0a, badIndex.length, ...badIndex]), "idx"), /triangle index 5 >= vertex count 2/);
    assert.throws(() => parseGeometryPipelineMetadata(Uint8Array.from([0x18, 0x01]), "nomesh"), /no canonical_mesh/);
  });
});
