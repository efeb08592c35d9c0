/**
 * MediaPipe SsdAnchorsCalculator, restricted to what BlazeFace uses: fixed_anchor_size = true (every anchor is
 * 1 x 1, so only centres matter), anchor_offset 0.5, square input. Consecutive layers with the same stride share
 * one feature map and their anchors are interleaved per cell; the order is y, then x, then anchor, which is the
 * NHWC order of the detector's regressor rows.
 */

export interface SsdAnchorOptions {
  /** Side of the square model input in pixels (input_size_width = input_size_height). */
  inputSize: number;
  /** One stride per layer (num_layers = strides.length). The feature map of a stride is ceil(inputSize / stride) square. */
  strides: number[];
  /**
   * Anchors one layer puts on each cell: aspect_ratios.length, plus 1 when interpolated_scale_aspect_ratio > 0.
   * A number applies to all layers, an array gives one per layer. Default 2 (MediaPipe's defaults with
   * aspect_ratios [1.0]: one anchor for the ratio, one interpolated).
   */
  anchorsPerLayer?: number | number[];
  /** anchor_offset_x = anchor_offset_y, in cells. Default 0.5 (cell centres). */
  anchorOffset?: number;
}

/** face_detection_short_range.pbtxt: 4 layers, strides 8,16,16,16, interpolated ratio 1.0 -> 16x16x2 + 8x8x6 = 896. */
export const SHORT_RANGE_ANCHOR_OPTIONS: SsdAnchorOptions = Object.freeze({
  inputSize: 128,
  strides: Object.freeze([8, 16, 16, 16]) as number[],
  anchorsPerLayer: 2,
  anchorOffset: 0.5,
});

/** face_detection_full_range.pbtxt: 1 layer, stride 4, interpolated ratio 0.0 -> 48x48x1 = 2304. */
export const FULL_RANGE_ANCHOR_OPTIONS: SsdAnchorOptions = Object.freeze({
  inputSize: 192,
  strides: Object.freeze([4]) as number[],
  anchorsPerLayer: 1,
  anchorOffset: 0.5,
});

/** Anchor centres, interleaved (x_center, y_center), normalized to the input: 2 values per anchor. */
export function ssdAnchors(o: SsdAnchorOptions): Float32Array {
  const { inputSize, strides } = o;
  const offset = o.anchorOffset ?? 0.5;
  if (!(inputSize > 0) || !Number.isFinite(inputSize)) {
    throw new RangeError(`ssdAnchors: inputSize must be positive, got ${inputSize}`);
  }
  if (strides.length === 0) throw new RangeError("ssdAnchors: strides is empty");
  if (Array.isArray(o.anchorsPerLayer) && o.anchorsPerLayer.length !== strides.length) {
    throw new RangeError(
      `ssdAnchors: anchorsPerLayer has ${o.anchorsPerLayer.length} entries for ${strides.length} strides`,
    );
  }
  const per = strides.map((s, i) => {
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`ssdAnchors: strides[${i}] must be a positive integer, got ${s}`);
    const n = typeof o.anchorsPerLayer === "number" ? o.anchorsPerLayer : (o.anchorsPerLayer?.[i] ?? 2);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ssdAnchors: anchorsPerLayer for layer ${i} must be a positive integer, got ${n}`);
    return n;
  });

  // Group consecutive equal strides, as MediaPipe's layer loop does.
  const groups: Array<{ map: number; anchors: number }> = [];
  for (let i = 0; i < strides.length; ) {
    let anchors = 0;
    let j = i;
    while (j < strides.length && strides[j] === strides[i]) anchors += per[j++];
    groups.push({ map: Math.ceil(inputSize / strides[i]), anchors });
    i = j;
  }
  const total = groups.reduce((n, g) => n + g.map * g.map * g.anchors, 0);
  const out = new Float32Array(2 * total);
  let k = 0;
  for (const { map, anchors } of groups) {
    for (let y = 0; y < map; y++) {
      const yc = (y + offset) / map;
      for (let x = 0; x < map; x++) {
        const xc = (x + offset) / map;
        for (let a = 0; a < anchors; a++) {
          out[k++] = xc;
          out[k++] = yc;
        }
      }
    }
  }
  return out;
}
