/**
 * lib/geometry against hand-computed cases: the metadata parser on a message built byte by byte (and on the real
 * asset's known facts), the eigen-solver, the Procrustes fit on known similarity transforms of the canonical face,
 * the angle convention R = Ry(yaw)·Rx(pitch)·Rz(roll), the camera's frustum and (un)projection, and the whole pose
 * fit on landmarks synthesised from a known pose with the same camera model.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { geometryMetadata, loadGeometryMetadata, type GeometryMetadata } from "../lib/geometry/metadata.js";
import { parseGeometryPipelineMetadata } from "../lib/render/mesh_topology.js";
import { quaternionToMatrix, solveWeightedProcrustes, symmetricEigen } from "../lib/geometry/procrustes.js";
import { anglesFromRotation, rotationDistance, rotationFromAngles } from "../lib/geometry/angles.js";
import { frustum, MEDIAPIPE_CAMERA, projectToImage } from "../lib/geometry/camera.js";
import { estimatePose, projectToNearPlane, unproject } from "../lib/geometry/pose.js";

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

// --- metadata ------------------------------------------------------------------------------------------------------
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}
function f32(v: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return [...b];
}
const ld = (field: number, body: number[]) => [...varint(field * 8 + 2), ...varint(body.length), ...body];

test("metadata from a message built byte by byte: vertices (xyz of xyzuv), dense weights by landmark id, checks", () => {
  // Three vertices (x, y, z, u, v), packed; one triangle, packed; basis: landmark 2 weight 0.5, landmark 0 weight 0.25.
  const vertices = [1, 2, 3, 0.1, 0.2, -4, 5.5, 6, 0.3, 0.4, 7, 8, -9.25, 0.5, 0.6].flatMap(f32);
  const mesh = [...varint(1 * 8), 0, ...varint(2 * 8), 0, ...ld(3, vertices), ...ld(4, [0, 1, 2])];
  const ref = (id: number, w: number) => ld(2, [...varint(1 * 8), id, ...varint(2 * 8 + 5), ...f32(w)]);
  const parse = (bytes: number[], what: string) => geometryMetadata(parseGeometryPipelineMetadata(Uint8Array.from(bytes), what), what);
  const m = parse([...ld(1, mesh), ...ref(2, 0.5), ...ref(0, 0.25), ...varint(3 * 8), 1], "hand.binarypb");
  assert.equal(m.numVertices, 3);
  assert.deepEqual([...m.canonical], [1, 2, 3, -4, 5.5, 6, 7, 8, -9.25]);
  assert.deepEqual([...m.weights], [0.25, 0, 0.5]);
  assert.equal(m.inputSource, "face_landmark_pipeline");
  // Errors name the source and the problem.
  assert.throws(() => parse([...ld(1, mesh), ...ref(7, 0.5)], "id.binarypb"), /id\.binarypb: landmark_id 7 .* 3 vertices/);
  assert.throws(() => parse([...ld(1, mesh), ...ref(1, -1)], "neg.binarypb"), /neg\.binarypb: landmark 1 has weight -1/);
  assert.throws(() => parse(ld(1, mesh), "empty.binarypb"), /empty\.binarypb: the Procrustes landmark basis is empty/);
});

let metadata: GeometryMetadata;
test("the shipped metadata: 468 vertices, 33 weighted landmarks, a left-right symmetric face looking at +z", async () => {
  metadata = await loadGeometryMetadata();
  assert.equal(metadata.numVertices, 468);
  assert.equal([...metadata.weights].filter((w) => w > 0).length, 33);
  const v = (i: number) => [...metadata.canonical.subarray(3 * i, 3 * i + 3)];
  // Outer eye corners 33 (the person's right, image left) and 263: mirror images in x, the right one at x < 0.
  const [r, l] = [v(33), v(263)];
  assert.ok(r[0]! < 0 && l[0]! > 0);
  close(r[0]!, -l[0]!, 1e-6, "eye corner x");
  close(r[1]!, l[1]!, 1e-6, "eye corner y");
  // The nose tip (1) is the vertex nearest the viewer; the chin (152) is below the forehead (10).
  assert.ok(v(1)[2]! > v(33)[2]! && v(10)[1]! > v(152)[1]!);
  assert.equal(metadata.weights[1], 0, "the nose tip is not in the basis");
});

// --- linear algebra -------------------------------------------------------------------------------------------------
test("symmetricEigen: the eigenvalues and eigenvectors of a hand-made symmetric matrix", () => {
  // Q·diag(5, -1, 2, 0.5)·Qᵀ for a rotation Q in the (0,1) and (2,3) planes.
  const c = Math.cos(0.3);
  const s = Math.sin(0.3);
  const q = [c, -s, 0, 0, s, c, 0, 0, 0, 0, c, s, 0, 0, -s, c];
  const d = [5, -1, 2, 0.5];
  const a = new Float64Array(16);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) a[i * 4 + j] += q[i * 4 + k]! * d[k]! * q[j * 4 + k]!;
  const { values, vectors } = symmetricEigen(Float64Array.from(a), 4);
  assert.deepEqual([...values].map((x) => Number(x.toFixed(10))).sort((x, y) => x - y), [-1, 0.5, 2, 5]);
  for (let k = 0; k < 4; k++) {
    // A·v = λ·v for each returned pair.
    for (let i = 0; i < 4; i++) {
      let av = 0;
      for (let j = 0; j < 4; j++) av += a[i * 4 + j]! * vectors[j * 4 + k]!;
      close(av, values[k]! * vectors[i * 4 + k]!, 1e-10, `A·v${k}[${i}]`);
    }
  }
});

test("quaternionToMatrix: a quarter turn about z maps x to y", () => {
  const h = Math.SQRT1_2;
  const r = quaternionToMatrix(h, 0, 0, h);
  assert.deepEqual([...r].map((x) => Math.round(x * 1e12) / 1e12 + 0), [0, -1, 0, 1, 0, 0, 0, 0, 1]);
});

function transformPoints(points: Float64Array, r: Float64Array, s: number, t: number[]): Float64Array {
  const out = new Float64Array(points.length);
  for (let i = 0; i < points.length; i += 3) {
    for (let k = 0; k < 3; k++) out[i + k] = s * (r[3 * k]! * points[i]! + r[3 * k + 1]! * points[i + 1]! + r[3 * k + 2]! * points[i + 2]!) + t[k]!;
  }
  return out;
}

test("Procrustes recovers a known rotation, scale and translation of the canonical face exactly (any weights)", async () => {
  const m = await loadGeometryMetadata();
  const cases = [
    { angles: { pitch: 0, yaw: 0, roll: 0 }, s: 1, t: [0, 0, 0] },
    { angles: { pitch: 20, yaw: -35, roll: 10 }, s: 1.7, t: [3, -2, -40] },
    { angles: { pitch: -60, yaw: 170, roll: -120 }, s: 0.02, t: [-0.1, 0.05, -1.2] },
    { angles: { pitch: 89, yaw: 45, roll: 0 }, s: 3, t: [10, 20, 30] },
  ];
  for (const c of cases) {
    const r = rotationFromAngles(c.angles);
    const target = transformPoints(m.canonical, r, c.s, c.t);
    for (const weights of [m.weights, new Float64Array(468).fill(1)]) {
      const fit = solveWeightedProcrustes(m.canonical, target, weights);
      assert.ok(rotationDistance(fit.rotation, r) < 1e-6, `${JSON.stringify(c.angles)}: rotation off by ${rotationDistance(fit.rotation, r)}°`);
      close(fit.scale, c.s, 1e-9 * c.s, "scale");
      for (let k = 0; k < 3; k++) close(fit.translation[k]!, c.t[k]!, 1e-8, `t[${k}]`);
    }
  }
  // Only the weighted points count: moving an unweighted one changes nothing.
  const r = rotationFromAngles({ pitch: 5, yaw: 5, roll: 5 });
  const target = transformPoints(m.canonical, r, 1, [0, 0, -30]);
  target[3] += 100; // vertex 1, weight 0
  const fit = solveWeightedProcrustes(m.canonical, target, m.weights);
  assert.ok(rotationDistance(fit.rotation, r) < 1e-6);
  // Degenerate problems throw instead of returning garbage.
  assert.throws(() => solveWeightedProcrustes(m.canonical, target, new Float64Array(468)), /total weight is too small/);
  assert.throws(() => solveWeightedProcrustes(m.canonical, new Float64Array(468 * 3), m.weights), /too small|not positive/);
});

// --- angles -------------------------------------------------------------------------------------------------------
test("angles: R = Ry(yaw)·Rx(pitch)·Rz(roll), hand-computed single-axis cases and their directions", () => {
  const c = Math.cos(Math.PI / 6);
  const s = Math.sin(Math.PI / 6);
  const round = (r: Float64Array) => [...r].map((x) => Math.round(x * 1e12) / 1e12 + 0);
  const rs = (x: number) => Math.round(x * 1e12) / 1e12 + 0;
  assert.deepEqual(round(rotationFromAngles({ pitch: 0, yaw: 30, roll: 0 })), [c, 0, s, 0, 1, 0, -s, 0, c].map(rs));
  assert.deepEqual(round(rotationFromAngles({ pitch: 30, yaw: 0, roll: 0 })), [1, 0, 0, 0, c, -s, 0, s, c].map(rs));
  assert.deepEqual(round(rotationFromAngles({ pitch: 0, yaw: 0, roll: 30 })), [c, -s, 0, s, c, 0, 0, 0, 1].map(rs));
  // The face's forward direction (canonical +z) is R's third column: positive yaw turns it to +x (image right),
  // positive pitch to -y (down); positive roll turns the face's up (+y, second column) towards -x (counter-clockwise on screen).
  const fwd = (a: { pitch: number; yaw: number; roll: number }) => {
    const r = rotationFromAngles(a);
    return [r[2]!, r[5]!, r[8]!];
  };
  assert.ok(fwd({ pitch: 0, yaw: 20, roll: 0 })[0]! > 0);
  assert.ok(fwd({ pitch: 20, yaw: 0, roll: 0 })[1]! < 0);
  assert.ok(rotationFromAngles({ pitch: 0, yaw: 0, roll: 20 })[1]! < 0);
  // The order matters: Ry·Rx·Rz, not another product.
  const a = { pitch: 25, yaw: -40, roll: 15 };
  const [ry, rx, rz] = [{ pitch: 0, yaw: a.yaw, roll: 0 }, { pitch: a.pitch, yaw: 0, roll: 0 }, { pitch: 0, yaw: 0, roll: a.roll }].map(rotationFromAngles);
  const mul = (p: Float64Array, q: Float64Array) => Float64Array.from({ length: 9 }, (_, k) => [0, 1, 2].reduce((sum, j) => sum + p[3 * Math.floor(k / 3) + j]! * q[3 * j + (k % 3)]!, 0));
  assert.ok(rotationDistance(mul(mul(ry!, rx!), rz!), rotationFromAngles(a)) < 1e-9);
});

test("angles round-trip over the whole range, signs included; gimbal lock puts the turn in yaw", () => {
  for (let pitch = -85; pitch <= 85; pitch += 17) {
    for (let yaw = -175; yaw <= 175; yaw += 35) {
      for (let roll = -170; roll <= 170; roll += 34) {
        const back = anglesFromRotation(rotationFromAngles({ pitch, yaw, roll }));
        close(back.pitch, pitch, 1e-9, "pitch");
        close(back.yaw, yaw, 1e-9, "yaw");
        close(back.roll, roll, 1e-9, "roll");
      }
    }
  }
  const locked = anglesFromRotation(rotationFromAngles({ pitch: 90, yaw: 30, roll: 20 }));
  close(locked.pitch, 90, 1e-6, "pitch");
  assert.equal(locked.roll, 0);
  assert.ok(rotationDistance(rotationFromAngles(locked), rotationFromAngles({ pitch: 90, yaw: 30, roll: 20 })) < 1e-6);
  close(rotationDistance(rotationFromAngles({ pitch: 0, yaw: 0, roll: 0 }), rotationFromAngles({ pitch: 0, yaw: 0, roll: 7 })), 7, 1e-9, "distance");
});

// --- camera and un-projection -------------------------------------------------------------------------------------
test("the camera: frustum of a 640x480 frame, a hand-computed point un-projected and projected back", () => {
  const f = frustum(MEDIAPIPE_CAMERA, 640, 480);
  const h = 2 * Math.tan((31.5 * Math.PI) / 180); // 1.225567...
  close(f.top, h / 2, 1e-12, "top");
  close(f.bottom, -h / 2, 1e-12, "bottom");
  close(f.right, (h * 640) / 480 / 2, 1e-12, "right");
  close(f.top, 0.6128008, 1e-6, "top by hand: tan(31.5°)");
  const w = f.right - f.left;
  // (u, v) = (0.75, 0.25), z = 0.1 (image widths): a quarter of the near plane right and up, z·w deep.
  const near = projectToNearPlane([0.75, 0.25, 0.1], 1, f);
  close(near[0]!, 0.25 * w, 1e-12, "x'");
  close(near[1]!, 0.25 * h, 1e-12, "y'");
  close(near[2]!, 0.1 * w, 1e-12, "z'");
  // depth = (z' - offset + near) / scale = (0 + 1) / 0.05 = 20: the point 20 cm along its ray.
  const metric = unproject(near, f, 0.1 * w, 0.05);
  close(metric[0]!, 0.25 * w * 20, 1e-10, "x");
  close(metric[1]!, 0.25 * h * 20, 1e-10, "y");
  close(metric[2]!, -20, 1e-12, "z");
  const [u, v] = projectToImage(f, metric[0]!, metric[1]!, metric[2]!);
  close(u, 0.75, 1e-12, "u");
  close(v, 0.25, 1e-12, "v");
  assert.ok(Number.isNaN(projectToImage(f, 0, 0, 5)[0]), "behind the camera");
  assert.throws(() => frustum(MEDIAPIPE_CAMERA, 0, 480), /frame size/);
});

/**
 * Screen landmarks of the canonical face at a known pose, as the landmark model would give them: perspective
 * x, y; z relative, proportional to the depth (scaled like x). Under MediaPipe's model such landmarks un-project
 * back to exactly R·c + t (the depth scale that makes them consistent is the one the fit converges to).
 */
function synthesize(m: GeometryMetadata, r: Float64Array, t: number[], width: number, height: number): Float32Array | Float64Array {
  const f = frustum(MEDIAPIPE_CAMERA, width, height);
  const p = transformPoints(m.canonical, r, 1, t);
  let meanDepth = 0;
  for (let i = 0; i < 468; i++) meanDepth -= p[3 * i + 2]! / 468;
  const out = new Float64Array(468 * 3);
  for (let i = 0; i < 468; i++) {
    const [u, v] = projectToImage(f, p[3 * i]!, p[3 * i + 1]!, p[3 * i + 2]!);
    out[3 * i] = u;
    out[3 * i + 1] = v;
    out[3 * i + 2] = ((f.near * -p[3 * i + 2]!) / meanDepth) / (f.right - f.left);
  }
  return out;
}

test("estimatePose recovers a known pose from landmarks synthesised with the camera model (468 and 478 points)", async () => {
  const m = await loadGeometryMetadata();
  for (const [angles, t, w, h] of [
    [{ pitch: 0, yaw: 0, roll: 0 }, [0, 0, -40], 640, 480],
    [{ pitch: 15, yaw: -30, roll: 8 }, [5, -3, -55], 1280, 720],
    [{ pitch: -25, yaw: 50, roll: -12 }, [-10, 4, -80], 480, 640],
  ] as const) {
    const r = rotationFromAngles(angles);
    const points = synthesize(m, r, [...t], w, h);
    const pose = estimatePose(points, w, h, m)!;
    assert.ok(pose, "a pose");
    assert.ok(rotationDistance(pose.rotation, r) < 1e-6, `rotation off by ${rotationDistance(pose.rotation, r)}°`);
    close(pose.scale, 1, 1e-9, "scale");
    for (let k = 0; k < 3; k++) close(pose.translation[k]!, t[k]!, 1e-7, `t[${k}]`);
    // Column-major matrix: s·R in the upper left, t in 12..14.
    close(pose.matrix[4]!, pose.rotation[1]! * pose.scale, 1e-12, "m[0][1]");
    close(pose.matrix[13]!, t[1]!, 1e-7, "m ty");
    const a = anglesFromRotation(pose.rotation);
    close(a.yaw, angles.yaw, 1e-6, "yaw");
    // 478 points (refined landmarks): the first 468 give the same pose.
    const more = new Float64Array(478 * 3);
    more.set(points);
    more.fill(0.5, 468 * 3);
    assert.deepEqual([...estimatePose(more, w, h, m)!.matrix], [...pose.matrix]);
  }
  // No pose for landmarks that are not finite or collapsed to a point; too few points is a caller's error.
  const nan = new Float64Array(468 * 3).fill(0.5);
  assert.equal(estimatePose(nan, 640, 480, m), null, "all points alike");
  nan[7] = Number.NaN;
  assert.equal(estimatePose(nan, 640, 480, m), null, "NaN");
  assert.throws(() => estimatePose(new Float64Array(30), 640, 480, m), /10 landmarks/);
});
