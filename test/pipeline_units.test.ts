/**
 * The pipeline's rooms on their own, with fake models: the tracking state machine (lib/pipeline/tracking.ts) and
 * the batch scheduler (lib/pipeline/scheduler.ts). Real-model behaviour is in pipeline_tracking.test.ts and
 * pipeline_frames.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FaceLandmarks, RgbImage, Roi } from "../lib/types.js";
import { NUM_LANDMARKS, ROW_DIM } from "../lib/types.js";
import { NO_TRACK, TRACKING_TOLERANCE, followFaces, trackFrames, type TrackState, type TrackedFrame, type TrackingOps } from "../lib/pipeline/tracking.js";
import { roiFromLandmarks } from "../lib/calculators/landmarks_to_roi.js";
import type { QuarterTurn } from "../lib/calculators/turned_region.js";
import { scheduleBatches, ReusableBuffer, type RowBatch } from "../lib/pipeline/scheduler.js";
import { NO_TIMING } from "../lib/pipeline/timing.js";

const W = 400;
const H = 300;
const DEG = Math.PI / 180;

/** Landmarks whose eye line (mesh 33 -> 263) is at `angle` (radians, image y down), around the frame centre. */
function faceAt(angle: number, score: number): FaceLandmarks {
  const points = new Float32Array(NUM_LANDMARKS * 3);
  for (let i = 0; i < NUM_LANDMARKS; i++) {
    points[3 * i] = 0.5 + 0.05 * Math.cos(i);
    points[3 * i + 1] = 0.5 + 0.05 * Math.sin(i);
  }
  const dx = (30 * Math.cos(angle)) / W;
  const dy = (30 * Math.sin(angle)) / H;
  points[3 * 33] = 0.5 - dx;
  points[3 * 33 + 1] = 0.5 - dy;
  points[3 * 263] = 0.5 + dx;
  points[3 * 263 + 1] = 0.5 + dy;
  return { points, score };
}

interface Faked {
  crops: Array<{ frame: number; rotation: number }>;
  recrops: number;
}

/** A fake model: frame i's face is at angles[i] with scores[i]; records every crop. */
function fakeOps(angles: readonly number[], scores: readonly number[], offset = 0): TrackingOps<number> & Faked {
  const crops: Faked["crops"] = [];
  const ops = {
    crops,
    recrops: 0,
    crop: (frame: number, roi: Roi) => void crops.push({ frame: frame + offset, rotation: roi.rotation }),
    infer: async (slot: number) => slot,
    finish: async (frame: number) => faceAt(angles[frame + offset]!, scores[frame + offset]!),
    recropped: () => void ops.recrops++,
    // The detector: no face, so a track starts at the preferred turn's rotation (0).
    startTrack: async () => null,
  };
  return ops;
}

function boxFrames(n: number, tracked = true): TrackedFrame[] {
  return Array.from({ length: n }, () => ({ width: W, height: H, plan: { kind: "roi", roi: { cx: 200, cy: 150, width: 90, height: 90, rotation: 0 }, tracked } }));
}

/** The rotation each frame was finally cropped at (its last crop). */
function finalRotations(crops: Faked["crops"], n: number): number[] {
  const out = new Array<number>(n).fill(NaN);
  for (const c of crops) out[c.frame] = c.rotation;
  return out;
}

describe("tracking state machine (fake model)", () => {
  const angles = [10, 10.5, 30, 30.2, 30.4, -5, -5, -5].map((d) => d * DEG);
  const scores = [0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9];

  test("each tracked frame is cropped at the previous frame's eye line; a lost track (score <= min) restarts at 0", async () => {
    const ops = fakeOps(angles, scores);
    const { results, state } = await trackFrames(boxFrames(angles.length), NO_TRACK, 0.5, ops);
    const got = finalRotations(ops.crops, angles.length);
    // Frame 0: no track yet. Frame 5 follows frame 4, whose score 0.2 lost the track.
    const want = [0, angles[0], angles[1], angles[2], angles[3], 0, angles[5], angles[6]];
    // Within the tolerance: a speculative crop close enough is kept (frame 2: 10 instead of 10.5 degrees).
    got.forEach((r, i) => assert.ok(Math.abs(r - want[i]!) <= TRACKING_TOLERANCE + 1e-6, `frame ${i}: cropped at ${r / DEG} deg, want ${want[i]! / DEG}`));
    assert.ok(Math.abs(got[2]! - angles[0]!) < 1e-5, "frame 2 kept its speculative crop");
    assert.equal(results.length, angles.length);
    assert.ok(results.every((r) => r.kind === "landmarks"));
    assert.ok(Math.abs(state.rotation! - angles[7]!) < 1e-5);
  });

  test("a speculative crop is redone only when it is more than TRACKING_TOLERANCE off", async () => {
    const ops = fakeOps(angles, scores);
    await trackFrames(boxFrames(angles.length), NO_TRACK, 0.5, ops);
    // Speculation = the rotation known one frame earlier. Kept: frames 2 (10 for 10.5 deg), 4 (30 for 30.2), 7.
    // Redone: frames 1 (0 for 10), 3 (10.5 for 30), 5 (30.2 for 0 after the lost track), 6 (30.2 for -5).
    const perFrame = new Array<number>(angles.length).fill(0);
    for (const c of ops.crops) perFrame[c.frame]!++;
    assert.deepEqual(perFrame, [1, 2, 1, 2, 1, 2, 2, 1]);
    assert.equal(ops.recrops, 4);
    assert.ok(TRACKING_TOLERANCE > 0.5 * DEG && TRACKING_TOLERANCE < 2 * DEG);
  });

  test("untracked plans keep their rotation and skipped frames break the track", async () => {
    const frames = boxFrames(4);
    frames[1] = { width: W, height: H, plan: { kind: "skip" } };
    frames[2] = { width: W, height: H, plan: { kind: "roi", roi: { cx: 1, cy: 1, width: 9, height: 9, rotation: 0.3 }, tracked: false } };
    const ops = fakeOps([5 * DEG, 0, 20 * DEG, 0], [0.9, 0.9, 0.9, 0.9]);
    const { results } = await trackFrames(frames, NO_TRACK, 0.5, ops);
    assert.equal(results[1]!.kind, "skipped");
    const got = finalRotations(ops.crops, 4);
    assert.ok(Math.abs(got[2]! - 0.3) < 1e-9, "keypoint rotation kept");
    assert.ok(Math.abs(got[3]! - 20 * DEG) < 1e-5, "tracked from the untracked frame's landmarks");
  });

  test("split into batches with the state carried over, the crops are those of one batch", async () => {
    const whole = fakeOps(angles, scores);
    await trackFrames(boxFrames(angles.length), NO_TRACK, 0.5, whole);
    for (const size of [1, 3, 5]) {
      const crops: Faked["crops"] = [];
      let state: TrackState = NO_TRACK;
      for (let first = 0; first < angles.length; first += size) {
        const n = Math.min(size, angles.length - first);
        const ops = fakeOps(angles, scores, first);
        state = (await trackFrames(boxFrames(n), state, 0.5, ops)).state;
        crops.push(...ops.crops);
      }
      assert.deepEqual(finalRotations(crops, angles.length), finalRotations(whole.crops, angles.length), `batch size ${size}`);
    }
  });
});

describe("video mode state machine (fake model and detector)", () => {
  // Frame i: the face's eye line at angles[i], landmark score scores[i]; the detector finds a face on the frames
  // in `detectable` (at quarter turn `turnFound`).
  const angles = [0, 2, 4, 6, 8, 10, 12, 14].map((d) => d * DEG);
  const scores = [0.9, 0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9];

  function videoOps(detectable: ReadonlySet<number>, turnFound: QuarterTurn = 0) {
    const base = fakeOps(angles, scores);
    const detections: Array<{ frame: number; preferred: QuarterTurn | null }> = [];
    const ops: TrackingOps<number> = {
      ...base,
      startTrack: async (frame, near, preferred) => {
        assert.equal(near, null, "video mode searches the whole frame");
        detections.push({ frame, preferred });
        return detectable.has(frame) ? { roi: { cx: 200, cy: 150, width: 90, height: 90, rotation: 0.5 }, turn: turnFound } : null;
      },
    };
    return { ops, crops: base.crops, detections };
  }
  const sizes = angles.map(() => ({ width: W, height: H }));

  test("the detector runs only without a track; each next ROI comes from the landmarks; score <= min loses the track for that frame", async () => {
    const { ops, crops, detections } = videoOps(new Set([0, 4, 5]));
    const { results, state } = await followFaces(sizes, NO_TRACK, 0.5, ops);
    // Frame 0: detection. 1-3: tracked. Frame 3 scores 0.3: the track is lost, frame 4 detects again.
    assert.deepEqual(detections.map((d) => d.frame), [0, 4]);
    const rotations = finalRotations(crops, angles.length);
    assert.ok(Math.abs(rotations[0]! - 0.5) < 1e-9, "frame 0 at the detection's rotation");
    for (const i of [1, 2, 3, 5, 6, 7]) {
      const prev = results[i - 1]!;
      assert.equal(prev.kind, "landmarks");
      const want = prev.kind === "landmarks" ? roiFromLandmarks(prev.landmarks.points, W, H) : null;
      assert.ok(Math.abs(rotations[i]! - want!.rotation) < 1e-9, `frame ${i}: the previous frame's eye line`);
    }
    assert.ok(Math.abs(rotations[4]! - 0.5) < 1e-9, "frame 4 at the new detection's rotation");
    assert.equal(results[3]!.kind === "landmarks" && results[3]!.landmarks.score, 0.3, "frame 3 keeps its score (its row has no landmarks)");
    assert.ok(state.roi !== null && Math.abs(state.rotation! - angles[7]!) < 1e-5, "the track carries on past the batch");
  });

  test("no detection: the frame is skipped and the next one detects again; the turn that held is preferred afterwards", async () => {
    const { ops, detections } = videoOps(new Set([2]), 1);
    const { results, state } = await followFaces(sizes.slice(0, 3), NO_TRACK, 0.5, ops);
    assert.deepEqual(results.map((r) => r.kind), ["skipped", "skipped", "landmarks"]);
    assert.deepEqual(detections, [{ frame: 0, preferred: null }, { frame: 1, preferred: null }, { frame: 2, preferred: null }]);
    assert.equal(state.turn, 1, "the track held at turn 1");
    // A turn whose track fails its score is not preferred.
    const failing = videoOps(new Set([0]), 2);
    const after = await followFaces(sizes.slice(0, 1), { ...NO_TRACK, turn: 1 }, 0.5, { ...failing.ops, finish: async () => faceAt(0, 0.1) });
    assert.deepEqual(failing.detections, [{ frame: 0, preferred: 1 }]);
    assert.equal(after.results[0]!.kind, "landmarks");
    assert.equal(after.state.turn, 1);
    assert.equal(after.state.roi, null);
  });
});

describe("batch scheduler (fake job)", () => {
  const frame = (i: number): RgbImage => ({ width: 1, height: 1, data: Uint8Array.of(i, 0, 0) });
  async function* source(n: number): AsyncGenerator<RgbImage> {
    for (let i = 0; i < n; i++) yield frame(i);
  }

  test("batches in order, slots alternate, state chains, frames handed back after their rows, row limit honoured", async () => {
    const events: string[] = [];
    const out: RowBatch[] = [];
    const gen = scheduleBatches(
      source(10),
      0,
      { batchSize: 3, rowLimit: 8, framesDone: (fs) => events.push(`done ${fs.map((f) => f.data[0]).join(",")}`) },
      async (frames, first, slot, previous) => {
        const carried = await previous;
        events.push(`job ${first} slot ${slot} after ${carried}`);
        return { batch: { rows: new Float32Array(frames.length * ROW_DIM), count: frames.length, firstFrame: first }, state: carried + frames.length };
      },
      NO_TIMING,
    );
    for await (const b of gen) {
      events.push(`rows ${b.firstFrame}`);
      out.push(b);
    }
    assert.deepEqual(out.map((b) => [b.firstFrame, b.count]), [[0, 3], [3, 3], [6, 2]]);
    assert.deepEqual(events.filter((e) => e.startsWith("job")), ["job 0 slot 0 after 0", "job 3 slot 1 after 3", "job 6 slot 0 after 6"]);
    // Each batch's frames come back after its rows were consumed, never before.
    for (const [k, b] of out.entries()) assert.ok(events.indexOf(`rows ${b.firstFrame}`) < events.indexOf(`done ${[0, 1, 2].slice(0, b.count).map((j) => b.firstFrame + j).join(",")}`), `batch ${k}`);
  });

  test("the reusable buffer is shared by sequential callers and not by concurrent ones", async () => {
    let allocations = 0;
    const allocate = (n: number) => (allocations++, new Float32Array(n));
    const buf = new ReusableBuffer();
    const seen: Float32Array[] = [];
    await buf.with(4, allocate, async (b) => void seen.push(b));
    await buf.with(4, allocate, async (b) => void seen.push(b));
    assert.equal(seen[0], seen[1]);
    await buf.with(4, allocate, async (outer) => {
      await buf.with(4, allocate, async (inner) => assert.notEqual(inner, outer));
    });
    assert.equal(allocations, 2);
  });
});
