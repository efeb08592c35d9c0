/**
 * Where a track starts: BlazeFace finds the face (video mode: in the whole frame, most confident first, as
 * MediaPipe; bbox mode: in the region around the box, the most confident face whose centre lies in the box),
 * and its eye keypoints give the first ROI's rotation (MEDIAPIPE.md §4).
 *
 * Beyond MediaPipe: the detector's input is also turned by quarter turns, so that a video stored sideways or
 * upside down (a phone that dropped its rotation metadata) gets its faces. BlazeFace finds a face at every turn,
 * but with wrong keypoints away from upright (measured on a talking head: 0.95 at the right turn, 0.63-0.83 at
 * the others, their eye keypoints level whatever the face's angle), so the turn with the most confident face
 * wins, and the first search of a video runs all four turns (one model call). Once a track has held at a turn,
 * that turn is tried alone first (an upright video then runs the detector exactly as MediaPipe does), and the
 * other three only when it finds no face there.
 */
import type { Detection, RgbImage, Roi } from "../types.js";
import { letterboxRoi, type Padding } from "../calculators/letterbox.js";
import { centreInBox, detectionFromRegion, QUARTER_TURNS, turnedRoi, type QuarterTurn } from "../calculators/turned_region.js";
import { FACE_ROI_SCALE } from "../calculators/rect_transformation.js";
import type { DetectorOutputs, FaceDetector } from "../inference/face_detector.js";
import { timed, type TimingRecorder } from "./timing.js";

/** A face found by the detector, normalized to the frame, and the quarter turn it was found at. */
export interface FoundFace {
  detection: Detection;
  turn: QuarterTurn;
}

/**
 * The detector's region around a box, in box long sides. Measured: median error of the first rotation against
 * the eye line of static mode's landmarks (every 3rd frame): region x2 2.2 / 1.9 degrees, x3 1.8 / 1.0, x4
 * 2.4 / 1.7 (short_hamilton_clip / liveportrait d0); the whole frame 4.4 / 0.7.
 */
export const BOX_REGION_SCALE = 3;

/** Where to look: the whole frame, or the region around a landmark ROI made from a box (box side x FACE_ROI_SCALE). */
export type SearchArea = { kind: "frame" } | { kind: "box"; roi: Roi };

export class FaceFinder {
  private readonly input: Float32Array;
  private readonly output: DetectorOutputs;

  constructor(
    private readonly detector: FaceDetector,
    private readonly timer: TimingRecorder,
  ) {
    this.input = detector.allocateInput(QUARTER_TURNS.length);
    this.output = detector.allocateOutputs(QUARTER_TURNS.length);
  }

  /**
   * The most confident face in `area`: at `preferred` (the turn where a track last held) or, when none is found
   * there, at the other quarter turns; with no preferred turn yet, at all four.
   */
  async find(image: RgbImage, area: SearchArea, preferred: QuarterTurn | null): Promise<FoundFace | null> {
    if (preferred === null) return this.search(image, area, QUARTER_TURNS);
    const first = await this.search(image, area, [preferred]);
    if (first) return first;
    return this.search(image, area, QUARTER_TURNS.filter((t) => t !== preferred));
  }

  /** One detector call on `turns`; the best face over all of them. */
  private async search(image: RgbImage, area: SearchArea, turns: readonly QuarterTurn[]): Promise<FoundFace | null> {
    const base = area.kind === "frame" ? letterboxRoi(image.width, image.height).roi : boxRegion(area.roi);
    const regions = turns.map((t) => turnedRoi(base, t));
    const paddings: Padding[] = timed(this.timer, "cropMs", () =>
      turns.map((t, k) =>
        // Upright on the whole frame: exactly static mode's letterbox (MediaPipe's detector input).
        area.kind === "frame" && t === 0 ? this.detector.prepare(image, this.input, k) : this.detector.prepareRegion(image, regions[k], this.input, k),
      ),
    );
    const { detections, ms } = await this.detector.runTimed(this.input, turns.length, paddings, this.output);
    this.timer.add("detectorModelMs", ms);
    this.timer.count("detectorFrames", turns.length);
    return timed(this.timer, "postMs", () => {
      let best: FoundFace | null = null;
      turns.forEach((turn, k) => {
        for (const d of detections[k]) {
          const det = area.kind === "frame" && turn === 0 ? d : detectionFromRegion(d, regions[k], image.width, image.height);
          if (area.kind === "box" && !centreInBox(det, innerBox(area.roi, image.width, image.height))) continue;
          if (!best || det.score > best.detection.score) best = { detection: det, turn };
          break; // detections are sorted, best first: the first that qualifies is this turn's best
        }
      });
      return best;
    });
  }
}

/** The detector's region for a landmark ROI made from a box: BOX_REGION_SCALE box sides, upright. */
function boxRegion(roi: Roi): Roi {
  const side = (roi.width / FACE_ROI_SCALE) * BOX_REGION_SCALE;
  return { cx: roi.cx, cy: roi.cy, width: side, height: side, rotation: 0 };
}

/** The square the box spans (the ROI before its 1.5x enlargement), normalized to the frame. */
function innerBox(roi: Roi, width: number, height: number): { xmin: number; ymin: number; xmax: number; ymax: number } {
  const half = roi.width / FACE_ROI_SCALE / 2;
  return { xmin: (roi.cx - half) / width, xmax: (roi.cx + half) / width, ymin: (roi.cy - half) / height, ymax: (roi.cy + half) / height };
}
