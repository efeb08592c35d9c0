/**
 * FrameSocket: how raw frames get from ffmpeg into their buffers. A local stream socket (a Unix domain socket in a
 * private temporary directory, a named pipe on Windows) replaces ffmpeg's stdout pipe: ffmpeg writes to one end,
 * and the other end reads with Node's `onread` option, which hands the kernel the unfilled part of the frame being
 * assembled. So bytes land in the frame buffer itself: no intermediate chunk, no copy.
 *
 * Why not the child's stdout stream: every read of it allocates a fresh Buffer of up to 64 KiB (13 per 512x512
 * frame). That external memory set off most of the main thread's full garbage collections in the pipeline,
 * and each chunk was copied once more into its frame (bench/README.md has the measurement with `--trace-gc`).
 *
 * Back-pressure: at most FRAMES_READ_AHEAD complete frames wait for the consumer; then reading stops and ffmpeg
 * blocks on a full socket buffer, as it did on a full pipe.
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** Complete frames read ahead of the consumer before reading pauses (plus the one being filled). */
export const FRAMES_READ_AHEAD = 2;

export class FrameSocket {
  private frameBytes = 0;
  private acquire: (() => Uint8Array) | null = null;
  /** The frame being filled, and how far. */
  private frame: Uint8Array | null = null;
  private filled = 0;
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  /** Reading stopped by back-pressure (received returned false). */
  private stopped = false;
  private wake: (() => void) | null = null;

  private constructor(
    private readonly reader: net.Socket,
    /** The end ffmpeg writes to: pass it in spawn's stdio, then closeWriter(). */
    readonly writer: net.Socket,
  ) {
    reader.on("end", () => this.finish());
    reader.on("close", () => this.finish());
    // A reset when ffmpeg is killed is an end like any other: the caller judges by ffmpeg's exit status and by
    // whether the last frame was complete.
    reader.on("error", () => this.finish());
  }

  /** Opens a connected socket pair; reading starts paused (see start). */
  static async open(): Promise<FrameSocket> {
    const dir = process.platform === "win32" ? null : await mkdtemp(path.join(os.tmpdir(), "facemesh-")); // mode 0700: nobody else connects
    const address = dir ? path.join(dir, "frames.sock") : `\\\\.\\pipe\\facemesh-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const server = net.createServer();
    try {
      server.listen(address);
      await once(server, "listening");
      const accepted = once(server, "connection") as Promise<[net.Socket]>;
      let self: FrameSocket | null = null;
      // Node asks for a buffer once when the connection is set up, before start() knows the frame size: that
      // first read goes to a small staging buffer and is copied into the first frame (received()).
      const staging = new Uint8Array(64);
      const reader = net.connect({
        path: address,
        onread: {
          buffer: () => (self?.started ? self.target() : staging),
          callback: (n: number, buf: Uint8Array) => self!.received(n, buf),
        },
      });
      reader.pause(); // nothing is read before start(): the frame size is not known yet
      let connectError: (err: Error) => void = () => undefined;
      const failed = new Promise<never>((_, reject) => (connectError = reject));
      reader.once("error", connectError);
      try {
        const [writer] = await Promise.race([accepted, failed]);
        self = new FrameSocket(reader, writer);
        return self;
      } catch (err) {
        reader.destroy();
        throw new Error(`cannot open a local socket for ffmpeg's frames (${address}): ${(err as Error).message}`);
      } finally {
        reader.off("error", connectError);
      }
    } finally {
      server.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }

  /** Closes this process's handle on the writing end (after spawn gave ffmpeg its own), so the reader sees the end. */
  closeWriter(): void {
    this.writer.destroy();
  }

  get started(): boolean {
    return this.acquire !== null;
  }

  /** Starts reading frames of `frameBytes` bytes into buffers from `acquire`. */
  start(frameBytes: number, acquire: () => Uint8Array): void {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new Error(`FrameSocket: frame size must be a positive integer, got ${frameBytes}`);
    this.frameBytes = frameBytes;
    this.acquire = acquire;
    this.reader.resume();
  }

  /** The next complete frame, or null at the end of the stream. */
  async next(): Promise<Uint8Array | null> {
    for (;;) {
      const frame = this.queue.shift();
      if (frame) {
        if (this.stopped && this.queue.length < FRAMES_READ_AHEAD && !this.ended) {
          // received() returned false, which stopped reading without pausing the stream: resume() restarts it.
          this.stopped = false;
          this.reader.resume();
        }
        return frame;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  /** Bytes of a frame left incomplete (meaningful at the end of the stream). */
  get partialBytes(): number {
    return this.frame ? this.filled : 0;
  }

  /** Takes the buffers of frames read but never returned by next(), complete or not (to give them back to a pool). */
  takeUnread(): Uint8Array[] {
    const unread = this.queue.splice(0);
    if (this.frame) unread.push(this.frame);
    this.frame = null;
    this.filled = 0;
    return unread;
  }

  close(): void {
    this.reader.destroy();
    this.writer.destroy();
    this.finish();
  }

  /** onread's buffer: the unfilled part of the current frame. */
  private target(): Uint8Array {
    this.frame ??= this.acquire!();
    if (this.frame.length !== this.frameBytes) throw new Error(`FrameSocket: a ${this.frame.length}-byte buffer for ${this.frameBytes}-byte frames`);
    return this.frame.subarray(this.filled);
  }

  /**
   * onread's callback: n bytes landed in `buf`, normally the unfilled part of the current frame (target()); the
   * staging buffer's bytes are copied over. Returning false pauses reading.
   */
  private received(n: number, buf: Uint8Array): boolean {
    if (!this.started) throw new Error("FrameSocket: data arrived before start()");
    const inPlace = this.frame !== null && buf.buffer === this.frame.buffer && buf.byteOffset === this.frame.byteOffset + this.filled;
    let done = 0;
    while (done < n) {
      const frame = this.target();
      const take = inPlace ? n : Math.min(n - done, this.frameBytes - this.filled);
      if (!inPlace) frame.set(buf.subarray(done, done + take));
      done += take;
      this.filled += take;
      if (this.filled === this.frameBytes) {
        this.queue.push(this.frame!);
        this.frame = null;
        this.filled = 0;
        this.wake?.();
      }
    }
    this.stopped = this.queue.length >= FRAMES_READ_AHEAD;
    return !this.stopped;
  }

  private finish(): void {
    this.ended = true;
    this.wake?.();
  }
}
