/**
 * A new user's rough edges, through the CLI on generated clips of the sample photo's face (no ../shared needed):
 * every option described and typed alike, errors naming the flag typed, `.stream` added to output names, the
 * frames-with-a-face count, a bbox stream from another video refused, and the advice when the detector finds
 * (almost) no face.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ffmpeg, tempDir } from "./support/media.js";
import { decodeAll, makeFaceClip, readStreamFile, row, rowHasFace, runCli, samplePhoto, squareBoxRow, warningLines, writeHandBboxStream, writeHandStream } from "./support/facemesh_harness.js";

const FRAMES = 6;
const W = 640;
const H = 360;
let dir = "";
let cleanup = async () => {};
let clip = "";
let bbox = "";

before(async () => {
  ({ dir, cleanup } = await tempDir("facemesh-rough-"));
  clip = await makeFaceClip(path.join(dir, "face.mp4"), { frames: FRAMES, angle: "-0.8", layout: "wide" });
  bbox = await writeHandBboxStream(path.join(dir, "face.bbox.stream"), Array.from({ length: FRAMES }, () => squareBoxRow(375, 140, 110, W, H)), { fps: 25, width: W, height: H });
});
after(() => cleanup());

/** Option lines of a command's --help: the flag names, the text describing it, the type yargs prints. */
function helpOptions(help: string): Array<{ flag: string; text: string; type: string | undefined }> {
  const section = help.split(/^Options:$/m)[1] ?? "";
  // An option's description and its [type] may wrap onto the lines below its flag.
  const entries: Array<{ flag: string; body: string }> = [];
  for (const line of section.split("\n")) {
    const m = /^\s+(?:-\w, )?(--[\w-]+)(?:, --[\w-]+)?\s*(.*)$/.exec(line);
    if (m) entries.push({ flag: m[1], body: m[2] });
    else if (entries.length > 0 && line.trim() !== "") entries[entries.length - 1].body += ` ${line.trim()}`;
  }
  return entries.map(({ flag, body }) => ({
    flag,
    text: body.replace(/\[[^\]]*\]/g, "").trim(),
    type: /\[(string|number|boolean|array)\]/.exec(body)?.[1],
  }));
}

test("every option of every command has a description, and an option has one type wherever it appears", async () => {
  const types = new Map<string, Set<string>>();
  for (const command of ["run", "detect", "render", "info", "serve"]) {
    const res = await runCli([command, "--help"]);
    assert.equal(res.code, 0, res.stderr);
    const options = helpOptions(res.stdout);
    assert.ok(options.length >= 3, `${command}: options parsed from its help:\n${res.stdout}`);
    for (const o of options) {
      assert.ok(o.text.length > 0, `facemesh ${command} ${o.flag} has no description`);
      if (o.type) types.set(o.flag, (types.get(o.flag) ?? new Set()).add(o.type));
    }
  }
  for (const [flag, seen] of types) assert.equal(seen.size, 1, `${flag} has types ${[...seen].join(" and ")} across commands`);
  assert.deepEqual([...types.get("--batch-size")!], ["number"]);
});

test("an invalid value is reported under the flag typed, not the trainer's option name", async () => {
  for (const [flag, value, rule] of [["--min-score-thresh", "1.5", /must be between 0 and 1/], ["--batch-size", "0", /must be a whole number from 1/]] as const) {
    const res = await runCli(["run", clip, "--bbox", bbox, flag, value, "-o", path.join(dir, "bad.stream")]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`${flag}=${value.replace(".", "\\.")}: `));
    assert.match(res.stderr, rule);
    assert.doesNotMatch(res.stderr, /min_score_thresh|batch_size/);
  }
});

test("run: an output name without .stream gets it, and the summary says how many frames had a face", async () => {
  const out = path.join(dir, "named");
  const res = await runCli(["run", clip, "--bbox", bbox, "-o", out]);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(existsSync(`${out}.stream`) && existsSync(`${out}.stream~`), "named.stream and its data");
  assert.ok(!existsSync(out), "nothing written under the bare name");
  const s = await readStreamFile(`${out}.stream`);
  const faces = Array.from({ length: s.rows }, (_, r) => rowHasFace(row(s, r))).filter(Boolean).length;
  assert.equal(faces, FRAMES);
  assert.match(res.stdout, new RegExp(`named\\.stream: ${FRAMES} rows x 937 values at 25 Hz, a face in ${faces} `));
  // detect names its streams the same way.
  const det = await runCli(["detect", clip, "-o", path.join(dir, "boxes"), "--keypoints-out", path.join(dir, "kps")]);
  assert.equal(det.code, 0, det.stderr);
  assert.ok(existsSync(path.join(dir, "boxes.stream")) && existsSync(path.join(dir, "kps.stream")));
});

test("info explains its figures: duration rounded, score statistics over the rows with a face", async () => {
  const out = path.join(dir, "info.stream");
  // Frame 2 gets no box: a row without a face, whose score must not pull the mean down.
  const rows = Array.from({ length: FRAMES }, (_, r) => (r === 2 ? [0, 0, 0, 0, 0] : squareBoxRow(375, 140, 110, W, H)));
  const holed = await writeHandBboxStream(path.join(dir, "holed.bbox.stream"), rows, { fps: 25, width: W, height: H });
  assert.equal((await runCli(["run", clip, "--bbox", holed, "-o", out])).code, 0);
  const s = await readStreamFile(out);
  const scores = Array.from({ length: s.rows }, (_, r) => row(s, r)).filter((r) => rowHasFace(r)).map((r) => r[936]);
  assert.equal(scores.length, FRAMES - 1);
  const json = JSON.parse((await runCli(["info", out, "--json"])).stdout) as Record<string, number>;
  assert.equal(json.framesWithFace, FRAMES - 1);
  assert.equal(json.durationSec, 0.24);
  assert.ok(Math.abs(json.meanScore - scores.reduce((a, b) => a + b, 0) / scores.length) <= 5e-5, `mean ${json.meanScore}`);
  assert.ok(Math.abs(json.minScore - Math.min(...scores)) <= 5e-5);
  const text = (await runCli(["info", out])).stdout;
  assert.match(text, /^sr\s+25\s+\(rows per second\)$/m);
  assert.match(text, new RegExp(`^framesWithFace\\s+${FRAMES - 1}\\s+\\(rows with landmarks`, "m"));
  assert.match(text, /^meanScore\s+[\d.]+\s+\(mean face score over the rows with a face\)$/m);
});

describe("a bbox stream made for another video is refused, with the numbers, unless --force", () => {
  test("another frame size", async () => {
    const other = await writeHandBboxStream(path.join(dir, "other-size.bbox.stream"), Array.from({ length: FRAMES }, () => squareBoxRow(160, 120, 80, 320, 240)), { fps: 25, width: 320, height: 240 });
    const out = path.join(dir, "refused.stream");
    const res = await runCli(["run", clip, "--bbox", other, "-o", out]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /other-size\.bbox\.stream: made for frames of 320x240, but .*face\.mp4 is 640x360.*--force/);
    assert.ok(!existsSync(out));
    const forced = await runCli(["run", clip, "--bbox", other, "--force", "-o", out]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(warningLines(forced.stderr).some((l) => /made for frames of 320x240.*used anyway/.test(l)), forced.stderr);
    assert.equal((await readStreamFile(out)).rows, FRAMES);
  });

  test("another frame rate (the keypoint stream is checked the same way)", async () => {
    const other = await writeHandStream(path.join(dir, "other-rate.bbox.stream"), Array.from({ length: FRAMES }, () => squareBoxRow(375, 140, 110, W, H)), { sr: 30, dim: 5, meta: { type: "feature;face;boundingbox;blazeface", size: `${W}:${H}` } });
    const res = await runCli(["run", clip, "--bbox", other, "-o", path.join(dir, "rate.stream")]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /other-rate\.bbox\.stream: made for 30 frames per second, but .*face\.mp4 has 25/);
    const kp = await writeHandStream(path.join(dir, "other-rate.kp.stream"), Array.from({ length: FRAMES }, () => new Array<number>(13).fill(0.5)), { sr: 50, dim: 13, meta: { type: "feature;face;landmarks;blazeface", size: `${W}:${H}` } });
    const kpRes = await runCli(["run", clip, "--bbox", bbox, "--keypoints", kp, "-o", path.join(dir, "rate.stream")]);
    assert.equal(kpRes.code, 1);
    assert.match(kpRes.stderr, /other-rate\.kp\.stream: made for 50 frames per second, but .*has 25/);
  });
});

test("the short-range detector finding no face says so and suggests --detector full, which finds it", async () => {
  // The sample photo's face, ~170 px wide in a 1280x720 frame: too small for the short-range model.
  const small = path.join(dir, "small-face.mp4");
  await ffmpeg(["-loop", "1", "-framerate", "25", "-i", samplePhoto(), "-frames:v", "4", "-vf", "crop=760:760:1280:60,scale=280:280,pad=1280:720:500:200,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", small]);
  const short = await runCli(["run", small, "-o", path.join(dir, "small-short")]);
  assert.equal(short.code, 0, short.stderr);
  assert.match(short.stdout, /a face in 0 /);
  assert.ok(warningLines(short.stderr).some((l) => /face was found on only 0 of 4 frames.*try --detector full/.test(l)), short.stderr);
  const full = await runCli(["run", small, "--detector", "full", "-o", path.join(dir, "small-full")]);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /a face in 4 /);
  assert.deepEqual(warningLines(full.stderr), []);
  const det = await runCli(["detect", small, "-o", path.join(dir, "small-boxes")]);
  assert.ok(warningLines(det.stderr).some((l) => /try --detector full/.test(l)), det.stderr);
});

test("render: --draw and the colours choose what is drawn; a bad part names the flag", async () => {
  const still = await makeFaceClip(path.join(dir, "still.png"), { angle: "-0.8", layout: "wide" });
  const stream = path.join(dir, "still.stream");
  assert.equal((await runCli(["run", still, "-o", stream])).code, 0);
  const out = path.join(dir, "contours.png");
  const res = await runCli(["render", still, "--stream", stream, "--out", out, "--draw", "contours", "--contour-color", "#0000ff"]);
  assert.equal(res.code, 0, res.stderr);
  const [frame] = (await decodeAll(out)).frames;
  const [source] = (await decodeAll(still)).frames;
  let blue = 0;
  let otherChanged = 0;
  for (let i = 0; i < frame.data.length; i += 3) {
    const changed = frame.data[i] !== source.data[i] || frame.data[i + 1] !== source.data[i + 1] || frame.data[i + 2] !== source.data[i + 2];
    if (!changed) continue;
    if (frame.data[i] === 0 && frame.data[i + 1] === 0 && frame.data[i + 2] === 255) blue++;
    else otherChanged++;
  }
  assert.ok(blue > 200, `${blue} contour pixels`);
  assert.equal(otherChanged, 0, "only the contours, in their colour, are drawn (no mesh, no points)");
  const bad = await runCli(["render", still, "--stream", stream, "--out", path.join(dir, "bad.png"), "--draw", "mesh,nose"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--draw: unknown part 'nose'/);
});
