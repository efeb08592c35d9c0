/**
 * The head's axes (lib/render/head_axes.ts) against a pinhole camera written here from the field of view alone
 * (focal length in pixels = (height/2) / tan(63°/2), principal point at the centre, y down on screen), the
 * directions each positive angle must turn them, and `facemesh render --head-pose` on a real face.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadGeometryMetadata } from "../lib/geometry/metadata.js";
import { headAxes, AXIS_COLORS, NOSE_TIP } from "../lib/render/head_axes.js";
import { decodeAll, makeFaceClip, readStreamFile, row as streamRow, runCli } from "./support/facemesh_harness.js";
import { tempDir } from "./support/media.js";

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("a frontal head 40 cm away: the axes' pixels from a pinhole camera with the same field of view", async () => {
  const m = await loadGeometryMetadata();
  const [w, h] = [640, 480];
  const focal = h / 2 / Math.tan((31.5 * Math.PI) / 180);
  const pinhole = (x: number, y: number, z: number) => [w / 2 + (focal * x) / -z - 0.5, h / 2 - (focal * y) / -z - 0.5];
  const [cx, cy, cz] = [...m.canonical.subarray(3 * NOSE_TIP, 3 * NOSE_TIP + 3)] as [number, number, number];
  const nose = [cx + 1, cy - 2, cz - 40];
  const axes = headAxes([0, 0, 0, 1, -2, -40, 0.9], w, h, m, 5)!;
  const expect = [pinhole(nose[0]!, nose[1]!, nose[2]!), pinhole(nose[0]! + 5, nose[1]!, nose[2]!), pinhole(nose[0]!, nose[1]! + 5, nose[2]!), pinhole(nose[0]!, nose[1]!, nose[2]! + 5)];
  for (const [k, got] of [axes.origin, ...axes.tips].entries()) {
    close(got[0], expect[k]![0]!, 1e-9, `point ${k} x`);
    close(got[1], expect[k]![1]!, 1e-9, `point ${k} y`);
  }
  // x to the right, y up on screen; the z axis (towards the camera) points away from the principal point.
  assert.ok(axes.tips[0][0] > axes.origin[0] + 50 && axes.tips[1][1] < axes.origin[1] - 50);
});

test("each positive angle turns the axes the way the README says", async () => {
  const m = await loadGeometryMetadata();
  const at = (pitch: number, yaw: number, roll: number) => headAxes([pitch, yaw, roll, 0, 0, -40, 1], 512, 512, m)!;
  const zTip = (a: ReturnType<typeof at>) => [a.tips[2][0] - a.origin[0], a.tips[2][1] - a.origin[1]];
  // Yaw > 0: the face turns towards image right (its own left); pitch > 0: it looks down.
  assert.ok(zTip(at(0, 30, 0))[0]! > 20, "yaw");
  assert.ok(zTip(at(0, -30, 0))[0]! < -20, "negative yaw");
  assert.ok(zTip(at(20, 0, 0))[1]! > 20, "pitch");
  // Roll > 0: counter-clockwise on screen, the top of the head towards image left.
  const up = at(0, 0, 20).tips[1];
  assert.ok(up[0] < at(0, 0, 20).origin[0] - 10, "roll");
  // Rows without a pose draw nothing.
  assert.equal(headAxes([0, 0, 0, 0, 0, 0, 0], 512, 512, m), null);
  assert.equal(headAxes([NaN, NaN, NaN, NaN, NaN, NaN, 0.1], 512, 512, m), null);
  assert.throws(() => headAxes([1, 2, 3], 512, 512, m), /7 values/);
});

let dir = "";
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir("facemesh-axes-"));
});
after(() => cleanup());

test("facemesh render --head-pose draws the axes at the nose tip of a real face", async () => {
  const image = await makeFaceClip(path.join(dir, "face.png"), { angle: "-0.8" });
  const out = path.join(dir, "face.stream");
  const pose = path.join(dir, "face.pose.stream");
  assert.equal((await runCli(["run", image, "--out", out, "--head-pose-out", pose])).code, 0);
  const count = async (file: string) => {
    const { frames } = await decodeAll(file);
    const counts = [0, 0, 0];
    const d = frames[0]!.data;
    for (let i = 0; i < d.length; i += 3) {
      AXIS_COLORS.forEach((c, k) => {
        // PNG output keeps the colours exactly.
        if (d[i] === c[0] && d[i + 1] === c[1] && d[i + 2] === c[2]) counts[k]!++;
      });
    }
    return counts;
  };
  const withAxes = path.join(dir, "axes.png");
  const res = await runCli(["render", image, "--stream", out, "--head-pose", pose, "--out", withAxes]);
  assert.equal(res.code, 0, res.stderr);
  const drawn = await count(withAxes);
  assert.ok(drawn.every((n) => n >= 10), `axis pixels ${drawn}`);
  const plain = path.join(dir, "plain.png");
  assert.equal((await runCli(["render", image, "--stream", out, "--out", plain])).code, 0);
  assert.ok((await count(plain)).every((n) => n < 3), "without --head-pose, no axes");
  const wrong = await runCli(["render", image, "--stream", out, "--head-pose", out, "--out", plain]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /face\.stream: not a head-pose stream: dim=937, expected 7/);
});

test("facemesh render with a refine_landmarks stream and its head pose: irises and axes together, in the colours asked", async () => {
  const image = await makeFaceClip(path.join(dir, "face478.png"), { angle: "-0.8" });
  const out = path.join(dir, "face478.stream");
  const pose = path.join(dir, "face478.pose.stream");
  const run = await runCli(["run", image, "--refine-landmarks", "--out", out, "--head-pose-out", pose]);
  assert.equal(run.code, 0, run.stderr);
  const { frames: src } = await decodeAll(image);
  const stream = await readStreamFile(out);
  assert.equal(stream.dim, 957);
  const row = streamRow(stream, 0);
  const { width, height } = src[0]!;
  const BLUE = [0, 0, 255];
  /** Pixels of `color`, and of them those within `r` px of each iris centre (468, 473). */
  const tally = async (file: string, color: readonly number[], r: number) => {
    const { frames } = await decodeAll(file);
    const d = frames[0]!.data;
    let all = 0;
    const near = [0, 0];
    for (let p = 0; p < d.length; p += 3) {
      if (d[p] !== color[0] || d[p + 1] !== color[1] || d[p + 2] !== color[2]) continue;
      all++;
      const x = (p / 3) % width;
      const y = Math.floor(p / 3 / width);
      [468, 473].forEach((c, k) => {
        if (Math.hypot(x - (row[2 * c + 1]! * width - 0.5), y - (row[2 * c]! * height - 0.5)) <= r) near[k]!++;
      });
    }
    return { all, near };
  };
  const both = path.join(dir, "both.png");
  const res = await runCli(["render", image, "--stream", out, "--head-pose", pose, "--draw", "points,irises", "--iris-color", "blue", "--out", both]);
  assert.equal(res.code, 0, res.stderr);
  // Iris radius: about a fifth of the eye width; circles lie within 15 px of the centres on this 512 px face.
  const irises = await tally(both, BLUE, 15);
  assert.ok(irises.near.every((n) => n >= 10), `iris circle pixels near each centre: ${irises.near}`);
  assert.ok(irises.near[0]! + irises.near[1]! >= 0.8 * irises.all, `iris pixels elsewhere: ${irises.all} in all`);
  const { frames } = await decodeAll(both);
  const d = frames[0]!.data;
  const axisPixels = AXIS_COLORS.map((c) => {
    let n = 0;
    for (let p = 0; p < d.length; p += 3) if (d[p] === c[0] && d[p + 1] === c[1] && d[p + 2] === c[2]) n++;
    return n;
  });
  assert.ok(axisPixels.every((n) => n >= 10), `axis pixels ${axisPixels}`);
  // Without "irises" in --draw: no circles.
  const none = path.join(dir, "no-irises.png");
  assert.equal((await runCli(["render", image, "--stream", out, "--draw", "points", "--iris-color", "blue", "--out", none])).code, 0);
  assert.ok((await tally(none, BLUE, 15)).all < 3, "no iris circles unless asked");
});
