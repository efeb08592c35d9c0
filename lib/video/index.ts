/** Video and still-image input/output through ffmpeg child processes. */
export { probeVideo, type ProbeOptions, type VideoInfo, type FrameCountSource } from "./probe.js";
export { decodeFrames, readImage, type DecodedFrame, type DecodeOptions } from "./decode.js";
export { FramePool, type FramePoolOptions } from "./frame_pool.js";
export { encodeVideo, type EncodeOptions, type EncodeResult, type FrameRate } from "./encode.js";
export { resolveTool, type ToolName, type ToolPaths } from "./tools.js";
