/**
 * `facemesh render`: the mesh of a landmark stream drawn on the frames it came from, for a person to look at.
 * Frame i gets row i; frames beyond the stream's rows are left undrawn (and counted in a warning).
 */
import type { HookContext } from "../nova/hooks.js";
import type { RgbImage } from "../types.js";
import { ROW_DIM } from "../types.js";
import { readSsiStream } from "../ssi/stream.js";
import { probeVideo } from "../video/probe.js";
import { decodeFrames } from "../video/decode.js";
import { encodeVideo } from "../video/encode.js";
import { drawFaceMesh, type Rgb } from "../render/draw.js";
import { loadMeshEdges } from "../render/mesh_topology.js";
import { contourEdges, faceSizeOfRow, overlaySizes, type MeshPart } from "../render/overlay_style.js";
import type { MediaTools } from "../job.js";
import { assertOutputsDistinct } from "../output_guard.js";

export interface RenderSettings {
  input: string;
  stream: string;
  out: string;
  tools: MediaTools;
  context: HookContext;
  /** What to draw; default mesh and points. */
  parts?: readonly MeshPart[];
  /** Edge colour of the mesh (default green), of the contours (default yellow), of the points (default red). */
  meshColor?: Rgb;
  contourColor?: Rgb;
  pointColor?: Rgb;
}

/** Draws the chosen parts of one row on `frame`, sized to the face. */
export function drawParts(frame: RgbImage, row: ArrayLike<number>, parts: readonly MeshPart[], edges: { mesh: Uint32Array; contours: Uint32Array }, colors: { mesh: Rgb; contours: Rgb; points: Rgb }): void {
  const { pointRadius, lineWidth } = overlaySizes(faceSizeOfRow(row, frame.width, frame.height));
  for (const part of ["mesh", "contours"] as const) {
    if (parts.includes(part)) drawFaceMesh(frame, row, edges[part], { edgeColor: colors[part], pointColor: null, lineWidth });
  }
  if (parts.includes("points")) drawFaceMesh(frame, row, new Uint32Array(0), { edgeColor: null, pointColor: colors.points, pointRadius });
}

export async function renderOverlay(s: RenderSettings): Promise<number> {
  assertOutputsDistinct({ input: s.input, "--stream": s.stream }, { "--out": s.out });
  const stream = await readSsiStream(s.stream);
  if (stream.header.dim !== ROW_DIM) {
    throw new Error(`${stream.path}: not a facemesh landmark stream: dim=${stream.header.dim}, expected ${ROW_DIM}`);
  }
  const video = await probeVideo(s.input, { ffprobe: s.tools.ffprobe });
  const parts = s.parts ?? ["mesh", "points"];
  const edges = { mesh: parts.includes("mesh") ? await loadMeshEdges() : new Uint32Array(0), contours: parts.includes("contours") ? contourEdges() : new Uint32Array(0) };
  const colors = { mesh: s.meshColor ?? ([0, 255, 0] as Rgb), contours: s.contourColor ?? ([255, 255, 0] as Rgb), points: s.pointColor ?? ([255, 0, 0] as Rgb) };
  const rows = stream.data;
  let undrawn = 0;
  async function* drawn(): AsyncGenerator<RgbImage> {
    let i = 0;
    for await (const frame of decodeFrames(video.path, video, { ffmpeg: s.tools.ffmpeg, signal: s.context.signal })) {
      if (i < stream.rows) drawParts(frame, rows.subarray(i * ROW_DIM, (i + 1) * ROW_DIM) as ArrayLike<number>, parts, edges, colors);
      else undrawn++;
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
