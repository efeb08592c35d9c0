/**
 * Google's own TFLite runtime (LiteRT.js, @litertjs/core: XNNPack CPU kernels compiled to WebAssembly) running in
 * Node, as an independent reference for our converted ONNX models and as a speed baseline for the benchmarks.
 *
 * LiteRT.js ships a browser loader only. Its Emscripten glue already knows Node (it reads the .wasm with node:fs),
 * but the package's loader hands the glue to the page with `importScripts` (worker) or a <script> tag and then
 * reads the factory back from `self.ModuleFactory`. In Node we provide, while it loads, `self` and an
 * `importScripts` that evaluates the glue file in this realm with the CommonJS `require`, `__filename` and
 * `__dirname` it expects once it detects Node. Nothing is written to disk and nothing is fetched.
 *
 * Threaded build: Emscripten starts each pthread as `new Worker(mainScript)`. The glue file itself cannot be that
 * script in Node (it sits in a "type": "module" package, so Node would load it as ESM, where `require` is
 * missing); we name this module instead, and when it is imported inside such a worker it evaluates the glue the
 * same way, and the glue's last line starts the pthread (see the bottom of this file). The workers load this file
 * as plain Node ESM, so the threaded build needs the compiled dist/scripts/litert.js (or a TypeScript loader that
 * worker threads inherit through execArgv, such as `node --import tsx`).
 *
 * Batch: the MediaPipe .tflite files have batch 1 fixed and LiteRT.js exposes no input-resize call (its Wasm API
 * has loadModel/compileModel/run only, and run() checks each input tensor against the model's fixed shape).
 * `run` with batch > 1 therefore loops batch-1 invocations; `TfliteModel.nativeBatch` says so.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInThisContext } from "node:vm";
import { isMainThread, workerData } from "node:worker_threads";
import type { CompiledModel, LiteRt, Tensor as LiteRtTensor, TensorDetails } from "@litertjs/core";

const require = createRequire(import.meta.url);

/**
 * Which LiteRT.js WebAssembly build to run: "plain" (one thread, relaxed SIMD; what a browser without cross-origin
 * isolation gets), "threaded" (relaxed SIMD plus pthreads on worker_threads) or "compat" (one thread, baseline
 * SIMD only).
 */
export type LiteRtVariant = "plain" | "threaded" | "compat";

export interface LiteRtOptions {
  /** Default "plain". */
  variant?: LiteRtVariant;
  /** XNNPack threads per model for the threaded build (default: LiteRT's own choice, the core count). */
  numThreads?: number;
  /**
   * Receives LiteRT's own log lines (INFO lines and the NPU-registry warning are dropped). Default: console.error.
   * Only the call that loads the runtime sets it.
   */
  log?: (line: string) => void;
}

/** Name, shape and element type of one model input or output as the .tflite file declares it. */
export interface TensorInfo {
  name: string;
  /** e.g. [1, 192, 192, 3]: NHWC for images. */
  shape: readonly number[];
  dtype: string;
}

export interface TfliteModel {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Largest batch one LiteRT invocation takes: the model's own (1 for MediaPipe's files). */
  readonly nativeBatch: number;
  /**
   * Runs `batch` items through the model (one invocation per `nativeBatch` items, see file comment). `input`
   * holds the items back to back in the model's own layout (NHWC, float32). Outputs are keyed by the .tflite
   * output names and hold the `batch` results back to back.
   */
  run(input: Float32Array, batch?: number): Promise<Record<string, Float32Array>>;
  /** Frees the compiled model in Wasm memory. */
  delete(): void;
}

export interface LiteRtRuntime {
  readonly variant: LiteRtVariant;
  /** XNNPack threads each model is compiled with (1 for the single-threaded builds). */
  readonly threads: number;
  /** Compiles a .tflite flatbuffer for LiteRT's XNNPack CPU path ("wasm" accelerator). */
  loadTflite(bytes: Uint8Array): Promise<TfliteModel>;
}

type LiteRtModule = typeof import("@litertjs/core");

/** Where a build's Emscripten glue lives (its .wasm sits next to it). */
function glueFile(variant: LiteRtVariant): string {
  const coreDir = path.dirname(require.resolve("@litertjs/core/package.json"));
  const base = {
    plain: "litert_wasm_internal.js",
    threaded: "litert_wasm_threaded_internal.js",
    compat: "litert_wasm_compat_internal.js",
  }[variant];
  return path.join(coreDir, "wasm", base);
}

/**
 * Node 20's V8 (11.3) implements Wasm relaxed SIMD (Chrome 114 shipped it) but keeps it behind a flag. Wasm
 * feature flags are read when a module is compiled, and V8 flags are process-wide (pthread workers see it too), so
 * turning it on before LiteRT's first compile is enough; on a Node where it is on by default this is a no-op.
 */
function enableRelaxedSimd(): void {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
}

/**
 * Evaluates an Emscripten glue file in this realm, wrapped the way Node's CommonJS loader wraps a module, so the
 * `require`, `__filename` and `__dirname` it uses once it detects Node stay local to it. Returns its factory
 * (the glue's top-level `var ModuleFactory`).
 */
function evaluateGlue(file: string): unknown {
  const source = readFileSync(file, "utf8");
  const wrapped = runInThisContext(`(function (require, __filename, __dirname) {${source}\nreturn ModuleFactory;\n})`, {
    filename: file,
  }) as (req: NodeJS.Require, filename: string, dirname: string) => unknown;
  return wrapped(createRequire(file), file, path.dirname(file));
}

/**
 * Runs `load` with the browser globals the LiteRT.js loader (@litertjs/wasm-utils createWasmLib) relies on:
 * `self`, an `importScripts` that evaluates the glue and leaves its factory at `self.ModuleFactory`, and
 * `self.Module`, the Emscripten settings object createWasmLib hands to the factory. `self` and `importScripts`
 * are removed again afterwards, so libraries that sniff for a web worker are not misled; only `navigator` stays
 * (threaded build, see below).
 */
async function withLoaderGlobals<T>(settings: Record<string, unknown>, load: () => Promise<T>): Promise<T> {
  const g = globalThis as Record<string, unknown>;
  const added = ["self", "importScripts"].filter((k) => !(k in g));
  g.self ??= globalThis;
  g.importScripts = (...urls: string[]): void => {
    for (const url of urls) g.ModuleFactory = evaluateGlue(url.startsWith("file:") ? fileURLToPath(url) : url);
  };
  g.Module = settings;
  try {
    return await load();
  } finally {
    for (const k of added) delete g[k];
    delete g.ModuleFactory;
    delete g.Module;
  }
}

/**
 * The threaded glue sizes its pthread pool from `navigator.hardwareConcurrency`, and its C++ side reads it again
 * when asked for a thread count; Node 20 has no `navigator`. This one stays for the life of the process.
 */
function provideHardwareConcurrency(): void {
  const g = globalThis as Record<string, unknown>;
  g.navigator ??= { hardwareConcurrency: availableParallelism() };
}

/** LiteRT logs every model load at INFO level, and always warns that it has no NPU; neither says anything to us. */
function isNoise(line: string): boolean {
  return line.startsWith("INFO:") || line.includes("NPU accelerator could not be loaded");
}

/** Emscripten module settings: the log sinks, and for the threaded build the script each pthread worker runs. */
function moduleSettings(variant: LiteRtVariant, log: (line: string) => void): Record<string, unknown> {
  const sink = (line: string): void => {
    if (!isNoise(line)) log(`LiteRT: ${line}`);
  };
  const settings: Record<string, unknown> = { print: sink, printErr: sink };
  if (variant === "threaded") settings.mainScriptUrlOrBlob = fileURLToPath(import.meta.url);
  return settings;
}

/**
 * Runs `load` with console.warn muted for the one message LiteRT prints when it finds no WebGPU (Node has none;
 * we compile for the Wasm CPU path only). Anything else still reaches the console.
 */
async function withoutWebGpuWarning<T>(load: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]): void => {
    if (typeof args[0] === "string" && args[0].startsWith("Failed to create default WebGPU device")) return;
    warn(...args);
  };
  try {
    return await load();
  } finally {
    console.warn = warn;
  }
}

interface Loaded {
  variant: LiteRtVariant;
  state: Promise<{ core: LiteRtModule; liteRt: LiteRt }>;
}
let loaded: Loaded | undefined;

/**
 * Loads LiteRT.js (once per process: the library keeps one global Wasm instance, so asking for a second build in
 * the same process throws; run each build in its own process).
 */
export async function createLiteRt(options: LiteRtOptions = {}): Promise<LiteRtRuntime> {
  const variant = options.variant ?? "plain";
  if (loaded && loaded.variant !== variant) {
    throw new Error(`LiteRT.js is already loaded as the ${loaded.variant} build in this process; cannot also load ${variant}`);
  }
  if (!loaded) {
    const file = glueFile(variant);
    const log = options.log ?? ((line: string) => console.error(line));
    const state = (async () => {
      if (variant !== "compat") enableRelaxedSimd();
      const core = await import("@litertjs/core");
      if (variant !== "compat" && !(await core.supportsFeature("relaxedSimd"))) {
        throw new Error(`this Node's WebAssembly lacks relaxed SIMD, which the ${variant} LiteRT.js build needs (use "compat")`);
      }
      if (variant === "threaded") provideHardwareConcurrency();
      // A full .js path makes the loader take exactly this build instead of feature-detecting one.
      const liteRt = await withLoaderGlobals(moduleSettings(variant, log), () => withoutWebGpuWarning(() => core.loadLiteRt(file)));
      return { core, liteRt };
    })();
    const entry: Loaded = { variant, state };
    loaded = entry;
    state.catch(() => {
      if (loaded === entry) loaded = undefined;
    });
  }
  const { core, liteRt } = await loaded.state;
  const threads = variant === "threaded" ? (options.numThreads ?? liteRt.liteRtWasm.getThreadCount()) : 1;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`numThreads must be a positive integer, got ${options.numThreads}`);
  return {
    variant,
    threads,
    loadTflite: async (bytes) => {
      const compiled = await liteRt.loadAndCompile(bytes, { accelerator: "wasm", cpuOptions: { numThreads: threads } });
      return wrapModel(core, compiled);
    },
  };
}

function tensorInfo(d: TensorDetails): TensorInfo {
  return { name: d.name, shape: Array.from(d.shape), dtype: d.dtype };
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function wrapModel(core: LiteRtModule, compiled: CompiledModel): TfliteModel {
  const inputs = compiled.getInputDetails().map(tensorInfo);
  const outputs = compiled.getOutputDetails().map(tensorInfo);
  if (inputs.length !== 1) throw new Error(`LiteRT model has ${inputs.length} inputs; the harness feeds exactly one`);
  const input0 = inputs[0];
  if (input0.dtype !== "float32") throw new Error(`LiteRT model input ${input0.name} is ${input0.dtype}, expected float32`);
  for (const o of outputs) {
    if (o.dtype !== "float32") throw new Error(`LiteRT model output ${o.name} is ${o.dtype}, expected float32`);
  }
  const nativeBatch = input0.shape[0];
  const callSize = elementCount(input0.shape);
  return {
    inputs,
    outputs,
    nativeBatch,
    async run(input, batch = nativeBatch) {
      if (!Number.isInteger(batch) || batch < 1 || batch % nativeBatch !== 0) {
        throw new Error(`batch must be a positive multiple of ${nativeBatch} (the model's fixed batch), got ${batch}`);
      }
      const calls = batch / nativeBatch;
      if (input.length !== calls * callSize) {
        throw new Error(`input has ${input.length} floats; ${batch} items of [${input0.shape.slice(1).join(",")}] need ${calls * callSize}`);
      }
      const result: Record<string, Float32Array> = {};
      for (const o of outputs) result[o.name] = new Float32Array(calls * elementCount(o.shape));
      for (let c = 0; c < calls; c++) {
        const tensor = new core.Tensor(input.subarray(c * callSize, (c + 1) * callSize), input0.shape.slice());
        let out: LiteRtTensor[] = [];
        try {
          out = await compiled.run([tensor]);
          outputs.forEach((o, i) => {
            const n = elementCount(o.shape);
            // toTypedArray copies out of the Wasm heap, so the result outlives the tensor.
            result[o.name].set(out[i].toTypedArray().subarray(0, n), c * n);
          });
        } finally {
          tensor.delete();
          for (const t of out) t.delete();
        }
      }
      return result;
    },
    delete: () => compiled.delete(),
  };
}

// Pthread entry: the threaded glue starts each pthread as a worker on this module (mainScriptUrlOrBlob above).
// Evaluating the glue here with the same shims lets its own last line (`isPthread && ModuleFactory()`) take over.
if (!isMainThread && workerData === "em-pthread") {
  provideHardwareConcurrency();
  evaluateGlue(glueFile("threaded"));
}
