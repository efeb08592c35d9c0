/**
 * The seed request sent by clients nobody here wrote: curl (form-encoded and multipart, http and https -k) and
 * Python's requests (form and multipart upload, verify=False for the self-signed certificate). Skipped with a
 * message where the client is absent.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { JobStatus } from "../lib/server/job_store.js";
import { expectedFixtureOutput, FIXTURE_TRAINER, makeRoot, read, seedData, start } from "./server_helpers.js";

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { encoding: "utf8" }).status === 0;
}

const HAVE_CURL = has("curl", ["--version"]);
const HAVE_REQUESTS = has("python3", ["-c", "import requests"]);

async function serve(t: TestContext, tls: boolean) {
  const r = makeRoot(t, { useTls: tls });
  return { r, ...(await start(t, r)) };
}

/** Runs a client asynchronously: the server lives in this process, so its event loop must keep turning. */
async function run(cmd: string, args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)(cmd, args, { encoding: "utf8", timeout: 60_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} failed: ${e.message}\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
}

for (const tls of [false, true]) {
  test(`curl sends the seed request over ${tls ? "https (-k)" : "http"}, form-encoded and multipart`, async (t) => {
    if (!HAVE_CURL) return t.skip("curl is not installed");
    const { r, server, client } = await serve(t, tls);
    const k = tls ? ["-k"] : [];
    const form = await run("curl", ["-sS", ...k, `${server.url}/process`, "--data-urlencode", "jobID=´face_mesh_stream", "--data-urlencode", `trainerFilePath=${FIXTURE_TRAINER}`, "--data-urlencode", `data=${seedData("out/curl-form.stream")}`, "--data-urlencode", "dbPassword=curl-secret"]);
    assert.deepEqual(JSON.parse(form), { success: "True" });
    const multi = await run("curl", ["-sS", ...k, `${server.url}/process`, "-F", "jobID=´face_mesh_stream multipart", "-F", `trainerFilePath=${FIXTURE_TRAINER}`, "-F", `data=${seedData("out/curl-multi.stream")}`]);
    assert.deepEqual(JSON.parse(multi), { success: "True" });
    for (const id of ["´face_mesh_stream", "´face_mesh_stream multipart"]) {
      assert.equal(await client.waitFor(id, [JobStatus.FINISHED, JobStatus.ERROR]), JobStatus.FINISHED, await client.log(id));
    }
    const expected = expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox });
    assert.equal(read(path.join(r.workDir, "out/curl-form.stream")), expected);
    assert.equal(read(path.join(r.workDir, "out/curl-multi.stream")), expected);
    const status = await run("curl", ["-sS", ...k, `${server.url}/job_status`, "-F", "jobID=´face_mesh_stream"]);
    assert.deepEqual(JSON.parse(status), { status: JobStatus.FINISHED });
    const log = await run("curl", ["-sS", ...k, `${server.url}/log/${encodeURIComponent("´face_mesh_stream")}`]);
    assert.match(log, /job finished/);
    assert.ok(!log.includes("curl-secret"));
  });
}

test("Python requests sends the seed request (form) and uploads a file (multipart), over http and https", async (t) => {
  if (!HAVE_REQUESTS) return t.skip("python3 with requests is not installed");
  for (const tls of [false, true]) {
    const { r, server, client } = await serve(t, tls);
    const script = `
import json, sys, time, warnings, requests
warnings.filterwarnings("ignore")
url, data, video = sys.argv[1], sys.argv[2], sys.argv[3]
s = requests.Session()
# verify=False per call: a session-level setting loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment.
up = s.post(url + "/upload", verify=False, files={"file": ("clip.mp4", open(video, "rb"), "video/mp4")})
up.raise_for_status()
entries = json.loads(data)
entries[0]["uri"] = up.text
r = s.post(url + "/process", verify=False, data={"jobID": "´face_mesh_stream", "trainerFilePath": sys.argv[4], "data": json.dumps(entries), "options": json.dumps({"batch_size": 50})})
r.raise_for_status()
for _ in range(600):
    st = s.post(url + "/job_status", verify=False, data={"jobID": "´face_mesh_stream"}).json()["status"]
    if st >= 2: break
    time.sleep(0.05)
print(json.dumps({"process": r.json(), "upload": up.text, "status": st}))
`;
    const out = JSON.parse(await run("python3", ["-c", script, server.url, seedData("out/py.stream"), path.join(r.workDir, "path/to/my/file.mp4"), FIXTURE_TRAINER]));
    assert.deepEqual(out.process, { success: "True" });
    assert.match(out.upload, /^upload-[0-9a-f]{24}\.mp4$/);
    assert.equal(out.status, JobStatus.FINISHED, await client.log("´face_mesh_stream"));
    assert.equal(read(path.join(r.workDir, "out/py.stream")), expectedFixtureOutput({ input_data: r.video, face_bb: r.bbox }));
  }
});
