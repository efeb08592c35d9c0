/**
 * The server over plain HTTP, started in this process on a free loopback port, running the fixture modules of
 * test/fixtures/cml in their own processes. Covers the seed request (NOVA.md §7), form and multipart bodies,
 * errors, crashes, cancel, queueing, uploads, results, limits and secrets.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { JobStatus } from "../lib/server/job_store.js";
import type { JobSummary } from "../lib/server/job_view.js";
import { safeJobName } from "../lib/server/job_names.js";
import {
  eventually,
  expectedFixtureOutput,
  FIXTURE_CML,
  LOG_LINE,
  loggedPid,
  makeRoot,
  processAlive,
  read,
  SEED_JOB_ID,
  seedForm,
  start,
} from "./server_helpers.js";

const { WAITING, RUNNING, FINISHED, ERROR, CANCELED } = JobStatus;

function sleeperForm(jobID: string, options: Record<string, unknown> = {}): Record<string, string> {
  return { jobID, trainerFilePath: "modules/sleeper/sleeper.trainer", data: "[]", options: JSON.stringify(options) };
}

function crasherForm(jobID: string, mode: string): Record<string, string> {
  return { jobID, trainerFilePath: "modules\\crasher\\crasher.trainer", data: "[]", options: JSON.stringify({ mode }) };
}

test("the seed request (form-encoded, Unicode jobID, backslash trainerFilePath) finishes and writes its output", async (t) => {
  process.env.FIXTURE_VISIBLE = "yes";
  process.env.FIXTURE_HIDDEN = "should-not-reach-the-module";
  t.after(() => {
    delete process.env.FIXTURE_VISIBLE;
    delete process.env.FIXTURE_HIDDEN;
  });
  const r = makeRoot(t);
  const { client, config } = await start(t, r);
  const res = await client.post("/process", seedForm());
  assert.equal(res.status, 200, res.text());
  assert.deepEqual(res.json(), { success: "True" });
  assert.equal(await client.waitFor(SEED_JOB_ID, [FINISHED, ERROR]), FINISHED, await client.log(SEED_JOB_ID));

  const out = path.join(r.workDir, "path/to/my/stream.stream");
  assert.equal(read(out), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }), "ids as sent (aliases), inputs hashed by the module");

  const log = await client.log(SEED_JOB_ID);
  for (const line of log.trimEnd().split("\n")) assert.match(line, LOG_LINE);
  assert.match(log, /fixture says hello on stdout/, "module stdout lands in the job log");
  assert.match(log, /FIXTURE_VISIBLE=yes FIXTURE_HIDDEN=absent/, "only the manifest's permitted environment reaches the module");
  assert.match(log, /job finished/);
  const logFile = path.join(config.logDir, `${safeJobName(SEED_JOB_ID)}.log`);
  assert.equal(read(logFile), log, "the log file name is derived from (not equal to) the Unicode id");

  const plain = await client.request("GET", `/log/${encodeURIComponent(SEED_JOB_ID)}`);
  assert.equal(plain.status, 200);
  assert.match(String(plain.headers["content-type"]), /^text\/plain/);
  assert.equal(plain.text(), log);

  const all = (await client.request("GET", "/job_status_all")).json<JobSummary[]>();
  const mine = all.find((j) => j.job_key === SEED_JOB_ID)!;
  assert.equal(mine.status, "FINISHED");
  assert.equal(mine.progress, "2/2");
  assert.equal(mine.module_name, "fixture");
  assert.equal(mine.job_type, "process");
  assert.match(mine.start_time, /^\d\d\/\d\d\/\d{4}, \d\d:\d\d:\d\d$/, "DISCOVER's time format");
  assert.equal(mine.log_path, logFile);
  assert.ok(!mine.details.includes("hunter2-db-secret"), "dbPassword is masked in details");
  assert.match(mine.details, /somethingNew/, "unknown fields are kept (masked) in details but otherwise ignored");
});

test("multipart and JSON bodies work like form bodies", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const multi = await client.post("/process", seedForm("multi-1", "out/multi.stream"), true);
  assert.equal(multi.status, 200, multi.text());
  assert.equal(await client.waitFor("multi-1", [FINISHED, ERROR]), FINISHED, await client.log("multi-1"));
  assert.equal(read(path.join(r.workDir, "out/multi.stream")), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }));
  const status = await client.request("POST", "/job_status", { multipart: { jobID: "multi-1", extra: "x" } });
  assert.deepEqual(status.json(), { status: FINISHED });

  const form = seedForm("json-1", "out/json.stream");
  const json = await client.request("POST", "/process", { json: { ...form, data: JSON.parse(form.data), options: { batch_size: 5 } } });
  assert.equal(json.status, 200, json.text());
  assert.equal(await client.waitFor("json-1", [FINISHED, ERROR]), FINISHED, await client.log("json-1"));
  assert.match(await client.log("json-1"), /options \{"batch_size":5\}/);
});

test("missing fields, unknown jobs and bad requests get clear errors and leave the server working", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const expectError = async (res: Awaited<ReturnType<typeof client.post>>, status: number, pattern: RegExp) => {
    assert.equal(res.status, status, res.text());
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    const body = res.json<{ success: string; error: string }>();
    assert.equal(body.success, "False");
    assert.match(body.error, pattern);
  };
  await expectError(await client.post("/process", { jobID: "x", data: "[]" }), 400, /missing field 'trainerFilePath'/);
  await expectError(await client.post("/process", { jobID: "x", trainerFilePath: "modules/sleeper/sleeper.trainer" }), 400, /missing field 'data'/);
  await expectError(await client.post("/job_status", {}), 400, /missing field 'jobID'/);
  for (const p of ["/job_status", "/log", "/cancel", "/fetch_result"]) {
    await expectError(await client.post(p, { jobID: "no-such-job" }), 404, /unknown jobID 'no-such-job'/);
  }
  await expectError(await client.request("GET", "/log/no-such-job"), 404, /unknown jobID/);
  await expectError(await client.request("GET", "/nowhere"), 404, /no endpoint/);
  await expectError(await client.request("GET", "/process"), 405, /use POST/);
  await expectError(await client.request("POST", "/process", { raw: Buffer.from("x"), type: "text/csv" }), 415, /Content-Type/);

  // trainerFilePath escaping cml_dir: refused, recorded as ERROR with the reason in the job's log.
  await expectError(await client.post("/process", { ...seedForm("escape"), trainerFilePath: "..\\..\\etc" }), 400, /must not contain '\.\.'/);
  assert.equal(await client.status("escape"), ERROR);
  assert.match(await client.log("escape"), /CRITICAL Job failed with exception trainerFilePath '\.\.\\\.\.\\etc': must not contain/);
  await expectError(await client.post("/process", { ...seedForm("nomod"), trainerFilePath: "modules\\nothing\\x.trainer" }), 400, /no such trainer .*available: .*modules\/fixture\/fixture\.trainer/);
  await expectError(await client.post("/process", { ...seedForm("py"), trainerFilePath: "modules\\python_only\\python_only.trainer" }), 400, /no nova-plugin\.json: Python modules are not supported by this server/);
  await expectError(await client.post("/process", { ...seedForm("badm"), trainerFilePath: "modules/badmanifest/badmanifest.trainer" }), 400, /invalid plugin manifest: 'entry\.source' and 'entry\.main' are required/);

  // Missing input file, db: source, data that is not JSON.
  const missing = seedForm("missing-input");
  missing.data = missing.data.replace("path/to/my/file.mp4", "path/to/my/none.mp4");
  await expectError(await client.post("/process", missing), 400, /input_data.*input file not found: .*path\/to\/my\/none\.mp4/);
  assert.equal(await client.status("missing-input"), ERROR);
  const db = seedForm("db-input");
  db.data = db.data.replace('"file:stream:ssiStream"', '"db:stream:SSIStream:feature;face;boundingbox"');
  await expectError(await client.post("/process", db), 400, /data entry 'face_bb' .*'name' must be a non-empty string/);
  await expectError(await client.post("/process", { ...seedForm("notjson"), data: "[{" }), 400, /field 'data' is not valid JSON/);
  const noRequired = seedForm("no-video");
  noRequired.data = JSON.stringify(JSON.parse(noRequired.data).filter((e: { id: string }) => e.id !== "input_data"));
  await expectError(await client.post("/process", noRequired), 400, /needs input 'data' or 'input_data' or 'video'/);

  // After all that, a good job still runs.
  assert.equal((await client.post("/process", seedForm("after-errors", "out/after.stream"))).status, 200);
  assert.equal(await client.waitFor("after-errors", [FINISHED, ERROR]), FINISHED);
});

test("a module that throws, exits, aborts, runs out of memory or is killed ends as ERROR with the reason in its log", async (t) => {
  const r = makeRoot(t, { jobs: 4, jobMemoryMb: 64 });
  const { client } = await start(t, r);
  const cases: Array<[string, RegExp]> = [
    ["throw", /fixture crash: predict failed on purpose \(mode throw\)/],
    ["exit", /exited with code 7 before the job was done/],
    ["abort", /killed by SIGABRT/],
    ["oom", /heap out of memory/i],
  ];
  for (const [mode] of cases) assert.equal((await client.post("/process", crasherForm(`crash-${mode}`, mode))).status, 200);
  for (const [mode, reason] of cases) {
    assert.equal(await client.waitFor(`crash-${mode}`, [FINISHED, ERROR, CANCELED], 60_000), ERROR);
    const log = await client.log(`crash-${mode}`);
    assert.match(log, reason, `mode ${mode}: ${log}`);
    assert.match(log, /CRITICAL Job failed with exception/);
  }

  // Killed from outside (as the OOM killer would).
  assert.equal((await client.post("/process", sleeperForm("killed"))).status, 200);
  const pid = await loggedPid(client, "killed");
  process.kill(pid, "SIGKILL");
  assert.equal(await client.waitFor("killed", [FINISHED, ERROR, CANCELED]), ERROR);
  assert.match(await client.log("killed"), /killed by SIGKILL/);
  // The server is unharmed.
  assert.equal((await client.post("/process", seedForm("after-crashes", "out/a.stream"))).status, 200);
  assert.equal(await client.waitFor("after-crashes", [FINISHED, ERROR]), FINISHED);
});

test("cancel stops a running job's process (also one that blocks its event loop); jobs beyond --jobs wait", async (t) => {
  const r = makeRoot(t, { jobs: 1 });
  const { client } = await start(t, r);
  for (const id of ["q1", "q2", "q3"]) assert.equal((await client.post("/process", sleeperForm(id, { sleep_ms: 60_000 }))).status, 200);
  await client.waitFor("q1", [RUNNING]);
  assert.equal(await client.status("q2"), WAITING, "--jobs 1: the second job waits");
  assert.equal(await client.status("q3"), WAITING);

  // A waiting job is cancelled without ever starting.
  assert.deepEqual((await client.post("/cancel", { jobID: "q3" })).json(), { success: "true" });
  assert.equal(await client.status("q3"), CANCELED);
  assert.doesNotMatch(await client.log("q3"), /job started/);

  // Cancel a running job; time from the request to the process being gone.
  const pid = await loggedPid(client, "q1");
  const t0 = performance.now();
  const res = await client.post("/cancel", { jobID: "q1" });
  const answered = performance.now() - t0;
  assert.deepEqual(res.json(), { success: "true" });
  assert.equal(await client.status("q1"), CANCELED, "/cancel answers once the job has stopped");
  const gone = await eventually(() => (processAlive(pid) ? undefined : performance.now() - t0), 5000, "process exit");
  t.diagnostic(`cancel of a sleeping job: answered after ${answered.toFixed(0)} ms, process gone after ${gone.toFixed(0)} ms`);
  assert.match(await client.log("q1"), /Action successfully canceled/);

  // The queue moves on: q2 runs now. It blocks its event loop, so only SIGKILL (after the grace period) stops it.
  await client.waitFor("q2", [RUNNING]);
  await client.post("/process", sleeperForm("busy", { sleep_ms: 60_000, busy: true }));
  const pid2 = await loggedPid(client, "q2");
  await client.post("/cancel", { jobID: "q2" });
  await client.waitFor("busy", [RUNNING]);
  const busyPid = await loggedPid(client, "busy");
  const t1 = performance.now();
  assert.deepEqual((await client.post("/cancel", { jobID: "busy" })).json(), { success: "true" });
  const busyGone = await eventually(() => (processAlive(busyPid) ? undefined : performance.now() - t1), 5000, "busy process exit");
  t.diagnostic(`cancel of an event-loop-blocking job (SIGTERM ignored, SIGKILL after 500 ms): process gone after ${busyGone.toFixed(0)} ms`);
  assert.equal(await client.status("busy"), CANCELED);
  assert.ok(!processAlive(pid2));
  // Cancelling a job that is over is not an error, it just does nothing.
  assert.deepEqual((await client.post("/cancel", { jobID: "busy" })).json(), { success: "false" });
});

test("--jobs 2 runs two jobs at once; a running jobID cannot be submitted again", async (t) => {
  const r = makeRoot(t, { jobs: 2 });
  const { client } = await start(t, r);
  for (const id of ["p1", "p2", "p3"]) await client.post("/process", sleeperForm(id, { sleep_ms: 60_000 }));
  await client.waitFor("p1", [RUNNING]);
  await client.waitFor("p2", [RUNNING]);
  assert.equal(await client.status("p3"), WAITING);
  const again = await client.post("/process", sleeperForm("p1"));
  assert.equal(again.status, 409);
  assert.match(again.json<{ error: string }>().error, /still RUNNING/);

  // 50 status polls at once while jobs run: all answered.
  const latencies: number[] = [];
  const answers = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const t0 = performance.now();
      const s = await client.status(["p1", "p2", "p3"][i % 3]);
      latencies.push(performance.now() - t0);
      return s;
    }),
  );
  assert.equal(answers.length, 50);
  assert.ok(answers.every((s) => s === RUNNING || s === WAITING));
  latencies.sort((a, b) => a - b);
  t.diagnostic(`50 concurrent /job_status: median ${latencies[25].toFixed(1)} ms, max ${latencies[49].toFixed(1)} ms`);

  // GET / lists the jobs with cancel buttons for the active ones.
  const page = await client.request("GET", "/");
  assert.match(String(page.headers["content-type"]), /^text\/html/);
  assert.match(page.text(), /<td>p1<\/td>.*RUNNING/);
  assert.equal((page.text().match(/class="cancel"/g) ?? []).length, 3);

  // Progress from outside (DISCOVER's /api/update_progress, JSON).
  const upd = await client.request("POST", "/api/update_progress", { json: { job_key: "p3", progress: "7/9" } });
  assert.deepEqual(upd.json(), { success: true });
  const all = (await client.request("GET", "/job_status_all")).json<JobSummary[]>();
  assert.equal(all.find((j) => j.job_key === "p3")!.progress, "7/9");
  const bad = await client.request("POST", "/api/update_progress", { json: { job_key: "p3" } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json(), { success: false, error: "Missing job_key or progress" });
  for (const id of ["p3", "p1", "p2"]) await client.post("/cancel", { jobID: id });
});

test("secrets never reach logs, job details or /job_status_all", async (t) => {
  const r = makeRoot(t);
  const { client, config } = await start(t, r);
  const form = { ...seedForm("secretive", "out/s.stream"), options: JSON.stringify({ api_token: "tok-0123456789", batch_size: 2 }), optStr: "password=opt-pass-42;x=1" };
  assert.equal((await client.post("/process", form)).status, 200);
  assert.equal(await client.waitFor("secretive", [FINISHED, ERROR]), FINISHED);
  const log = await client.log("secretive");
  assert.match(log, /fixture load, options \{"password":"\*\*\*\*","x":"1","api_token":"\*\*\*\*","batch_size":2\}/, "the module echoed its options; the values were scrubbed");
  const everything = [
    log,
    (await client.request("GET", "/job_status_all")).text(),
    (await client.request("GET", "/")).text(),
    ...readdirSync(config.logDir).filter((f) => f.endsWith(".log")).map((f) => read(path.join(config.logDir, f))),
  ].join("\n");
  for (const secret of ["hunter2-db-secret", "tok-0123456789", "opt-pass-42"]) assert.ok(!everything.includes(secret), `${secret} leaked`);
  // The job database holds only masked details too.
  const db = readFileSync(path.join(config.logDir, "jobs.sqlite3"));
  for (const secret of ["hunter2-db-secret", "tok-0123456789", "opt-pass-42"]) assert.ok(!db.includes(secret), `${secret} in jobs.sqlite3`);
});

test("uploads get random names and a size limit; an uploaded name works as an input; body limits hold", async (t) => {
  const r = makeRoot(t, { maxUploadMb: 1, maxBodyMb: 1 });
  const { client, config } = await start(t, r);
  const upload = (data: Buffer, name: string) => client.request("POST", "/upload", { multipart: { note: "x" }, file: { field: "file", name, data } });
  const a = await upload(r.video, "My Video ´.mp4");
  const b = await upload(r.bbox, "boxes.stream");
  assert.equal(a.status, 200, a.text());
  assert.match(a.text(), /^upload-[0-9a-f]{24}\.mp4$/);
  assert.match(b.text(), /^upload-[0-9a-f]{24}\.stream$/);
  assert.deepEqual(readFileSync(path.join(config.tmpDir, a.text())), r.video);

  const form = seedForm("from-uploads", "out/up.stream");
  form.data = JSON.stringify([
    { src: "file:stream:video", type: "input", id: "input_data", uri: a.text() },
    { src: "file:stream:SSIStream", type: "input", id: "face_bb", uri: b.text() },
    { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: "out/up.stream" },
  ]);
  assert.equal((await client.post("/process", form)).status, 200);
  assert.equal(await client.waitFor("from-uploads", [FINISHED, ERROR]), FINISHED, await client.log("from-uploads"));
  assert.equal(read(path.join(r.workDir, "out/up.stream")), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }));

  const before = readdirSync(config.tmpDir).sort();
  const big = await upload(Buffer.alloc(1024 * 1024 + 10), "big.mp4");
  assert.equal(big.status, 413, big.text());
  assert.match(big.json<{ error: string }>().error, /larger than the limit/);
  assert.deepEqual(readdirSync(config.tmpDir).sort(), before, "nothing of the refused upload stays in tmp_dir");
  const noFile = await client.request("POST", "/upload", { multipart: { file: "just text" } });
  assert.equal(noFile.status, 400);
  assert.match(noFile.json<{ error: string }>().error, /missing file part 'file'/);

  const hugeForm = await client.post("/process", { ...seedForm("huge"), padding: "x".repeat(1024 * 1024 + 1) });
  assert.equal(hugeForm.status, 413);
  const hugeMulti = await client.post("/process", { ...seedForm("huge"), padding: "x".repeat(1024 * 1024 + 1) }, true);
  assert.equal(hugeMulti.status, 413);
  assert.equal((await client.request("GET", "/job_status_all")).status, 200, "the server still answers");
});

test("/fetch_result serves a job's request: outputs, one file as is, several as a zip, only that job's files", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const expected = expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox });
  const requestJob = (jobID: string, outputs: object[]) => {
    const form = seedForm(jobID);
    form.data = JSON.stringify([...JSON.parse(form.data).filter((e: { type: string }) => e.type === "input"), ...outputs]);
    return client.post("/process", form);
  };
  await requestJob("one-file", [{ src: "request:text", type: "output", id: "output_stream" }]);
  await requestJob("stream-pair", [
    { src: "request:stream:SSIStream:feature;face;landmarks;facemesh", type: "output", id: "output_stream" },
    { src: "file:stream:ssistream", type: "output", id: "inactive", uri: "out/never.stream", active: false },
  ]);
  for (const id of ["one-file", "stream-pair"]) assert.equal(await client.waitFor(id, [FINISHED, ERROR]), FINISHED, await client.log(id));
  assert.ok(!existsSync(path.join(r.workDir, "out/never.stream")), "inactive outputs are not written");

  const one = await client.post("/fetch_result", { jobID: "one-file" });
  assert.equal(one.status, 200);
  assert.match(String(one.headers["content-disposition"]), /filename="output_stream\.txt"/);
  assert.equal(one.text(), expected);

  const zip = await client.post("/fetch_result", { jobID: "stream-pair" });
  assert.equal(zip.status, 200);
  assert.equal(zip.headers["content-type"], "application/zip");
  const zipFile = path.join(r.root, "result.zip");
  writeFileSync(zipFile, zip.body);
  // Read back with an independent implementation: Python's zipfile, or Info-ZIP's unzip.
  const py = spawnSync("python3", ["-c", "import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps({n: z.read(n).decode() for n in z.namelist()}))", zipFile], { encoding: "utf8" });
  if (py.status === 0) {
    assert.deepEqual(JSON.parse(py.stdout), { "output_stream.stream": expected, "output_stream.stream~": expected });
  } else {
    const listing = execFileSync("unzip", ["-l", zipFile], { encoding: "utf8" });
    assert.match(listing, /output_stream\.stream~/);
  }

  // Not finished yet -> 409; no request outputs -> 404.
  await client.post("/process", sleeperForm("still-running", { sleep_ms: 60_000 }));
  await client.waitFor("still-running", [RUNNING]);
  assert.equal((await client.post("/fetch_result", { jobID: "still-running" })).status, 409);
  await client.post("/cancel", { jobID: "still-running" });
  await client.post("/process", seedForm("file-only", "out/f.stream"));
  await client.waitFor("file-only", [FINISHED]);
  const none = await client.post("/fetch_result", { jobID: "file-only" });
  assert.equal(none.status, 404);
  assert.match(none.json<{ error: string }>().error, /no results/);
});

test("/cml_info lists runnable trainers as DISCOVER encodes them, and says why the others are faulty", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const info = (await client.post("/cml_info", {})).json<{ trainer_ok: Record<string, string>; trainer_faulty: Record<string, string>; chains_ok: object; chains_faulty: object }>();
  assert.deepEqual(Object.keys(info.trainer_ok).sort(), ["modules/crasher/crasher.trainer", "modules/fixture/fixture.trainer", "modules/parted/parted.trainer", "modules/sleeper/sleeper.trainer", "modules/streamer/streamer.trainer"]);
  assert.match(info.trainer_faulty["modules/python_only/python_only.trainer"], /Python modules are not supported/);
  assert.match(info.trainer_faulty["modules/badmanifest/badmanifest.trainer"], /invalid plugin manifest/);
  assert.match(info.trainer_faulty["modules/broken/broken.trainer"], /not well-formed XML/);
  assert.deepEqual(info.chains_ok, {});
  const fixture = JSON.parse(info.trainer_ok["modules/fixture/fixture.trainer"]);
  assert.equal(fixture.meta_backend, "nova-server");
  assert.equal(fixture.meta_frame_step, 40);
  assert.equal(fixture.meta_left_ctx, 500, "leftContext 0.5 is a float: seconds");
  assert.equal(fixture.meta_right_ctx, 2000);
  assert.equal(JSON.parse(fixture.meta_io).length, 3);

  const filtered = (await client.post("/cml_info", { input_filter: '["stream:video"]' })).json<{ trainer_ok: object }>();
  assert.ok(!("modules/fixture/fixture.trainer" in filtered.trainer_ok), "the fixture also needs an SSI stream input");
  const both = (await client.post("/cml_info", { input_filter: '["stream:Video","stream:SSIStream"]', output_filter: '["stream:SSIStream:feature;face;landmarks"]' })).json<{ trainer_ok: object }>();
  assert.deepEqual(Object.keys(both.trainer_ok), ["modules/fixture/fixture.trainer"]);
  assert.equal((await client.post("/cml_info", { input_filter: "stream:video" })).status, 400);
});

test("cml_dir may hold links to module folders (as to this project); link loops end; a finished jobID can be reused", async (t) => {
  const r = makeRoot(t);
  const cml = path.join(r.root, "cml");
  mkdirSync(cml);
  symlinkSync(path.join(FIXTURE_CML, "modules/fixture"), path.join(cml, "linked"));
  symlinkSync(cml, path.join(cml, "loop"));
  symlinkSync(FIXTURE_CML, path.join(cml, "fixtures")); // carries .cml-ignore: not listed
  const { client } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml } });
  const info = (await client.post("/cml_info", {})).json<{ trainer_ok: object; trainer_faulty: object }>();
  assert.deepEqual(Object.keys(info.trainer_ok), ["linked/fixture.trainer"]);
  assert.deepEqual(info.trainer_faulty, {});
  for (let round = 1; round <= 2; round++) {
    const res = await client.post("/process", { ...seedForm("reused", `out/round${round}.stream`), trainerFilePath: "linked\\fixture.trainer" });
    assert.equal(res.status, 200, res.text());
    assert.equal(await client.waitFor("reused", [FINISHED, ERROR]), FINISHED, await client.log("reused"));
    assert.equal(read(path.join(r.workDir, `out/round${round}.stream`)), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }));
  }
  assert.equal((await client.log("reused")).match(/job received/g)?.length, 1, "a reused id starts a fresh log");
  assert.equal((await client.request("GET", "/job_status_all")).json<JobSummary[]>().filter((j) => j.job_key === "reused").length, 1);
});
