/**
 * Video mode (no bbox stream, tracking on; issue 12): MediaPipe's face_landmark_front rules, see
 * lib/pipeline/tracking.ts.
 *
 * - Against MediaPipe's own video mode, in CI: its verdict on every frame and its landmarks on every 8th/13th
 *   frame of two shared clips, frozen in test/fixtures/mediapipe/video.json (scripts/make_mediapipe_fixture.ts,
 *   from the reference's `none` mode). The whole clip runs, as tracking needs every frame, with the reference
 *   harness's warm-up calls on frame 0 fed first (scripts/video_parity.ts). Measured when frozen: agreement
 *   100% on both; frozen frames: hamilton median 0.004%, p95 1.35%, max 1.52% of the inter-ocular distance (the
 *   large ones lie in a stretch where the face turns away and float-level differences grow along the track),
 *   d0 0.001% (the fixture's 1e-5 rounding).
 * - Rows do not depend on batch_size: bytes equal for batch 1, 7 and 50, in video mode and in bbox mode with
 *   tracking, on a clip where faces come and go (tracks start again and again).
 * - One person per track, on two shared talking heads side by side.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { projectRoot } from "../lib/convert/models.js";
import { FaceMesh, type BoxHints } from "../lib/pipeline.js";
import type { RgbImage } from "../lib/types.js";
import { ROW_DIM } from "../lib/types.js";
import { agreementRate, meshDistance, summarize } from "../lib/metrics.js";
import { readBboxStream } from "../lib/ssi/bbox.js";
import { streamMediaPipeSaw, xyTriplets } from "./support/mediapipe_frames.js";
import { rowPoints, videoModeRows } from "../scripts/video_parity.js";
import type { VideoFixture } from "../scripts/make_mediapipe_fixture.js";
import { ffmpeg, tempDir } from "./support/media.js";
import { decodeAll, formatSummary, rowHasFace, runCli, sharedFile } from "./support/facemesh_harness.js";

const root = projectRoot();
const data = path.resolve(root, "../shared/data");
const fixture = JSON.parse(readFileSync(path.join(root, "test/fixtures/mediapipe/video.json"), "utf8")) as VideoFixture;


async function* replay(frames: readonly RgbImage[]): AsyncGenerator<RgbImage> {
  for (const f of frames) yield f;
}

async function allRows(mesh: FaceMesh, frames: readonly RgbImage[], batchSize: number, hints?: BoxHints): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const b of mesh.run(replay(frames), { batchSize, minScore: 0.5, noFace: "zeros", tracking: true, hints })) parts.push(b.rows.slice());
  return Float32Array.from(parts.flatMap((p) => Array.from(p)));
}

let mesh: FaceMesh;
before(async () => {
  mesh = await FaceMesh.create();
});
after(() => mesh?.dispose());

test("video mode matches MediaPipe's video mode (frozen frames of a clip where faces come and go, and a talking head)", async (t) => {
  if (!existsSync(data)) return t.skip("../shared/data absent: the clips MediaPipe saw are needed");
  for (const clip of fixture.clips) {
    const input = streamMediaPipeSaw(path.join(data, clip.file), clip.pixelsSha256);
    const { rows, count } = await videoModeRows(mesh, input.frames);
    input.check();
    assert.equal(count, clip.frames);
    const ours = Array.from({ length: count }, (_, i) => rowHasFace(rows, i * ROW_DIM));
    const agreement = agreementRate(ours, clip.found);
    const d = clip.landmarks.filter((l) => ours[l.frame]).map((l) => meshDistance(rowPoints(rows, l.frame), xyTriplets(l.xy), clip.width, clip.height).relative);
    const s = summarize(d);
    t.diagnostic(`${clip.file}: ${formatSummary(`${d.length} frozen frames`, s)}; agreement ${(agreement * 100).toFixed(1)}% over ${count} frames (MediaPipe ${clip.found.filter(Boolean).length} faces, ours ${ours.filter(Boolean).length})`);
    assert.ok(d.length >= clip.landmarks.length - 1, `${clip.file}: compared ${d.length} of ${clip.landmarks.length}`);
    // The issue's targets (0.5% / 2% / 98%); the median is far below (0.000%), hence its tighter bound.
    assert.ok(s.median <= 0.0005, `${clip.file}: median ${(s.median * 100).toFixed(3)}%`);
    assert.ok(s.p95 <= 0.02, `${clip.file}: p95 ${(s.p95 * 100).toFixed(3)}%`);
    assert.ok(agreement >= 0.98, `${clip.file}: agreement ${(agreement * 100).toFixed(1)}%`);
  }
});

describe("rows do not depend on batch_size (face_recognition/short_hamilton_clip.mp4: faces come and go)", () => {
  const video = sharedFile("face_recognition/short_hamilton_clip.mp4");
  let frames: RgbImage[] = [];
  let hints: BoxHints;
  let cleanup = async () => {};
  before(async () => {
    if (!video) return;
    let dir: string;
    ({ dir, cleanup } = await tempDir("facemesh-video-"));
    frames = (await decodeAll(video)).frames;
    const bbox = path.join(dir, "h.bbox.stream");
    assert.equal((await runCli(["detect", video, "--out", bbox])).code, 0);
    hints = { boxes: (await readBboxStream(bbox)).data };
  });
  after(() => cleanup());

  for (const mode of ["video", "bbox"] as const) {
    test(`${mode} mode: batch_size 1, 7 and 50 give the same bytes`, async (t: TestContext) => {
      if (!video) return t.skip("../shared/data absent: face_recognition/short_hamilton_clip.mp4 needed");
      const h = mode === "bbox" ? hints : undefined;
      const one = await allRows(mesh, frames, 1, h);
      const faces = Array.from({ length: frames.length }, (_, i) => rowHasFace(one, i * ROW_DIM)).filter(Boolean).length;
      t.diagnostic(`${faces} of ${frames.length} frames with a face`);
      assert.ok(faces > 100 && faces < frames.length, "faces come and go");
      for (const bs of [7, 50]) {
        const other = await allRows(mesh, frames, bs, h);
        assert.equal(Buffer.compare(Buffer.from(one.buffer), Buffer.from(other.buffer)), 0, `batch_size ${bs} differs from batch_size 1`);
      }
    });
  }
});

describe("one person per track: two talking heads side by side", () => {
  const left = sharedFile("liveportrait/d0.mp4");
  const right = sharedFile("sadtalker/WDA_KatieHill_000.mp4");
  let dir = "";
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir("facemesh-two-"));
  });
  after(() => cleanup());

  /** Which half each row's face is in (by its nose tip, mesh point 1): "L", "R" or "-" (no face). */
  function halves(rows: Float32Array, n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += rowHasFace(rows, i * ROW_DIM) ? (rows[i * ROW_DIM + 3] < 0.5 ? "L" : "R") : "-";
    return s;
  }

  test("a new track takes the most confident face; the track then keeps its face while the other is more confident", async (t) => {
    if (!left || !right) return t.skip("../shared/data absent: liveportrait/d0.mp4 and sadtalker/WDA_KatieHill_000.mp4 needed");
    // 78 frames, 1024x512: d0 left, KatieHill right.
    const both = path.join(dir, "both.mp4");
    await ffmpeg(["-i", left, "-i", right, "-filter_complex", "[0:v][1:v]hstack=inputs=2:shortest=1,format=yuv420p", "-c:v", "libx264", "-qp", "10", "-preset", "ultrafast", both]);
    const frames = (await decodeAll(both)).frames;
    // Which face the detector ranks first on each frame (static mode's choice).
    const ranked = (await mesh.detect(frames)).map((d) => (d[0] ? (d[0].xmin + d[0].width / 2 < 0.5 ? "L" : "R") : "-")).join("");
    const video = halves(await allRows(mesh, frames, 50), frames.length);
    t.diagnostic(`detector's first face per frame: ${ranked}`);
    t.diagnostic(`video mode's face per frame:     ${video}`);
    assert.equal(video[0], ranked[0], "the first track takes the detector's most confident face (MediaPipe's rule)");
    assert.equal(video, video[0]!.repeat(frames.length), "the track stays on its face");

    // Now the face the detector prefers is hidden for the first 10 frames: the track starts on the other one and
    // must keep it when the preferred face appears, where static mode switches.
    const preferred = ranked[0]!;
    const hidden = path.join(dir, "hidden.mp4");
    const x = preferred === "L" ? 0 : 512;
    await ffmpeg(["-i", both, "-vf", `drawbox=x=${x}:y=0:w=512:h=512:c=black:t=fill:enable='lt(n,10)'`, "-c:v", "libx264", "-qp", "10", "-preset", "ultrafast", hidden]);
    const hiddenFrames = (await decodeAll(hidden)).frames;
    const tracked = halves(await allRows(mesh, hiddenFrames, 50), hiddenFrames.length);
    const staticMode = (await mesh.detect(hiddenFrames)).map((d) => (d[0] ? (d[0].xmin + d[0].width / 2 < 0.5 ? "L" : "R") : "-")).join("");
    const other = preferred === "L" ? "R" : "L";
    t.diagnostic(`static mode's face, preferred one hidden until frame 10: ${staticMode}`);
    t.diagnostic(`video mode's face, same clip:                          ${tracked}`);
    assert.ok(staticMode.slice(10).split("").filter((c) => c === preferred).length > 34, "static mode switches to the preferred face once it is visible");
    assert.equal(tracked, other.repeat(hiddenFrames.length), "video mode keeps the face its track started on");
  });
});
