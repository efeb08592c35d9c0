/**
 * lib/inference/session.ts: sessions on the inference thread or the calling thread, model calls split into
 * chunks, the thread's lifetime. Outputs are compared between the ways of running the same model (they must
 * agree exactly: per item, the same kernels run on the same values).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { allocateSharedFloat32, createSession, type ModelSession } from "../lib/inference/session.js";
import { modelPath } from "../lib/convert/models.js";

const LANDMARK = modelPath("face_landmark");
const ITEM = 3 * 192 * 192;
const here = path.dirname(fileURLToPath(import.meta.url));

function crops(n: number): Float32Array {
  const x = allocateSharedFloat32(n * ITEM);
  let s = 3;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s >>> 8) / 16777216;
  }
  return x;
}

async function landmarks(session: ModelSession, x: Float32Array, n: number): Promise<Float32Array> {
  const { outputs } = await session.run(x.subarray(0, n * ITEM), [n, 3, 192, 192]);
  return outputs.landmarks;
}

test("worker and main thread, whole batch and chunks of 3: the same landmarks", async (t) => {
  if (!existsSync(LANDMARK)) return t.skip("models/face_landmark.onnx absent (npm run postinstall builds it)");
  const n = 7;
  const x = crops(n);
  const variants: Array<[string, ModelSession]> = [
    ["main, whole", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main", modelBatch: Number.POSITIVE_INFINITY })],
    ["worker, whole", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "worker", modelBatch: Number.POSITIVE_INFINITY })],
    ["worker, chunks of 3", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "worker", modelBatch: 3 })],
    ["main, chunks of 3", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main", modelBatch: 3 })],
  ];
  try {
    assert.deepEqual(variants.map(([, v]) => v.thread), ["main", "worker", "worker", "main"]);
    const reference = await landmarks(variants[0][1], x, n);
    assert.equal(reference.length, n * 1404);
    for (const [name, session] of variants.slice(1)) {
      assert.deepEqual(Array.from(await landmarks(session, x, n)), Array.from(reference), name);
    }
    // A plain (not shared) input works too: it is copied to the inference thread.
    assert.deepEqual(Array.from(await landmarks(variants[1][1], Float32Array.from(x.subarray(0, 2 * ITEM)), 2)), Array.from(reference.subarray(0, 2 * 1404)));
  } finally {
    for (const [, s] of variants) await s.release();
  }
});

test("on the inference thread, a model call leaves the JS thread free", async (t) => {
  if (!existsSync(LANDMARK)) return t.skip("models/face_landmark.onnx absent");
  const session = await createSession(LANDMARK, { devices: ["cpu"], threads: 1 });
  try {
    const x = crops(16);
    await landmarks(session, x, 16);
    let turns = 0;
    let done = false;
    const spin = (): void => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    await landmarks(session, x, 16);
    done = true;
    // onnxruntime-node on the calling thread would give one or two event-loop turns for the whole call.
    assert.ok(turns > 10, `only ${turns} event-loop turns while 16 crops ran`);
  } finally {
    await session.release();
  }
});

test("errors name the model and the problem; a released session refuses to run", async (t) => {
  await assert.rejects(createSession("/nonexistent/model.onnx", { devices: ["cpu"] }), /device cpu could not load \/nonexistent\/model\.onnx/);
  if (!existsSync(LANDMARK)) return t.skip("models/face_landmark.onnx absent");
  const session = await createSession(LANDMARK, { devices: ["cpu"], threads: 1 });
  await assert.rejects(session.run(crops(1), [2, 3, 192, 192]), /holds 110592 values, shape \[2,3,192,192\] needs 221184/);
  await session.release();
  await assert.rejects(session.run(crops(1), [1, 3, 192, 192]), /already released/);
  await assert.rejects(createSession(LANDMARK, { devices: ["cpu"], modelBatch: 0 }), /modelBatch must be a positive integer/);
});

test("a program that never releases its sessions still exits (the inference thread does not hold it)", (t) => {
  if (!existsSync(LANDMARK)) return t.skip("models/face_landmark.onnx absent");
  const session = path.join(here, "../lib/inference/session.js");
  const script = `
    const { createSession, allocateSharedFloat32 } = await import(${JSON.stringify(session)});
    const s = await createSession(${JSON.stringify(LANDMARK)}, { devices: ["cpu"], threads: 1 });
    const r = await s.run(allocateSharedFloat32(110592), [1, 3, 192, 192]);
    console.log(r.outputs.landmarks.length);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.error, undefined, "child timed out: the inference thread kept it alive");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "1404");
});
