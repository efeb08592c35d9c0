/**
 * The seed's own request (NOVA.md §7) against the real facemesh module, loaded by a real server from a cml_dir
 * that holds this project as `modules/facemesh` (trainerFilePath `modules\facemesh\facemesh.trainer`, Windows
 * separators as NOVA sends them). The client is Python's `requests` (a client nobody here wrote; skipped with a
 * message when absent) and curl; the output must equal, byte for byte, what `facemesh run` writes for the same
 * inputs. Inputs are generated from a photo shipped in an npm package, so the test needs no shared data.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { JobStatus } from "../lib/server/job_store.js";
import { makeRoot, PROJECT_ROOT, start } from "./server_helpers.js";
import { makeFaceClip, runCli } from "./support/facemesh_harness.js";

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const TRAINER = "modules\\facemesh\\facemesh.trainer";
const FRAMES = 20;

test("the seed's request runs the real facemesh module through the server (Python requests, curl)", async (t) => {
  const r = makeRoot(t);
  // cml_dir with the project linked in where the seed's trainerFilePath expects it.
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  const my = path.join(r.workDir, "path/to/my");
  const video = await makeFaceClip(path.join(my, "file.mp4"), { frames: FRAMES, angle: "0.1*sin(2*PI*t)" });
  const bbox = path.join(my, "bounding_boxes.stream");
  assert.equal((await runCli(["detect", video, "--out", bbox])).code, 0);
  const expected = path.join(r.root, "expected.stream");
  const cli = await runCli(["run", video, "--bbox", bbox, "--out", expected]);
  assert.equal(cli.code, 0, cli.stderr);

  const { server, client } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml } });
  const data = (out: string) =>
    JSON.stringify([
      { src: "file:stream:video", type: "input", id: "input_data", uri: "path/to/my/file.mp4" },
      { src: "file:stream:ssiStream", type: "input", id: "face_bb", uri: "path/to/my/bounding_boxes.stream" },
      { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: out },
    ]);
  const check = async (jobID: string, out: string) => {
    assert.equal(await client.waitFor(jobID, [JobStatus.FINISHED, JobStatus.ERROR, JobStatus.CANCELED], 120_000), JobStatus.FINISHED, await client.log(jobID));
    const header = readFileSync(path.join(r.workDir, out), "utf8");
    assert.match(header, /dim="937"/);
    assert.match(header, /type="feature;face;landmarks;facemesh"/);
    assert.match(header, new RegExp(`num="${FRAMES}"`));
    assert.deepEqual(readFileSync(path.join(r.workDir, `${out}~`)), readFileSync(`${expected}~`), "server output differs from facemesh run");
  };

  // One subtest per client: a machine without the tool skips it, with the reason, instead of passing.
  await t.test("Python requests", async (st) => {
    if (!has("python3", ["-c", "import requests"])) return st.skip("python3 with requests is not installed");
    const script = `
import json, sys, requests
r = requests.post(sys.argv[1] + "/process", data={"jobID": "´face_mesh_stream", "trainerFilePath": sys.argv[2], "data": sys.argv[3]})
print(json.dumps(r.json()))`;
    const { stdout } = await promisify(execFile)("python3", ["-c", script, server.url, TRAINER, data("path/to/my/stream.stream")], { encoding: "utf8", timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout), { success: "True" });
    await check("´face_mesh_stream", "path/to/my/stream.stream");
  });
  await t.test("curl", async (st) => {
    if (!has("curl", ["--version"])) return st.skip("curl is not installed");
    const { stdout } = await promisify(execFile)("curl", ["-sS", `${server.url}/process`, "--data-urlencode", "jobID=´face_mesh_stream curl", "--data-urlencode", `trainerFilePath=${TRAINER}`, "--data-urlencode", `data=${data("path/to/my/curl.stream")}`], { encoding: "utf8", timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout), { success: "True" });
    await check("´face_mesh_stream curl", "path/to/my/curl.stream");
  });
  // refine_landmarks through the server (optStr, as older NOVA sends options): 957-value rows, as the CLI's.
  await t.test("curl, refine_landmarks by optStr", async (st) => {
    if (!has("curl", ["--version"])) return st.skip("curl is not installed");
    const refined = path.join(r.root, "expected-refined.stream");
    const cliRefined = await runCli(["run", video, "--bbox", bbox, "--refine-landmarks", "--out", refined]);
    assert.equal(cliRefined.code, 0, cliRefined.stderr);
    const out = "path/to/my/refined.stream";
    const job = "´face_mesh_stream refined";
    const res = await promisify(execFile)("curl", ["-sS", `${server.url}/process`, "--data-urlencode", `jobID=${job}`, "--data-urlencode", `trainerFilePath=${TRAINER}`, "--data-urlencode", "optStr=refine_landmarks=True", "--data-urlencode", `data=${data(out)}`], { encoding: "utf8", timeout: 60_000 });
    assert.deepEqual(JSON.parse(res.stdout), { success: "True" });
    assert.equal(await client.waitFor(job, [JobStatus.FINISHED, JobStatus.ERROR, JobStatus.CANCELED], 120_000), JobStatus.FINISHED, await client.log(job));
    const header = readFileSync(path.join(r.workDir, out), "utf8");
    assert.match(header, /dim="957"/);
    assert.match(header, /points="478"/);
    assert.deepEqual(readFileSync(path.join(r.workDir, `${out}~`)), readFileSync(`${refined}~`), "server output (refine_landmarks) differs from facemesh run --refine-landmarks");
  });
});
