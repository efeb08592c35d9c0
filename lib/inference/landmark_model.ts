/**
 * The face_landmark model (MediaPipe FaceLandmarkCpu's InferenceCalculator), run on batches of 192x192 crops.
 * Input: planar RGB in [0,1] ([batch,3,192,192]); outputs: 468 x,y,z in crop pixels and the face-flag logit.
 */
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS } from "../types.js";
import { modelPath } from "../convert/models.js";
import { allocateSharedFloat32, createSession, type Device, type ModelSession, type SessionSettings } from "./session.js";

export const LANDMARK_TENSOR_SIZE = 3 * LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE;
export const LANDMARK_VALUES = NUM_LANDMARKS * 3;

/** Reusable output buffers (allocateOutputs). */
export interface LandmarkOutputs {
  landmarks: Float32Array;
  logits: Float32Array;
}

export interface LandmarkBatch {
  /** count * 1404: x,y,z per landmark, in crop pixels. */
  landmarks: Float32Array;
  /** count face-flag logits. */
  logits: Float32Array;
  /** Time the call spent inside onnxruntime (ms). */
  ms: number;
}

export class LandmarkModel {
  private constructor(private readonly session: ModelSession) {}

  static async load(settings: SessionSettings, path = modelPath("face_landmark")): Promise<LandmarkModel> {
    return new LandmarkModel(await createSession(path, settings));
  }

  get device(): Device {
    return this.session.device;
  }

  /**
   * A buffer for up to `capacity` crops; fill crop i at offset i * LANDMARK_TENSOR_SIZE. Shared memory, so the
   * inference thread reads it without a copy: allocate once, reuse for every batch.
   */
  static allocateInput(capacity: number): Float32Array {
    return allocateSharedFloat32(capacity * LANDMARK_TENSOR_SIZE);
  }

  /**
   * Output buffers for up to `capacity` crops, on shared memory: the inference threads write into them in place
   * (no allocation per call). Allocate once, reuse; a call's results stay there until the next call using them.
   */
  static allocateOutputs(capacity: number): LandmarkOutputs {
    return { landmarks: allocateSharedFloat32(capacity * LANDMARK_VALUES), logits: allocateSharedFloat32(capacity) };
  }

  /**
   * Runs the first `count` crops of `input`; with `into` (allocateOutputs), the results are written there. The
   * buffers must not be touched until the promise settles.
   */
  async run(input: Float32Array, count: number, into?: LandmarkOutputs): Promise<LandmarkBatch> {
    const buffers = into ? { landmarks: into.landmarks.subarray(0, count * LANDMARK_VALUES), face_flag: into.logits.subarray(0, count) } : undefined;
    const { outputs, ms } = await this.session.run(input.subarray(0, count * LANDMARK_TENSOR_SIZE), [count, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE], buffers);
    return { landmarks: outputs.landmarks, logits: outputs.face_flag, ms };
  }

  /** Loads every copy of the model now (the inference threads otherwise load copies beyond the first on first need). */
  loadAll(): Promise<void> {
    return this.session.loadAll();
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
