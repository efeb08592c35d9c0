/**
 * Bounds of the size-like command-line options, checked where they are parsed, with messages that give the
 * range and name the flag the user typed. (The job options' own bounds, batch_size included, are in
 * lib/nova/options.ts; the CLI names their errors by flag through OptionError.)
 */
import os from "node:os";

/**
 * Inference threads at most: four per core. More only adds threads that wait (each has its own stack and
 * onnxruntime arena); `--threads 1e6` once tried to start a million.
 */
export const MAX_THREADS = Math.max(8, 4 * os.availableParallelism());

/** A whole number in [min, max], or an error naming `flag` and the range. undefined passes (not given). */
export function checkWholeNumber(value: number | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${flag} ${value}: must be a whole number from ${min} to ${max}`);
  return value;
}
