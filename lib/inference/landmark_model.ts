/**
 * The landmark model (MediaPipe FaceLandmarkCpu's InferenceCalculator), run on batches of 192x192 crops.
 * Input: planar RGB in [0,1] ([batch,3,192,192]); outputs: x,y,z per point in crop pixels and the face-flag logit.
 * Two models fit this shape: face_landmark (468 points) and, with refine_landmarks, face_landmark_with_attention
 * (478 points: its heads merged into the mesh as MediaPipe does, refinement.ts). pointsPerFace says which.
 */
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS } from "../types.js";
import { modelPath } from "../convert/models.js";
import { REFINED_POINTS, refineLandmarks } from "./refinement.js";
import { allocateSharedFloat32, createSession, type Device, type ModelSession, type SessionSettings } from "./session.js";

export const LANDMARK_TENSOR_SIZE = 3 * LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE;
/** Values per face of face_landmark (468 x,y,z); LandmarkModel.valuesPerFace is the loaded model's. */
export const LANDMARK_VALUES = NUM_LANDMARKS * 3;

/** Which landmark model: MediaPipe's refine_landmarks option picks the attention model. */
export type LandmarkModelName = "face_landmark" | "face_landmark_with_attention";

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
  /** Landmarks per face: 468, or 478 for the attention model. */
  readonly pointsPerFace: number;
  readonly valuesPerFace: number;

  private constructor(
    private readonly session: ModelSession,
    readonly name: LandmarkModelName,
  ) {
    this.pointsPerFace = name === "face_landmark_with_attention" ? REFINED_POINTS : NUM_LANDMARKS;
    this.valuesPerFace = this.pointsPerFace * 3;
  }

  static async load(settings: SessionSettings, name: LandmarkModelName = "face_landmark", path = modelPath(name)): Promise<LandmarkModel> {
    return new LandmarkModel(await createSession(path, settings), name);
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
  allocateOutputs(capacity: number): LandmarkOutputs {
    return { landmarks: allocateSharedFloat32(capacity * this.valuesPerFace), logits: allocateSharedFloat32(capacity) };
  }

  /**
   * Runs the first `count` crops of `input`; with `into` (allocateOutputs), the results are written there. The
   * buffers must not be touched until the promise settles.
   */
  async run(input: Float32Array, count: number, into?: LandmarkOutputs): Promise<LandmarkBatch> {
    if (this.name === "face_landmark_with_attention") return this.runRefined(input, count, into);
    const buffers = into ? { landmarks: into.landmarks.subarray(0, count * LANDMARK_VALUES), face_flag: into.logits.subarray(0, count) } : undefined;
    const { outputs, ms } = await this.session.run(input.subarray(0, count * LANDMARK_TENSOR_SIZE), [count, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE], buffers);
    return { landmarks: outputs.landmarks, logits: outputs.face_flag, ms };
  }

  /** The attention model: its seven outputs merged per crop into 478 points (refinement.ts). */
  private async runRefined(input: Float32Array, count: number, into?: LandmarkOutputs): Promise<LandmarkBatch> {
    const { outputs, ms } = await this.session.run(input.subarray(0, count * LANDMARK_TENSOR_SIZE), [count, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE]);
    const landmarks = into ? into.landmarks.subarray(0, count * this.valuesPerFace) : new Float32Array(count * this.valuesPerFace);
    const logits = into ? into.logits.subarray(0, count) : new Float32Array(count);
    const head = (name: string, size: number, i: number) => outputs[name].subarray(i * size, (i + 1) * size);
    for (let i = 0; i < count; i++) {
      refineLandmarks(
        {
          mesh: head("landmarks", 1404, i),
          lips: head("lips", 160, i),
          leftEye: head("left_eye", 142, i),
          rightEye: head("right_eye", 142, i),
          leftIris: head("left_iris", 10, i),
          rightIris: head("right_iris", 10, i),
        },
        landmarks,
        i * this.valuesPerFace,
      );
      logits[i] = outputs.face_flag[i];
    }
    return { landmarks, logits, ms };
  }

  /** Loads every copy of the model now (the inference threads otherwise load copies beyond the first on first need). */
  loadAll(): Promise<void> {
    return this.session.loadAll();
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
