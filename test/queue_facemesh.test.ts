/**
 * The facemesh module in queue mode, on real processes (a redis-server, `facemesh serve --queue`, two `facemesh
 * worker`s, the project linked into a cml_dir as NOVA users do): a long video's segments run on both workers and
 * the joined stream is byte for byte the unsplit `facemesh run`'s; a worker SIGKILLed mid-segment, and a job
 * cancelled while its segments run on both workers. The clip is generated from the photo shipped in the npm
 * packages (no ../shared needed): a turning face with frames without it, so tracks end and start again.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { before, test } from "node:test";
import { JobStatus } from "../lib/server/job_store.js";
import { eventually, makeRoot, PROJECT_ROOT, type ServerRoot } from "./server_helpers.js";
import { makeFaceClip, runCli } from "./support/facemesh_harness.js";
import { tempDir } from "./support/media.js";
import { logMatch, startCluster, startQueueServer, startWorker } from "./support/queue_cluster.js";
import { redisServerBinary, startRedis } from "./support/redis_server.js";

const redisBin = redisServerBinary();
const skip = "skip" in redisBin ? redisBin.skip : false;
const REDIS = "path" in redisBin ? redisBin.path : "";

const FRAMES = 300; // 12 s at 25 fps: 6 segments of 2 s
let clip: string;
let bbox: string;
let unsplit: Buffer;

before(async () => {
  if (skip) return;
  const { dir, cleanup } = await tempDir("facemesh-queue-clip-");
  process.on("exit", () => void cleanup());
  clip = await makeFaceClip(path.join(dir, "clip.mp4"), { frames: FRAMES, angle: "0.4*sin(2*t)-0.8", blackFrames: [20, 21, 99, 160], noise: 8 });
  bbox = path.join(dir, "clip.bbox.stream");
  const detected = await runCli(["detect", clip, "--out", bbox]);
  assert.equal(detected.code, 0, detected.stderr);
  const out = path.join(dir, "unsplit.stream");
  const run = await runCli(["run", clip, "--bbox", bbox, "--out", out, "--segment-seconds", "0"]);
  assert.equal(run.code, 0, run.stderr);
  unsplit = readFileSync(`${out}~`);
});

/** A root whose cml_dir holds the project as NOVA users link it. */
function facemeshRoot(t: Parameters<typeof makeRoot>[0]): { r: ServerRoot; cml: string } {
  const r = makeRoot(t);
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  mkdirSync(path.join(r.root, "out"));
  return { r, cml };
}

function form(r: ServerRoot, jobID: string, options: Record<string, unknown>): Record<string, string> {
  return {
    jobID,
    trainerFilePath: "modules\\facemesh\\facemesh.trainer",
    data: JSON.stringify([
      { src: "file:stream:video", type: "input", id: "input_data", uri: clip },
      { src: "file:stream:ssistream", type: "input", id: "face_bb", uri: bbox },
      { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: path.join(r.root, "out", `${jobID}.stream`) },
    ]),
    options: JSON.stringify(options),
  };
}

const outData = (r: ServerRoot, jobID: string) => path.join(r.root, "out", `${jobID}.stream~`);
const leftovers = (r: ServerRoot) => readdirSync(path.join(r.root, "out")).filter((f) => f.endsWith(".parts") || f.includes(".tmp") || f.startsWith(".facemesh"));

test("facemesh in queue mode: a video's segments run on two workers; the joined stream is the unsplit run's, byte for byte", { skip }, async (t) => {
  const { r, cml } = facemeshRoot(t);
  const { client } = await startCluster(t, r, REDIS, { cmlDir: cml, workers: ["w1", "w2"] });
  await client.post("/process", form(r, "job", { segment_seconds: 2 }));
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 180_000, 100), JobStatus.FINISHED, await client.log("job"));
  const log = await client.log("job");
  assert.match(log, /split into 6 parts/);
  assert.match(log, /\[w1\] part \d\/6 started/);
  assert.match(log, /\[w2\] part \d\/6 started/);
  assert.ok(readFileSync(outData(r, "job")).equals(unsplit), "the rows are those of the unsplit run");
  assert.deepEqual(leftovers(r), []);
  const all = (await client.request("GET", "/job_status_all")).json<Array<{ job_key: string; progress: string }>>();
  const [done, total] = all.find((j) => j.job_key === "job")!.progress.split("/").map(Number);
  assert.equal(done, total, "progress complete");
  assert.equal(total, FRAMES, "progress counts the video's frames");
});

test("facemesh in queue mode: a worker SIGKILLed while it runs a segment; the other worker runs it again, the stream is exact", { skip }, async (t) => {
  const { r, cml } = facemeshRoot(t);
  const redis = await startRedis(t, REDIS);
  const { client } = await startQueueServer(t, r, redis, cml);
  const w1 = await startWorker(t, r, redis, "w1", [], cml);
  await startWorker(t, r, redis, "w2", [], cml);
  await client.post("/process", form(r, "job", { segment_seconds: 2 }));
  // w1 is killed once one of its segments has started decoding (the model is loaded, rows are being made).
  const m = await logMatch(client, "job", /\[w1\] part (\d)\/6: facemesh /, 120_000);
  w1.child.kill("SIGKILL");
  await w1.exited();
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 180_000, 100), JobStatus.FINISHED, await client.log("job"));
  assert.match(await client.log("job"), new RegExp(`\\[w2\\] part ${m[1]}/6 started`), "the killed segment ran again on w2");
  assert.ok(readFileSync(outData(r, "job")).equals(unsplit), "the rows are those of the unsplit run");
  await eventually(() => (leftovers(r).length === 0 ? true : undefined), 10_000, "no leftovers");
});

test("facemesh in queue mode: a job cancelled while its segments run on two workers; every segment stops, nothing is written", { skip }, async (t) => {
  const { r, cml } = facemeshRoot(t);
  const { client } = await startCluster(t, r, REDIS, { cmlDir: cml, workers: ["w1", "w2"] });
  // 1-s segments at batch 1: twelve parts, each long enough to be caught running.
  await client.post("/process", form(r, "job", { segment_seconds: 1, batch_size: 1 }));
  await logMatch(client, "job", /\[w1\] part \d+\/12: facemesh /, 120_000);
  await logMatch(client, "job", /\[w2\] part \d+\/12: facemesh /, 120_000);
  assert.equal((await client.post("/cancel", { jobID: "job" })).status, 200);
  assert.equal(await client.waitFor("job", [JobStatus.CANCELED, JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.CANCELED, await client.log("job"));
  const log = await client.log("job");
  const done = log.match(/part \d+\/12 done/g)?.length ?? 0;
  assert.ok(done < 12, `${done} of 12 parts had finished`);
  assert.equal(existsSync(outData(r, "job")), false, "no stream");
  await eventually(() => (leftovers(r).length === 0 ? true : undefined), 30_000, "the parts folder to be removed");
});

test("facemesh in queue mode on NOVA's database request: each session on a worker, streams beside the sessions, Streams documents upserted", { skip }, async (t) => {
  const { openTestDb } = await import("./support/test_db.js");
  const { readSsiStream } = await import("../lib/ssi/stream.js");
  const tdb = await openTestDb(t);
  const { r, cml } = facemeshRoot(t);
  const dataDir = path.join(r.root, "nova-data");
  r.flags.dataDir = dataDir;
  const { client } = await startCluster(t, r, REDIS, { cmlDir: cml, workers: ["w1", "w2"] });
  const dataset = tdb.newDataset("nova_queue");
  const sessions = [
    { name: "session_a", frames: 8, angle: "0.15*sin(2*PI*t)" },
    { name: "session_b", frames: 6, angle: "-0.1" },
  ];
  await tdb.insert(dataset, "Sessions", sessions.map((s) => ({ name: s.name, isValid: true })));
  await tdb.insert(dataset, "Streams", [
    { name: "video", fileExt: "mp4", type: "video", sr: 25, dimlabels: [], isValid: true },
    { name: "face_bounding_box", fileExt: "stream", type: "feature;face;boundingbox;blazeface", sr: 25, dimlabels: [], isValid: true },
  ]);
  for (const s of sessions) {
    const dir = path.join(dataDir, dataset, s.name);
    mkdirSync(dir, { recursive: true });
    const video = await makeFaceClip(path.join(dir, "subject.video.mp4"), { frames: s.frames, angle: s.angle });
    const detect = await runCli(["detect", video, "--out", path.join(dir, "subject.face_bounding_box.stream")]);
    assert.equal(detect.code, 0, detect.stderr);
  }
  // The entries NOVA builds from the trainer's meta_io (server_nova_replay.test.ts replays that step).
  const data = JSON.stringify([
    { id: "data", type: "input", src: "db:stream:Video", name: "video", role: "subject", active: true },
    { id: "bounding_box", type: "input", src: "db:stream:SSIStream:feature;face;boundingbox", name: "face_bounding_box", role: "subject", active: true },
    { id: "landmarks", type: "output", src: "db:stream:SSIStream:feature;face;landmarks;facemesh", name: "face_mesh", role: "subject", active: true, kind: "stream" },
  ]);
  const form = { jobID: "20251206", trainerFilePath: "modules\\facemesh\\facemesh.trainer", dbHost: tdb.host, dbPort: String(tdb.port), dbUser: tdb.user, dbPassword: tdb.password, leftContext: "0", rightContext: "0", frameSize: "0", data, options: "{}", force: "True", sessions: JSON.stringify(sessions.map((s) => s.name)), dataset };
  assert.equal((await client.post("/process", form, true)).status, 200);
  assert.equal(await client.waitFor("20251206", [JobStatus.FINISHED, JobStatus.ERROR], 180_000, 100), JobStatus.FINISHED, await client.log("20251206"));
  const log = await client.log("20251206");
  assert.match(log, /split into 2 sessions/);
  for (const [i, s] of sessions.entries()) {
    assert.match(log, new RegExp(`\\[w\\d\\] session ${i + 1}/2 '${s.name}' done`));
    const stream = await readSsiStream(path.join(dataDir, dataset, s.name, "subject.face_mesh.stream"));
    assert.equal(stream.dim, 937);
    assert.equal(stream.rows, s.frames, `${s.name}: one row per frame`);
  }
  const docs = (await tdb.find(dataset, "Streams")).filter((d) => d.name === "face_mesh");
  assert.equal(docs.length, 1);
  assert.equal((docs[0] as { dimlabels: unknown[] }).dimlabels.length, 937);
  assert.ok(!log.includes(tdb.password));
  assert.deepEqual(tdb.unexpected(), []);
});

test("facemesh in queue mode, bad input: a bbox stream made for another video fails once, at planning, naming the file; nothing is written", { skip }, async (t) => {
  const { r, cml } = facemeshRoot(t);
  const { client } = await startCluster(t, r, REDIS, { cmlDir: cml, workers: ["w1"] });
  // A stream of another frame rate: plan's checks (as `facemesh run`'s) refuse it.
  const { writeFileSync } = await import("node:fs");
  const other = path.join(r.root, "other.bbox.stream");
  writeFileSync(other, readFileSync(bbox, "utf8").replace(/sr="[^"]*"/, 'sr="50.000000"'));
  writeFileSync(`${other}~`, readFileSync(`${bbox}~`));
  const f = form(r, "bad", { segment_seconds: 2 });
  f.data = f.data.replace(JSON.stringify(bbox), JSON.stringify(other));
  await client.post("/process", f);
  assert.equal(await client.waitFor("bad", [JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.ERROR);
  const log = await client.log("bad");
  assert.match(log, /Job failed with exception .*other\.bbox\.stream: made for 50 frames per second/);
  assert.equal(log.match(/job started/g)?.length, 1, "not retried: the same input fails on any worker");
  assert.equal(existsSync(outData(r, "bad")), false);
  assert.deepEqual(leftovers(r), []);
});
