/**
 * The contract between a NOVA host (our server's job worker, the CLI, a test) and a module's entry point.
 * A module's entry (see nova-plugin.json "entry") exports `load`, `predict` and `write` with these shapes.
 * predict may return a lazy result (an async iterable of rows): write drains it, so memory does not grow with
 * the length of the input.
 */

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** done = items finished so far; total = expected count when known. */
export type ProgressReporter = (done: number, total: number | undefined) => void;

export interface HookContext {
  logger: Logger;
  progress?: ProgressReporter;
  /** Aborted when the job is cancelled; long loops check it between batches. */
  signal?: AbortSignal;
}

/** What a job hands the module. */
export interface JobRequest {
  /** Absolute path of the module's .trainer file. */
  trainerPath: string;
  /** Options as they arrived (JSON `options` merged over `optStr`); values may be strings, numbers or booleans. */
  options: Record<string, unknown>;
  /** io id (as sent: canonical id or an alias from nova-plugin.json) -> file path. */
  inputs: Record<string, string>;
  /** io id -> file path, active outputs only. */
  outputs: Record<string, string>;
}

/** A module's entry; the parted hooks (PartedModule) are optional. */
export interface NovaModule<Model = unknown, Prediction = unknown> extends PartedModule<Model> {
  load(request: JobRequest, context: HookContext): Promise<Model>;
  predict(model: Model, request: JobRequest, context: HookContext): Promise<Prediction>;
  write(model: Model, prediction: Prediction, request: JobRequest, context: HookContext): Promise<void>;
  /** Releases sessions and child processes; optional. */
  dispose?(model: Model): Promise<void>;
  /** Names of an output stream's dimensions (for NOVA's Streams `dimlabels`), given the loaded model; optional. */
  dimLabels?(outputId: string, model: Model): string[] | undefined;
}

/**
 * Optional hooks for hosts that run one job as parts on several machines (the server's queue mode). A host calls
 * `load` before each of plan, runPart and join, in whichever process runs it (each part may run in a fresh process
 * on another machine), and `dispose` after. Parts and results are JSON values: they travel through the host's queue.
 * A host checks `typeof mod.plan === "function"`; without these hooks (or when plan returns null) the job runs whole.
 */
export interface PartedModule<Model = unknown> {
  /** The job's parts (JSON values), or null when it is not worth splitting (short video, video mode, no timestamps...). Checks the inputs as predict does (bad input throws with the file named). */
  plan?(model: Model, request: JobRequest, context: HookContext): Promise<unknown[] | null>;
  /** Runs one part (any machine that sees the same files); returns a small JSON result (a few KB at most: big data goes into files next to the output). */
  runPart?(model: Model, request: JobRequest, part: unknown, context: HookContext): Promise<unknown>;
  /** Merges the parts' results (in plan order) into the job's outputs, atomically, and removes the parts' files. */
  join?(model: Model, request: JobRequest, results: unknown[], context: HookContext): Promise<void>;
  /** Removes what parts of a job left (the job failed or was cancelled); `parts` as plan returned them. Must not throw when nothing is there. */
  discardParts?(request: JobRequest, parts: unknown[]): Promise<void>;
}
