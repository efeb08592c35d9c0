/**
 * The face_landmark model (MediaPipe FaceLandmarkCpu's InferenceCalculator), run on batches of 192x192 crops.
 * Input: planar RGB in [0,1] ([batch,3,192,192]); outputs: 468 x,y,z in crop pixels and the face-flag logit.
 */
import * as ort from "onnxruntime-node";
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS } from "../types.js";
import { modelPath } from "../convert/models.js";
import { createSession, type Device, type SessionSettings } from "./session.js";

export const LANDMARK_TENSOR_SIZE = 3 * LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE;
export const LANDMARK_VALUES = NUM_LANDMARKS * 3;

export interface LandmarkBatch {
  /** count * 1404: x,y,z per landmark, in crop pixels. */
  landmarks: Float32Array;
  /** count face-flag logits. */
  logits: Float32Array;
}

export class LandmarkModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly device: Device,
  ) {}

  static async load(settings: SessionSettings, path = modelPath("face_landmark")): Promise<LandmarkModel> {
    const { session, device } = await createSession(path, settings);
    return new LandmarkModel(session, device);
  }

  /** A buffer for up to `capacity` crops; fill crop i at offset i * LANDMARK_TENSOR_SIZE. */
  static allocateInput(capacity: number): Float32Array {
    return new Float32Array(capacity * LANDMARK_TENSOR_SIZE);
  }

  /** Runs the first `count` crops of `input`. The input buffer must not be touched until the promise settles. */
  async run(input: Float32Array, count: number): Promise<LandmarkBatch> {
    const tensor = new ort.Tensor("float32", input.subarray(0, count * LANDMARK_TENSOR_SIZE), [count, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE]);
    const out = await this.session.run({ input: tensor });
    return { landmarks: out.landmarks.data as Float32Array, logits: out.face_flag.data as Float32Array };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
