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
import { resolveOptions, type FaceMeshOptions } from "./nova/options.js";
import { parseDevices } from "./inference/devices.js";
import { createProgress } from "./progress.js";
import type { StreamDescription } from "./commands/info.js";
import { serveCommand } from "./server/command.js";
import { checkWholeNumber, cliOptionError, MAX_THREADS } from "./bounds.js";
import { assertOutputsDistinct } from "./output_guard.js";

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
      "468 face landmarks per frame of a video or image -> SSI stream (937 values per frame)",
      (y) =>
        withMediaTools(
          y
            .positional("input", { type: "string", demandOption: true, describe: "video or image" })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "output .stream (data goes to <out>~)" })
            .option("bbox", { type: "string", describe: "blazeface bbox stream (5 dims); without it faces are detected on every frame" })
            .option("keypoints", { type: "string", describe: "blazeface keypoint stream (13 dims), for the eye rotation" })
            .option("min-score-thresh", { type: "string", describe: "face score threshold in [0,1] (trainer default 0.5)" })
            .option("batch-size", { type: "string", describe: "frames prepared, inferred and written together (trainer default 50; tracked frames go through the model one by one)" })
            .option("device", { type: "string", default: "cpu", describe: 'cpu, cuda, webgpu, a fallback list like "cuda,cpu", or auto' })
            .option("no-face", { type: "string", choices: ["zeros", "nan"], describe: "landmark values of rows without a face" })
            .option("tracking", { type: "boolean", describe: "rotation from the previous frame's landmarks (bbox mode; default on)" })
            .option("no-tracking", { type: "boolean", describe: "same as --tracking false" })
            .option("detector", { type: "string", choices: ["short", "full"], default: "short", describe: "BlazeFace model when there is no bbox stream" })
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
        const devices = parseDevices(a.device);
        const threads = checkWholeNumber(a.threads, "--threads", 1, MAX_THREADS);
        const trainer = await readTrainer(trainerPath);
        let options: FaceMeshOptions;
        try {
          ({ options } = resolveOptions(trainer, raw));
        } catch (err) {
          throw cliOptionError(err);
        }
        assertOutputsDistinct({ input: a.input, "--bbox": a.bbox, "--keypoints": a.keypoints }, { "--out": a.out });
        await runJob(a.input, a.out, { options, devices, bbox: a.bbox, keypoints: a.keypoints, detector: a.detector as "short" | "full", threads, ffmpeg: a.ffmpeg, ffprobe: a.ffprobe });
      },
    )
    .command(
      "detect <input>",
      "BlazeFace on every frame -> a bbox stream in the blazeface module's layout (and optionally its keypoint stream)",
      (y) =>
        withMediaTools(
          y
            .positional("input", { type: "string", demandOption: true })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "bbox .stream (5 dims: ymin, xmin, ymax, xmax, conf)" })
            .option("keypoints-out", { type: "string", describe: "keypoint .stream (13 dims)" })
            .option("detector", { type: "string", choices: ["short", "full"], default: "short" })
            .option("batch-size", { type: "number", default: 50 })
            .option("device", { type: "string", default: "cpu" }),
        ),
      async (a) => {
        const progress = createProgress("detect");
        try {
          const { detectToStreams } = await import("./commands/detect.js");
          const result = await detectToStreams({
            input: a.input,
            out: a.out,
            keypointsOut: a.keypointsOut,
            detector: a.detector as "short" | "full",
            batchSize: a.batchSize,
            devices: parseDevices(a.device),
            tools: { ffmpeg: a.ffmpeg, ffprobe: a.ffprobe },
            context: { logger, progress: progress.report, signal: abortOnSignals() },
          });
          progress.stop();
          console.log(`${path.resolve(a.out)}: ${result.rows} rows, faces in ${result.faces}`);
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
            .positional("input", { type: "string", demandOption: true })
            .option("stream", { alias: "s", type: "string", demandOption: true, describe: "landmark .stream written by run" })
            .option("out", { alias: "o", type: "string", demandOption: true, describe: "overlay .mp4 or .png" }),
        ),
      async (a) => {
        const progress = createProgress("render");
        try {
          const { renderOverlay } = await import("./commands/render.js");
          const frames = await renderOverlay({ input: a.input, stream: a.stream, out: a.out, tools: { ffmpeg: a.ffmpeg, ffprobe: a.ffprobe }, context: { logger, progress: progress.report, signal: abortOnSignals() } });
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
      (y) => y.positional("stream", { type: "string", demandOption: true }).option("json", { type: "boolean", default: false }),
      async (a) => {
        const { describeStream } = await import("./commands/info.js");
        const info = await describeStream(a.stream);
        console.log(a.json ? JSON.stringify(info, null, 2) : formatInfo(info));
      },
    )
    .command(serveCommand)
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
  bbox?: string;
  keypoints?: string;
  detector: "short" | "full";
  threads?: number;
  ffmpeg?: string;
  ffprobe?: string;
}

async function runJob(input: string, out: string, s: RunSettings): Promise<void> {
  // Imported here, not at the top: `facemesh --help`, `info` and `serve` then start without loading the models' runtime.
  const { FaceMesh } = await import("./pipeline.js");
  const { openInputs, predictRows, writeLandmarkStream } = await import("./job.js");
  const tools = { ffmpeg: s.ffmpeg, ffprobe: s.ffprobe };
  const opened = await openInputs({ video: input, bbox: s.bbox, keypoints: s.keypoints }, logger, tools);
  const mesh = await FaceMesh.create({ devices: s.devices, threads: s.threads, detector: s.detector, onFallback: (m) => logger.warn(m) });
  const progress = createProgress("facemesh");
  const context: HookContext = { logger, progress: progress.report, signal: abortOnSignals() };
  try {
    const header = await writeLandmarkStream(out, opened.video, predictRows(mesh, opened, { options: s.options, tools }, context));
    progress.stop();
    console.log(`${path.resolve(out)}: ${header.rows} rows x ${header.dim} values at ${header.sr} Hz (${mesh.device}, ${opened.hints ? "bbox stream" : `${s.detector}-range detector`})`);
  } finally {
    progress.stop();
    await mesh.dispose();
  }
}

function formatInfo(info: StreamDescription): string {
  return Object.entries(info)
    .map(([k, v]) => `${k.padEnd(14)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join("\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`facemesh: ${(err as Error).message}\n`);
  process.exit(1);
});
