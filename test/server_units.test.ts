/**
 * Unit tests of the server's pure parts: config resolution, job-id file names, trainerFilePath resolution, data
 * entries, options, redaction, .trainer reading. Expected values are worked out by hand from NOVA.md and
 * DISCOVER's behaviour, not copied from our output.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ConfigError, defaultJobs, resolveConfig, threadsPerJob } from "../lib/server/config.js";
import { HttpError } from "../lib/server/http_error.js";
import { safeJobName } from "../lib/server/job_names.js";
import { checkAgainstManifest, isActive, mergeOptions, parseDataField, parseOptStr, parseSrc, resolveDataEntries } from "../lib/server/job_request.js";
import { resolveTrainerPath } from "../lib/server/modules.js";
import { collectSecretValues, redactForm, scrubText } from "../lib/server/secrets.js";
import { jobTablePage } from "../lib/server/html.js";
import { dataTypeMatches } from "../lib/server/server.js";
import { parseTrainerXml, trainerIo } from "../lib/server/trainer_info.js";

function httpError(fn: () => unknown, status: number, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, `expected HttpError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    return true;
  });
}

test("config: flag beats DISCOVER_* env beats NOVA_SERVER_* env beats default", () => {
  const cwd = "/srv/nova";
  const d = resolveConfig({}, {}, cwd);
  assert.equal(d.host, "127.0.0.1");
  assert.equal(d.port, 8080);
  assert.equal(d.cmlDir, "/srv/nova/cml");
  assert.equal(d.tmpDir, "/srv/nova/tmp");
  assert.equal(d.useTls, false);
  assert.equal(d.jobs, defaultJobs());
  // One job per two cores, no more than half the memory at 512 MiB each, at least one.
  assert.equal(defaultJobs(2, 24 * 2 ** 30), 1);
  assert.equal(defaultJobs(16, 64 * 2 ** 30), 8);
  assert.equal(defaultJobs(64, 4 * 2 ** 30), 4);
  assert.equal(defaultJobs(1, 2 ** 30), 1);
  assert.equal(threadsPerJob(2, 16), 8);
  assert.equal(threadsPerJob(4, 2), 1);
  const env = { NOVA_SERVER_PORT: "9000", NOVA_SERVER_CML_DIR: "/m", DISCOVER_CML_DIR: "/d", NOVA_SERVER_USE_TLS: "True" };
  const e = resolveConfig({}, env, cwd);
  assert.equal(e.port, 9000);
  assert.equal(e.cmlDir, "/d", "DISCOVER_* is read before NOVA_SERVER_*");
  assert.equal(e.useTls, true, "'True' as Python writes it");
  const f = resolveConfig({ port: 7000, cmlDir: "mods", jobs: "3" }, env, cwd);
  assert.equal(f.port, 7000);
  assert.equal(f.cmlDir, "/srv/nova/mods");
  assert.equal(f.jobs, 3);
  assert.throws(() => resolveConfig({ port: "80x" }, {}, cwd), ConfigError);
  assert.throws(() => resolveConfig({}, { DISCOVER_PORT: "70000" }, cwd), /DISCOVER_PORT/);
  assert.throws(() => resolveConfig({ jobs: 0 }, {}, cwd), /--jobs/);
  assert.throws(() => resolveConfig({ tlsCert: "c.pem" }, {}, cwd), /go together/);
  assert.throws(() => resolveConfig({ useTls: "maybe" }, {}, cwd), /not a boolean/);
  // data_dir may list several folders, separated by ';' as DISCOVER_DATA_DIR does; relative ones resolve against cwd.
  assert.deepEqual(d.dataDirs, ["/srv/nova/data"]);
  const g = resolveConfig({}, { DISCOVER_DATA_DIR: "/mnt/nova;local ; " }, cwd);
  assert.deepEqual(g.dataDirs, ["/mnt/nova", "/srv/nova/local"]);
  assert.equal(g.dataDir, "/mnt/nova");
});

test("job ids of any Unicode become distinct, safe file names", () => {
  const a = safeJobName("´face_mesh_stream");
  assert.match(a, /^face_mesh_stream-[0-9a-f]{12}$/, "the acute accent (U+00B4) decomposes to a space + combining mark and is dropped");
  assert.notEqual(a, safeJobName("face_mesh_stream"), "ids that slug alike keep distinct names (hash of the exact id)");
  for (const id of ["../../etc/passwd", "..", "a/b\\c", "日本語のジョブ", "", ".hidden", "x".repeat(500), "con:nul*?<>|"]) {
    const n = safeJobName(id);
    assert.match(n, /^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{12}$/, `${JSON.stringify(id)} -> ${n}`);
    assert.ok(n.length <= 48 + 13);
  }
});

test("trainerFilePath: Windows or POSIX separators, never outside cml_dir", () => {
  const cml = "/srv/cml";
  assert.deepEqual(resolveTrainerPath(cml, "modules\\facemesh\\facemesh.trainer"), { abs: "/srv/cml/modules/facemesh/facemesh.trainer", rel: "modules/facemesh/facemesh.trainer" });
  assert.deepEqual(resolveTrainerPath(cml, "modules/facemesh/./facemesh.trainer"), { abs: "/srv/cml/modules/facemesh/facemesh.trainer", rel: "modules/facemesh/facemesh.trainer" });
  httpError(() => resolveTrainerPath(cml, "..\\..\\etc"), 400, /'\.\.'/);
  httpError(() => resolveTrainerPath(cml, "modules/../../x.trainer"), 400, /'\.\.'/);
  httpError(() => resolveTrainerPath(cml, "/etc/x.trainer"), 400, /relative/);
  httpError(() => resolveTrainerPath(cml, "C:\\nova\\x.trainer"), 400, /relative/);
  httpError(() => resolveTrainerPath(cml, "\\\\host\\share\\x.trainer"), 400, /relative/);
  httpError(() => resolveTrainerPath(cml, "modules/facemesh/facemesh.py"), 400, /\.trainer/);
  httpError(() => resolveTrainerPath(cml, "  "), 400, /empty/);
});

test("options: JSON 'options' merged over optStr, values kept raw", () => {
  assert.deepEqual(parseOptStr("batch_size=50;min_score_thresh=0.5;"), { batch_size: "50", min_score_thresh: "0.5" });
  assert.deepEqual(mergeOptions({ optStr: "a=1;b=x", options: '{"b": 2, "c": true}' }), { a: "1", b: 2, c: true });
  assert.deepEqual(mergeOptions({}), {});
  httpError(() => mergeOptions({ options: "{not json" }), 400, /options/);
  httpError(() => mergeOptions({ options: "[1,2]" }), 400, /JSON object/);
  httpError(() => parseOptStr("novalue"), 400, /optStr/);
});

test("src and active parsing follow NOVA's spellings", () => {
  assert.deepEqual(parseSrc("file:stream:ssiStream"), { origin: "file", superType: "stream", subType: "ssistream", specific: "" });
  assert.deepEqual(parseSrc("db:stream:SSIStream:feature;face;landmarks:facemesh"), {
    origin: "db",
    superType: "stream",
    subType: "ssistream",
    specific: "feature;face;landmarks:facemesh",
  });
  for (const v of [false, "False", "false", "0", 0]) assert.equal(isActive(v), false, String(v));
  for (const v of [undefined, true, "True", "true", 1]) assert.equal(isActive(v), true, String(v));
});

test("data entries: file uris, uploads, request outputs, inactive outputs, refusals", (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), "srv-units-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const workDir = path.join(root, "work");
  const tmpDir = path.join(root, "tmp");
  mkdirSync(path.join(workDir, "path/to/my"), { recursive: true });
  mkdirSync(tmpDir);
  writeFileSync(path.join(workDir, "path/to/my/file.mp4"), "v");
  writeFileSync(path.join(tmpDir, "upload-abc.stream"), "b");
  const ctx = { workDir, tmpDir, resultDir: path.join(tmpDir, "job-1") };
  const entries = parseDataField(
    JSON.stringify([
      { src: "file:stream:video", type: "input", id: "input_data", uri: "path\\to\\my\\file.mp4" },
      { src: "file:stream:ssiStream", type: "Input", id: "face_bb", uri: "upload-abc.stream" },
      { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: "out/stream.stream" },
      { src: "request:stream:SSIStream", type: "output", id: "landmarks" },
      { src: "file:stream:ssistream", type: "output", id: "skipped", uri: "x.stream", active: "False" },
    ]),
  );
  const r = resolveDataEntries(entries, ctx);
  assert.deepEqual(r.inputs, { input_data: path.join(workDir, "path/to/my/file.mp4"), face_bb: path.join(tmpDir, "upload-abc.stream") });
  assert.deepEqual(r.outputs, { output_stream: path.join(workDir, "out/stream.stream"), landmarks: path.join(ctx.resultDir, "landmarks.stream") });

  const one = (e: object) => resolveDataEntries(parseDataField(JSON.stringify([e])), ctx);
  httpError(() => one({ src: "db:stream:SSIStream:feature;face;boundingbox", type: "input", id: "bb" }), 400, /'bb'.*'name' must be a non-empty string/);
  httpError(() => one({ src: "db:stream:SSIStream", type: "input", id: "bb", name: "x", role: "../up" }), 400, /'role' '\.\.\/up' must not contain/);
  httpError(() => one({ src: "db:annotation:Discrete", type: "input", id: "a", name: "x", role: "r" }), 400, /db:annotation sources are not supported .*only db:stream/);
  const dbEntry = { src: "db:stream:SSIStream:feature;face;boundingbox", type: "input", id: "face_bb", name: "blazeface", role: "subject" };
  assert.deepEqual(one(dbEntry).db.inputs.map((e) => [e.id, e.name, e.role, e.src.specific]), [["face_bb", "blazeface", "subject", "feature;face;boundingbox"]]);
  assert.deepEqual(one({ ...dbEntry, type: "output", active: false }).db.outputs, [], "an inactive db: output is dropped");
  httpError(() => one({ src: "file:stream:video", type: "input", id: "v", uri: "path/to/none.mp4" }), 400, /not found: .*path\/to\/none\.mp4/);
  httpError(() => one({ src: "file:stream:video", type: "input", id: "v", uri: "C:\\data\\a.mp4" }), 400, /Windows path/);
  httpError(() => one({ src: "url:stream:video", type: "input", id: "v", uri: "https://example.org/a.mp4" }), 400, /not supported/);
  httpError(() => one({ src: "file:stream:video", type: "input", id: "v" }), 400, /needs 'uri'/);
  httpError(() => one({ src: "request:stream:video", type: "input", id: "v", uri: "../escape" }), 400, /request: input/);
  httpError(() => parseDataField("{}"), 400, /JSON list/);
  httpError(() => parseDataField(undefined), 400, /missing field 'data'/);
  httpError(() => parseDataField('[{"id":"a","type":"sideways","src":"file:x"}]'), 400, /input or output/);
});

test("ids are checked against the manifest: aliases, required inputs", () => {
  const io = {
    inputs: [
      { id: "data", aliases: ["input_data"], data: "stream:Video", required: true },
      { id: "bounding_box", aliases: ["face_bb"], data: "stream:SSIStream", required: false },
    ],
    outputs: [{ id: "landmarks", aliases: ["output_stream"], data: "stream:SSIStream" }],
  };
  const noDb = { inputs: [], outputs: [] };
  checkAgainstManifest({ inputs: { input_data: "/a" }, outputs: { output_stream: "/o" }, db: noDb }, io, "m");
  httpError(() => checkAgainstManifest({ inputs: { face_bb: "/b" }, outputs: {}, db: noDb }, io, "m"), 400, /needs input 'data' or 'input_data'/);
  httpError(() => checkAgainstManifest({ inputs: { data: "/a", input_data: "/b" }, outputs: {}, db: noDb }, io, "m"), 400, /both name 'data'/);
  // A db: entry fills a slot like a file: entry (file: and db: mixed), and counts for the alias check too.
  const dbVideo = { id: "data", name: "video", role: "subject", src: { origin: "db", superType: "stream", subType: "video", specific: "" } };
  checkAgainstManifest({ inputs: { face_bb: "/b" }, outputs: {}, db: { inputs: [dbVideo], outputs: [] } }, io, "m");
  httpError(() => checkAgainstManifest({ inputs: { input_data: "/a" }, outputs: {}, db: { inputs: [dbVideo], outputs: [] } }, io, "m"), 400, /both name 'data'/);
});

test("secrets are masked by name at any depth and scrubbed by value from free text", () => {
  const form = {
    jobID: "j",
    dbUser: "nova",
    dbPassword: "hunter22",
    options: JSON.stringify({ batch_size: 5, api_token: "tok-123", nested: { client_secret: "s3cr3t" } }),
    optStr: "batch_size=5;password=pw-xyz",
    data: JSON.stringify([{ id: "a", uri: "https://bob:pa55word@host/x.mp4" }]),
  };
  const shown = JSON.stringify(redactForm(form));
  for (const secret of ["hunter22", "tok-123", "s3cr3t", "pw-xyz", "pa55word"]) assert.ok(!shown.includes(secret), `${secret} leaked: ${shown}`);
  assert.ok(shown.includes("nova") && shown.includes("batch_size"), "non-secret fields stay visible");
  const values = collectSecretValues(form);
  for (const secret of ["hunter22", "tok-123", "s3cr3t", "pw-xyz"]) assert.ok(values.includes(secret), secret);
  assert.equal(scrubText("login nova/hunter22 with tok-123", values), "login nova/**** with ****");
});

test(".trainer: TrainerEncoder fields, NOVA time strings in ms, io list, discover-utils' defaults", () => {
  const xml = `<?xml version="1.0" ?>
<trainer ssi-v="5">
  <info trained="True" seed="1234"/>
  <meta backend="nova-server" category="Face" description="d" is_iterable="False" leftContext="1s" frameStep="40ms">
    <io type="input" id="data" data="stream:Video" default_value="video"/>
    <io type="output" id="landmarks" data="stream:SSIStream:feature;face;landmarks:facemesh" default_value="lm" default_active="False"/>
    <uri id="w" url="https://example.org/w.onnx" hash="abc"/>
  </meta>
  <model create="FaceMesh" script="facemesh.py" optstr="{batch_size:STRING:250}"/>
</trainer>`;
  const t = parseTrainerXml(xml, "t.trainer");
  assert.equal(t.info_trained, true);
  assert.equal(t.meta_backend, "nova-server");
  assert.equal(t.meta_left_ctx, 1000);
  assert.equal(t.meta_right_ctx, 0);
  assert.equal(t.meta_frame_step, 40);
  assert.equal(t.meta_is_iterable, false);
  assert.equal(t.model_create, "FaceMesh");
  assert.equal(t.model_script_path, "facemesh.py");
  assert.equal(t.model_option_string, "{batch_size:STRING:250}");
  assert.equal(t.ssi_v, "5");
  assert.equal(t.xml_version, "1.0");
  // Absent attributes get discover-utils' Trainer defaults.
  assert.equal(t.meta_enable_post_process, true);
  assert.equal(t.meta_balance, "none");
  assert.equal(t.model_stream, "0");
  assert.equal(t.model_option_path, "");
  assert.equal(t.model_multirole_input, false);
  assert.deepEqual([t.users, t.classes, t.streams, t.register], [[], [], [], []]);
  assert.deepEqual(trainerIo(t), [
    { type: "input", id: "data", data: "stream:Video", default_value: "video", default_active: true },
    { type: "output", id: "landmarks", data: "stream:SSIStream:feature;face;landmarks:facemesh", default_value: "lm", default_active: false },
  ]);
  assert.deepEqual(JSON.parse(t.meta_uri), [{ id: "w", url: "https://example.org/w.onnx", hash: "abc", tar: false }]);
  assert.throws(() => parseTrainerXml("<trainer><meta></trainer>", "bad.trainer"), /bad\.trainer: not well-formed XML/);
  assert.throws(() => parseTrainerXml("<chain/>", "c.trainer"), /c\.trainer: expected root element <trainer>, found <chain>/);
  assert.throws(() => parseTrainerXml(xml.replace('frameStep="40ms"', 'frameStep="soon"'), "t.trainer"), /t\.trainer: meta frameStep="soon" is not a time/);
});

test(".trainer: other modules' trainers are listed as written; booleans follow NOVA's rule", () => {
  // A trainer as discover-utils writes it (no ssi-v, no io defaults, times as integer ms), with an optstr in the
  // shape some published modules use, which only the NOVA client's lenient reading accepts: passed on verbatim.
  const optstr = "{ip:STRING:127.0.0.1};{group_turns:BOOL:False]";
  const xml = `<trainer><info trained="True"/>
  <meta frameStep="40" leftContext="1500" balance="up" backend="nova-server" category="Text" description="d" meta_is_iterable="False">
    <io id="t" type="input" data="annotation:Free"/>
    <uri id="m" url="https://example.org/m.zip" tar="True"/>
  </meta>
  <users><item name="u1"/></users>
  <model create="PythonModel" stream="0" path="" script="m.py" optstr="${optstr}" option="" multi_role_input="True"/>
</trainer>`;
  const t = parseTrainerXml(xml, "m.trainer");
  assert.equal(t.ssi_v, "5");
  assert.equal(t.model_option_string, optstr);
  assert.equal(t.model_multirole_input, true);
  assert.equal(t.meta_frame_step, 40);
  assert.equal(t.meta_left_ctx, 1500);
  assert.equal(t.meta_balance, "up");
  assert.deepEqual(t.users, [{ name: "u1" }]);
  assert.deepEqual(trainerIo(t), [{ type: "input", id: "t", data: "annotation:Free", default_value: null, default_active: true }]);
  assert.deepEqual(JSON.parse(t.meta_uri), [{ id: "m", url: "https://example.org/m.zip", hash: null, tar: true }]);
  // NOVA.md §2: True/true/1 (False/false/0). Other spellings are errors naming the file, not silently true.
  for (const spelling of ["yes", "y", "t"]) {
    assert.throws(() => parseTrainerXml(xml.replace('trained="True"', `trained="${spelling}"`), "m.trainer"), new RegExp(`m\\.trainer: info trained="${spelling}" is not a boolean`));
  }
  assert.equal(parseTrainerXml(xml.replace('trained="True"', 'trained="1"'), "m.trainer").info_trained, true);
});

test("cml_info filters: super/sub types case-insensitively, specific types by leading ';' parts", () => {
  assert.equal(dataTypeMatches("stream:video", "stream:Video"), true);
  assert.equal(dataTypeMatches("stream:SSIStream", "stream:SSIStream:feature;face;boundingbox"), true);
  assert.equal(dataTypeMatches("stream:SSIStream:feature;face;boundingbox", "stream:SSIStream:feature;face;landmarks"), false);
  assert.equal(dataTypeMatches("stream:SSIStream:feature;face", "stream:SSIStream:feature;face;landmarks;facemesh"), true);
  assert.equal(dataTypeMatches("stream:SSIStream:feature;fa", "stream:SSIStream:feature;face"), false, "whole ';' parts only");
  assert.equal(dataTypeMatches("annotation", "stream:Video"), false);
});

test("the job table escapes job ids and module names", () => {
  const page = jobTablePage(
    [{ job_key: '<script>alert("x")</script>', job_type: "process", module_name: "a&b", status: "RUNNING", progress: "-", start_time: "", end_time: "", log_path: "", details: "", interactive_url: "" }],
    "jobs",
  );
  assert.ok(!page.includes("<script>alert"), "no markup from a job id");
  assert.match(page, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(page, /a&amp;b/);
  assert.match(page, /href="\/log\/%3Cscript%3Ealert\(%22x%22\)%3C%2Fscript%3E"/);
  assert.match(page, /class="cancel"/, "a running job gets a cancel button");
});
