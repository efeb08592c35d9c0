/**
 * Joined landmark calls: several tracking chains (one per segment of a video, lib/segments.ts) share one landmark
 * model call per step, so that each call carries one face of every chain instead of one face in all.
 *
 * A tracking chain waits for each of its model calls before it can crop its next frame (tracking.ts), so it never
 * has more than one call outstanding. A chain that joined and asks for a call waits until every chain still in
 * the run has asked too (or left), then all their crops go through the model together, and each chain gets its own
 * face's outputs, written into its own buffers exactly where a call of its own would have written them. A chain
 * busy elsewhere (the detector, decoding) delays the others, never blocks them for good: it either asks or leaves.
 *
 * The model runs each face of a batch independently (convolutions per image), so a chain's outputs are those of a
 * call of its own, bit for bit (test/segments.test.ts asserts the rows).
 */
import type { LandmarkBatch, LandmarkOutputs } from "../inference/landmark_model.js";
import type { LandmarkStage } from "./landmark_stage.js";

interface Waiting {
  input: Float32Array;
  slot: number;
  into: LandmarkOutputs;
  resolve: (batch: LandmarkBatch) => void;
  reject: (err: unknown) => void;
}

interface JoinedBuffers {
  input: Float32Array;
  output: LandmarkOutputs;
}

export class JoinedLandmarkCalls {
  private members = 0;
  private waiting: Waiting[] = [];
  /** Buffer sets not in a call now (a call in flight holds one; a leaving chain can start a second call). */
  private readonly free: JoinedBuffers[] = [];
  /** Calls made and faces carried, for the bench. */
  calls = 0;
  faces = 0;

  constructor(private readonly stage: LandmarkStage) {}

  /** A chain joins; it must call the returned function once it will ask for no more calls (finally). */
  join(): () => void {
    this.members++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.members--;
      this.startIfAllAsked();
    };
  }

  /**
   * One face: the crop in slot `slot` of `input`; its outputs go to slot `slot` of `into`, and the result reads
   * them from there (index 0 of the returned batch), as LandmarkStage.infer(input, 1, into, slot) does.
   */
  infer(input: Float32Array, slot: number, into: LandmarkOutputs): Promise<LandmarkBatch> {
    return new Promise<LandmarkBatch>((resolve, reject) => {
      this.waiting.push({ input, slot, into, resolve, reject });
      this.startIfAllAsked();
    });
  }

  private startIfAllAsked(): void {
    if (this.waiting.length === 0 || this.waiting.length < this.members) return;
    const batch = this.waiting;
    this.waiting = [];
    void this.run(batch);
  }

  private async run(batch: Waiting[]): Promise<void> {
    const { stage } = this;
    const n = batch.length;
    let buffers = this.free.pop();
    if (!buffers || buffers.output.logits.length < n) buffers = { input: stage.allocateInput(n), output: stage.allocateOutputs(n) };
    try {
      batch.forEach((w, i) => buffers.input.set(w.input.subarray(w.slot * stage.tensorSize, (w.slot + 1) * stage.tensorSize), i * stage.tensorSize));
      const out = await stage.infer(buffers.input, n, buffers.output);
      this.calls++;
      this.faces += n;
      const values = stage.valuesPerFace;
      batch.forEach((w, i) => {
        const landmarks = w.into.landmarks.subarray(w.slot * values);
        landmarks.set(out.landmarks.subarray(i * values, (i + 1) * values));
        const logits = w.into.logits.subarray(w.slot);
        logits[0] = out.logits[i]!;
        w.resolve({ landmarks, logits, ms: out.ms });
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.free.push(buffers);
    }
  }
}
