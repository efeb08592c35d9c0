/**
 * refine_landmarks in video mode (no bbox stream, tracking on; issue 13): our 478 landmarks against MediaPipe's own
 * video mode with refineLandmarks, frozen in test/fixtures/mediapipe/video_refine.json
 * (`node dist/scripts/make_mediapipe_fixture.js --refine`, from the reference's `none` mode with --refine): every
 * frame's verdict and the landmarks of every 13th (d0), 23rd (d12), 29th (d18) or 16th (short_hamilton_clip, where
 * faces come and go) frame; the whole clip runs, as
 * tracking needs every frame, with the harness's warm-up calls on frame 0 fed first, as MediaPipe was given them
 * (scripts/video_parity.ts).
 *
 * Targets (issue 13): NME over all 478 points median <= 0.5%, p95 <= 2%; iris centres (468, 473) median <= 0.5%
 * of the inter-ocular distance; the face found on the same frames (>= 98%). Measured by `parity.js --mode video
 * --refine` on every frame: d0, d12, d18 median 0.0002%, max 0.0005% (all 478), iris max 0.0014%, agreement 100%;
 * short_hamilton_clip median 0.000%, p95 0.001%, max 0.006%, agreement 98.55% (275 frames, MediaPipe 130 faces,
 * ours 134). On the frozen frames the fixture's 1e-5 rounding dominates (max 0.004%, irises 0.007%).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { projectRoot } from "../lib/convert/models.js";
import { FaceMesh } from "../lib/pipeline.js";
import { rowDimFor } from "../lib/rows.js";
import type { RgbImage } from "../lib/types.js";
import { agreementRate, meshDistance, pointDistance, summarize } from "../lib/metrics.js";
import { decodeInput, PixelHash } from "../scripts/mediapipe_reference.js";
import { IRIS_CENTRES, rowPoints, videoModeRows } from "../scripts/video_parity.js";
import type { VideoFixture } from "../scripts/make_mediapipe_fixture.js";
import { formatSummary, rowHasFace } from "./support/facemesh_harness.js";

const POINTS = 478;
/**
 * Max distance / IOD on a frozen frame, 478 points or one iris centre: measured at most 0.004% (478 points) and
 * 0.007% (irises), the fixture's rounding; 0.02% is about three times that and far below the targets.
 */
const MEASURED_BOUND = 0.0002;
const DIM = rowDimFor(POINTS);
const root = projectRoot();
const data = path.resolve(root, "../shared/data");
const fixture = JSON.parse(readFileSync(path.join(root, "test/fixtures/mediapipe/video_refine.json"), "utf8")) as VideoFixture;

function triplets(xy: ArrayLike<number>): Float32Array {
  const out = new Float32Array((xy.length / 2) * 3);
  for (let i = 0; i < xy.length / 2; i++) {
    out[3 * i] = xy[2 * i]!;
    out[3 * i + 1] = xy[2 * i + 1]!;
  }
  return out;
}

let mesh: FaceMesh;
before(async () => {
  mesh = await FaceMesh.create({ refineLandmarks: true });
});
after(() => mesh?.dispose());

test("refine_landmarks in video mode matches MediaPipe's video mode with refineLandmarks (three talking heads, a clip where faces come and go: 478 points, iris centres)", async (t) => {
  if (!existsSync(data)) return t.skip("../shared/data absent: the clips MediaPipe saw are needed");
  assert.equal(mesh.rowDim, DIM);
  assert.deepEqual(fixture.clips.map((c) => c.file), ["liveportrait/d0.mp4", "liveportrait/d12.mp4", "liveportrait/d18.mp4", "face_recognition/short_hamilton_clip.mp4"]);
  for (const clip of fixture.clips) {
    const hash = new PixelHash();
    async function* hashed(): AsyncGenerator<RgbImage> {
      for await (const f of decodeInput(path.join(data, clip.file))) {
        hash.add(f);
        yield f;
      }
    }
    const { rows, count } = await videoModeRows(mesh, hashed());
    assert.equal(hash.digest(), clip.pixelsSha256, `${clip.file}: decoded pixels differ from those MediaPipe was given`);
    assert.equal(count, clip.frames);
    const ours = Array.from({ length: count }, (_, i) => rowHasFace(rows, i * DIM, DIM));
    const agreement = agreementRate(ours, clip.found);
    const nme: number[] = [];
    const iris: number[] = [];
    for (const l of clip.landmarks.filter((x) => ours[x.frame])) {
      assert.equal(l.xy.length, 2 * POINTS, `${clip.file} frame ${l.frame}: 478 points frozen`);
      const p = rowPoints(rows, l.frame, POINTS);
      const ref = triplets(l.xy);
      nme.push(meshDistance(p, ref, clip.width, clip.height).relative);
      for (const c of IRIS_CENTRES) iris.push(pointDistance(p, ref, c, clip.width, clip.height));
    }
    const s = summarize(nme);
    const si = summarize(iris);
    t.diagnostic(`${clip.file}: ${formatSummary(`${nme.length} frozen frames, 478 points`, s)}; ${formatSummary("iris centres", si)}; agreement ${(agreement * 100).toFixed(1)}% over ${count} frames`);
    assert.ok(nme.length >= clip.landmarks.length - 1 && nme.length >= 5, `${clip.file}: compared ${nme.length} of ${clip.landmarks.length}`);
    // The issue's targets, and bounds a few times above what was measured (the median is the fixture's rounding).
    assert.ok(s.median <= 0.005 && s.p95 <= 0.02, `${clip.file}: median ${s.median}, p95 ${s.p95}`);
    assert.ok(si.median <= 0.005, `${clip.file}: iris centres median ${si.median}`);
    assert.ok(s.max <= MEASURED_BOUND && si.max <= MEASURED_BOUND, `${clip.file}: max ${s.max} (478 points), ${si.max} (irises) above ${MEASURED_BOUND}`);
    assert.ok(agreement >= 0.98, `${clip.file}: agreement ${(agreement * 100).toFixed(1)}%`);
  }
});
