/**
 * Checks on where a job writes, made before anything is written: an output must not be (or resolve to, through
 * symbolic or hard links) one of the job's inputs, or another output; and, when the server confines jobs
 * (--allowed-dirs), every path must resolve inside the allowed folders. Used by the CLI and the server.
 */
import { realpathSync, statSync } from "node:fs";
import path from "node:path";

/** An SSI stream's data file goes with its header: `x.stream` also writes/reads `x.stream~`. */
function companions(file: string): string[] {
  return file.toLowerCase().endsWith(".stream") ? [file, `${file}~`] : [file];
}

/**
 * Where a path leads: the real path of the file, or for one that does not exist yet, the real path of its
 * nearest existing folder joined with the rest (a dangling link is followed to its target's name).
 */
export function resolvedPath(file: string): string {
  const abs = path.resolve(file);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(resolvedPath(parent), path.basename(abs));
  }
}

/** dev:ino of an existing file (hard links share it), else undefined. */
function identity(file: string): string | undefined {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Throws when an output is an input (or its SSI data file), or two outputs are the same file. `inputs` and
 * `outputs` map a label (the flag or data id, used in the message) to a path.
 */
export function assertOutputsDistinct(inputs: Record<string, string | undefined>, outputs: Record<string, string | undefined>): void {
  const seen: Array<{ label: string; kind: string; real: string; id?: string }> = [];
  const add = (label: string, kind: string, file: string) => {
    for (const f of companions(file)) seen.push({ label, kind, real: resolvedPath(f), id: identity(f) });
  };
  for (const [label, file] of Object.entries(inputs)) if (file) add(label, "input", file);
  for (const [label, file] of Object.entries(outputs)) {
    if (!file) continue;
    for (const f of companions(file)) {
      const real = resolvedPath(f);
      const id = identity(f);
      const clash = seen.find((s) => s.real === real || (id !== undefined && s.id === id));
      if (clash) {
        const what = clash.kind === "input" ? `the input ${clash.label}` : `the output ${clash.label}`;
        throw new Error(`output ${label} ${file} is ${what}${clash.real === real ? "" : " (the same file through a link)"}: it would be overwritten; choose another output path`);
      }
    }
    add(label, "output", file);
  }
}

/** Whether `file` resolves inside one of `dirs` (each resolved too). */
export function insideAllowed(file: string, dirs: string[]): boolean {
  const real = resolvedPath(file);
  return dirs.some((d) => {
    const root = resolvedPath(d);
    const rel = path.relative(root, real);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
  });
}

/** Throws unless every path (and its SSI data file) resolves inside `dirs`. */
export function assertInsideAllowed(paths: Record<string, string>, dirs: string[]): void {
  for (const [label, file] of Object.entries(paths)) {
    for (const f of companions(file)) {
      if (!insideAllowed(f, dirs)) {
        throw new Error(`${label} ${f} resolves to ${resolvedPath(f)}, outside the folders this server may use (--allowed-dirs, data and tmp folders)`);
      }
    }
  }
}
