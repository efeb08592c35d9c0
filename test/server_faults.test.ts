/**
 * Fault injection against the server with real job processes (the streamer fixture writes an SSI stream slowly
 * through lib/ssi/stream.ts). For each fault: the server keeps answering, no job is left RUNNING without a live
 * process, and the output is the old stream or the new one, whole, with no temporary file left next to it.
 * Faults: worker SIGKILL mid-write, server SIGKILL mid-write and restart, a full disk (a 64 KiB tmpfs, when this
 * runs as root and may mount), a cancelled job, and every kind of bad request of issue 11.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { NovaClient } from "../lib/server/client.js";
import { JobStatus } from "../lib/server/job_store.js";
import type { JobSummary } from "../lib/server/job_view.js";
import { readSsiStream, writeSsiStream } from "../lib/ssi/stream.js";
import { eventually, loggedPid, makeRoot, PROJECT_ROOT, processAlive, seedForm, start, type ServerRoot } from "./server_helpers.js";

const { FINISHED, ERROR, CANCELED } = JobStatus;
const MAIN = path.join(PROJECT_ROOT, "dist/lib/server/main.js");

function streamerForm(jobID: string, out: string, options: Record<string, unknown>): Record<string, string> {
  return {
    jobID,
    trainerFilePath: "modules/streamer/streamer.trainer",
    data: JSON.stringify([{ src: "file:stream:ssistream", type: "output", id: "out", uri: out }]),
    options: JSON.stringify(options),
  };
}

/** A good stream of `rows` rows of `value` at `file` (the "old" output a failed job must not damage). */
async function oldStream(file: string, value = 7, rows = 3): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  await writeSsiStream(file, { sr: 25, dim: 64 }, new Float32Array(64 * rows).fill(value));
}

/** The stream at `file` as "old" (value 7), "new" (value 1), "none", or what is wrong with it. */
async function streamState(file: string): Promise<string> {
  if (!existsSync(file) && !existsSync(`${file}~`)) return "none";
  try {
    const s = await readSsiStream(file);
    const v = new Set(Array.from(s.data as Float32Array));
    if (v.size === 1 && v.has(7)) return "old";
    if (v.size === 1 && v.has(1)) return "new";
    return `unexpected values ${[...v].join()}`;
  } catch (err) {
    return `damaged: ${(err as Error).message}`;
  }
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith("."));
}

/** The invariants after any fault: answers, and every RUNNING job has a live process. */
async function assertHealthy(client: NovaClient, pidOf?: (key: string) => number | undefined): Promise<JobSummary[]> {
  const res = await client.request("GET", "/job_status_all");
  assert.equal(res.status, 200);
  const jobs = res.json<JobSummary[]>();
  for (const j of jobs.filter((x) => x.status === "RUNNING")) {
    const pid = pidOf?.(j.job_key);
    assert.ok(pid !== undefined && processAlive(pid), `job ${j.job_key} is RUNNING without a process`);
  }
  return jobs;
}

test("fault: a job process killed (SIGKILL) mid-write: ERROR, the old output whole, its temp files removed", async (t) => {
  const r = makeRoot(t);
  const { client, server } = await start(t, r);
  const out = path.join(r.workDir, "out/killed.stream");
  await oldStream(out);
  await client.post("/process", streamerForm("victim", out, { rows: 100_000, delay_ms: 5 }));
  const pid = await loggedPid(client, "victim");
  await eventually(async () => ((await client.log("victim")).includes("writing") ? true : undefined), 15_000, "writing");
  assert.ok(leftovers(path.dirname(out)).length > 0, "the writer has its temp file");
  process.kill(pid, "SIGKILL");
  assert.equal(await client.waitFor("victim", [FINISHED, ERROR, CANCELED]), ERROR);
  assert.match(await client.log("victim"), /killed by SIGKILL/);
  assert.equal(await streamState(out), "old");
  await eventually(() => (leftovers(path.dirname(out)).length === 0 ? true : undefined), 5000, "temp files swept");
  await assertHealthy(client, (k) => server.manager.pidOf(k));
  // The next job on that output works.
  await client.post("/process", streamerForm("next", out, { rows: 5, delay_ms: 0 }));
  assert.equal(await client.waitFor("next", [FINISHED, ERROR]), FINISHED, await client.log("next"));
  assert.equal(await streamState(out), "new");
});

test("fault: a cancelled job mid-write: CANCELED, the old output whole, no temp files", async (t) => {
  const r = makeRoot(t);
  const { client, server } = await start(t, r);
  const out = path.join(r.workDir, "out/cancelled.stream");
  await oldStream(out);
  await client.post("/process", streamerForm("c1", out, { rows: 100_000, delay_ms: 5 }));
  await eventually(async () => ((await client.log("c1")).includes("writing") ? true : undefined), 15_000, "writing");
  assert.deepEqual((await client.post("/cancel", { jobID: "c1" })).json(), { success: "true" });
  assert.equal(await client.status("c1"), CANCELED);
  assert.equal(await streamState(out), "old");
  await eventually(() => (leftovers(path.dirname(out)).length === 0 ? true : undefined), 5000, "temp files removed");
  await assertHealthy(client, (k) => server.manager.pidOf(k));
});

test("fault: a full disk for outputs: ERROR naming the problem, the old output whole, no temp files", async (t) => {
  const r = makeRoot(t);
  const disk = path.join(r.root, "small-disk");
  mkdirSync(disk);
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", disk]);
  if (mount.status !== 0) return t.skip(`cannot mount a small tmpfs here (needs root): ${mount.stderr?.toString().trim() || mount.error?.message}`);
  try {
    const { client, server } = await start(t, r);
    const out = path.join(disk, "full.stream");
    await oldStream(out);
    // 2000 rows x 256 bytes = 500 KiB: cannot fit.
    await client.post("/process", streamerForm("full", out, { rows: 2000, delay_ms: 0 }));
    assert.equal(await client.waitFor("full", [FINISHED, ERROR]), ERROR);
    assert.match(await client.log("full"), /ENOSPC|no space left/i);
    assert.equal(await streamState(out), "old");
    await eventually(() => (leftovers(disk).length === 0 ? true : undefined), 5000, "temp files removed");
    await assertHealthy(client, (k) => server.manager.pidOf(k));
  } finally {
    // Before the root folder is removed (the after hooks run in order): lazily, in case a handle is still open.
    spawnSync("umount", ["-l", disk]);
  }
});

test("fault: every kind of bad request of issue 11; the server keeps answering and runs the next job", async (t) => {
  const r = makeRoot(t, { jobs: 2 });
  const { client, server } = await start(t, r);
  const deep = `${'{"a":'.repeat(6000)}1${"}".repeat(6000)}`;
  const bad: Array<[string, Record<string, string>]> = [
    ["deep options", { ...seedForm("b1"), options: deep }],
    ["deep data", { ...seedForm("b2"), data: `[${deep}]` }],
    ["output over input", seedForm("b3", "path/to/my/file.mp4")],
    ["fixture through a link", { ...seedForm("b4"), trainerFilePath: "modules/../../../../node_modules/x.trainer" }],
    ["huge field", { ...seedForm("b5"), note: "z".repeat(3 * 1024 * 1024), trainerFilePath: "modules/none/none.trainer" }],
    ["remote file url", { ...seedForm("b6"), data: JSON.stringify([{ src: "file:stream:video", type: "input", id: "input_data", uri: "file://host/x.mp4" }]) }],
    ["data not a list", { ...seedForm("b7"), data: '{"id": 1}' }],
    ["too many entries", { ...seedForm("b8"), data: JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: `o${i}`, type: "output", src: "request:text" }))) }],
  ];
  for (const [what, form] of bad) {
    const res = await client.post("/process", form);
    assert.equal(res.status, 400, `${what}: ${res.status} ${res.text().slice(0, 200)}`);
  }
  // The same jobID ten times at once: one accepted.
  const same = await Promise.all(Array.from({ length: 10 }, () => client.post("/process", streamerForm("dup", path.join(r.workDir, "out/dup.stream"), { rows: 50, delay_ms: 10 }))));
  assert.equal(same.filter((a) => a.status === 200).length, 1);
  assert.equal(await client.waitFor("dup", [FINISHED, ERROR]), FINISHED, await client.log("dup"));
  const jobs = await assertHealthy(client, (k) => server.manager.pidOf(k));
  assert.ok(jobs.every((j) => j.status !== "RUNNING" && j.status !== "WAITING"));
  assert.equal(await streamState(path.join(r.workDir, "out/dup.stream")), "new");
  assert.equal(server.manager.liveProcesses, 0);
});

/** The bin as its own process (so it can be SIGKILLed), on the root's folders. */
async function launch(t: TestContext, r: ServerRoot): Promise<{ child: ChildProcess; client: NovaClient }> {
  const f = r.flags;
  const args = [MAIN, "--port", "0", "--cml-dir", String(f.cmlDir), "--tmp-dir", String(f.tmpDir), "--log-dir", String(f.logDir), "--cache-dir", String(f.cacheDir), "--data-dir", String(f.dataDir)];
  const child = spawn(process.execPath, args, { cwd: r.workDir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const url = await eventually(() => /listening on (http\S+)/.exec(out)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 20_000, "server start");
  const client = new NovaClient(url);
  t.after(() => client.close());
  return { child, client };
}

test("fault: the server killed (SIGKILL) while a job writes, then restarted: ERROR, the old output whole, temp files swept", async (t) => {
  const r = makeRoot(t);
  const out = path.join(r.workDir, "out/server-killed.stream");
  await oldStream(out);
  const a = await launch(t, r);
  await a.client.post("/process", streamerForm("orphan", out, { rows: 100_000, delay_ms: 5 }));
  const workerPid = await loggedPid(a.client, "orphan");
  await eventually(async () => ((await a.client.log("orphan")).includes("writing") ? true : undefined), 15_000, "writing");
  a.child.kill("SIGKILL");
  await new Promise((res) => a.child.once("exit", res));
  await eventually(() => (processAlive(workerPid) ? undefined : true), 10_000, "the orphaned job process to stop");
  assert.ok(leftovers(path.dirname(out)).length > 0, "the dead worker left its temp file");
  const b = await launch(t, r);
  assert.equal(await b.client.status("orphan"), ERROR);
  const jobs = await assertHealthy(b.client);
  assert.ok(!jobs.some((j) => j.status === "RUNNING"));
  assert.equal(await streamState(out), "old");
  assert.deepEqual(leftovers(path.dirname(out)), [], "the restart swept the dead job's temp files");
  await b.client.post("/process", streamerForm("after", out, { rows: 3, delay_ms: 0 }));
  assert.equal(await b.client.waitFor("after", [FINISHED, ERROR]), FINISHED);
  assert.equal(await streamState(out), "new");
});
