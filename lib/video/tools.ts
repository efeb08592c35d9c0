/**
 * Finding the ffmpeg / ffprobe binaries and running them.
 *
 * Resolution order (first that applies wins):
 *   1. an explicit path passed by the caller (option `ffmpeg` / `ffprobe`),
 *   2. the environment variable FFMPEG_PATH / FFPROBE_PATH,
 *   3. the binary shipped in the npm package @ffmpeg-installer/ffmpeg / @ffprobe-installer/ffprobe,
 *   4. `ffmpeg` / `ffprobe` on PATH (e.g. Debian's package).
 * An explicit path or an environment variable is a deliberate choice: when it does not run we fail with an error
 * naming it rather than silently falling back to another binary. The npm binary and PATH are tried in turn.
 * Each candidate is checked once per process (`-version`), so a broken binary gives a clear error up front
 * instead of an obscure spawn failure in the middle of a decode.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export type ToolName = "ffmpeg" | "ffprobe";

/** Explicit binary paths; both optional. */
export interface ToolPaths {
  ffmpeg?: string;
  ffprobe?: string;
}

const ENV_VAR: Record<ToolName, string> = { ffmpeg: "FFMPEG_PATH", ffprobe: "FFPROBE_PATH" };
const NPM_PACKAGE: Record<ToolName, string> = { ffmpeg: "@ffmpeg-installer/ffmpeg", ffprobe: "@ffprobe-installer/ffprobe" };

interface Candidate {
  path: string;
  /** Where the path came from, for error messages. */
  source: string;
}

/** Resolved binaries by "name\0path"; a rejected check stays cached too (a broken binary does not heal). */
const checked = new Map<string, Promise<string>>();

function npmBinary(name: ToolName): Candidate | undefined {
  try {
    // The installer packages throw (a string, not an Error) when their platform binary is missing.
    const mod = require(NPM_PACKAGE[name]) as { path?: unknown };
    return typeof mod.path === "string" ? { path: mod.path, source: `npm package ${NPM_PACKAGE[name]}` } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `<bin> -version` and resolves with the first line of its output; rejects when it does not run. */
export function toolVersion(bin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ["-version"], { timeout: 15_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(String(stdout).split("\n", 1)[0]!.trim());
    });
  });
}

function check(name: ToolName, c: Candidate): Promise<string> {
  const key = `${name}\0${c.path}`;
  let p = checked.get(key);
  if (!p) {
    p = toolVersion(c.path).then(
      (line) => {
        if (!line.startsWith(`${name} version`)) throw new Error(`'${c.path} -version' printed '${line}', not '${name} version ...'`);
        return c.path;
      },
      (err: Error) => {
        throw new Error(`${c.path} (${c.source}) does not run: ${err.message}`);
      },
    );
    checked.set(key, p);
  }
  return p;
}

/**
 * The path of a working ffmpeg or ffprobe binary, by the order documented above.
 * @param explicit a path chosen by the caller; when given it is the only candidate.
 */
export async function resolveTool(name: ToolName, explicit?: string): Promise<string> {
  const envValue = process.env[ENV_VAR[name]];
  if (explicit) return check(name, { path: explicit, source: `option ${name}` });
  if (envValue) return check(name, { path: envValue, source: `environment variable ${ENV_VAR[name]}` });
  const tried: string[] = [];
  const npm = npmBinary(name);
  const candidates: Candidate[] = npm ? [npm] : [];
  if (!npm) tried.push(`${NPM_PACKAGE[name]} is not installed`);
  candidates.push({ path: name, source: "PATH" });
  for (const c of candidates) {
    try {
      return await check(name, c);
    } catch (err) {
      tried.push((err as Error).message);
    }
  }
  throw new Error(
    `no working ${name} found. Set ${ENV_VAR[name]} to an ${name} binary, run 'npm ci' to install ${NPM_PACKAGE[name]}, ` +
      `or install ${name} on PATH (Debian: apt-get install ffmpeg). Tried: ${tried.join("; ")}`,
  );
}

/**
 * Keeps the last lines of a child's stderr (bounded memory for long decodes), separating problems
 * (lines ffmpeg tagged [warning], [error], [fatal], [panic] with `-loglevel level+...`) from chatter.
 */
export class StderrTail {
  private partial = "";
  private readonly lines: string[] = [];
  private readonly problemLines: string[] = [];
  /** Count of lines at [error] level or worse. */
  errorCount = 0;
  private readonly listeners: Array<(line: string) => void> = [];

  constructor(private readonly maxLines = 40) {}

  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  push(chunk: Buffer | string): void {
    const text = this.partial + String(chunk);
    const parts = text.split(/\r?\n|\r/);
    this.partial = parts.pop() ?? "";
    for (const line of parts) this.addLine(line);
  }

  /** Flushes a last line without newline. */
  end(): void {
    if (this.partial) this.addLine(this.partial);
    this.partial = "";
  }

  private addLine(line: string): void {
    if (!line.trim()) return;
    StderrTail.keep(this.lines, line, this.maxLines);
    const level = /\[(warning|error|fatal|panic)\]/.exec(line)?.[1];
    if (level) {
      StderrTail.keep(this.problemLines, line, this.maxLines);
      if (level !== "warning") this.errorCount++;
    }
    for (const l of this.listeners) l(line);
  }

  private static keep(into: string[], line: string, max: number): void {
    into.push(line.length > 500 ? `${line.slice(0, 500)}...` : line);
    if (into.length > max) into.shift();
  }

  /** The last few problem lines (or, when there were none, the last lines), one string, for error messages. */
  summary(maxLines = 8): string {
    const src = this.problemLines.length > 0 ? this.problemLines : this.lines;
    return src.slice(-maxLines).map((l) => l.replace(/^\[info\] /, "").trim()).join(" | ");
  }
}
