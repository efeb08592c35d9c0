/**
 * lib/inference/providers.ts, the one table from device to execution provider, graph, model-call batch and
 * install hint: every device has a row, an unknown one is refused with the list of valid ones, and the session
 * code's choices come from the table.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEVICES } from "../lib/inference/devices.js";
import { CPU_MODEL_BATCH, DEVICE_PROFILES, deviceProfile, modelBatchFor, modelSource, sessionOptions } from "../lib/inference/providers.js";

test("every device has a row; an unknown device is an error listing the valid ones", () => {
  assert.deepEqual(Object.keys(DEVICE_PROFILES).sort(), [...DEVICES].sort());
  for (const d of DEVICES) assert.ok(deviceProfile(d).installHint.length > 20, d);
  assert.throws(() => deviceProfile("tpu"), /^Error: unknown device 'tpu' \(valid: cpu, cuda, webgpu\)$/);
  assert.throws(() => deviceProfile("toString"), /unknown device 'toString'/);
});

test("the session code's choices come from the table", async () => {
  assert.equal(modelBatchFor("cpu", undefined), CPU_MODEL_BATCH);
  assert.equal(modelBatchFor("cuda", undefined), Number.POSITIVE_INFINITY);
  assert.equal(modelBatchFor("webgpu", 3), 3);
  assert.throws(() => modelBatchFor("cpu", 0), /modelBatch must be a positive integer/);
  assert.deepEqual(sessionOptions("webgpu", { threads: 2 }).executionProviders, ["webgpu"]);
  assert.equal(sessionOptions("cpu", { threads: 3 }).intraOpNumThreads, 3);
  // CUDA has no rewrite: it gets the file itself, without reading it.
  assert.equal(await modelSource("/nonexistent/model.onnx", "cuda", true), "/nonexistent/model.onnx");
  await assert.rejects(modelSource("/nonexistent/model.onnx", "cpu", true), /cannot read \/nonexistent\/model\.onnx/);
  assert.deepEqual([DEVICE_PROFILES.cpu.copies, DEVICE_PROFILES.cuda.copies, DEVICE_PROFILES.webgpu.copies], [true, false, false]);
});
