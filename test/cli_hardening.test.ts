/**
 * Regression tests for the defects of issue 11 the CLI had (each failed before its fix): a run that destroyed its
 * own input, unbounded size options (--threads 1e6 hung, detect --batch-size 1e9 was accepted), a 0-row bbox
 * stream that replaced a good output with an empty one, an all-invalid bbox stream without a warning, and render
 * without a warning when the stream has more rows than the video has frames. Media are generated, so this runs
 * without ../shared/data.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { tempDir } from "./support/media.js";
import { listDir, makeFaceClip, runCli, snapshotStream, squareBoxRow, warningLines, writeHandBboxStream } from "./support/facemesh_harness.js";

const FRAMES = 8;
let root = "";
let cleanup = async () => {};
let clip = "";
let bbox = "";
let good = "";

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

before(async () => {
  ({ dir: root, cleanup } = await tempDir("facemesh-cli-hardening-"));
  clip = await makeFaceClip(path.join(root, "face.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide" });
  bbox = await writeHandBboxStream(path.join(root, "face.bbox.stream"), Array.from({ length: FRAMES }, () => squareBoxRow(375, 140, 110, 640, 360)), { fps: 25, width: 640, height: 360 });
  good = path.join(root, "good.stream");
  const res = await runCli(["run", clip, "--bbox", bbox, "--out", good, "--threads", "1"]);
  assert.equal(res.code, 0, res.stderr);
});
after(() => cleanup());

test("defect 3: run/detect/render refuse an output that is (or links to) an input, before writing anything", async () => {
  const before = { clip: sha(clip), bbox: sha(bbox), good: sha(good) };
  const link = path.join(root, "link-to-bbox.stream");
  symlinkSync(bbox, link);
  // run and detect add .stream to an output name without it, so `--out face.mp4` writes face.mp4.stream (checked
  // below); the inputs they could still overwrite are streams.
  const cases: string[][] = [
    ["run", clip, "--bbox", bbox, "--out", link],
    ["run", clip, "--bbox", bbox, "--out", bbox],
    ["detect", clip, "--out", path.join(root, "d.stream"), "--keypoints-out", path.join(root, "d.stream")],
    ["render", clip, "--stream", good, "--out", clip],
  ];
  const names = await listDir(root);
  for (const args of cases) {
    const res = await runCli(args);
    assert.equal(res.code, 1, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, /is the (input|output) .*: it would be overwritten/, args.join(" "));
  }
  assert.deepEqual({ clip: sha(clip), bbox: sha(bbox), good: sha(good) }, before);
  assert.deepEqual(await listDir(root), names, "nothing written");
  const res = await runCli(["run", clip, "--bbox", bbox, "--out", clip, "--threads", "1"]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(sha(clip), before.clip, "the video is untouched");
  assert.ok(existsSync(`${clip}.stream`) && existsSync(`${clip}.stream~`), "the stream went to face.mp4.stream");
});

test("defect 8: size options are bounded where parsed, with the range and the flag typed", async () => {
  const out = path.join(root, "bounded.stream");
  const batch = await runCli(["run", clip, "--bbox", bbox, "--out", out, "--batch-size", "1e9"]);
  assert.equal(batch.code, 1);
  assert.match(batch.stderr, /--batch-size=1000000000: must be a whole number from 1 to 4096/);
  const detect = await runCli(["detect", clip, "--out", out, "--batch-size", "1e9"], { timeoutMs: 60_000 });
  assert.equal(detect.code, 1, detect.stderr);
  assert.match(detect.stderr, /--batch-size 1000000000: must be a whole number from 1 to 4096/);
  const threads = await runCli(["run", clip, "--bbox", bbox, "--out", out, "--threads", "1e6"], { timeoutMs: 60_000 });
  assert.equal(threads.code, 1, threads.stderr);
  assert.match(threads.stderr, /--threads 1000000: must be a whole number from 1 to \d+/);
  assert.ok(!(await listDir(root)).includes("bounded.stream"));
});

test("defect 10: a 0-row bbox stream is an error that leaves a good output as it was; an all-invalid one warns", async () => {
  const empty = await writeHandBboxStream(path.join(root, "empty.bbox.stream"), [], { fps: 25, width: 640, height: 360 });
  const snap = await snapshotStream(good);
  const res = await runCli(["run", clip, "--bbox", empty, "--out", good, "--threads", "1"]);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /empty\.bbox\.stream: the bbox stream has 0 rows/);
  assert.deepEqual(await snapshotStream(good), snap);
  const invalid = await writeHandBboxStream(path.join(root, "invalid.bbox.stream"), Array.from({ length: FRAMES }, () => [0.5, 0.5, 0.4, 0.4, 0.9]), { fps: 25, width: 640, height: 360 });
  const warned = await runCli(["run", clip, "--bbox", invalid, "--out", path.join(root, "invalid-out.stream"), "--threads", "1"]);
  assert.equal(warned.code, 0, warned.stderr);
  assert.ok(warningLines(warned.stderr).some((l) => /none of its 8 rows holds a usable face box/.test(l)), warned.stderr);
});

test("defect 10: render warns when the stream has more rows than the video has frames", async () => {
  const short = await makeFaceClip(path.join(root, "short.mp4"), { frames: 3, angle: "-0.8", layout: "wide" });
  const res = await runCli(["render", short, "--stream", good, "--out", path.join(root, "overlay.mp4")]);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(warningLines(res.stderr).some((l) => /8 rows but .*short\.mp4 has 3 frames/.test(l)), res.stderr);
});
