/**
 * FramePool: frame buffers handed back by a consumer, for decodeFrames to fill again instead of allocating a fresh
 * 786 KB buffer per 512x512 frame (see the file comment of decode.ts for why; bench/README.md for the effect).
 *
 * Contract (the whole point of the class is to make a use-after-release bug hard to write, and loud):
 * - `acquire(bytes)` lends a buffer of exactly `bytes` bytes: a released one when one of that size is free, else a
 *   new one. Its contents are unspecified (decodeFrames overwrites every byte before yielding a frame).
 * - `release(buffer)` hands a lent buffer back. From then on the caller must not read or write it, nor keep any
 *   view of it: the next `acquire` may lend it to the decoder, which overwrites it with a later frame.
 * - Releasing a buffer this pool does not have out on loan (released twice, or never lent by this pool) throws,
 *   so a double release can never put one buffer on the free list twice and have it lent to two frames at once.
 *   The one bug it cannot see is a release of a buffer that was lent out again in between: only the owner of a
 *   frame may release it, once.
 * - Buffers of a size other than the one last acquired are dropped on release (and free buffers of another size
 *   are dropped when the size changes), so one pool can serve videos of different sizes one after another.
 * - At most `maxFree` buffers wait on the free list; further releases are dropped for the garbage collector, so the
 *   pool never holds more memory than `maxFree` frames beyond those on loan.
 *
 * For one thread (no locking). A buffer transferred to a worker is detached (0 bytes): releasing it just drops it.
 */

export interface FramePoolOptions {
  /** Most free buffers kept for reuse (default 8). Lending more than this at once still works: the extra ones are allocated. */
  maxFree?: number;
}

export const DEFAULT_MAX_FREE = 8;

export class FramePool {
  readonly maxFree: number;
  /** Buffers ready to lend, all of `size` bytes. */
  private readonly free: Uint8Array[] = [];
  /** Buffers lent by acquire and not yet released (weak: a frame the consumer drops instead of releasing is simply collected). */
  private readonly lent = new WeakSet<Uint8Array>();
  /** Byte length of the buffers last acquired; 0 before the first acquire. */
  private size = 0;
  private allocatedCount = 0;
  private reusedCount = 0;

  constructor(options: FramePoolOptions = {}) {
    const maxFree = options.maxFree ?? DEFAULT_MAX_FREE;
    if (!Number.isInteger(maxFree) || maxFree < 0) throw new Error(`FramePool: maxFree must be a non-negative integer, got ${maxFree}`);
    this.maxFree = maxFree;
  }

  /** Lends a buffer of exactly `bytes` bytes (a released one if free, else a new one); its contents are unspecified. */
  acquire(bytes: number): Uint8Array {
    if (!Number.isInteger(bytes) || bytes <= 0) throw new Error(`FramePool.acquire: bytes must be a positive integer, got ${bytes}`);
    if (bytes !== this.size) {
      // A new frame size (another video): the free buffers cannot serve it.
      this.free.length = 0;
      this.size = bytes;
    }
    let buffer = this.free.pop();
    if (buffer) {
      this.reusedCount++;
    } else {
      // new Uint8Array (calloc) measured as cheap as Buffer.allocUnsafeSlow (malloc) for frame-sized buffers: glibc
      // serves both from fresh mmap'd or recycled pages, and skips zeroing pages the kernel zeroed (decode.ts).
      buffer = new Uint8Array(bytes);
      this.allocatedCount++;
    }
    this.lent.add(buffer);
    return buffer;
  }

  /**
   * Hands a buffer from `acquire` back (a decoded frame or its `data`). The caller must not use it afterwards.
   * Throws when the buffer is not on loan from this pool (released twice, or never lent by it).
   */
  release(frame: Uint8Array | { readonly data: Uint8Array }): void {
    const buffer = frame instanceof Uint8Array ? frame : frame.data;
    if (!this.lent.has(buffer)) {
      const why = this.free.includes(buffer) ? "it was already released" : "it was not lent by this pool, or was already released";
      throw new Error(`FramePool.release: a ${buffer.byteLength}-byte buffer given back, but ${why}; a frame must be released once, by its owner, and not used afterwards`);
    }
    this.lent.delete(buffer);
    if (buffer.byteLength === this.size && this.free.length < this.maxFree) this.free.push(buffer);
  }

  /** Buffers waiting on the free list. */
  get freeCount(): number {
    return this.free.length;
  }

  /** Counts since construction: buffers allocated by acquire, and acquires served from the free list. */
  get stats(): { allocated: number; reused: number } {
    return { allocated: this.allocatedCount, reused: this.reusedCount };
  }

  /** Drops every free buffer (buffers on loan stay valid and may still be released). */
  clear(): void {
    this.free.length = 0;
  }
}
