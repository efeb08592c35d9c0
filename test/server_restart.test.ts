/**
 * The bin (dist/lib/server/main.js) as its own process: job records and logs survive a restart; a job that was
 * RUNNING when the server died is ERROR afterwards, and its worker does not outlive the server.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { NovaClient } from "../lib/server/client.js";
import { JobStatus } from "../lib/server/job_store.js";
import { eventually, loggedPid, makeRoot, PROJECT_ROOT, processAlive, SEED_JOB_ID, seedForm, type ServerRoot } from "./server_helpers.js";

const MAIN = path.join(PROJECT_ROOT, "dist/lib/server/main.js");

interface Proc {
  child: ChildProcess;
  client: NovaClient;
  output: () => string;
}

/** Starts the bin with flags and environment as an operator would; resolves once it prints its URL. */
async function launch(t: TestContext, r: ServerRoot): Promise<Proc> {
  const f = r.flags;
  // Directories through DISCOVER's environment variables, the rest as flags: both paths are exercised.
  const env = { ...process.env, DISCOVER_CML_DIR: String(f.cmlDir), DISCOVER_TMP_DIR: String(f.tmpDir), NOVA_SERVER_LOG_DIR: String(f.logDir) };
  const child = spawn(process.execPath, [MAIN, "--port", "0", "--cache-dir", String(f.cacheDir), "--data_dir", String(f.dataDir)], { cwd: r.workDir, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const url = await eventually(() => /listening on (http\S+)[\s\S]*\n {2}jobs \d+/.exec(out)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 20_000, "server start");
  assert.match(out, new RegExp(`log_dir ${String(f.logDir).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), "NOVA_SERVER_LOG_DIR was read");
  const client = new NovaClient(url);
  t.after(() => client.close());
  return { child, client, output: () => out };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));
}

test("restart keeps finished jobs and their logs; jobs running when the server died are ERROR", async (t) => {
  const r = makeRoot(t);
  const a = await launch(t, r);
  assert.equal((await a.client.post("/process", seedForm())).status, 200);
  assert.equal(await a.client.waitFor(SEED_JOB_ID, [JobStatus.FINISHED, JobStatus.ERROR]), JobStatus.FINISHED);
  const finishedLog = await a.client.log(SEED_JOB_ID);
  await a.client.post("/process", { jobID: "long", trainerFilePath: "modules/sleeper/sleeper.trainer", data: "[]", options: '{"sleep_ms": 60000}' });
  await a.client.post("/process", { jobID: "queued", trainerFilePath: "modules/sleeper/sleeper.trainer", data: "[]" });
  const workerPid = await loggedPid(a.client, "long");
  assert.equal(await a.client.status("queued"), JobStatus.WAITING);

  // The server dies without any chance to clean up.
  a.child.kill("SIGKILL");
  await exited(a.child);
  await eventually(() => (processAlive(workerPid) ? undefined : true), 10_000, "the orphaned job process to stop");

  const b = await launch(t, r);
  assert.equal(await b.client.status(SEED_JOB_ID), JobStatus.FINISHED);
  assert.equal(await b.client.log(SEED_JOB_ID), finishedLog);
  assert.equal(await b.client.status("long"), JobStatus.ERROR);
  assert.match(await b.client.log("long"), /CRITICAL Job failed with exception the server stopped while the job was RUNNING/);
  assert.equal(await b.client.status("queued"), JobStatus.ERROR);
  assert.match(await b.client.log("queued"), /while the job was WAITING/);

  // A graceful stop (SIGTERM) ends running jobs as ERROR too, and the next start still knows them.
  await b.client.post("/process", { jobID: "long2", trainerFilePath: "modules/sleeper/sleeper.trainer", data: "[]", options: '{"sleep_ms": 60000}' });
  const pid2 = await loggedPid(b.client, "long2");
  b.child.kill("SIGTERM");
  await exited(b.child);
  assert.equal(b.child.exitCode, 0, b.output());
  assert.ok(!processAlive(pid2));
  const c = await launch(t, r);
  assert.equal(await c.client.status("long2"), JobStatus.ERROR);
  assert.match(await c.client.log("long2"), /server stopped while the job was running/);
  c.child.kill("SIGTERM");
  await exited(c.child);
});

test("the bin refuses a bad configuration with a clear message", async (t) => {
  const r = makeRoot(t);
  const child = spawn(process.execPath, [MAIN, "--port", "0", "--cml-dir", path.join(r.root, "nope")], { cwd: r.workDir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  await exited(child);
  assert.equal(child.exitCode, 2);
  assert.match(out, /cml_dir .*nope is not a directory/);
});
