/**
 * MediaPipe's landmark refinement for the attention model (its LandmarksRefinementCalculator, as configured in the
 * face_landmark_with_attention graph): the 468-point mesh, then
 *   lips (80 points) and both eyes (71 each) overwrite the x,y of the mesh points they refine (z stays the mesh's),
 *   the irises (5 each) become points 468..472 (the eye of output "left_eye", image left) and 473..477,
 *   with z = the mean mesh z of the first 16 points of their eye's contour list.
 * The index lists are the model's own: the `subset_idxs` option of the Landmarks2TransformMatrix operator that
 * crops each head lists, in order, the mesh point of each refined point (test/refinement.test.ts checks that
 * against the .tflite file).
 */

export const MESH_POINTS = 468;
export const REFINED_POINTS = 478;

export const LIPS_INDICES: readonly number[] = [
  61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409, 78, 95, 88, 178, 87, 14, 317, 402, 318,
  324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415, 76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303,
  304, 408, 62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407,
];

/** The eye of the model's "left_eye" output: rotation points 33 -> 133 (the subject's right eye, image left). */
export const LEFT_EYE_INDICES: readonly number[] = [
  33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27,
  28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189, 35, 124, 46, 53, 52, 65, 143, 111, 117,
  118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
];

export const RIGHT_EYE_INDICES: readonly number[] = [
  263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260,
  259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413, 265, 353, 276, 283, 282,
  295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
];

/** How many points of each eye's list (the eye contour) give its iris z. */
export const IRIS_Z_CONTOUR_POINTS = 16;

export const LEFT_IRIS_FIRST = 468;
export const RIGHT_IRIS_FIRST = 473;
export const IRIS_POINTS = 5;

/** Raw attention-model outputs for one crop, in 192-crop pixels. */
export interface AttentionHeads {
  mesh: Float32Array; // 468 x,y,z
  lips: Float32Array; // 80 x,y
  leftEye: Float32Array; // 71 x,y
  rightEye: Float32Array; // 71 x,y
  leftIris: Float32Array; // 5 x,y
  rightIris: Float32Array; // 5 x,y
}

function meanZ(out: Float32Array, o: number, indices: readonly number[]): number {
  let sum = 0;
  for (let k = 0; k < IRIS_Z_CONTOUR_POINTS; k++) sum += out[o + 3 * indices[k] + 2];
  return sum / IRIS_Z_CONTOUR_POINTS;
}

/** Writes the 478 refined x,y,z points (crop pixels) of one crop at `out[o ..]`. */
export function refineLandmarks(h: AttentionHeads, out: Float32Array, o: number): void {
  out.set(h.mesh.subarray(0, MESH_POINTS * 3), o);
  const overwrite = (xy: Float32Array, indices: readonly number[]) => {
    for (let k = 0; k < indices.length; k++) {
      out[o + 3 * indices[k]] = xy[2 * k];
      out[o + 3 * indices[k] + 1] = xy[2 * k + 1];
    }
  };
  overwrite(h.lips, LIPS_INDICES);
  overwrite(h.leftEye, LEFT_EYE_INDICES);
  overwrite(h.rightEye, RIGHT_EYE_INDICES);
  const iris = (xy: Float32Array, first: number, z: number) => {
    for (let k = 0; k < IRIS_POINTS; k++) {
      out[o + 3 * (first + k)] = xy[2 * k];
      out[o + 3 * (first + k) + 1] = xy[2 * k + 1];
      out[o + 3 * (first + k) + 2] = z;
    }
  };
  // z after the eyes: refinement leaves mesh z as it was, so the order does not change the means.
  iris(h.leftIris, LEFT_IRIS_FIRST, meanZ(out, o, LEFT_EYE_INDICES));
  iris(h.rightIris, RIGHT_IRIS_FIRST, meanZ(out, o, RIGHT_EYE_INDICES));
}
