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

export interface NovaModule<Model = unknown, Prediction = unknown> {
  load(request: JobRequest, context: HookContext): Promise<Model>;
  predict(model: Model, request: JobRequest, context: HookContext): Promise<Prediction>;
  write(model: Model, prediction: Prediction, request: JobRequest, context: HookContext): Promise<void>;
  /** Releases sessions and child processes; optional. */
  dispose?(model: Model): Promise<void>;
  /** Names of an output stream's dimensions (for NOVA's Streams `dimlabels`), given the loaded model; optional. */
  dimLabels?(outputId: string, model: Model): string[] | undefined;
}
