/**
 * Finding and loading modules under cml_dir. A module is the folder of a `.trainer` file; this server runs only
 * modules whose folder has a nova-plugin.json (lib/nova/manifest.ts), through the hooks its entry exports.
 */
import { existsSync, statSync } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { MANIFEST_FILE, readManifest, type PluginManifest } from "../nova/manifest.js";
import { HttpError } from "./http_error.js";

export interface LoadedModule {
  /** The .trainer path relative to cml_dir, POSIX separators. */
  trainerRel: string;
  trainerPath: string;
  moduleDir: string;
  manifest: PluginManifest;
  /** Absolute path of the compiled entry (manifest.entry.main). */
  entryPath: string;
}

/** Folders never searched for trainers: dependencies, VCS data, hidden folders. */
const SKIP_DIRS = new Set(["node_modules", "__pycache__", "venv", ".venv"]);
const MAX_DEPTH = 8;
/**
 * A folder holding this file is not searched, unless it is cml_dir itself: the server tests' fixture modules
 * carry it, so pointing cml_dir at (a link to) this project does not offer them to NOVA users.
 */
export const IGNORE_MARKER = ".cml-ignore";

/** The one rule for which folders hold modules, used by discovery (/cml_info) and by loading a job's module. */
function folderSkipped(name: string): boolean {
  return name.startsWith(".") || SKIP_DIRS.has(name);
}

/**
 * Why a trainer (relative to cml_dir, POSIX separators) is not one discovery would list, or undefined when it
 * is: every folder on its way must be searchable (not hidden, not a dependency folder, no IGNORE_MARKER below
 * cml_dir itself, at most MAX_DEPTH deep).
 */
export function hiddenTrainerReason(cmlDir: string, rel: string): string | undefined {
  const folders = rel.split("/").slice(0, -1);
  if (folders.length > MAX_DEPTH) return `it is more than ${MAX_DEPTH} folders deep`;
  let dir = cmlDir;
  for (const name of folders) {
    if (folderSkipped(name)) return `folder '${name}' is not searched for modules (hidden or a dependency folder)`;
    dir = path.join(dir, name);
    if (existsSync(path.join(dir, IGNORE_MARKER))) return `folder ${dir} is marked ${IGNORE_MARKER} (not offered as modules)`;
  }
  return undefined;
}

/**
 * All `**\/*.trainer` files under cml_dir, as POSIX paths relative to it, sorted. Follows symbolic links (cml_dir
 * may hold a link to a project folder) but never visits a real folder twice, so link loops end.
 */
export async function findTrainers(cmlDir: string): Promise<string[]> {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch {
      return;
    }
    if (seen.has(real) || depth > MAX_DEPTH) return;
    seen.add(real);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (depth > 0 && entries.some((e) => e.name === IGNORE_MARKER)) return;
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const s = await stat(abs);
          isDir = s.isDirectory();
          isFile = s.isFile();
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) {
        if (!folderSkipped(e.name)) await walk(abs, childRel, depth + 1);
      } else if (isFile && e.name.toLowerCase().endsWith(".trainer")) {
        found.push(childRel);
      }
    }
  };
  await walk(cmlDir, "", 0);
  return found.sort();
}

/**
 * The absolute path a client's trainerFilePath names. Windows (`a\b.trainer`) and POSIX separators are both
 * accepted; the path must stay inside cml_dir: absolute paths, drive letters and `..` are refused. The check is
 * on the path as written, not on where symbolic links lead, so an operator can link a project folder into cml_dir.
 */
export function resolveTrainerPath(cmlDir: string, trainerFilePath: string): { abs: string; rel: string } {
  const raw = trainerFilePath.trim();
  const bad = (why: string) => new HttpError(400, `trainerFilePath '${trainerFilePath}': ${why}`, "trainerFilePath");
  if (raw === "") throw bad("is empty");
  if (raw.includes("\0")) throw bad("contains a NUL character");
  if (/^[A-Za-z]:/.test(raw) || /^[\\/]/.test(raw)) throw bad("must be relative to the server's cml_dir, not absolute");
  const parts = raw.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) throw bad("must not contain '..': it has to stay inside the server's cml_dir");
  if (parts.length === 0) throw bad("names no file");
  if (!parts[parts.length - 1].toLowerCase().endsWith(".trainer")) throw bad("must name a .trainer file");
  const rel = parts.join("/");
  return { abs: path.join(cmlDir, ...parts), rel };
}

/** A path from a manifest (entry.main) inside the module folder, or an error. */
function insideModule(moduleDir: string, relPath: string, what: string, manifestFile: string): string {
  const parts = relPath.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (path.isAbsolute(relPath) || parts.includes("..") || parts.length === 0) {
    throw new Error(`${manifestFile}: ${what} '${relPath}' must be a path inside the module folder`);
  }
  return path.join(moduleDir, ...parts);
}

/**
 * Loads the module a trainer belongs to: its manifest and the compiled entry. Errors say what is wrong and where
 * (they are shown to NOVA users as they are).
 */
export async function loadModule(cmlDir: string, trainerFilePath: string): Promise<LoadedModule> {
  const { abs, rel } = resolveTrainerPath(cmlDir, trainerFilePath);
  const hidden = hiddenTrainerReason(cmlDir, rel);
  if (!existsSync(abs) || !statSync(abs).isFile() || hidden) {
    const known = await findTrainers(cmlDir);
    throw new HttpError(
      400,
      `trainerFilePath '${trainerFilePath}': no such trainer in cml_dir ${cmlDir}` +
        (hidden && existsSync(abs) ? ` (${hidden})` : "") +
        (known.length ? ` (available: ${known.slice(0, 20).join(", ")})` : " (it holds no .trainer files)"),
      "trainerFilePath",
    );
  }
  return loadModuleAt(abs, rel);
}

export async function loadModuleAt(trainerPath: string, trainerRel: string): Promise<LoadedModule> {
  const moduleDir = path.dirname(trainerPath);
  const manifestFile = path.join(moduleDir, MANIFEST_FILE);
  if (!existsSync(manifestFile)) {
    throw new HttpError(
      400,
      `module '${trainerRel}': no nova-plugin.json: Python modules are not supported by this server (folder ${moduleDir})`,
      "trainerFilePath",
    );
  }
  let manifest: PluginManifest;
  try {
    manifest = await readManifest(moduleDir);
  } catch (err) {
    throw new HttpError(400, `module '${trainerRel}': ${(err as Error).message}`, "trainerFilePath");
  }
  let entryPath: string;
  try {
    entryPath = insideModule(moduleDir, manifest.entry.main, "entry.main", manifestFile);
  } catch (err) {
    throw new HttpError(400, `module '${trainerRel}': ${(err as Error).message}`, "trainerFilePath");
  }
  if (!existsSync(entryPath)) {
    throw new HttpError(
      400,
      `module '${trainerRel}': entry.main ${entryPath} does not exist (is the module built? run its build, e.g. 'npx tsc -p .' in ${moduleDir})`,
      "trainerFilePath",
    );
  }
  return { trainerRel, trainerPath, moduleDir, manifest, entryPath };
}
