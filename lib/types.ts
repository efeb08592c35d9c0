/**
 * The values that flow along the data path:
 *   video frames (RgbImage) + bbox rows -> Roi -> 192x192 tensor -> model -> FaceLandmarks -> SSI row.
 * Every stage in lib/ takes and returns these, so each can be tested on its own.
 */

/** One decoded video frame or still image: 8-bit RGB, interleaved, row-major, no row padding. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** length = width * height * 3 */
  readonly data: Uint8Array;
}

/**
 * A rotated rectangle in source-image *pixels*. It is MediaPipe's NormalizedRect scaled by the image size:
 * keeping it in pixels makes "square" mean square on non-square frames, which is what MediaPipe's
 * RectTransformationCalculator (square_long) achieves.
 * rotation: radians, MediaPipe's convention (image y axis points down; a positive angle turns the ROI's
 * x axis towards +y, i.e. clockwise on screen).
 */
export interface Roi {
  cx: number;
  cy: number;
  width: number;
  height: number;
  rotation: number;
}

/** A face detection, normalized to image width/height (MediaPipe's RELATIVE_BOUNDING_BOX). */
export interface Detection {
  score: number;
  xmin: number;
  ymin: number;
  width: number;
  height: number;
  /** BlazeFace's 6 keypoints, [x, y] normalized: right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion (the subject's sides). */
  keypoints: Array<[number, number]>;
}

/** Landmarks of one face. */
export interface FaceLandmarks {
  /** NUM_LANDMARKS * 3 values (478 * 3 with refineLandmarks) (x, y, z): x, y normalized to image width/height, z scaled like x (MediaPipe's NormalizedLandmark). */
  points: Float32Array;
  /** Face-presence probability: sigmoid of the model's face-flag logit. */
  score: number;
}

export const NUM_LANDMARKS = 468;
/** Side of the face_landmark model's square input. */
export const LANDMARK_INPUT_SIZE = 192;
/** Values per output SSI row: 468 (y, x) pairs, then the score. */
export const ROW_DIM = NUM_LANDMARKS * 2 + 1;
