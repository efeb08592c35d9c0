/**
 * The seam around the landmark model: the one place where a ROI is cropped to the model's input (crop), the one
 * place where the model runs (infer), and the one place where its raw outputs become image landmarks and a face
 * score (project). Everything else in the pipeline deals in ROIs and FaceLandmarks, so another landmark model
 * (MediaPipe's 478-point attention model, MEDIAPIPE.md §7) plugs in by providing these three steps with its own
 * sizes (numLandmarks, valuesPerFace).
 */
import type { FaceLandmarks, RgbImage, Roi } from "../types.js";
import { LANDMARK_INPUT_SIZE, NUM_LANDMARKS } from "../types.js";
import { imageToTensor, type ImageToTensorOptions } from "../calculators/image_to_tensor.js";
import { projectLandmarks, sigmoid } from "../calculators/landmark_projection.js";
import { LandmarkModel, LANDMARK_TENSOR_SIZE, LANDMARK_VALUES, type LandmarkBatch, type LandmarkOutputs } from "../inference/landmark_model.js";
import type { Device } from "../inference/session.js";

export class LandmarkStage {
  /** Landmarks per face (468 for face_landmark). */
  readonly numLandmarks = NUM_LANDMARKS;
  /** Raw output values per face (x, y, z per landmark). */
  readonly valuesPerFace = LANDMARK_VALUES;
  /** Input values per crop. */
  readonly tensorSize = LANDMARK_TENSOR_SIZE;
  private readonly cropOptions: ImageToTensorOptions;

  /** halfPixel: the crop's sampling convention, see calculators/image_to_tensor.ts. */
  constructor(
    private readonly model: LandmarkModel,
    halfPixel: boolean,
  ) {
    this.cropOptions = { range: { min: 0, max: 1 }, border: "replicate", halfPixel };
  }

  get device(): Device {
    return this.model.device;
  }

  allocateInput(capacity: number): Float32Array {
    return LandmarkModel.allocateInput(capacity);
  }

  allocateOutputs(capacity: number): LandmarkOutputs {
    return LandmarkModel.allocateOutputs(capacity);
  }

  /** A buffer for one face's projected landmarks. */
  allocatePoints(): Float32Array {
    return new Float32Array(this.numLandmarks * 3);
  }

  /** Crops `roi` of `image` into slot `slot` of `input`. */
  crop(image: RgbImage, roi: Roi, input: Float32Array, slot: number): void {
    imageToTensor(image, roi, LANDMARK_INPUT_SIZE, input, slot * this.tensorSize, this.cropOptions);
  }

  /** Runs the model on `count` crops from `slot` of `input`; with `into`, the outputs are written there from the same slot. */
  infer(input: Float32Array, count: number, into?: LandmarkOutputs, slot = 0): Promise<LandmarkBatch> {
    const from = slot === 0 ? input : input.subarray(slot * this.tensorSize);
    const to = into && slot !== 0 ? { landmarks: into.landmarks.subarray(slot * this.valuesPerFace), logits: into.logits.subarray(slot) } : into;
    return this.model.run(from, count, to);
  }

  /** Face `index` of a model output, projected through its ROI to normalized image landmarks, and its face score. */
  project(out: LandmarkBatch, index: number, roi: Roi, image: RgbImage, into?: Float32Array): FaceLandmarks {
    return {
      points: projectLandmarks(out.landmarks, index * this.valuesPerFace, roi, image.width, image.height, LANDMARK_INPUT_SIZE, into, this.numLandmarks),
      score: sigmoid(out.logits[index]),
    };
  }

  dispose(): Promise<void> {
    return this.model.dispose();
  }
}
