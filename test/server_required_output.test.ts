/**
 * A request without the module's output (none given, or the only one `active: false`) is refused at /process,
 * naming the field, as a request without its video is. Found by a new user: such a facemesh job was accepted, ran
 * the whole video, and failed only in `write` ("missing output 'landmarks'").
 */
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { checkAgainstManifest } from "../lib/server/job_request.js";
import { HttpError } from "../lib/server/http_error.js";
import { readManifest } from "../lib/nova/manifest.js";
import { makeRoot, PROJECT_ROOT, start } from "./server_helpers.js";
import { makeFaceClip } from "./support/facemesh_harness.js";

const noDb = { inputs: [], outputs: [] };

test("checkAgainstManifest: a required output must be given (by its id or an alias); an optional one need not", () => {
  const io = {
    inputs: [{ id: "data", aliases: ["input_data"], data: "stream:Video", required: true }],
    outputs: [
      { id: "landmarks", aliases: ["output_stream"], data: "stream:SSIStream", required: true },
      { id: "extra", aliases: [], data: "stream:SSIStream" },
    ],
  };
  checkAgainstManifest({ inputs: { data: "/v" }, outputs: { output_stream: "/o" }, db: noDb }, io, "m");
  checkAgainstManifest({ inputs: { data: "/v" }, outputs: { landmarks: "/o" }, db: noDb }, io, "m");
  assert.throws(
    () => checkAgainstManifest({ inputs: { data: "/v" }, outputs: { extra: "/e" }, db: noDb }, io, "m"),
    (e: unknown) => e instanceof HttpError && e.status === 400 && /needs output 'landmarks' or 'output_stream'/.test(e.message),
  );
});

test("facemesh's manifest marks its landmark output required, the head pose optional", async () => {
  const m = await readManifest(PROJECT_ROOT);
  assert.deepEqual(m.io.outputs.map((o) => [o.id, o.required]), [["landmarks", true], ["head_pose", false]]);
});

test("/process refuses a facemesh request whose output is missing or inactive (400, field data), and accepts it with one", async (t) => {
  const r = makeRoot(t);
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  const video = await makeFaceClip(path.join(r.workDir, "face.mp4"), { frames: 3 });
  const { client } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml } });
  const input = { src: "file:stream:video", type: "input", id: "input_data", uri: video };
  const output = { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: path.join(r.workDir, "out.stream") };
  const post = (jobID: string, data: unknown[]) => client.post("/process", { jobID, trainerFilePath: "modules\\facemesh\\facemesh.trainer", data: JSON.stringify(data) });
  for (const [jobID, data] of [
    ["no-output", [input]],
    ["inactive-output", [input, { ...output, active: false }]],
  ] as const) {
    const res = await post(jobID, [...data]);
    assert.equal(res.status, 400, `${jobID}: ${res.text()}`);
    const body = res.json<{ error: string; field: string }>();
    assert.equal(body.field, "data");
    assert.match(body.error, /module facemesh needs output 'landmarks' or 'output_stream'/);
  }
  const ok = await post("with-output", [input, output]);
  assert.equal(ok.status, 200, ok.text());
  await client.post("/cancel", { jobID: "with-output" });
});
