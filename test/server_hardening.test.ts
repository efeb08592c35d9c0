/**
 * Regression tests for the defects of issue 11 that the server had (each failed before its fix): a request that
 * crashed the server, the same-jobID race, an output over its input, dead writers' leftovers, test fixtures
 * runnable through a linked checkout, unbounded job details, slow clients, and the smaller ones (file://host,
 * secret names). Runs the fixture modules of test/fixtures/cml in real job processes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { test } from "node:test";
import { JobManager } from "../lib/server/job_manager.js";
import { JobLog } from "../lib/server/job_log.js";
import { JobStatus, JobStore } from "../lib/server/job_store.js";
import type { JobSummary } from "../lib/server/job_view.js";
import { resolveConfig } from "../lib/server/config.js";
import { eventually, FIXTURE_CML, makeRoot, PROJECT_ROOT, processAlive, read, seedForm, start } from "./server_helpers.js";

const { RUNNING, FINISHED, ERROR, CANCELED } = JobStatus;

function sleeperForm(jobID: string, options: Record<string, unknown> = {}): Record<string, string> {
  return { jobID, trainerFilePath: "modules/sleeper/sleeper.trainer", data: "[]", options: JSON.stringify(options) };
}

const deepJson = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

test("defect 1: a deeply nested request is refused before it is accepted, and the server keeps answering", async (t) => {
  const r = makeRoot(t, { jobs: 1 });
  const { client, server } = await start(t, r);
  // First a job that holds the slot, so the bad one would have been queued and started later (as reported).
  assert.equal((await client.post("/process", sleeperForm("holder", { sleep_ms: 500 }))).status, 200);
  const deep = await client.post("/process", { ...sleeperForm("deep"), options: deepJson(6000) });
  assert.equal(deep.status, 400, deep.text());
  assert.equal(deep.json<{ field: string }>().field, "options");
  assert.match(deep.json<{ error: string }>().error, /nested more than \d+ levels/);
  const deepData = await client.post("/process", { ...sleeperForm("deep-data"), data: `[${deepJson(6000)}]` });
  assert.equal(deepData.status, 400);
  const wide = await client.post("/process", { ...sleeperForm("wide"), options: JSON.stringify({ list: Array.from({ length: 20_000 }, (_, i) => i) }) });
  assert.equal(wide.status, 400);
  assert.match(wide.json<{ error: string }>().error, /more than 10000 values/);
  assert.equal(await client.waitFor("holder", [FINISHED, ERROR]), FINISHED);
  // The server is alive and runs the next job.
  assert.equal((await client.post("/process", sleeperForm("after", { sleep_ms: 50 }))).status, 200);
  assert.equal(await client.waitFor("after", [FINISHED, ERROR]), FINISHED);
  assert.equal(server.store.all().filter((j) => j.status === RUNNING).length, 0);
});

test("defect 1: a job whose start throws (message not serialisable) ends as ERROR and frees its slot", async (t) => {
  const r = makeRoot(t);
  const config = { ...resolveConfig(r.flags, {}, r.workDir), jobs: 1 };
  mkdirSync(config.logDir, { recursive: true });
  const store = new JobStore(path.join(config.logDir, "jobs.sqlite3"));
  const manager = new JobManager(config, store);
  t.after(async () => {
    await manager.close();
    store.close();
  });
  const base = { safeName: "", jobType: "process", moduleName: "sleeper", status: JobStatus.WAITING, progress: "", startTime: "", endTime: "", logPath: "", details: "", resultDir: "", error: "", outputs: "" };
  const entry = path.join(FIXTURE_CML, "modules/sleeper/sleeper.js");
  const trainerPath = path.join(FIXTURE_CML, "modules/sleeper/sleeper.trainer");
  for (const key of ["bad", "good"]) store.put({ ...base, jobKey: key, safeName: key, logPath: path.join(config.logDir, `${key}.log`) });
  // A BigInt cannot be serialised: child.send throws synchronously, as the 6000-deep options did.
  const bad = { trainerPath, options: { n: 1n } as Record<string, unknown>, inputs: {}, outputs: {} };
  assert.doesNotThrow(() => manager.enqueue({ jobKey: "bad", entryPath: entry, trainerRel: "modules/sleeper/sleeper.trainer", request: bad, envAllow: [], log: new JobLog(path.join(config.logDir, "bad.log")) }));
  manager.enqueue({ jobKey: "good", entryPath: entry, trainerRel: "modules/sleeper/sleeper.trainer", request: { trainerPath, options: { sleep_ms: 50 }, inputs: {}, outputs: {} }, envAllow: [], log: new JobLog(path.join(config.logDir, "good.log")) });
  await eventually(() => (store.get("good")!.status >= FINISHED ? true : undefined), 20_000, "the next job");
  assert.equal(store.get("bad")!.status, ERROR);
  assert.match(store.get("bad")!.error, /could not (start|hand)/);
  assert.equal(store.get("good")!.status, FINISHED, "the slot was freed");
  assert.equal(manager.liveProcesses, 0);
});

test("defect 2: ten concurrent /process with one jobID: one accepted, one process, cancel stops it", async (t) => {
  const r = makeRoot(t, { jobs: 2 });
  const { client, server } = await start(t, r);
  const answers = await Promise.all(Array.from({ length: 10 }, () => client.post("/process", sleeperForm("same", { sleep_ms: 60_000 }))));
  const codes = answers.map((a) => a.status).sort();
  assert.deepEqual(codes, [200, ...Array(9).fill(409)], JSON.stringify(answers.map((a) => a.text())));
  await client.waitFor("same", [RUNNING]);
  assert.equal(server.manager.liveProcesses, 1);
  const pid = server.manager.pidOf("same")!;
  assert.deepEqual((await client.post("/cancel", { jobID: "same" })).json(), { success: "true" });
  assert.equal(await client.status("same"), CANCELED);
  await eventually(() => (processAlive(pid) ? undefined : true), 5000, "process exit");
  assert.equal(server.manager.liveProcesses, 0);
});

test("defect 3: an output that is an input (also through a link, also as the stream's ~ file) is refused, the input kept", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const video = path.join(r.workDir, "path/to/my/file.mp4");
  symlinkSync(video, path.join(r.workDir, "path/to/my/link.mp4"));
  for (const [id, uri] of [["same", "path/to/my/file.mp4"], ["linked", "path/to/my/link.mp4"], ["dotted", "path/to/my/../my/file.mp4"]] as const) {
    const res = await client.post("/process", seedForm(id, uri));
    assert.equal(res.status, 400, `${id}: ${res.text()}`);
    assert.match(res.json<{ error: string }>().error, /is the input 'input_data'/);
  }
  // An output x whose x~ is the input's file (SSI pairs) is refused too.
  const form = seedForm("tilde", "path/to/my/bounding_boxes");
  form.data = JSON.stringify([
    { src: "file:stream:video", type: "input", id: "input_data", uri: "path/to/my/file.mp4" },
    { src: "file:stream:ssistream", type: "input", id: "face_bb", uri: "path/to/my/x.stream~" },
    { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: "path/to/my/x.stream" },
  ]);
  writeFileSync(path.join(r.workDir, "path/to/my/x.stream~"), "data");
  assert.equal((await client.post("/process", form)).status, 400);
  assert.deepEqual(readFileSync(video), r.video, "the input is untouched");
});

test("defect 5: a server start removes temporary files that killed jobs left", async (t) => {
  const r = makeRoot(t);
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  const result = path.join(r.flags.tmpDir!, "some-job");
  mkdirSync(result, { recursive: true });
  const stale = [path.join(result, `.out.stream.${dead}.0a1b2c3d4e5f.tmp~`), path.join(r.flags.tmpDir!, `.upload-1.mp4.${dead}.0a1b2c3d4e5f.tmp`)];
  for (const f of stale) writeFileSync(f, Buffer.alloc(900_000));
  await start(t, r);
  for (const f of stale) assert.ok(!existsSync(f), `${f} was removed`);
});

test("defect 6: a trainer discovery does not list (a test fixture in a linked checkout) cannot be run either", async (t) => {
  const r = makeRoot(t);
  const cml = path.join(r.root, "cml");
  mkdirSync(cml);
  symlinkSync(PROJECT_ROOT, path.join(cml, "facemesh"));
  const { client } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml } });
  const info = (await client.post("/cml_info", {})).json<{ trainer_ok: object; trainer_faulty: object }>();
  assert.ok(!Object.keys({ ...info.trainer_ok, ...info.trainer_faulty }).some((k) => k.includes("fixtures")));
  for (const trainer of ["facemesh\\test\\fixtures\\cml\\modules\\fixture\\fixture.trainer", "facemesh/node_modules/../test/fixtures/cml/modules/sleeper/sleeper.trainer"]) {
    const res = await client.post("/process", { ...seedForm("fx"), trainerFilePath: trainer });
    assert.equal(res.status, 400, res.text());
    assert.equal(res.json<{ field: string }>().field, "trainerFilePath");
  }
});

test("defect 7: refused requests store bounded details, are capped, finished jobs are pruned, /job_status_all pages", async (t) => {
  const r = makeRoot(t, { jobRetentionCount: 3 });
  const { client, config } = await start(t, r);
  const big = "x".repeat(2 * 1024 * 1024);
  for (let i = 0; i < 4; i++) {
    const res = await client.post("/process", { jobID: `big${i}`, trainerFilePath: "modules/nope/nope.trainer", data: "[]", note: big, dbPassword: "s3cret-value" });
    assert.equal(res.status, 400);
  }
  const all = await client.request("GET", "/job_status_all");
  assert.ok(all.body.length < 100_000, `/job_status_all is ${all.body.length} bytes`);
  const refused = all.json<JobSummary[]>().find((j) => j.job_key === "big0")!;
  assert.equal(refused.status, "ERROR");
  assert.match(refused.details, /2097152 characters/);
  assert.doesNotMatch(refused.details, /s3cret-value/);
  assert.ok(!readFileSync(path.join(config.logDir, "jobs.sqlite3")).includes("big0"), "refused requests stay out of the database");
  // Retention: at most three finished jobs are kept (pruned when a job is submitted); the dropped ones' logs are gone.
  for (let i = 0; i < 5; i++) {
    await client.post("/process", sleeperForm(`done${i}`, { sleep_ms: 10 }));
    await client.waitFor(`done${i}`, [FINISHED, ERROR]);
  }
  await client.post("/process", sleeperForm("last", { sleep_ms: 10 }));
  await client.waitFor("last", [FINISHED]);
  const keys = (await client.request("GET", "/job_status_all")).json<JobSummary[]>().map((j) => j.job_key).filter((k) => !k.startsWith("big"));
  assert.deepEqual(keys, ["done2", "done3", "done4", "last"], "three finished, plus the one that was running at the last submission");
  assert.ok(!readdirSync(config.logDir).some((n) => n.startsWith("done0")), "a pruned job's log is deleted");
  const page = await client.request("GET", "/job_status_all?offset=1&limit=1");
  assert.equal(page.headers["x-total-count"], "8");
  assert.equal(page.json<JobSummary[]>().length, 1);
  assert.equal((await client.request("GET", "/job_status_all?limit=0")).status, 400);
});

test("defect 10: file://host uris are a 400; dbPass, auth, sessionKey are masked", async (t) => {
  const r = makeRoot(t);
  const { client } = await start(t, r);
  const form = seedForm("remote");
  form.data = JSON.stringify([
    { src: "file:stream:video", type: "input", id: "input_data", uri: "file://otherhost/share/file.mp4" },
    { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: "out.stream" },
  ]);
  const res = await client.post("/process", form);
  assert.equal(res.status, 400, res.text());
  assert.match(res.json<{ error: string }>().error, /not a local file URL/);
  const secrets = { dbPass: "pass-value-1", auth: "auth-value-2", sessionKey: "key-value-3", api_token: "token-value-4", Cookie: "cookie-value-5" };
  assert.equal((await client.post("/process", { ...seedForm("masked"), ...secrets, options: JSON.stringify({ credential: "cred-value-6" }) })).status, 200);
  await client.waitFor("masked", [FINISHED, ERROR]);
  const shown = (await client.request("GET", "/job_status_all")).text() + (await client.log("masked"));
  for (const v of [...Object.values(secrets), "cred-value-6"]) assert.ok(!shown.includes(v), `${v} is masked`);
  assert.match(shown, /keypoints|input_data/, "ordinary fields stay visible");
});

/** A raw loopback connection; resolves when the server closes it, with the time it stayed open. */
function openRaw(port: number, secure: boolean): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket: net.Socket = secure ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }) : net.connect(port, "127.0.0.1");
    const closed = new Promise<number>((r) => socket.on("close", () => r(performance.now() - t0)));
    socket.on("error", () => undefined);
    socket.once(secure ? "secureConnect" : "connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

for (const secure of [false, true]) {
  test(`defect 9: slow clients (${secure ? "https" : "http"}) are cut by the header, body and idle timeouts; the connection cap holds`, { timeout: 60_000 }, async (t) => {
    const r = makeRoot(t, { useTls: secure, headersTimeoutS: 1, requestTimeoutS: 2, idleTimeoutS: 1, maxConnections: 16 });
    const { client, server } = await start(t, r);
    const port = server.port;
    const drip = (socket: net.Socket, text: string, everyMs: number) => {
      let i = 0;
      const timer = setInterval(() => (i < text.length && !socket.destroyed ? socket.write(text[i++]) : clearInterval(timer)), everyMs);
      socket.on("close", () => clearInterval(timer));
    };
    // Slow headers: one byte every 200 ms (each byte resets an idle timer, not the header deadline).
    const headers = await openRaw(port, secure);
    drip(headers.socket, "GET /job_status_all HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(200), 200);
    // Slow body: complete headers, then one body byte every 200 ms.
    const body = await openRaw(port, secure);
    body.socket.write("POST /job_status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n");
    drip(body.socket, "jobID=" + "b".repeat(494), 200);
    // Silent: connects and sends nothing.
    const silent = await openRaw(port, secure);
    // While they hang on, the server answers others.
    assert.equal((await client.request("GET", "/job_status_all")).status, 200);
    const held = { headers: await headers.closed, body: await body.closed, silent: await silent.closed };
    t.diagnostic(`held open: slow headers ${held.headers.toFixed(0)} ms (limit 1 s), slow body ${held.body.toFixed(0)} ms (limit 2 s), silent ${held.silent.toFixed(0)} ms (idle 1 s)`);
    assert.ok(server.guardStats.cut.headers >= 1 && server.guardStats.cut.request >= 1, JSON.stringify(server.guardStats));
    // The cap: one client address gets a quarter of 16 = 4 connections; more are closed at once.
    const many = await Promise.all(Array.from({ length: 8 }, () => openRaw(port, false).catch(() => undefined)));
    await eventually(() => (server.guardStats.refused >= 3 ? true : undefined), 5000, "refusals");
    for (const c of many) c?.socket.destroy();
    await eventually(async () => ((await client.request("GET", "/job_status_all").catch(() => undefined))?.status === 200 ? true : undefined), 10_000, "answers after the cap");
  });
}

test("--allowed-dirs: inputs and outputs must resolve inside the allowed folders, data or tmp", async (t) => {
  const outside = path.join(os.tmpdir(), `facemesh-outside-${process.pid}`);
  mkdirSync(outside, { recursive: true });
  t.after(() => spawnSync("rm", ["-rf", outside]));
  const r = makeRoot(t);
  const allowed = path.join(r.workDir, "path");
  const { client } = await start(t, { ...r, flags: { ...r.flags, allowedDirs: allowed } });
  assert.equal((await client.post("/process", seedForm("inside", "path/to/my/out.stream"))).status, 200);
  assert.equal(await client.waitFor("inside", [FINISHED, ERROR]), FINISHED, await client.log("inside"));
  const out = await client.post("/process", seedForm("escape", path.join(outside, "out.stream")));
  assert.equal(out.status, 400);
  assert.match(out.json<{ error: string }>().error, /outside the folders this server may use/);
  symlinkSync(outside, path.join(allowed, "to/my/sneaky"));
  assert.equal((await client.post("/process", seedForm("link", "path/to/my/sneaky/out.stream"))).status, 400, "a link out of the allowed folder is followed");
  assert.ok(!existsSync(path.join(outside, "out.stream")));
  const req = await client.post("/process", { ...seedForm("request-out"), data: JSON.stringify([...JSON.parse(seedForm().data).slice(0, 2), { src: "request:stream:ssistream", type: "output", id: "output_stream" }]) });
  assert.equal(req.status, 200, "request: outputs go to tmp_dir, which is allowed");
  assert.equal(await client.waitFor("request-out", [FINISHED, ERROR]), FINISHED);
  assert.ok(read(path.join(r.workDir, "path/to/my/out.stream")).length > 0);
});
