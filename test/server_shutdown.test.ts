/**
 * Stopping the server (SIGTERM, as a service manager or Ctrl-C does) while a job writes: the job ends as ERROR,
 * the old output stays whole, and no temporary file is left next to it. Found by a new user: the job process's
 * temporary files were swept after the server had decided to exit, so the `.x.stream~.<pid>.<tag>.tmp` stayed; the
 * restart did not remove it either (the job had been settled as ERROR, so it was not "interrupted").
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { NovaClient } from "../lib/server/client.js";
import { JobStatus } from "../lib/server/job_store.js";
import { readSsiStream, writeSsiStream } from "../lib/ssi/stream.js";
import { eventually, makeRoot, PROJECT_ROOT } from "./server_helpers.js";

const MAIN = path.join(PROJECT_ROOT, "dist/lib/server/main.js");

test("SIGTERM to the server during a job's write: ERROR after a restart, the old output whole, no temporary file left", async (t) => {
  const r = makeRoot(t);
  const out = path.join(r.workDir, "out/stopped.stream");
  mkdirSync(path.dirname(out), { recursive: true });
  await writeSsiStream(out, { sr: 25, dim: 64 }, new Float32Array(64 * 3).fill(7));
  const f = r.flags;
  const launch = async () => {
    const args = [MAIN, "--port", "0", "--cml-dir", String(f.cmlDir), "--tmp-dir", String(f.tmpDir), "--log-dir", String(f.logDir), "--cache-dir", String(f.cacheDir), "--data-dir", String(f.dataDir)];
    const child = spawn(process.execPath, args, { cwd: r.workDir, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout!.on("data", (c) => (text += c));
    child.stderr!.on("data", (c) => (text += c));
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const url = await eventually(() => /listening on (http\S+)/.exec(text)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(text)) : undefined), 20_000, "server start");
    const client = new NovaClient(url);
    t.after(() => client.close());
    return { child, client };
  };
  const a = await launch();
  await a.client.post("/process", {
    jobID: "stopped",
    trainerFilePath: "modules/streamer/streamer.trainer",
    data: JSON.stringify([{ src: "file:stream:ssistream", type: "output", id: "out", uri: out }]),
    // Rows 3 s apart: the module cannot notice the abort before the job process's 200 ms exit timer (as facemesh
    // cannot in the middle of a batch), so its temporary file is left for the server to sweep.
    options: JSON.stringify({ rows: 1000, delay_ms: 3000 }),
  });
  await eventually(async () => ((await a.client.log("stopped")).includes("writing") ? true : undefined), 15_000, "writing");
  const dotted = () => readdirSync(path.dirname(out)).filter((n) => n.startsWith("."));
  assert.ok(dotted().length > 0, "the job has its temporary file while it writes");
  a.child.kill("SIGTERM");
  const code = await new Promise((res) => a.child.once("exit", (c) => res(c)));
  assert.equal(code, 0);
  assert.deepEqual(dotted(), [], "temporary files left next to the output by a stopped server");
  const b = await launch();
  assert.equal(await b.client.status("stopped"), JobStatus.ERROR);
  assert.match(await b.client.log("stopped"), /server stopped while the job was running/);
  const s = await readSsiStream(out);
  assert.deepEqual(new Set(Array.from(s.data as Float32Array)), new Set([7]), "the old output is whole");
});
