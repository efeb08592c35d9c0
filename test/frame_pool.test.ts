/**
 * FramePool on its own (lending, reuse, the size rule, the maxFree bound, double and foreign releases), and
 * decodeFrames with a pool: the same bytes as without one, whether the consumer releases each frame at once or
 * holds several, and every lent buffer back in the pool after an early exit.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeFrames, type DecodedFrame, type DecodeOptions } from "../lib/video/decode.js";
import { FramePool } from "../lib/video/frame_pool.js";
import { FRAMES_READ_AHEAD } from "../lib/video/frame_socket.js";
import { probeVideo, type VideoInfo } from "../lib/video/probe.js";
import { makeVideo, tempDir } from "./support/media.js";

describe("FramePool", () => {
  test("a released buffer is lent again, not a new one", () => {
    const pool = new FramePool();
    const a = pool.acquire(12);
    assert.equal(a.byteLength, 12);
    pool.release(a);
    assert.equal(pool.freeCount, 1);
    assert.equal(pool.acquire(12), a);
    assert.equal(pool.freeCount, 0);
    assert.deepEqual(pool.stats, { allocated: 1, reused: 1 });
  });

  test("buffers on loan are never lent twice: each acquire without a release gets a distinct buffer", () => {
    const pool = new FramePool();
    const lent = Array.from({ length: 5 }, () => pool.acquire(12));
    assert.equal(new Set(lent).size, 5);
    assert.equal(new Set(lent.map((b) => b.buffer)).size, 5, "distinct memory, not views of one buffer");
  });

  test("release takes a decoded frame (its data) as well as the buffer itself", () => {
    const pool = new FramePool();
    const data = pool.acquire(12);
    const frame: DecodedFrame = { width: 2, height: 2, data, index: 0 };
    pool.release(frame);
    assert.equal(pool.acquire(12), data);
  });

  test("another size: a new buffer; free buffers and late releases of the old size are dropped", () => {
    const pool = new FramePool();
    const small = pool.acquire(12);
    const smallLate = pool.acquire(12);
    pool.release(small);
    const big = pool.acquire(24);
    assert.notEqual(big, small);
    assert.equal(big.byteLength, 24);
    assert.equal(pool.freeCount, 0, "the 12-byte buffer cannot serve 24-byte frames");
    pool.release(smallLate); // lent before the size changed: accepted, not kept
    assert.equal(pool.freeCount, 0);
    pool.release(big);
    assert.equal(pool.acquire(24), big);
  });

  test("at most maxFree buffers wait on the free list", () => {
    const pool = new FramePool({ maxFree: 2 });
    const lent = Array.from({ length: 4 }, () => pool.acquire(12));
    for (const b of lent) pool.release(b);
    assert.equal(pool.freeCount, 2);
    const again = [pool.acquire(12), pool.acquire(12), pool.acquire(12)];
    assert.equal(again.filter((b) => lent.includes(b)).length, 2, "two reused, the third new");
    assert.deepEqual(pool.stats, { allocated: 5, reused: 2 });
  });

  test("the default keeps 8 free buffers", () => {
    const pool = new FramePool();
    const lent = Array.from({ length: 10 }, () => pool.acquire(3));
    for (const b of lent) pool.release(b);
    assert.equal(pool.freeCount, 8);
  });

  test("a double release throws and does not let the buffer be lent twice", () => {
    const pool = new FramePool();
    const a = pool.acquire(12);
    pool.release(a);
    assert.throws(() => pool.release(a), /FramePool\.release: a 12-byte buffer .* already released/);
    assert.equal(pool.freeCount, 1, "the second release added nothing");
    const first = pool.acquire(12);
    const second = pool.acquire(12);
    assert.equal(first, a);
    assert.notEqual(second, a);
  });

  test("a double release is caught even when the first release was dropped (free list full)", () => {
    const pool = new FramePool({ maxFree: 0 });
    const a = pool.acquire(12);
    pool.release(a);
    assert.equal(pool.freeCount, 0);
    assert.throws(() => pool.release(a), /already released/);
  });

  test("a buffer the pool did not lend is refused", () => {
    const pool = new FramePool();
    pool.acquire(12);
    assert.throws(() => pool.release(new Uint8Array(12)), /not lent by this pool/);
    const other = new FramePool();
    assert.throws(() => pool.release(other.acquire(12)), /not lent by this pool/);
    assert.equal(pool.freeCount, 0);
  });

  test("bad arguments are errors naming the argument", () => {
    assert.throws(() => new FramePool({ maxFree: -1 }), /maxFree must be a non-negative integer, got -1/);
    assert.throws(() => new FramePool({ maxFree: 1.5 }), /maxFree/);
    const pool = new FramePool();
    for (const bytes of [0, -3, 2.5, Number.NaN]) assert.throws(() => pool.acquire(bytes), /bytes must be a positive integer/);
  });

  test("clear drops the free buffers; buffers on loan can still be released", () => {
    const pool = new FramePool();
    const a = pool.acquire(12);
    const b = pool.acquire(12);
    pool.release(a);
    pool.clear();
    assert.equal(pool.freeCount, 0);
    pool.release(b);
    assert.equal(pool.acquire(12), b);
  });
});

describe("decodeFrames with a FramePool", () => {
  let dir = "";
  let cleanup: () => Promise<void> = async () => {};
  let file = "";
  let info: VideoInfo;
  /** Copies of the frames decoded without a pool: the reference. */
  let reference: Uint8Array[] = [];
  const FRAMES = 20;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // testsrc2 moves every frame, so a frame refilled with a later one cannot go unnoticed.
    file = await makeVideo(path.join(dir, "moving.mp4"), { codec: "h264", frames: FRAMES, width: 160, height: 120 });
    info = await probeVideo(file);
    reference = [];
    for await (const f of decodeFrames(file, info)) reference.push(f.data.slice());
    assert.equal(reference.length, FRAMES);
    for (let i = 1; i < FRAMES; i++) assert.notDeepEqual(reference[i], reference[i - 1], `the test video must change every frame (${i})`);
  });
  after(() => cleanup());

  test("releasing each frame at once: the same bytes as without a pool, from a few reused buffers", async () => {
    const pool = new FramePool();
    const got: Uint8Array[] = [];
    const buffers = new Set<Uint8Array>();
    for await (const f of decodeFrames(file, info, { pool })) {
      assert.equal(f.index, got.length);
      assert.equal(f.data.byteLength, 160 * 120 * 3);
      got.push(f.data.slice());
      buffers.add(f.data);
      pool.release(f);
    }
    assert.equal(got.length, FRAMES);
    got.forEach((d, i) => assert.deepEqual(d, reference[i], `frame ${i}`));
    // The decoder reads up to FRAMES_READ_AHEAD frames ahead, plus the one being filled, beside the one the
    // consumer holds: that many buffers at most, all the others reused.
    // (The reader also takes a buffer for data that never comes after the last frame, and gives it back.)
    assert.ok(pool.stats.allocated <= FRAMES_READ_AHEAD + 2, `${pool.stats.allocated} buffers allocated`);
    assert.ok(buffers.size <= pool.stats.allocated);
    assert.ok(pool.stats.allocated + pool.stats.reused - FRAMES <= 1, JSON.stringify(pool.stats));
    assert.equal(pool.freeCount, pool.stats.allocated, "every buffer back in the pool");
  });

  test("a slow consumer: every frame arrives intact, reading pauses after FRAMES_READ_AHEAD frames and resumes", { timeout: 60_000 }, async () => {
    // Reading stops whenever FRAMES_READ_AHEAD frames wait; a reader that failed to restart would hang here.
    const pool = new FramePool();
    let n = 0;
    for await (const f of decodeFrames(file, info, { pool })) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(f.data, reference[n], `frame ${n}`);
      pool.release(f);
      n++;
    }
    assert.equal(n, FRAMES);
    // Memory stays bounded by the read-ahead, not by how far ffmpeg could run ahead.
    assert.ok(pool.stats.allocated <= FRAMES_READ_AHEAD + 2, `${pool.stats.allocated} buffers allocated`);
  });

  test("holding batches of frames: no held frame is overwritten, and released buffers are reused", async () => {
    const BATCH = 6; // not a divisor of FRAMES: the last batch is short
    const pool = new FramePool({ maxFree: BATCH });
    let held: DecodedFrame[] = [];
    let seen = 0;
    const checkAndRelease = () => {
      assert.equal(new Set(held.map((f) => f.data)).size, held.length, "held frames share no buffer");
      for (const f of held) assert.deepEqual(f.data, reference[f.index], `frame ${f.index} still intact while held`);
      for (const f of held) pool.release(f);
      held = [];
    };
    for await (const f of decodeFrames(file, info, { pool })) {
      assert.equal(f.index, seen++);
      held.push(f);
      if (held.length === BATCH) checkAndRelease();
    }
    checkAndRelease();
    assert.equal(seen, FRAMES);
    // One batch on loan plus the frames read ahead and the one being filled when it is released.
    assert.ok(pool.stats.allocated <= BATCH + FRAMES_READ_AHEAD + 1, `allocated ${pool.stats.allocated}`);
    assert.ok(pool.stats.allocated + pool.stats.reused - FRAMES <= 1, JSON.stringify(pool.stats));
  });

  for (const how of ["break", "abort"] as const) {
    test(`${how} after 3 frames: every buffer the pool lent comes back once the consumer releases its frames`, async () => {
      const pool = new FramePool({ maxFree: 100 });
      const ac = new AbortController();
      const opts: DecodeOptions = { pool, signal: ac.signal };
      const got: DecodedFrame[] = [];
      const consume = async () => {
        for await (const f of decodeFrames(file, info, opts)) {
          got.push(f);
          if (got.length === 3) {
            if (how === "break") break;
            ac.abort(new Error("stop"));
          }
        }
      };
      if (how === "abort") await assert.rejects(consume(), /stop/);
      else await consume();
      assert.equal(got.length, 3);
      got.forEach((f, i) => assert.deepEqual(f.data, reference[i], `frame ${i}`));
      for (const f of got) pool.release(f);
      // Frames read ahead or half filled when the decoder stopped were never yielded: decodeFrames gives them back.
      assert.equal(pool.freeCount, pool.stats.allocated, `lent ${pool.stats.allocated}, back ${pool.freeCount}`);
    });
  }
});
