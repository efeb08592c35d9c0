/**
 * `facemesh render`: the mesh of a landmark stream drawn on the frames it came from, for a person to look at.
 * Frame i gets row i; frames beyond the stream's rows are left undrawn (and counted in a warning).
 */
import type { HookContext } from "../nova/hooks.js";
import type { RgbImage } from "../types.js";
import { ROW_DIM } from "../types.js";
import { pointsForRowDim } from "../rows.js";
import { readSsiStream } from "../ssi/stream.js";
import { probeVideo } from "../video/probe.js";
import { decodeFrames } from "../video/decode.js";
import { encodeVideo } from "../video/encode.js";
import { DEFAULT_IRIS, drawFaceMesh, type Rgb } from "../render/draw.js";
import { loadMeshEdges } from "../render/mesh_topology.js";
import { contourEdges, faceSizeOfRow, overlaySizes, type MeshPart } from "../render/overlay_style.js";
import type { MediaTools } from "../job.js";
import { HEAD_POSE_DIM } from "../geometry/head_pose.js";
import { loadGeometryMetadata } from "../geometry/metadata.js";
import { drawHeadAxes } from "../render/head_axes.js";
import { assertOutputsDistinct } from "../output_guard.js";

export interface RenderSettings {
  input: string;
  stream: string;
  /** A head-pose stream (run --head-pose-out): the head's axes are drawn at the nose tip. */
  headPose?: string;
  out: string;
  tools: MediaTools;
  context: HookContext;
  /** What to draw; default mesh, points and irises (the irises only on 478-point rows, refine_landmarks). */
  parts?: readonly MeshPart[];
  /** Edge colour of the mesh (default green), of the contours (default yellow), of the points (default red), of the iris circles (default magenta). */
  meshColor?: Rgb;
  contourColor?: Rgb;
  pointColor?: Rgb;
  irisColor?: Rgb;
}

export interface PartColors {
  mesh: Rgb;
  contours: Rgb;
  points: Rgb;
  /** Default magenta. */
  irises?: Rgb;
}

/** Draws the chosen parts of one row on `frame`, sized to the face; "irises" draws nothing on a 468-point row. */
export function drawParts(frame: RgbImage, row: ArrayLike<number>, parts: readonly MeshPart[], edges: { mesh: Uint32Array; contours: Uint32Array }, colors: PartColors): void {
  const { pointRadius, lineWidth } = overlaySizes(faceSizeOfRow(row, frame.width, frame.height));
  for (const part of ["mesh", "contours"] as const) {
    if (parts.includes(part)) drawFaceMesh(frame, row, edges[part], { edgeColor: colors[part], pointColor: null, irisColor: null, lineWidth });
  }
  if (parts.includes("points")) drawFaceMesh(frame, row, new Uint32Array(0), { edgeColor: null, pointColor: colors.points, irisColor: null, pointRadius });
  if (parts.includes("irises")) drawFaceMesh(frame, row, new Uint32Array(0), { edgeColor: null, pointColor: null, irisColor: colors.irises ?? DEFAULT_IRIS, lineWidth });
}

export async function renderOverlay(s: RenderSettings): Promise<number> {
  assertOutputsDistinct({ input: s.input, "--stream": s.stream, "--head-pose": s.headPose }, { "--out": s.out });
  const stream = await readSsiStream(s.stream);
  const dim = stream.header.dim;
  if (pointsForRowDim(dim) === null) {
    throw new Error(`${stream.path}: not a facemesh landmark stream: dim=${dim}, expected ${ROW_DIM} (or 957 with refine_landmarks)`);
  }
  const video = await probeVideo(s.input, { ffprobe: s.tools.ffprobe });
  const parts = s.parts ?? ["mesh", "points", "irises"];
  const edges = { mesh: parts.includes("mesh") ? await loadMeshEdges() : new Uint32Array(0), contours: parts.includes("contours") ? contourEdges() : new Uint32Array(0) };
  const colors = { mesh: s.meshColor ?? ([0, 255, 0] as Rgb), contours: s.contourColor ?? ([255, 255, 0] as Rgb), points: s.pointColor ?? ([255, 0, 0] as Rgb), irises: s.irisColor ?? DEFAULT_IRIS };
  const rows = stream.data;
  const pose = s.headPose ? await readSsiStream(s.headPose) : null;
  if (pose && pose.header.dim !== HEAD_POSE_DIM) throw new Error(`${pose.path}: not a head-pose stream: dim=${pose.header.dim}, expected ${HEAD_POSE_DIM}`);
  if (pose && pose.rows !== stream.rows) s.context.logger.warn(`${pose.path}: ${pose.rows} rows, the landmark stream has ${stream.rows}`);
  const metadata = pose ? await loadGeometryMetadata() : null;
  let undrawn = 0;
  async function* drawn(): AsyncGenerator<RgbImage> {
    let i = 0;
    for await (const frame of decodeFrames(video.path, video, { ffmpeg: s.tools.ffmpeg, signal: s.context.signal })) {
      if (i < stream.rows) drawParts(frame, rows.subarray(i * dim, (i + 1) * dim) as ArrayLike<number>, parts, edges, colors);
      else undrawn++;
      if (pose && i < pose.rows) {
        // Axes as thick as the mesh's lines on this face (a frame without landmarks: 1 pixel).
        const { lineWidth } = overlaySizes(i < stream.rows ? faceSizeOfRow(rows.subarray(i * dim, (i + 1) * dim) as ArrayLike<number>, frame.width, frame.height) : Number.NaN);
        drawHeadAxes(frame, pose.data.subarray(i * HEAD_POSE_DIM, (i + 1) * HEAD_POSE_DIM) as ArrayLike<number>, metadata!, lineWidth);
      }
      i++;
      s.context.progress?.(i, video.frameCount);
      yield frame;
    }
  }
  const result = await encodeVideo(s.out, drawn(), { fps: video.fpsFraction ?? video.fps, ffmpeg: s.tools.ffmpeg, signal: s.context.signal });
  if (undrawn > 0) s.context.logger.warn(`${stream.path}: ${stream.rows} rows for ${result.frames} frames: the last ${undrawn} frames have no mesh`);
  if (stream.rows > result.frames) {
    s.context.logger.warn(`${stream.path}: ${stream.rows} rows but ${s.input} has ${result.frames} frames: the last ${stream.rows - result.frames} rows were not drawn (is it the stream of another video?)`);
  }
  return result.frames;
}
