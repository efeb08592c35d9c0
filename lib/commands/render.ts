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
import { drawFaceMesh } from "../render/draw.js";
import { loadMeshEdges } from "../render/mesh_topology.js";
import type { MediaTools } from "../job.js";
import { HEAD_POSE_DIM } from "../geometry/head_pose.js";
import { loadGeometryMetadata } from "../geometry/metadata.js";
import { drawHeadAxes } from "../render/head_axes.js";

export interface RenderSettings {
  input: string;
  stream: string;
  /** A head-pose stream (run --head-pose-out): the head's axes are drawn at the nose tip. */
  headPose?: string;
  out: string;
  tools: MediaTools;
  context: HookContext;
}

export async function renderOverlay(s: RenderSettings): Promise<number> {
  const stream = await readSsiStream(s.stream);
  if (stream.header.dim !== ROW_DIM) {
    throw new Error(`${stream.path}: not a facemesh landmark stream: dim=${stream.header.dim}, expected ${ROW_DIM}`);
  }
  const video = await probeVideo(s.input, { ffprobe: s.tools.ffprobe });
  const edges = await loadMeshEdges();
  const rows = stream.data;
  const pose = s.headPose ? await readSsiStream(s.headPose) : null;
  if (pose && pose.header.dim !== HEAD_POSE_DIM) throw new Error(`${pose.path}: not a head-pose stream: dim=${pose.header.dim}, expected ${HEAD_POSE_DIM}`);
  if (pose && pose.rows !== stream.rows) s.context.logger.warn(`${pose.path}: ${pose.rows} rows, the landmark stream has ${stream.rows}`);
  const metadata = pose ? await loadGeometryMetadata() : null;
  let undrawn = 0;
  async function* drawn(): AsyncGenerator<RgbImage> {
    let i = 0;
    for await (const frame of decodeFrames(video.path, video, { ffmpeg: s.tools.ffmpeg, signal: s.context.signal })) {
      if (i < stream.rows) drawFaceMesh(frame, rows.subarray(i * ROW_DIM, (i + 1) * ROW_DIM) as ArrayLike<number>, edges);
      else undrawn++;
      if (pose && i < pose.rows) drawHeadAxes(frame, pose.data.subarray(i * HEAD_POSE_DIM, (i + 1) * HEAD_POSE_DIM) as ArrayLike<number>, metadata!);
      i++;
      s.context.progress?.(i, video.frameCount);
      yield frame;
    }
  }
  const result = await encodeVideo(s.out, drawn(), { fps: video.fpsFraction ?? video.fps, ffmpeg: s.tools.ffmpeg, signal: s.context.signal });
  if (undrawn > 0) s.context.logger.warn(`${stream.path}: ${stream.rows} rows for ${result.frames} frames: the last ${undrawn} frames have no mesh`);
  return result.frames;
}
