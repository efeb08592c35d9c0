#!/usr/bin/env node
/**
 * facemesh's command line (yargs): a thin shell over lib/job.ts, for running the module standalone, debugging
 * it, and feeding other NOVA modules. Exit code 0 on success, 1 on any failure (the message names the file or
 * option and the problem), 2 on a usage error.
 */
import path from "node:path";
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { projectRoot } from "./convert/models.js";
import type { HookContext, Logger } from "./nova/hooks.js";
import { readTrainer } from "./nova/trainer.js";
import { OptionError, resolveOptions, type FaceMeshOptions } from "./nova/options.js";
import { parseDevices } from "./inference/devices.js";
import { createProgress } from "./progress.js";
import { serveCommand } from "./server/command.js";
import { workerCommand } from "./server/queue/worker_command.js";
import { checkWholeNumber, MAX_THREADS } from "./bounds.js";
import { assertOutputFoldersExist, assertOutputsDistinct } from "./output_guard.js";

const logger: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  const stop = (sig: string) => controller.abort(new Error(`interrupted by ${sig}`));
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  return controller.signal;
}

/** An output name without `.stream` gets it: SSI readers (NOVA included) look for the header by that name. */
export function streamPath(file: string): string {
  return file.endsWith(".stream") ? file : `${file}.stream`;
}

/** The CLI flag for a trainer option name (min_score_thresh -> --min-score-thresh). */
function flagOf(option: string): string {
  return `--${option.replaceAll("_", "-")}`;
}

const DETECTOR = { type: "string", choices: ["short", "full"], default: "short", describe: "BlazeFace model: short (faces within ~2 m) or full (smaller faces, further away)" } as const;
const DEVICE = { type: "string", default: "cpu", describe: 'cpu, cuda, webgpu, a fallback list like "cuda,cpu", or auto' } as const;

function withMediaTools<T>(y: Argv<T>) {
  return y
    .option("ffmpeg", { type: "string", describe: "ffmpeg binary (default: $FFMPEG_PATH, the bundled one, then PATH)" })
    .option("ffprobe", { type: "string", describe: "ffprobe binary (default: $FFPROBE_PATH, the bundled one, then PATH)" });
}

async function main(): Promise<void> {
  const trainerPath = path.join(projectRoot(), "facemesh.trainer");
  await yargs(hideBin(process.argv))
    .scriptName("facemesh")
    // Off: with yargs' boolean negation, `--no-face nan` parses as face=false plus a stray "nan" and fails as
    // unknown arguments. `--no-tracking` is declared as an option of its own instead.
    .parserConfiguration({ "boolean-negation": false })
    .strict()
    .demandCommand(1, "name a command")
    .command(
      "run <input>",
      "468 face landmarks per frame of a video or image -> SSI stream (937 values per frame; 478 and 957 with --refine-landmarks)",
      (y) =>
        withMediaTools(
          y
            .positional("input", { type: "string", demandOption: true, describe: "video or image" })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "output .stream (data goes to <out>~; .stream is added when missing)" })
            .option("head-pose-out", { type: "string", describe: "also write the head pose .stream (7 values: pitch, yaw, roll in degrees, tx, ty, tz in cm, score; .stream is added when missing)" })
            .option("bbox", { type: "string", describe: "blazeface bbox stream (5 dims); without it faces come from the detector: video mode, or static mode when tracking is off" })
            .option("keypoints", { type: "string", describe: "blazeface keypoint stream (13 dims), for the eye rotation" })
            .option("force", { type: "boolean", default: false, describe: "use a bbox/keypoint stream made for another frame size or rate (refused otherwise)" })
            .option("min-score-thresh", { type: "number", describe: "face score threshold in [0,1] (trainer default 0.5)" })
            .option("batch-size", { type: "number", describe: "frames prepared, inferred and written together (trainer default 50; tracked frames go through the model one by one)" })
            .option("device", DEVICE)
            .option("no-face", { type: "string", choices: ["zeros", "nan"], describe: "landmark values of rows without a face" })
            .option("tracking", { type: "boolean", describe: "MediaPipe's tracking (default on): without --bbox video mode (detector only when no face is tracked), with --bbox the rotation from the previous frame's landmarks; off: static mode / rotation 0" })
            .option("no-tracking", { type: "boolean", describe: "same as --tracking false" })
            .option("smoothing", { type: "string", describe: "none (MediaPipe's raw rows) or one_euro (FaceLandmarker's filter over time; trainer default none)" })
            .option("segment-seconds", { type: "number", describe: "a longer video is processed in segments of this many seconds, side by side, merged in order (trainer default 300; 0: never split)" })
            .option("parallel-segments", { type: "number", describe: "segments tracked side by side, each model call carrying one face of each (bbox mode with tracking; default one per two cores)" })
            .option("refine-landmarks", { type: "boolean", describe: "MediaPipe's attention model: 478 landmarks (irises 468-477), 957 values per frame" })
            .option("detector", { ...DETECTOR, describe: `${DETECTOR.describe}, when there is no bbox stream` })
            .option("threads", { type: "number", describe: "CPU threads for inference (default: all cores; each runs its own copy of the model)" }),
        ),
      async (a) => {
        const raw: Record<string, unknown> = {};
        if (a.minScoreThresh !== undefined) raw.min_score_thresh = a.minScoreThresh;
        if (a.batchSize !== undefined) raw.batch_size = a.batchSize;
        if (a.noFace !== undefined) raw.no_face = a.noFace;
        if (a.noTracking && a.tracking) throw new Error("--tracking and --no-tracking contradict each other: give one");
        if (a.tracking !== undefined) raw.tracking = a.tracking;
        if (a.noTracking) raw.tracking = false;
        if (a.smoothing !== undefined) raw.smoothing = a.smoothing;
        if (a.segmentSeconds !== undefined) raw.segment_seconds = a.segmentSeconds;
        const parallelSegments = checkWholeNumber(a.parallelSegments, "--parallel-segments", 1, 64);
        if (a.refineLandmarks !== undefined) raw.refine_landmarks = a.refineLandmarks;
        const devices = parseDevices(a.device);
        const threads = checkWholeNumber(a.threads, "--threads", 1, MAX_THREADS);
        let options: FaceMeshOptions;
        try {
          ({ options } = resolveOptions(await readTrainer(trainerPath), raw));
        } catch (err) {
          throw err instanceof OptionError ? new Error(err.as(flagOf(err.option)), { cause: err }) : err;
        }
        const out = streamPath(a.out);
        const headPoseOut = a.headPoseOut === undefined ? undefined : streamPath(a.headPoseOut);
        assertOutputsDistinct({ video: a.input, "--bbox": a.bbox, "--keypoints": a.keypoints }, { "--out": out, "--head-pose-out": headPoseOut });
        assertOutputFoldersExist({ "--out": out, "--head-pose-out": headPoseOut });
        await runJob(a.input, out, { options, devices, headPoseOut, bbox: a.bbox, keypoints: a.keypoints, force: a.force, detector: a.detector as "short" | "full", threads, parallelSegments, ffmpeg: a.ffmpeg, ffprobe: a.ffprobe });
      },
    )
    .command(
      "detect <input>",
      "BlazeFace on every frame -> a bbox stream in the blazeface module's layout (and optionally its keypoint stream)",
      (y) =>
        withMediaTools(
          y
            .positional("input", { type: "string", demandOption: true, describe: "video or image" })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "bbox .stream (5 dims: ymin, xmin, ymax, xmax, conf; .stream is added when missing)" })
            .option("keypoints-out", { type: "string", describe: "keypoint .stream (13 dims: 6 keypoints' y, x, then conf)" })
            .option("detector", DETECTOR)
            .option("batch-size", { type: "number", default: 50, describe: "frames given to the detector together" })
            .option("device", DEVICE),
        ),
      async (a) => {
        const progress = createProgress("detect");
        const out = streamPath(a.out);
        try {
          const { detectToStreams } = await import("./commands/detect.js");
          const { fewFacesWarning } = await import("./commands/face_count.js");
          const result = await detectToStreams({
            input: a.input,
            out,
            keypointsOut: a.keypointsOut === undefined ? undefined : streamPath(a.keypointsOut),
            detector: a.detector as "short" | "full",
            batchSize: a.batchSize,
            devices: parseDevices(a.device),
            tools: { ffmpeg: a.ffmpeg, ffprobe: a.ffprobe },
            context: { logger, progress: progress.report, signal: abortOnSignals() },
          });
          progress.stop();
          const few = fewFacesWarning(result.faces, result.rows, a.detector as "short" | "full");
          if (few) logger.warn(few);
          console.log(`${path.resolve(out)}: ${result.rows} rows, faces in ${result.faces}`);
        } finally {
          progress.stop();
        }
      },
    )
    .command(
      "render <input>",
      "draw the mesh of a landmark stream on the frames -> .mp4 (or .png for an image)",
      (y) =>
        withMediaTools(
          y
            .positional("input", { type: "string", demandOption: true, describe: "the video or image the stream was made from" })
            .option("stream", { alias: "s", type: "string", demandOption: true, describe: "landmark .stream written by run" })
            .option("head-pose", { type: "string", describe: "head-pose .stream written by run --head-pose-out: the head's axes at the nose tip" })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "overlay .mp4 or .png" })
            .option("draw", { type: "string", default: "mesh,points,irises", describe: "what to draw, comma-separated: mesh (triangle edges), contours (lips, eyes, eyebrows, face oval), points, irises (circles, on --refine-landmarks streams)" })
            .option("mesh-color", { type: "string", default: "green", describe: "mesh edge colour: a name, #rrggbb or r,g,b" })
            .option("contour-color", { type: "string", default: "yellow", describe: "contour colour" })
            .option("point-color", { type: "string", default: "red", describe: "point colour (points and lines grow with the face)" })
            .option("iris-color", { type: "string", default: "magenta", describe: "iris circle colour" })
            .option("force", { type: "boolean", default: false, describe: "draw a stream whose meta size or rate is not the video's (made for another video?)" }),
        ),
      async (a) => {
        const { parseColor, parseParts } = await import("./render/overlay_style.js");
        const style = { parts: parseParts(a.draw), meshColor: parseColor(a.meshColor, "--mesh-color"), contourColor: parseColor(a.contourColor, "--contour-color"), pointColor: parseColor(a.pointColor, "--point-color"), irisColor: parseColor(a.irisColor, "--iris-color") };
        const progress = createProgress("render");
        try {
          const { renderOverlay } = await import("./commands/render.js");
          const frames = await renderOverlay({ input: a.input, stream: a.stream, headPose: a.headPose, out: a.out, ...style, force: a.force, tools: { ffmpeg: a.ffmpeg, ffprobe: a.ffprobe }, context: { logger, progress: progress.report, signal: abortOnSignals() } });
          progress.stop();
          console.log(`${path.resolve(a.out)}: ${frames} frames`);
        } finally {
          progress.stop();
        }
      },
    )
    .command(
      "info <stream>",
      "describe an SSI stream (header, rows, faces found)",
      (y) =>
        y
          .positional("stream", { type: "string", demandOption: true, describe: "an SSI .stream header (its data is <stream>~)" })
          .option("json", { type: "boolean", default: false, describe: "print the figures as one JSON object" }),
      async (a) => {
        const { describeStream, formatDescription } = await import("./commands/info.js");
        const info = await describeStream(a.stream);
        console.log(a.json ? JSON.stringify(info, null, 2) : formatDescription(info));
      },
    )
    .command(serveCommand)
    .command(workerCommand)
    .fail((msg, err, y) => {
      if (err) {
        process.stderr.write(`facemesh: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`${y.help()}\n${msg}\n`);
      process.exit(2);
    })
    .help()
    .parseAsync();
}

interface RunSettings {
  options: FaceMeshOptions;
  devices: ReturnType<typeof parseDevices>;
  headPoseOut?: string;
  bbox?: string;
  keypoints?: string;
  force?: boolean;
  detector: "short" | "full";
  threads?: number;
  parallelSegments?: number;
  ffmpeg?: string;
  ffprobe?: string;
}

async function runJob(input: string, out: string, s: RunSettings): Promise<void> {
  // Imported here, not at the top: `facemesh --help`, `info` and `serve` then start without loading the models' runtime.
  const { FaceMesh } = await import("./pipeline.js");
  const { openInputs, predictRows, writeLandmarkStream } = await import("./job.js");
  const tools = { ffmpeg: s.ffmpeg, ffprobe: s.ffprobe };
  const { countingFaces, fewFacesWarning } = await import("./commands/face_count.js");
  const opened = await openInputs({ video: input, bbox: s.bbox, keypoints: s.keypoints, force: s.force }, logger, tools);
  const mesh = await FaceMesh.create({
    devices: s.devices,
    threads: s.threads,
    detector: s.detector,
    refineLandmarks: s.options.refine_landmarks,
    onFallback: (m) => logger.warn(m),
  });
  const progress = createProgress("facemesh");
  const context: HookContext = { logger, progress: progress.report, signal: abortOnSignals() };
  try {
    const tally = { rows: 0, faces: 0 };
    const headPose = s.headPoseOut ? { path: s.headPoseOut, noFace: s.options.no_face } : undefined;
    const rows = countingFaces(predictRows(mesh, opened, { options: s.options, tools, parallelSegments: s.parallelSegments }, context), tally, mesh.rowDim);
    const header = await writeLandmarkStream(out, opened.video, rows, { points: mesh.pointsPerFace, headPose });
    progress.stop();
    const few = fewFacesWarning(tally.faces, tally.rows, opened.hints ? "bbox" : s.detector);
    if (few) logger.warn(few);
    console.log(`${path.resolve(out)}: ${header.rows} rows x ${header.dim} values at ${header.sr} Hz, a face in ${tally.faces} (${mesh.device}, ${opened.hints ? "bbox stream" : `${s.options.tracking ? "video mode" : "static mode"}, ${s.detector}-range detector`})`);
    if (headPose) console.log(`${path.resolve(headPose.path)}: head pose, ${header.rows} rows`);
  } finally {
    progress.stop();
    await mesh.dispose();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`facemesh: ${(err as Error).message}\n`);
  process.exit(1);
});
