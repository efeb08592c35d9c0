/**
 * The request scripts in examples/ (curl and Python requests), run as a user would run them against a TLS
 * `facemesh serve` with this project linked into cml_dir: the seed's file: request, and the NOVA-style db: request
 * on two sessions (NOVA's MongoDB: the stand-in, or FACEMESH_TEST_MONGODB_URI). Each script must exit 0 and the
 * outputs must be where it asked. curl or python3 + requests missing: that script is skipped with a message.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { readSsiStream } from "../lib/ssi/stream.js";
import { makeRoot, PROJECT_ROOT, start } from "./server_helpers.js";
import { makeFaceClip, runCli, ROW_DIM } from "./support/facemesh_harness.js";
import { openTestDb } from "./support/test_db.js";

const EXAMPLES = path.join(PROJECT_ROOT, "examples");
const FRAMES = 6;

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

test("examples/: the file: and db: requests, with curl and with Python requests, against facemesh serve over TLS", async (t) => {
  const tdb = await openTestDb(t);
  const r = makeRoot(t, { useTls: true });
  const cml = path.join(r.root, "cml");
  mkdirSync(path.join(cml, "modules"), { recursive: true });
  symlinkSync(PROJECT_ROOT, path.join(cml, "modules", "facemesh"));
  const dataDir = path.join(r.root, "nova-data");
  const { server } = await start(t, { ...r, flags: { ...r.flags, cmlDir: cml, dataDir } });

  // Inputs for the file: request (paths relative to the server's folder, as in the seed) ...
  const my = path.join(r.workDir, "path/to/my");
  await makeFaceClip(path.join(my, "file.mp4"), { frames: FRAMES });
  assert.equal((await runCli(["detect", path.join(my, "file.mp4"), "--out", path.join(my, "bounding_boxes.stream")])).code, 0);
  // ... and a NOVA dataset of two sessions for the db: request.
  const dataset = tdb.newDataset("examples");
  const sessions = ["s1", "s2"];
  await tdb.insert(dataset, "Sessions", sessions.map((name) => ({ name })));
  await tdb.insert(dataset, "Streams", [
    { name: "video", fileExt: "mp4", type: "video", sr: 25, isValid: true },
    { name: "face_bounding_box", fileExt: "stream", type: "feature;face;boundingbox;blazeface", sr: 25, isValid: true },
  ]);
  for (const s of sessions) {
    const dir = path.join(dataDir, dataset, s);
    mkdirSync(dir, { recursive: true });
    await makeFaceClip(path.join(dir, "subject.video.mp4"), { frames: FRAMES, angle: "0.1" });
    assert.equal((await runCli(["detect", path.join(dir, "subject.video.mp4"), "--out", path.join(dir, "subject.face_bounding_box.stream")])).code, 0);
  }

  const run = async (cmd: string, script: string, env: Record<string, string>) => {
    const res = await promisify(execFile)(cmd, [path.join(EXAMPLES, script)], { env: { ...process.env, SERVER: server.url, ...env }, encoding: "utf8", timeout: 180_000 }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => assert.fail(`${script} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`),
    );
    assert.match(res.stdout, /status 2 \(2 = FINISHED/, res.stdout);
    assert.ok(!res.stdout.includes(tdb.password), `${script} printed the password`);
    return res.stdout;
  };
  const landmarks = async (file: string) => {
    const s = await readSsiStream(file);
    assert.equal(s.dim, ROW_DIM, file);
    assert.equal(s.rows, FRAMES, file);
  };
  const clients = [
    { label: "curl", cmd: "bash", ext: "sh", available: has("curl", ["--version"]), why: "curl is not installed" },
    { label: "python", cmd: "python3", ext: "py", available: has("python3", ["-c", "import requests"]), why: "python3 with requests is not installed" },
  ];
  for (const c of clients) {
    await t.test(`${c.label}: file: request`, async (st) => {
      if (!c.available) return st.skip(`${c.why}: examples/file_request.${c.ext} not run`);
      const out = `path/to/my/${c.label}.stream`;
      const stdout = await run(c.cmd, `file_request.${c.ext}`, { JOB_ID: `´face_mesh_stream ${c.label}`, OUT: out });
      assert.match(stdout, /job finished/);
      await landmarks(path.join(r.workDir, out));
    });
    await t.test(`${c.label}: db: request on two sessions`, async (st) => {
      if (!c.available) return st.skip(`${c.why}: examples/db_request.${c.ext} not run`);
      const outStream = `face_mesh_${c.label}`;
      const stdout = await run(c.cmd, `db_request.${c.ext}`, {
        JOB_ID: c.label === "curl" ? "10000001" : "10000002",
        DB_HOST: tdb.host,
        DB_PORT: String(tdb.port),
        DB_USER: tdb.user,
        DB_PASSWORD: tdb.password,
        DATASET: dataset,
        SESSIONS: sessions.join(","),
        OUT_STREAM: outStream,
      });
      assert.match(stdout, /session 2\/2 's2' done/);
      for (const s of sessions) await landmarks(path.join(dataDir, dataset, s, `subject.${outStream}.stream`));
      const doc = (await tdb.find(dataset, "Streams")).find((d) => d.name === outStream);
      assert.equal(doc?.type, "feature;face;landmarks;facemesh");
    });
  }
  assert.deepEqual(tdb.unexpected(), []);
});
