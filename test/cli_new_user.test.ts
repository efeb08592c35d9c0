/**
 * What a new user ran into, through the CLI on a generated clip of the sample photo's face (no ../shared needed):
 * `render` given the landmark stream of another video, outputs in a folder that does not exist, a video (or a
 * huge file) given where a stream header belongs, and an output that is the input video.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { tempDir } from "./support/media.js";
import { listDir, makeFaceClip, runCli, warningLines, writeHandStream } from "./support/facemesh_harness.js";
import { MAX_HEADER_BYTES } from "../lib/ssi/stream.js";

const FRAMES = 4;
const W = 640;
const H = 360;
let dir = "";
let cleanup = async () => {};
let clip = "";
let landmarks = "";

before(async () => {
  ({ dir, cleanup } = await tempDir("facemesh-newuser-"));
  clip = await makeFaceClip(path.join(dir, "face.mp4"), { frames: FRAMES, layout: "wide" });
  landmarks = path.join(dir, "face.facemesh.stream");
  const res = await runCli(["run", clip, "--out", landmarks]);
  assert.equal(res.code, 0, res.stderr);
});
after(() => cleanup());

/** A landmark stream as `run` writes it, but with the meta size and rate of another video. */
function otherVideosLandmarks(name: string, spec: { sr: number; width: number; height: number }): Promise<string> {
  const rows = Array.from({ length: FRAMES }, () => new Array<number>(937).fill(0.5));
  return writeHandStream(path.join(dir, name), rows, { sr: spec.sr, dim: 937, meta: { type: "feature;face;landmarks;facemesh", size: `${spec.width}:${spec.height}` } });
}

describe("render refuses the landmark stream of another video (as run refuses its bbox stream), unless --force", () => {
  test("another frame size and rate: both numbers named, nothing written; --force draws with a warning", async () => {
    const other = await otherVideosLandmarks("other.facemesh.stream", { sr: 30, width: 512, height: 512 });
    const out = path.join(dir, "other-overlay.mp4");
    const before = await listDir(dir);
    const res = await runCli(["render", clip, "--stream", other, "--out", out]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /other\.facemesh\.stream: made for frames of 512x512, but .*face\.mp4 is 640x360, and for 30 frames per second, but .*face\.mp4 has 25.*--force/);
    assert.deepEqual(await listDir(dir), before, "a refused render leaves nothing behind");
    const forced = await runCli(["render", clip, "--stream", other, "--out", out, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(warningLines(forced.stderr).some((l) => /made for frames of 512x512.*used anyway/.test(l)), forced.stderr);
    assert.ok(existsSync(out));
  });

  test("the stream run wrote for this very video is drawn without a word", async () => {
    const res = await runCli(["render", clip, "--stream", landmarks, "--out", path.join(dir, "own-overlay.mp4")]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(warningLines(res.stderr), []);
  });
});

test("an output in a folder that does not exist (or under a file) is refused before any work, naming the flag and the folder", async () => {
  const missing = path.join(dir, "no such folder");
  const cases: Array<{ args: string[]; flag: string; folder: string; why: RegExp }> = [
    { args: ["run", clip, "--out", path.join(missing, "a.stream")], flag: "--out", folder: missing, why: /does not exist/ },
    { args: ["detect", clip, "--out", path.join(dir, "boxes.stream"), "--keypoints-out", path.join(missing, "kp.stream")], flag: "--keypoints-out", folder: missing, why: /does not exist/ },
    { args: ["render", clip, "--stream", landmarks, "--out", path.join(missing, "overlay.mp4")], flag: "--out", folder: missing, why: /does not exist/ },
    { args: ["run", clip, "--out", path.join(clip, "a.stream")], flag: "--out", folder: clip, why: /is not a folder/ },
  ];
  for (const c of cases) {
    const before = await listDir(dir);
    const res = await runCli(c.args);
    assert.equal(res.code, 1, `${c.args.join(" ")}\n${res.stderr}`);
    const message = res.stderr.trim().split("\n").pop() ?? "";
    assert.ok(message.includes(`output ${c.flag} `) && message.includes(c.folder), message);
    assert.match(message, c.why);
    // Before the fix this failed at the end, on a temporary file's name, after decoding (render: after drawing).
    assert.doesNotMatch(res.stderr, /\.tmp|frames \(/, res.stderr);
    assert.deepEqual(await listDir(dir), before, c.args.join(" "));
  }
});

test("a video, an empty file or a huge file where a stream header belongs: 'not an SSI stream header', without reading it whole", async () => {
  const video = await runCli(["info", clip]);
  assert.equal(video.code, 1);
  assert.match(video.stderr, /face\.mp4: not an SSI stream header: it is not XML text/);
  const asBbox = await runCli(["run", clip, "--bbox", clip, "--out", path.join(dir, "x.stream")]);
  assert.equal(asBbox.code, 1);
  assert.match(asBbox.stderr, /face\.mp4: not an SSI stream header/);
  const empty = path.join(dir, "empty.stream");
  await writeFile(empty, "");
  assert.match((await runCli(["info", empty])).stderr, /empty\.stream: not an SSI stream header: the file is empty/);
  // Sparse: takes no disk. Read whole, a 1 GiB file cost 600 MB of memory before failing on the XML.
  const huge = path.join(dir, "huge.mkv");
  await writeFile(huge, "<");
  await truncate(huge, MAX_HEADER_BYTES + 1);
  const res = await runCli(["info", huge]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, new RegExp(`huge\\.mkv: not an SSI stream header: ${MAX_HEADER_BYTES + 1} bytes`));
});

test("an output that is the input video is refused in words a user reads ('the input video', not 'the input input')", async () => {
  const res = await runCli(["render", clip, "--stream", landmarks, "--out", clip]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /output --out .*face\.mp4 is the input video: it would be overwritten/);
});
