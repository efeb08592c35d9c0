/**
 * `db:` jobs (NOVA.md §8) through the whole server: /process with NOVA's fields, the job's process reading the
 * Sessions and Streams collections through the real driver (stand-in or FACEMESH_TEST_MONGODB_URI), one run per
 * session, files under `<data_dir>/<dataset>/<session>/`, Streams documents upserted; and every error a NOVA user
 * can meet, each ending the job as ERROR with a log line that says what is wrong. The module here is a small
 * fixture (test/fixtures/cml_db) that writes a real SSI stream; the real facemesh module is replayed in
 * server_nova_replay.test.ts.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { JobStatus } from "../lib/server/job_store.js";
import type { JobSummary } from "../lib/server/job_view.js";
import { readSsiStream } from "../lib/ssi/stream.js";
import { makeRoot, PROJECT_ROOT, start, type Started } from "./server_helpers.js";
import { openTestDb, type TestDb } from "./support/test_db.js";

const { FINISHED, ERROR } = JobStatus;
const CML_DB = path.join(PROJECT_ROOT, "test/fixtures/cml_db");
const TRAINER = "modules\\sessions\\sessions.trainer";

interface DbServer extends Started {
  dataDirs: string[];
  tdb: TestDb;
  dataset: string;
}

async function dbServer(t: TestContext, dbTimeoutMs = 5000): Promise<DbServer> {
  const tdb = await openTestDb(t);
  const r = makeRoot(t);
  const dataDirs = [path.join(r.root, "nova-data-1"), path.join(r.root, "nova-data-2")];
  for (const d of dataDirs) mkdirSync(d);
  const started = await start(t, { ...r, flags: { ...r.flags, cmlDir: CML_DB, dataDir: dataDirs.join(";") } }, { dbTimeoutMs });
  const dataset = tdb.newDataset();
  await tdb.insert(dataset, "Sessions", [{ name: "s1" }, { name: "s2" }, { name: "s3" }]);
  await tdb.insert(dataset, "Streams", [
    { name: "video", fileExt: "mp4", type: "video", sr: 25, isValid: true },
    { name: "face_bb", fileExt: "stream", type: "feature;face;boundingbox;blazeface", sr: 25, isValid: true },
  ]);
  return { ...started, dataDirs, tdb, dataset };
}

/** Puts a session's input files into a data dir; returns their contents. */
function seedSession(dataDir: string, dataset: string, session: string, files: Record<string, string>): void {
  const dir = path.join(dataDir, dataset, session);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
}

function novaData(overrides: { video?: string; output?: Record<string, unknown> | null; extra?: object[] } = {}): string {
  const entries: object[] = [
    { id: "data", type: "input", src: "db:stream:Video", name: overrides.video ?? "video", role: "subject", active: true },
    { id: "bounding_box", type: "input", src: "db:stream:SSIStream:feature;face;boundingbox", name: "face_bb", role: "subject", active: true },
  ];
  if (overrides.output !== null) entries.push({ id: "landmarks", type: "output", src: "db:stream:SSIStream:test;sizes", name: "sizes", role: "subject", active: true, kind: "stream", ...overrides.output });
  return JSON.stringify([...entries, ...(overrides.extra ?? [])]);
}

function novaForm(s: DbServer, jobID: string, sessions: string[], data = novaData(), extra: Record<string, string> = {}): Record<string, string> {
  return {
    jobID,
    trainerFilePath: TRAINER,
    dbHost: s.tdb.host,
    dbPort: String(s.tdb.port),
    dbUser: s.tdb.user,
    dbPassword: s.tdb.password,
    leftContext: "0",
    rightContext: "0",
    frameSize: "0",
    data,
    options: "{}",
    force: "True",
    sessions: JSON.stringify(sessions),
    dataset: s.dataset,
    ...extra,
  };
}

async function runJob(s: DbServer, form: Record<string, string>): Promise<{ status: JobStatus; log: string; summary: JobSummary }> {
  const res = await s.client.post("/process", form, true);
  assert.equal(res.status, 200, res.text());
  const status = (await s.client.waitFor(form.jobID, [FINISHED, ERROR, JobStatus.CANCELED], 60_000)) as JobStatus;
  const log = await s.client.log(form.jobID);
  const all = (await s.client.request("GET", "/job_status_all")).json<JobSummary[]>();
  return { status, log, summary: all.find((j) => j.job_key === form.jobID)! };
}

/** The job failed, its log's last line says `pattern`, and the password shows up nowhere. */
function assertFailed(s: DbServer, r: { status: JobStatus; log: string; summary: JobSummary }, pattern: RegExp): void {
  assert.equal(r.status, ERROR, r.log);
  const last = r.log.trimEnd().split("\n").at(-1)!;
  assert.match(last, /CRITICAL Job failed with exception /);
  assert.match(last, pattern);
  for (const text of [r.log, JSON.stringify(r.summary)]) assert.ok(!text.includes(s.tdb.password), "the password leaked");
  assert.deepEqual(s.tdb.unexpected(), []);
}

test("db: inputs and outputs over two sessions: files found across data dirs, outputs beside them, Streams upserted, progress k/N", async (t) => {
  const s = await dbServer(t);
  // Session s1 lives in the second data dir only; s2 in the first. Outputs go where each session's folder is.
  seedSession(s.dataDirs[1], s.dataset, "s1", { "subject.video.mp4": "v".repeat(11), "subject.face_bb.stream": "b".repeat(5) });
  seedSession(s.dataDirs[0], s.dataset, "s2", { "subject.video.mp4": "v".repeat(13), "subject.face_bb.stream": "b".repeat(7) });
  const r = await runJob(s, novaForm(s, "12345678", ["s1", "s2"]));
  assert.equal(r.status, FINISHED, r.log);
  const expect = [
    [s.dataDirs[1], "s1", [5, 11]],
    [s.dataDirs[0], "s2", [7, 13]],
  ] as const;
  for (const [dir, session, sizes] of expect) {
    const out = path.join(dir, s.dataset, session, "subject.sizes.stream");
    const stream = await readSsiStream(out);
    assert.deepEqual([...stream.data], sizes, `${out}: one row per input (bbox, video sizes): the session's own files`);
  }
  assert.ok(!existsSync(path.join(s.dataDirs[0], s.dataset, "s1")), "no stray session folder in the first data dir");
  const docs = (await s.tdb.find(s.dataset, "Streams")).filter((d) => d.name === "sizes");
  assert.equal(docs.length, 1);
  assert.deepEqual(
    { name: docs[0].name, fileExt: docs[0].fileExt, sr: docs[0].sr, type: docs[0].type, dimlabels: docs[0].dimlabels, isValid: docs[0].isValid },
    { name: "sizes", fileExt: "stream", sr: 25, type: "test;sizes", dimlabels: [{ id: 0, name: "bytes" }], isValid: true },
  );
  assert.equal(r.summary.progress, "2/2");
  assert.match(r.log, /session 1\/2 's1': inputs data=.*nova-data-2.*subject\.video\.mp4/);
  assert.match(r.log, /session 2\/2 's2' done/);
  assert.match(r.log, /sessions fixture loaded/);
  assert.equal(r.log.match(/sessions fixture loaded/g)!.length, 1, "the module is loaded once for all sessions");
  assert.ok(!r.log.includes(s.tdb.password) && !r.summary.details.includes(s.tdb.password), "password masked");
  assert.deepEqual(s.tdb.unexpected(), []);
  const commands = s.tdb.commands();
  if (commands) t.diagnostic(`commands the stand-in answered: ${[...new Set(commands.map((c) => c.replace(/^[^.]*\./, "")))].join(", ")}`);
});

test("file: and db: entries mixed; an inactive db: output is not written", async (t) => {
  const s = await dbServer(t);
  seedSession(s.dataDirs[0], s.dataset, "s1", { "subject.video.mp4": "v".repeat(3) });
  const bbox = path.join(s.dataDirs[0], "elsewhere.stream");
  writeFileSync(bbox, "b".repeat(9));
  const data = JSON.stringify([
    { id: "data", type: "input", src: "db:stream:Video", name: "video", role: "subject", active: true },
    { id: "bounding_box", type: "input", src: "file:stream:SSIStream", uri: bbox },
    { id: "landmarks", type: "output", src: "db:stream:SSIStream:test;sizes", name: "sizes", role: "subject", active: true },
    { id: "copy", type: "output", src: "db:stream:SSIStream:test;sizes", name: "unused", role: "subject", active: false },
  ]);
  const r = await runJob(s, novaForm(s, "mixed001", ["s1"], data));
  assert.equal(r.status, FINISHED, r.log);
  assert.deepEqual([...(await readSsiStream(path.join(s.dataDirs[0], s.dataset, "s1", "subject.sizes.stream"))).data], [9, 3]);
  assert.ok(!existsSync(path.join(s.dataDirs[0], s.dataset, "s1", "subject.unused.stream")));
  assert.deepEqual((await s.tdb.find(s.dataset, "Streams")).map((d) => d.name).sort(), ["face_bb", "sizes", "video"], "no document for the inactive output");
});

test("a job failing on session 3 of 3 keeps sessions 1 and 2 and says which session failed and why", async (t) => {
  const s = await dbServer(t);
  for (const session of ["s1", "s2"]) seedSession(s.dataDirs[0], s.dataset, session, { "subject.video.mp4": "v", "subject.face_bb.stream": "b" });
  seedSession(s.dataDirs[0], s.dataset, "s3", { "subject.face_bb.stream": "b" }); // no video
  const r = await runJob(s, novaForm(s, "failing3", ["s1", "s2", "s3"]));
  const looked = [0, 1].map((i) => path.join(s.dataDirs[i], s.dataset, "s3", "subject.video.mp4"));
  assertFailed(s, r, new RegExp(`session 3/3 's3' failed: input 'data' \\(stream 'video', role 'subject'\\): file not found; looked for ${looked.map(escape).join(" and ")} \\(sessions 1-2 finished; their outputs are kept\\)`));
  for (const session of ["s1", "s2"]) assert.ok(existsSync(path.join(s.dataDirs[0], s.dataset, session, "subject.sizes.stream")), `${session} output kept`);
  assert.ok(!existsSync(path.join(s.dataDirs[0], s.dataset, "s3", "subject.sizes.stream")));
  assert.equal(r.summary.progress, "2/3");
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test("unknown dataset, session and stream name: the job ends as ERROR naming them", async (t) => {
  const s = await dbServer(t);
  seedSession(s.dataDirs[0], s.dataset, "s1", { "subject.video.mp4": "v", "subject.face_bb.stream": "b" });
  assertFailed(s, await runJob(s, { ...novaForm(s, "nodata01", ["s1"]), dataset: "no_such_dataset" }), /unknown dataset 'no_such_dataset'/);
  assertFailed(s, await runJob(s, novaForm(s, "nosess01", ["s1", "s9", "s8"])), new RegExp(`unknown sessions 's9', 's8' in dataset '${s.dataset}' \\(its Sessions include: 's1', 's2', 's3'\\)`));
  assertFailed(s, await runJob(s, novaForm(s, "nostrm01", ["s1"], novaData({ video: "camera" }))), /unknown stream 'camera' \(input 'data'\) in dataset '.*': its Streams collection has no such name \(it has: 'video', 'face_bb'\)/);
  assert.ok(!existsSync(path.join(s.dataDirs[0], s.dataset, "s1", "subject.sizes.stream")), "nothing written when the database says no");
});

test("a database that does not answer: the job ends as ERROR naming host:port within the timeout, no password", async (t) => {
  const s = await dbServer(t, 700);
  const silent = net.createServer();
  const held: net.Socket[] = [];
  silent.on("connection", (c) => held.push(c));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const c of held) c.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const r = await runJob(s, { ...novaForm(s, "silent01", ["s1"]), dbPort: String(port) });
  assertFailed(s, r, new RegExp(`the NOVA database at 127\\.0\\.0\\.1:${port} did not answer within 0\\.7 s`));
});

test("a wrong password: the job ends as ERROR with 'authentication failed', the password nowhere", async (t) => {
  const s = await dbServer(t);
  if (!s.tdb.user) return t.skip("FACEMESH_TEST_MONGODB_URI has no user");
  const wrong = "wrong-password-of-nova";
  const r = await runJob(s, { ...novaForm(s, "badauth1", ["s1"]), dbPassword: wrong });
  assertFailed(s, r, new RegExp(`authentication failed for user '${s.tdb.user}' at the NOVA database ${escape(`${s.tdb.host}:${s.tdb.port}`)}`));
  assert.ok(!r.log.includes(wrong) && !r.summary.details.includes(wrong));
  const logFile = readFileSync(r.summary.log_path, "utf8");
  assert.ok(!logFile.includes(wrong));
});

test("/process refuses db: requests it cannot run, naming the field", async (t) => {
  const s = await dbServer(t);
  const refused = async (form: Record<string, string>, field: string, pattern: RegExp) => {
    const res = await s.client.post("/process", form, true);
    assert.equal(res.status, 400, res.text());
    const body = res.json<{ error: string; field: string }>();
    assert.equal(body.field, field);
    assert.match(body.error, pattern);
    assert.ok(!res.text().includes(s.tdb.password));
  };
  const { dataset: _d, ...noDataset } = novaForm(s, "r1", ["s1"]);
  await refused(noDataset, "dataset", /missing field 'dataset'/);
  await refused({ ...novaForm(s, "r2", ["s1"]), sessions: "[]" }, "sessions", /non-empty JSON list/);
  await refused({ ...novaForm(s, "r3", ["../etc"]) }, "sessions", /must not contain/);
  await refused({ ...novaForm(s, "r4", ["s1"]), dbHost: "evil@host/x?authSource=y" }, "dbHost", /not a host name/);
  await refused({ ...novaForm(s, "r5", ["s1"]), dbPort: "70000" }, "dbPort", /not a port number/);
  await refused({ ...novaForm(s, "r6", ["s1"]), dataset: "a.b" }, "dataset", /not a MongoDB database name/);
  const fileOut = novaData({ output: null, extra: [{ id: "landmarks", type: "output", src: "file:stream:SSIStream", uri: path.join(s.dataDirs[0], "x.stream") }] });
  await refused(novaForm(s, "r7", ["s1", "s2"], fileOut), "data", /2 sessions with a file: or request: output/);
  await refused(novaForm(s, "r8", ["s1"], novaData({ output: { src: "db:stream:Video" } })), "data", /db: outputs must be SSI streams/);
  await refused(novaForm(s, "r9", ["s1"], novaData({ extra: [{ id: "anno", type: "input", src: "db:annotation:Discrete", scheme: "x", annotator: "y", role: "subject", name: "z" }] })), "data", /db:annotation sources are not supported/);
});
