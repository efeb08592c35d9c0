/**
 * NOVA's own request, replayed (NOVA.md §8): what NOVA's "NOVA-Server" window sends when a user runs facemesh on
 * two sessions of a NOVA database. The client reads /cml_info first and builds the data entries from the
 * trainer's meta_io as NOVA does (src db:stream:<sub>[:<specific>], name = the io's default stream, role, active =
 * default_active), then POSTs /process multipart over TLS (any certificate accepted) with every field NOVA
 * sends, polls /job_status and reads /log. The server is a real `facemesh serve` setup: this project linked into
 * cml_dir as modules/facemesh, a data folder holding one dataset of two sessions (a video made from the
 * npm-shipped photo and its bbox stream from `facemesh detect`), and NOVA's MongoDB (the stand-in, or a real one
 * with FACEMESH_TEST_MONGODB_URI). Then the same sessions again with refine_landmarks and the optional head pose
 * ticked: both outputs per session, their Streams documents with one dim label per dimension.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { NovaClient } from "../lib/server/client.js";
import { JobStatus } from "../lib/server/job_store.js";
import type { JobSummary } from "../lib/server/job_view.js";
import type { TrainerIoJson } from "../lib/server/trainer_info.js";
import { readSsiStream } from "../lib/ssi/stream.js";
import { makeRoot, PROJECT_ROOT, start } from "./server_helpers.js";
import { makeFaceClip, rowHasFace, runCli, ROW_DIM } from "./support/facemesh_harness.js";
import { openTestDb } from "./support/test_db.js";

const TRAINER = "modules\\facemesh\\facemesh.trainer";
const ROLE = "subject";
const SESSIONS = [
  { name: "session_a", frames: 8, angle: "0.15*sin(2*PI*t)" },
  { name: "session_b", frames: 6, angle: "-0.1" },
];

/** NOVA's jobID: an 8-digit number hashed from the job's parameters. */
function novaJobId(parts: string[]): string {
  return String(parseInt(createHash("sha256").update(parts.join("|")).digest("hex").slice(0, 12), 16) % 1e8).padStart(8, "0");
}

/** A data entry as NOVA's window builds it from one meta_io entry. */
function novaEntry(io: TrainerIoJson): Record<string, unknown> {
  const [, sub, ...specific] = io.data.split(":");
  const entry: Record<string, unknown> = {
    id: io.id,
    type: io.type,
    src: `db:stream:${sub}${specific.length ? `:${specific.join(":")}` : ""}`,
    name: io.default_value,
    role: ROLE,
    active: io.default_active,
  };
  if (io.type === "output") entry.kind = "stream";
  return entry;
}

test("NOVA's database request, replayed over TLS against facemesh serve: both sessions written, Streams documents upserted", async (t) => {
  const tdb = await openTestDb(t);
  const r = makeRoot(t, { useTls: true });
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  const dataDir = path.join(r.root, "nova-data");
  const { server } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml, dataDir } });
  assert.match(server.url, /^https:/);

  // NOVA connects over https and accepts any certificate.
  const nova = new NovaClient(server.url, { insecureTls: true });
  t.after(() => nova.close());

  // What NOVA reads first: /cml_info, trainer_ok values as JSON strings, meta_io a JSON string inside.
  const info = (await nova.post("/cml_info", {}, true)).json<{ trainer_ok: Record<string, unknown> }>();
  const trainerText = info.trainer_ok["modules/facemesh/facemesh.trainer"];
  assert.equal(typeof trainerText, "string", JSON.stringify(info));
  const trainer = JSON.parse(trainerText as string) as { meta_io: unknown; info_trained: unknown; meta_backend: string };
  assert.equal(typeof trainer.meta_io, "string");
  assert.equal(typeof trainer.info_trained, "boolean");
  assert.equal(trainer.info_trained, true);
  assert.equal(trainer.meta_backend.toLowerCase(), "nova-server", "NOVA lists only nova-server/Python backends");
  const io = JSON.parse(trainer.meta_io as string) as TrainerIoJson[];
  const entries = io.map(novaEntry);
  const names = Object.fromEntries(io.map((x) => [x.id, x.default_value!]));
  assert.deepEqual(names, { data: "video", bounding_box: "face_bounding_box", keypoints: "facial_landmarks", landmarks: "face_mesh", head_pose: "head_pose" });
  // The head pose is optional: NOVA sends it inactive until the user ticks it.
  assert.equal(entries.find((e) => e.id === "head_pose")?.active, false);

  // NOVA's database: one dataset, two sessions, the streams the inputs name.
  const dataset = tdb.newDataset("nova_demo");
  await tdb.insert(dataset, "Sessions", SESSIONS.map((s) => ({ name: s.name, language: "", location: "", duration: s.frames / 25, isValid: true })));
  await tdb.insert(dataset, "Streams", [
    { name: names.data, fileExt: "mp4", type: "video", sr: 25, dimlabels: [], isValid: true },
    { name: names.bounding_box, fileExt: "stream", type: "feature;face;boundingbox;blazeface", sr: 25, dimlabels: [], isValid: true },
  ]);
  for (const s of SESSIONS) {
    const dir = path.join(dataDir, dataset, s.name);
    mkdirSync(dir, { recursive: true });
    const video = await makeFaceClip(path.join(dir, `${ROLE}.${names.data}.mp4`), { frames: s.frames, angle: s.angle });
    const detect = await runCli(["detect", video, "--out", path.join(dir, `${ROLE}.${names.bounding_box}.stream`)]);
    assert.equal(detect.code, 0, detect.stderr);
  }

  const sessions = SESSIONS.map((s) => s.name);
  const options = { min_score_thresh: 0.5, batch_size: 50, device: "cpu", no_face: "zeros", tracking: true };
  const jobID = novaJobId([dataset, "annotator", sessions.join(";"), tdb.user, TRAINER, JSON.stringify(options)]);
  assert.match(jobID, /^\d{8}$/);
  const form: Record<string, string> = {
    jobID,
    trainerFilePath: TRAINER,
    dbHost: tdb.host,
    dbPort: String(tdb.port),
    dbUser: tdb.user,
    dbPassword: tdb.password,
    leftContext: "0",
    rightContext: "0",
    frameSize: "0",
    data: JSON.stringify(entries),
    options: JSON.stringify(options),
    force: "True",
    sessions: JSON.stringify(sessions),
    dataset,
  };
  const res = await nova.post("/process", form, true);
  assert.equal(res.status, 200, res.text());
  assert.deepEqual(res.json(), { success: "True" });

  // NOVA polls /job_status and parses `status` as an Int16.
  let status = -1;
  for (const end = Date.now() + 240_000; Date.now() < end; await new Promise((w) => setTimeout(w, 200))) {
    const body = (await nova.post("/job_status", { jobID }, true)).json<{ status: unknown }>();
    assert.match(String(body.status), /^-?\d+$/, "Int16.Parse must accept it");
    status = Number(body.status);
    if (status >= JobStatus.FINISHED) break;
  }
  const log = (await nova.post("/log", { jobID }, true)).json<{ message: string }>().message;
  assert.equal(status, JobStatus.FINISHED, log);
  assert.match(log, /session 1\/2 'session_a' done/);
  assert.match(log, /session 2\/2 'session_b' done/);
  assert.ok(!log.includes(tdb.password), "the password is not in the log");

  for (const s of SESSIONS) {
    const out = path.join(dataDir, dataset, s.name, `${ROLE}.${names.landmarks}.stream`);
    const stream = await readSsiStream(out);
    assert.equal(stream.dim, ROW_DIM, out);
    assert.equal(stream.rows, s.frames, `${out}: one row per video frame`);
    assert.equal(stream.header.meta.type, "feature;face;landmarks;facemesh");
    const data = stream.data as Float32Array;
    for (let i = 0; i < stream.rows; i++) assert.ok(rowHasFace(data, i * ROW_DIM), `${out}: frame ${i} has the face`);
  }
  const doc = (await tdb.find(dataset, "Streams")).find((d) => d.name === names.landmarks);
  assert.ok(doc, "NOVA lists the output: its Streams document exists");
  assert.equal(doc.fileExt, "stream");
  assert.equal(doc.sr, 25);
  assert.equal(doc.type, "feature;face;landmarks;facemesh");
  assert.equal(doc.isValid, true);
  assert.equal((doc.dimlabels as unknown[]).length, ROW_DIM);
  assert.deepEqual((doc.dimlabels as unknown[])[0], { id: 0, name: "y0" });
  assert.deepEqual((doc.dimlabels as unknown[])[ROW_DIM - 1], { id: ROW_DIM - 1, name: "confidence" });

  assert.ok(!(await tdb.find(dataset, "Streams")).some((d) => d.name === names.head_pose), "the inactive head pose was not written");

  const all = (await nova.request("GET", "/job_status_all")).json<JobSummary[]>();
  const mine = all.find((j) => j.job_key === jobID)!;
  assert.equal(mine.status, "FINISHED");
  assert.equal(mine.progress, "2/2");
  assert.ok(!mine.details.includes(tdb.password), "the password is not in /job_status_all");

  // The same sessions again with refine_landmarks and the head pose ticked: 957-value rows and a 7-value head
  // pose per session, each Streams document with one dim label per dimension.
  const refinedOptions = { ...options, refine_landmarks: true };
  const refinedID = novaJobId([dataset, "annotator", sessions.join(";"), tdb.user, TRAINER, JSON.stringify(refinedOptions)]);
  const refinedEntries = entries.map((e) => (e.id === "head_pose" ? { ...e, active: true } : e));
  const again = await nova.post("/process", { ...form, jobID: refinedID, data: JSON.stringify(refinedEntries), options: JSON.stringify(refinedOptions) }, true);
  assert.deepEqual(again.json(), { success: "True" });
  let refinedStatus = -1;
  for (const end = Date.now() + 240_000; Date.now() < end; await new Promise((w) => setTimeout(w, 200))) {
    refinedStatus = Number((await nova.post("/job_status", { jobID: refinedID }, true)).json<{ status: unknown }>().status);
    if (refinedStatus >= JobStatus.FINISHED) break;
  }
  assert.equal(refinedStatus, JobStatus.FINISHED, (await nova.post("/log", { jobID: refinedID }, true)).json<{ message: string }>().message);
  const REFINED_DIM = 957;
  for (const s of SESSIONS) {
    const dir = path.join(dataDir, dataset, s.name);
    const mesh = await readSsiStream(path.join(dir, `${ROLE}.${names.landmarks}.stream`));
    assert.equal(mesh.dim, REFINED_DIM);
    assert.equal(mesh.header.meta.points, "478");
    const pose = await readSsiStream(path.join(dir, `${ROLE}.${names.head_pose}.stream`));
    assert.equal(pose.dim, 7);
    assert.equal(pose.rows, s.frames);
    assert.equal(pose.header.meta.type, "feature;face;headpose;facemesh");
    const m = mesh.data as Float32Array;
    const p = pose.data as Float32Array;
    for (let i = 0; i < pose.rows; i++) {
      assert.ok(p.subarray(i * 7, i * 7 + 6).every(Number.isFinite) && p[i * 7 + 5]! < 0, `${s.name} frame ${i}: a pose in front of the camera`);
      assert.equal(p[i * 7 + 6], m[i * REFINED_DIM + REFINED_DIM - 1], `${s.name} frame ${i}: the landmark row's score`);
    }
  }
  const docs = await tdb.find(dataset, "Streams");
  const meshDoc = docs.find((d) => d.name === names.landmarks)!;
  const meshLabels = meshDoc.dimlabels as Array<{ id: number; name: string }>;
  assert.equal(meshLabels.length, REFINED_DIM, "one dim label per dimension of the 957-value stream");
  assert.deepEqual(meshLabels[2 * 473], { id: 946, name: "y473" });
  assert.deepEqual(meshLabels[REFINED_DIM - 1], { id: REFINED_DIM - 1, name: "confidence" });
  const poseDoc = docs.find((d) => d.name === names.head_pose);
  assert.ok(poseDoc, "NOVA lists the head pose");
  assert.equal(poseDoc.type, "feature;face;headpose;facemesh");
  assert.deepEqual((poseDoc.dimlabels as Array<{ name: string }>).map((l) => l.name), ["pitch", "yaw", "roll", "tx", "ty", "tz", "score"]);
  assert.deepEqual(tdb.unexpected(), [], "the flow sent only commands the stand-in implements");
});
