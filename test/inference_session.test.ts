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
import { allocateSharedFloat32, balancedChunks, createSession, threadLayout, MAX_CPU_WORKERS, type ModelSession } from "../lib/inference/session.js";
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
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
  const n = 7;
  const x = crops(n);
  const variants: Array<[string, ModelSession]> = [
    ["main, whole", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main", modelBatch: Number.POSITIVE_INFINITY })],
    ["worker, whole", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "worker", modelBatch: Number.POSITIVE_INFINITY })],
    ["worker, chunks of 3", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "worker", modelBatch: 3 })],
    ["main, chunks of 3", await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main", modelBatch: 3 })],
    // Two inference threads, each with its own copy of the session: the batch's chunks are shared out.
    ["2 workers, chunks of 3", await createSession(LANDMARK, { devices: ["cpu"], threads: 2, thread: "worker", modelBatch: 3 })],
    ["2 workers, chunks of 8", await createSession(LANDMARK, { devices: ["cpu"], threads: 2, thread: "worker" })],
  ];
  try {
    assert.deepEqual(variants.map(([, v]) => v.thread), ["main", "worker", "worker", "main", "worker", "worker"]);
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

test("copies beyond the first load only when a batch has chunks to share out, or on loadAll", async (t) => {
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
  const x = crops(4);
  const reference = await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main" });
  const tracking = await createSession(LANDMARK, { devices: ["cpu"], threads: 2 });
  const detecting = await createSession(LANDMARK, { devices: ["cpu"], threads: 2, modelBatch: 2 });
  try {
    const want = Array.from(await landmarks(reference, x, 4));
    assert.equal(tracking.copies, 1);
    for (let i = 0; i < 3; i++) await landmarks(tracking, x.subarray(i * ITEM, (i + 1) * ITEM), 1);
    assert.equal(tracking.copies, 1, "one face at a time never needs the second copy");
    // 4 faces in chunks of 2: the first call runs on the loaded copy while the second one loads.
    assert.deepEqual(Array.from(await landmarks(detecting, x, 4)), want);
    await detecting.loadAll();
    assert.equal(detecting.copies, 2);
    assert.deepEqual(Array.from(await landmarks(detecting, x, 4)), want);
    await tracking.loadAll();
    assert.equal(tracking.copies, 2);
  } finally {
    for (const s of [reference, tracking, detecting]) await s.release();
  }
});

test("outputs written in place (shared buffers, chunked over two threads) equal the returned arrays", async (t) => {
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
  const n = 5;
  const x = crops(n);
  const reference = await createSession(LANDMARK, { devices: ["cpu"], threads: 1, thread: "main" });
  const pooled = await createSession(LANDMARK, { devices: ["cpu"], threads: 2, modelBatch: 2 });
  try {
    await pooled.loadAll();
    const want = await reference.run(x, [n, 3, 192, 192]);
    for (const [name, session] of [["worker threads", pooled], ["main thread", reference]] as const) {
      for (const shared of [true, false]) {
        const alloc = (k: number) => (shared ? allocateSharedFloat32(k) : new Float32Array(k));
        // One item of room to spare: only the first n items' worth may be written.
        const into = { landmarks: alloc((n + 1) * 1404).fill(-7), face_flag: alloc(n + 1).fill(-7) };
        const views = { landmarks: into.landmarks.subarray(0, n * 1404), face_flag: into.face_flag.subarray(0, n) };
        const got = await session.run(x, [n, 3, 192, 192], views);
        assert.equal(got.outputs.landmarks, views.landmarks, `${name}: the buffers given are the outputs`);
        assert.deepEqual(Array.from(views.landmarks), Array.from(want.outputs.landmarks), `${name}, shared ${shared}`);
        assert.deepEqual(Array.from(views.face_flag), Array.from(want.outputs.face_flag), `${name}, shared ${shared}`);
        assert.ok(into.landmarks.subarray(n * 1404).every((v) => v === -7) && into.face_flag[n] === -7, "nothing written past the batch");
      }
    }
    await assert.rejects(pooled.run(x, [n, 3, 192, 192], { landmarks: allocateSharedFloat32(7), face_flag: allocateSharedFloat32(n) }), /output buffer landmarks: 7 values for a batch of 5/);
  } finally {
    await reference.release();
    await pooled.release();
  }
});

test("balancedChunks: every thread gets as many chunks, sizes within one, none above the limit (hand-computed)", () => {
  const sizes = (batch: number, max: number, workers: number) => balancedChunks(batch, max, workers).map((c) => c.count);
  // 50 faces, chunks of at most 8, 2 threads: 50 / 16 -> 4 chunks per thread, 8 chunks of 6 or 7.
  assert.deepEqual(sizes(50, 8, 2), [6, 6, 6, 7, 6, 6, 6, 7]);
  assert.deepEqual(sizes(1, 8, 2), [1]); // one face: one chunk, one thread
  assert.deepEqual(sizes(3, 8, 2), [1, 2]);
  assert.deepEqual(sizes(16, 8, 2), [8, 8]);
  assert.deepEqual(sizes(17, 8, 2), [4, 4, 4, 5]);
  assert.deepEqual(sizes(50, 8, 1), [7, 7, 7, 7, 7, 7, 8]);
  for (const [batch, max, workers] of [[50, 8, 2], [256, 8, 2], [7, 3, 3], [100, 8, 8], [5, 8, 8]]) {
    const chunks = balancedChunks(batch, max, workers);
    // Contiguous, in order, covering the batch exactly.
    chunks.forEach((c, i) => assert.equal(c.start, i === 0 ? 0 : chunks[i - 1].start + chunks[i - 1].count));
    assert.equal(chunks.at(-1)!.start + chunks.at(-1)!.count, batch);
    assert.ok(chunks.every((c) => c.count >= 1 && c.count <= max), `${batch}/${max}/${workers}`);
    assert.ok(chunks.length === batch || chunks.length % workers === 0, `${batch}/${max}/${workers}: ${chunks.length} chunks`);
  }
});

test("threadLayout: one session copy per thread up to MAX_CPU_WORKERS, the rest as intra-op threads", () => {
  assert.deepEqual(threadLayout(1), { workers: 1, intraOp: 1 });
  assert.deepEqual(threadLayout(2), { workers: 2, intraOp: 1 });
  assert.deepEqual(threadLayout(MAX_CPU_WORKERS * 2), { workers: MAX_CPU_WORKERS, intraOp: 2 });
  assert.throws(() => threadLayout(0), /threads must be a positive integer, got 0/);
  assert.throws(() => threadLayout(1.5), /threads must be a positive integer/);
});

test("on the inference thread, a model call leaves the JS thread free", async (t) => {
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
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
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
  const session = await createSession(LANDMARK, { devices: ["cpu"], threads: 1 });
  await assert.rejects(session.run(crops(1), [2, 3, 192, 192]), /holds 110592 values, shape \[2,3,192,192\] needs 221184/);
  await session.release();
  // The same check before a batch is shared out among threads.
  const two = await createSession(LANDMARK, { devices: ["cpu"], threads: 2 });
  await assert.rejects(two.run(crops(3), [2, 3, 192, 192]), /holds 331776 values, shape \[2,3,192,192\] needs 221184/);
  await two.release();
  await assert.rejects(session.run(crops(1), [1, 3, 192, 192]), /already released/);
  await assert.rejects(createSession(LANDMARK, { devices: ["cpu"], modelBatch: 0 }), /modelBatch must be a positive integer/);
});

test("a program that never releases its sessions still exits (the inference thread does not hold it)", (t) => {
  assert.ok(existsSync(LANDMARK), `${LANDMARK} absent: the model build is incomplete (npm run build-models)`);
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
