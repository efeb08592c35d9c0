/**
 * The seam around the landmark model: the one place where a ROI is cropped to the model's input (crop), the one
 * place where the model runs (infer), and the one place where its raw outputs become image landmarks and a face
 * score (project). Everything else in the pipeline deals in ROIs and FaceLandmarks; the model's own sizes
 * (numLandmarks, valuesPerFace) come from the loaded model: 468 points for face_landmark, 478 for MediaPipe's
 * attention model (refine_landmarks, MEDIAPIPE.md §7), whose heads LandmarkModel has already merged.
 */
import type { FaceLandmarks, RgbImage, Roi } from "../types.js";
import { LANDMARK_INPUT_SIZE } from "../types.js";
import { imageToTensor, type ImageToTensorOptions } from "../calculators/image_to_tensor.js";
import { projectLandmarks, sigmoid } from "../calculators/landmark_projection.js";
import { LandmarkModel, LANDMARK_TENSOR_SIZE, type LandmarkBatch, type LandmarkOutputs } from "../inference/landmark_model.js";
import type { Device } from "../inference/session.js";

export class LandmarkStage {
  /** Landmarks per face (468 for face_landmark, 478 for the attention model). */
  readonly numLandmarks: number;
  /** Raw output values per face (x, y, z per landmark). */
  readonly valuesPerFace: number;
  /** Input values per crop. */
  readonly tensorSize = LANDMARK_TENSOR_SIZE;
  private readonly cropOptions: ImageToTensorOptions;

  /** halfPixel: the crop's sampling convention, see calculators/image_to_tensor.ts. */
  constructor(
    private readonly model: LandmarkModel,
    halfPixel: boolean,
  ) {
    this.cropOptions = { range: { min: 0, max: 1 }, border: "replicate", halfPixel };
    this.numLandmarks = model.pointsPerFace;
    this.valuesPerFace = model.valuesPerFace;
  }

  get device(): Device {
    return this.model.device;
  }

  allocateInput(capacity: number): Float32Array {
    return LandmarkModel.allocateInput(capacity);
  }

  allocateOutputs(capacity: number): LandmarkOutputs {
    return this.model.allocateOutputs(capacity);
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
