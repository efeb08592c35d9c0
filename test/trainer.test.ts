/**
 * lib/nova/trainer.ts on our facemesh.trainer, on the original discover-modules trainer (reconstructed from
 * NOVA.md §2 as text below) and on hand-made variants. Expected values are read off the XML texts by eye.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { validateManifest } from "../lib/nova/manifest.js";
import { findIo, parseOptionSpecs, parseTimeSpan, parseTrainer, parseTrainerDocument, readTrainer } from "../lib/nova/trainer.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ourTrainer = path.join(projectRoot, "facemesh.trainer");
const dir = mkdtempSync(path.join(tmpdir(), "trainer-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The original module's trainer (discover-modules facemesh v1.0.2), as NOVA.md describes it: typo and all. */
const ORIGINAL = `<?xml version="1.0" ?>
<trainer ssi-v="5">
<info trained="true" seed="1234"/>
<meta backend="nova-server" category="Face" description="Calculates the bounding box around a single face in a video stream." is_iterable="False">
    <io type="input" id="data" data="stream:Video" default_value="video" />
    <io type="input" id="bounding_box" data="stream:SSIStream:feature;face;boundingbox" default_value="face_bounding_box" />
    <io type="output" id="landmarks" data="stream:SSIStream:feature;face;landmarks:facemesh" default_value="face_mesh" />
    <uri id="weights" url="https://example.org/facial_landmarks.pth" hash="0123abcd" tar="False" />
</meta>
<model create="FaceMesh" script="facemesh.py" optstr="{batch_size:STRING:250}"/>
</trainer>`;

test("our facemesh.trainer: info, meta, io, model and options", async () => {
  const t = await readTrainer(ourTrainer);
  assert.equal(t.path, ourTrainer);
  assert.equal(t.version, 5);
  assert.equal(t.info.trained, true);
  assert.equal(t.info.seed, 1234);
  assert.equal(t.meta.backend, "nova-server");
  assert.equal(t.isServerModule, true);
  assert.equal(t.meta.category, "Face");
  assert.equal(t.meta.isIterable, false);
  assert.match(t.meta.description, /468/);
  assert.doesNotMatch(t.meta.description, /bounding box around a single face/, "not blazeface's copy-pasted description");
  assert.deepEqual(t.io.map((x) => [x.type, x.id, x.super, x.sub, x.specific, x.defaultActive]), [
    ["input", "data", "stream", "Video", "", true],
    ["input", "bounding_box", "stream", "SSIStream", "feature;face;boundingbox", true],
    ["input", "keypoints", "stream", "SSIStream", "feature;face;landmarks;blazeface", false],
    ["output", "landmarks", "stream", "SSIStream", "feature;face;landmarks;facemesh", true],
    ["output", "head_pose", "stream", "SSIStream", "feature;face;headpose;facemesh", false],
  ]);
  assert.equal(t.model.create, "FaceMesh");
  assert.equal(t.model.script, "facemesh.ts");
  assert.deepEqual(t.options.map((o) => [o.name, o.type, o.default, o.choices]), [
    ["min_score_thresh", "STRING", 0.5, undefined],
    ["batch_size", "STRING", 50, undefined],
    ["device", "LIST", "cpu", ["cpu", "cuda", "webgpu"]],
    ["no_face", "LIST", "zeros", ["zeros", "nan"]],
    ["tracking", "BOOL", true, undefined],
    ["smoothing", "LIST", "none", ["none", "one_euro"]],
    ["refine_landmarks", "BOOL", false, undefined],
    ["segment_seconds", "STRING", 300, undefined],
  ]);
  // Only the three types the NOVA client can render.
  assert.ok(t.options.every((o) => ["STRING", "BOOL", "LIST"].includes(o.type)));
});

test("facemesh.trainer and nova-plugin.json declare the same io ids and data types", async () => {
  const t = await readTrainer(ourTrainer);
  const manifestFile = path.join(projectRoot, "nova-plugin.json");
  const m = validateManifest(JSON.parse(readFileSync(manifestFile, "utf8")), manifestFile);
  assert.equal(m.trainer, "facemesh.trainer");
  const fromManifest = [
    ...m.io.inputs.map((s) => ["input", s.id, s.data]),
    ...m.io.outputs.map((s) => ["output", s.id, s.data]),
  ].sort();
  assert.deepEqual(t.io.map((x) => [x.type, x.id, x.data]).sort(), fromManifest);
});

test("the original discover-modules trainer parses, typo kept in the specific part", () => {
  const t = parseTrainer(ORIGINAL, "modules/facemesh/facemesh.trainer");
  assert.equal(t.model.script, "facemesh.py");
  const out = findIo(t, "output", "landmarks")!;
  assert.equal(out.sub, "SSIStream");
  assert.equal(out.specific, "feature;face;landmarks:facemesh");
  assert.equal(out.defaultValue, "face_mesh");
  assert.equal(findIo(t, "input", "bounding_box")!.specific, "feature;face;boundingbox");
  assert.deepEqual(t.uris, [{
    id: "weights", url: "https://example.org/facial_landmarks.pth", hash: "0123abcd", tar: false,
    attributes: { id: "weights", url: "https://example.org/facial_landmarks.pth", hash: "0123abcd", tar: "False" },
  }]);
  assert.deepEqual(t.options.map((o) => [o.name, o.type, o.defaultText, o.default]), [["batch_size", "STRING", "250", 250]]);
  assert.equal(findIo(t, "input", "landmarks"), undefined);
});

test("meta: backends NOVA accepts, time strings, booleans in NOVA's spellings", () => {
  const variant = (metaAttrs: string, infoAttrs = 'trained="True"') =>
    parseTrainer(`<trainer ssi-v="5"><info ${infoAttrs}/><meta ${metaAttrs}/><model create="X" script="x.py"/></trainer>`, "v.trainer");
  assert.equal(variant('backend="Python"').isServerModule, true);
  assert.equal(variant('backend="NOVA-SERVER"').isServerModule, true);
  assert.equal(variant('backend="ssi"').isServerModule, false);
  assert.equal(variant("").info.trained, true);
  assert.equal(variant("", 'trained="1"').info.trained, true);
  assert.equal(variant("", 'trained="false"').info.trained, false);
  const t = variant('backend="Python" leftContext="40ms" rightContext="2s" frameStep="40" is_trainable="0" enable_post_process="True"');
  assert.deepEqual(t.meta.leftContext, { text: "40ms", seconds: 0.04, milliseconds: 40 });
  assert.deepEqual(t.meta.rightContext, { text: "2s", seconds: 2, milliseconds: 2000 });
  assert.deepEqual(t.meta.frameStep, { text: "40", seconds: 0.04, milliseconds: 40 }, "a bare integer is milliseconds");
  assert.equal(t.meta.isTrainable, false);
  assert.equal(t.meta.enablePostProcess, true);
  assert.equal(parseTimeSpan("0.5", "x", "f").seconds, 0.5, "a bare decimal is seconds");
  assert.equal(parseTimeSpan("0.04", "x", "f").milliseconds, 40, "a bare decimal is seconds");
  // 1.1 * 1000 and 0.29 * 1000 are not 1100 and 290 in binary floating point; the text scaled by 10^3 is.
  assert.equal(parseTimeSpan("1.1s", "x", "f").milliseconds, 1100);
  assert.equal(parseTimeSpan("0.29", "x", "f").milliseconds, 290);
  assert.equal(parseTimeSpan("1.5e-2s", "x", "f").milliseconds, 15);
  assert.equal(parseTimeSpan("1.5 S", "x", "f").seconds, 1.5);
  assert.equal(parseTimeSpan("250MS", "x", "f").seconds, 0.25);
  assert.throws(() => variant('frameStep="fast"'), /v\.trainer: meta frameStep="fast" is not a time/);
  assert.throws(() => variant('is_iterable="maybe"'), /v\.trainer: meta is_iterable="maybe" is not a boolean/);
  assert.throws(() => variant("", 'trained="yes please"'), /v\.trainer: info trained="yes please"/);
});

test("optstr: INT/FLOAT and any case accepted, defaults coerced by declared type", () => {
  const specs = parseOptionSpecs("{a:int:7}; {b:Float:0.25};{c:bool:false};{d:list: x , y };{e:string:hello};{f:STRING:};{g:STRING:a:b}", "o.trainer");
  assert.deepEqual(specs.map((s) => [s.name, s.type, s.default]), [
    ["a", "INT", 7], ["b", "FLOAT", 0.25], ["c", "BOOL", false], ["d", "LIST", "x"], ["e", "STRING", "hello"], ["f", "STRING", ""], ["g", "STRING", "a:b"],
  ]);
  assert.deepEqual(specs[3].choices, ["x", "y"]);
  assert.deepEqual(parseOptionSpecs("", "o.trainer"), []);
  assert.throws(() => parseOptionSpecs("{a:INT:1.5}", "o.trainer"), /o\.trainer: option "a" \(INT\): default "1\.5" is not an integer/);
  assert.throws(() => parseOptionSpecs("{a:FLOAT:abc}", "o.trainer"), /default "abc" is not a number/);
  assert.throws(() => parseOptionSpecs("{a:BOOL:maybe}", "o.trainer"), /o\.trainer: option "a" default="maybe" is not a boolean/);
  assert.throws(() => parseOptionSpecs("{a:COLOR:red}", "o.trainer"), /o\.trainer: invalid optstr: option "a": unknown type "COLOR"/);
  assert.throws(() => parseOptionSpecs("{a:INT}", "o.trainer"), /"\{a:INT\}" must be name:TYPE:default/);
  assert.throws(() => parseOptionSpecs("{a:INT:1};{a:INT:2}", "o.trainer"), /"a" is declared twice/);
  assert.throws(() => parseOptionSpecs("{a:INT:1} junk", "o.trainer"), /expected "\{name:TYPE:default\}" at "junk"/);
  assert.throws(() => parseOptionSpecs("{d:LIST:x,,y}", "o.trainer"), /empty item/);
});

test("structural errors name the trainer file", async () => {
  const bad = (xml: string, pattern: RegExp) => assert.throws(() => parseTrainer(xml, "bad.trainer"), (e: Error) => e.message.startsWith("bad.trainer") && pattern.test(e.message));
  bad("<stream ssi-v=\"2\"/>", /expected root element <trainer>, found <stream>/);
  bad("<trainer ssi-v=\"5\"><meta/></trainer>", /missing <model> element/);
  bad("<trainer ssi-v=\"5\"><model create=\"X\" script=\"x\"/></trainer>", /missing <meta> element/);
  bad("<trainer ssi-v=\"5\"><meta><io type=\"sideways\" id=\"a\" data=\"stream:Video\"/></meta><model create=\"X\" script=\"x\"/></trainer>", /<io> 1 \(id "a"\): type="sideways"/);
  bad("<trainer ssi-v=\"5\"><meta><io type=\"input\" id=\"a\" data=\"stream:Video\"/><io type=\"input\" id=\"a\" data=\"stream:Audio\"/></meta><model create=\"X\" script=\"x\"/></trainer>", /input id "a" is declared twice/);
  bad("<trainer ssi-v=\"5\"><meta/><model script=\"x\"/></trainer>", /needs a create attribute/);
  bad("<trainer ssi-v=\"five\"><meta/><model create=\"X\" script=\"x\"/></trainer>", /integer ssi-v attribute, found "five"/);
  bad("<trainer ssi-v=\"5\"><meta>", /not well-formed XML/);
  const missing = path.join(dir, "nope.trainer");
  await assert.rejects(readTrainer(missing), (e: Error) => e.message.startsWith(`${missing}: cannot read trainer`));
  const file = path.join(dir, "broken.trainer");
  writeFileSync(file, ORIGINAL.replace("{batch_size:STRING:250}", "{batch_size:STRING}"));
  await assert.rejects(readTrainer(file), (e: Error) => e.message.startsWith(`${file}: invalid optstr`));
});

test("parseTrainerDocument: any module's trainer, optstr kept as text, ssi-v optional, SSI item lists", () => {
  // Optstrs as published discover-modules trainers write them; the NOVA client copes, our option parser does not.
  for (const optstr of ["{ip:STRING:127.0.0.1};{group_turns:BOOL:False]", "model_path:STRING:cardiffnlp/x", "{roles:STRING:$(role);{split:BOOL:False}}"]) {
    const xml = `<trainer ssi-v="5"><meta backend="nova-server"/><model create="X" script="x.py" optstr="${optstr}"/></trainer>`;
    assert.equal(parseTrainerDocument(xml, "m.trainer").model.optstr, optstr);
    assert.throws(() => parseTrainer(xml, "m.trainer"), /m\.trainer: invalid optstr/, "running a module still needs a valid optstr");
  }
  // discover-utils' Trainer.write_to_file writes no ssi-v attribute; its default is 5.
  const written = parseTrainerDocument(`<trainer><info trained="False"/><meta backend="nova-server" frameStep="40"/>
    <register><item path="a.dll"/></register><users><item name="u1"/><item name="u2"/></users><model create="PythonModel" script="m.py"/></trainer>`, "w.trainer");
  assert.equal(written.version, 5);
  assert.equal(written.info.trained, false);
  assert.deepEqual(written.itemLists, { users: [{ name: "u1" }, { name: "u2" }], classes: [], streams: [], register: [{ path: "a.dll" }] });
  assert.equal("options" in written, false);
});
