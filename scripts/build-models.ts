/**
 * npm postinstall step: converts MediaPipe's .tflite models (read offline from the @mediapipe npm packages) to
 * models/*.onnx with our own converter (lib/convert). Skips the work when models/manifest.json says the files are
 * current. Exits non-zero with a message when a source is missing or a model uses something we cannot convert:
 * the module cannot run without these files, so the install must fail loudly.
 *
 *   node dist/scripts/build-models.js [--force] [--out DIR] [--source-dir DIR] [--model NAME]...
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

import { buildModels, directorySourceLoader } from "../lib/convert/build.js";
import { MODEL_NAMES, type ModelName, modelsDir } from "../lib/convert/models.js";

const USAGE = `usage: build-models [--force] [--out DIR] [--source-dir DIR] [--model NAME]...
  --force           rebuild even when models/manifest.json says the files are current
  --out DIR         write the models here (default: <project>/models)
  --source-dir DIR  read DIR/<model>.tflite instead of the @mediapipe npm packages
  --model NAME      build only this model (repeatable): ${MODEL_NAMES.join(", ")}`;

interface Args {
  force: boolean;
  out: string;
  sourceDir: string | undefined;
  models: ModelName[] | undefined;
  help: boolean;
}

export function parseArgs(argv: string[]): Args {
  const args: Args = { force: false, out: modelsDir(), sourceDir: undefined, models: undefined, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--force") args.force = true;
    else if (a === "--help" || a === "-h") args.help = true;
    else if (a === "--out") args.out = path.resolve(value());
    else if (a === "--source-dir") args.sourceDir = path.resolve(value());
    else if (a === "--model") {
      const m = value();
      if (!(MODEL_NAMES as string[]).includes(m)) throw new Error(`--model ${m}: unknown model (known: ${MODEL_NAMES.join(", ")})`);
      (args.models ??= []).push(m as ModelName);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return args;
}

/** Runs the build; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    await buildModels({
      outDir: args.out,
      force: args.force,
      models: args.models,
      loadSource: args.sourceDir ? directorySourceLoader(args.sourceDir) : undefined,
    });
    return 0;
  } catch (err) {
    console.error(`build-models: FAILED: ${(err as Error).message}`);
    console.error("build-models: the ONNX models could not be built; facemesh cannot run without them.");
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
