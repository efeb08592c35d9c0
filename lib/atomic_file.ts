/**
 * Atomic file replacement, the one place with the project's rules for it (every writer goes through here: SSI
 * streams, TLS files, the model build, bench and script results, server uploads).
 *
 * Rules:
 * - New content goes to a temporary file in the target's own folder (a rename is only atomic within one file
 *   system), named `.<name>.<pid>.<random>.tmp`: hidden, and carrying the writer's pid so that a later run can
 *   tell a dead writer's leftovers from a live one's (sweepStale).
 * - The temporary file is fsync'ed before the rename, and the folder after it: a crash never leaves the target
 *   pointing at data that was not yet on disk.
 * - Several files that belong together (an SSI stream's header and data) are replaced as a group (replaceGroup):
 *   the old files are kept as hard-linked backups and a journal names them, until the last rename (the commit
 *   point) is done. A failure rolls back at once; a kill is rolled back or forward by the next run (recover).
 * - Errors keep their cause (`new Error(msg, { cause })`) and name the file.
 *
 * Every function takes an optional AtomicFs (default: node:fs/promises) so tests can fail any single step.
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fsp from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";

/** The file operations this module uses: a seam for fault-injection tests. */
export interface AtomicFs {
  open(file: string, flags: string | number, mode?: number): Promise<FileHandle>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  copyFile(from: string, to: string, mode?: number): Promise<void>;
  unlink(file: string): Promise<void>;
  lstat(file: string): Promise<{ isDirectory(): boolean; isFile(): boolean }>;
  readdir(dir: string): Promise<string[]>;
  readFile(file: string, encoding: "utf8"): Promise<string>;
}

export const nodeFs: AtomicFs = {
  open: (f, flags, mode) => fsp.open(f, flags, mode),
  rename: fsp.rename,
  link: fsp.link,
  copyFile: (a, b, mode) => fsp.copyFile(a, b, mode),
  unlink: fsp.unlink,
  lstat: fsp.lstat,
  readdir: (d) => fsp.readdir(d),
  readFile: (f, enc) => fsp.readFile(f, enc),
};

/** `<pid>.<12 hex>`: one writer's tag, shared by its temporary files, backups and journal. */
export function newTag(): string {
  return `${process.pid}.${randomBytes(6).toString("hex")}`;
}

/** A hidden sibling of `file` for one writer: `.<name>.<tag>.<kind>`. */
export function siblingPath(file: string, tag: string, kind: "tmp" | "old" | "journal"): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${tag}.${kind}`);
}

export function tempPathFor(file: string, tag = newTag()): string {
  return siblingPath(file, tag, "tmp");
}

/** `.<name>.<pid>.<hex>.<kind>` (the older SSI writer put the `~` after `.tmp`; still swept). */
const SIBLING = /^\.(.+)\.(\d+)\.([0-9a-f]{6,})\.(tmp|old|journal)(~?)$/;

export function parseSibling(name: string): { target: string; pid: number; tag: string; kind: "tmp" | "old" | "journal" } | undefined {
  const m = SIBLING.exec(name);
  if (!m) return undefined;
  return { target: m[1] + m[5], pid: Number(m[2]), tag: `${m[2]}.${m[3]}`, kind: m[4] as "tmp" | "old" | "journal" };
}

/** Whether a process with this pid runs (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function fail(message: string, cause: unknown): Error {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new Error(`${message}: ${why}`, { cause });
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === "ENOENT";

async function exists(fs: AtomicFs, file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

async function unlinkIfPresent(fs: AtomicFs, file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

/** fsync of a folder, so renames and new names in it are on disk. Not supported everywhere (Windows): skipped there. */
export async function syncDir(dir: string, fs: AtomicFs = nodeFs): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await fs.open(dir, fsConstants.O_RDONLY);
    await h.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EBADF") throw err;
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** Refuses a target that is a folder, before anything is written (a rename onto it would fail half-way). */
export async function assertNotDirectory(file: string, fs: AtomicFs = nodeFs): Promise<void> {
  let isDir = false;
  try {
    isDir = (await fs.lstat(file)).isDirectory();
  } catch (err) {
    if (!isMissing(err)) throw fail(`${file}: cannot check the output path`, err);
  }
  if (isDir) throw new Error(`${file}: is a folder; give a file name as output`);
}

/** Writes `data` to a new temporary file next to `file` (created exclusively, fsync'ed); returns its path. */
export async function writeTemp(file: string, data: string | Uint8Array, o: { mode?: number; tag?: string; fs?: AtomicFs } = {}): Promise<string> {
  const fs = o.fs ?? nodeFs;
  const tmp = tempPathFor(file, o.tag);
  let h: FileHandle | undefined;
  try {
    h = await fs.open(tmp, "wx", o.mode ?? 0o666);
    await h.writeFile(data);
    await h.sync();
    await h.close();
    h = undefined;
    return tmp;
  } catch (err) {
    await h?.close().catch(() => undefined);
    await unlinkIfPresent(fs, tmp).catch(() => undefined);
    throw fail(`${file}: cannot write`, err);
  }
}

/** Replaces `file` with `data` atomically: readers see the old content or the new, never a part. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, o: { mode?: number; fs?: AtomicFs } = {}): Promise<void> {
  const fs = o.fs ?? nodeFs;
  await assertNotDirectory(file, fs);
  const tmp = await writeTemp(file, data, o);
  await commitFile(tmp, file, fs);
}

/**
 * Moves a finished temporary file (written by someone else, e.g. ffmpeg) over `file`: fsync, rename, folder
 * fsync. The temporary file is removed when this fails.
 */
export async function commitFile(tmp: string, file: string, fs: AtomicFs = nodeFs): Promise<void> {
  try {
    const h = await fs.open(tmp, "r+");
    try {
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, file);
    await syncDir(path.dirname(file), fs);
  } catch (err) {
    await unlinkIfPresent(fs, tmp).catch(() => undefined);
    throw fail(`${file}: cannot replace it with the new version`, err);
  }
}

/** One file of a group: its finished temporary file and the name it gets. */
export interface GroupEntry {
  temp: string;
  target: string;
}

interface Journal {
  entries: Array<{ temp: string; target: string; backup: string | null }>;
  /** Set (durably) before a rollback starts, so that a rollback cut short is finished as one, not rolled forward. */
  rollback?: boolean;
}

/**
 * Replaces several files of one folder together (an SSI stream's header and data file). After it returns, all
 * targets have their new content; when it throws, all have their old content (or are absent, as before). If the
 * process dies in between, `recover` (run by sweepStale on the next run) restores one of the two states: the
 * last entry's rename is the commit point, so the last entry should be the file readers open first (the header).
 *
 * Steps: journal (names every file) -> hard-link backups of the existing targets -> rename each temp over its
 * target -> drop backups and journal. The journal and backups are hidden siblings tagged with this process's pid.
 */
export async function replaceGroup(entries: GroupEntry[], o: { tag?: string; fs?: AtomicFs } = {}): Promise<void> {
  const fs = o.fs ?? nodeFs;
  if (entries.length === 0) return;
  const dir = path.dirname(entries[0].target);
  if (entries.some((e) => path.dirname(e.target) !== dir || path.dirname(e.temp) !== dir)) {
    throw new Error(`replaceGroup: all files must be in one folder (${dir})`);
  }
  const main = entries[entries.length - 1].target;
  const tag = o.tag ?? newTag();
  const journalFile = siblingPath(main, tag, "journal");
  const journal: Journal = { entries: [] };
  try {
    for (const e of entries) await assertNotDirectory(e.target, fs);
    for (const e of entries) journal.entries.push({ ...e, backup: (await exists(fs, e.target)) ? siblingPath(e.target, tag, "old") : null });
    const journalTemp = await writeTemp(journalFile, JSON.stringify(journal), { tag, fs });
    await fs.rename(journalTemp, journalFile);
    for (const e of journal.entries) if (e.backup) await keepBackup(fs, e.target, e.backup);
    await syncDir(dir, fs);
  } catch (err) {
    // Nothing was replaced yet: drop what was made so far (the temps are the caller's).
    for (const e of journal.entries) if (e.backup) await unlinkIfPresent(fs, e.backup).catch(() => undefined);
    await unlinkIfPresent(fs, journalFile).catch(() => undefined);
    await unlinkIfPresent(fs, tempPathFor(journalFile, tag)).catch(() => undefined);
    throw fail(`${main}: cannot prepare the replacement`, err);
  }
  try {
    for (const e of entries) await fs.rename(e.temp, e.target);
    await syncDir(dir, fs);
  } catch (err) {
    try {
      await rollBack(fs, journal, journalFile);
    } catch (rollbackErr) {
      throw fail(`${main}: the replacement failed and so did restoring the previous files (the next run restores them; journal ${journalFile})`, new AggregateError([err, rollbackErr]));
    }
    throw fail(`${main}: cannot replace it (the previous files were kept)`, err);
  }
  // Committed: the backups are no longer needed. A failure here leaves only hidden leftovers the next run removes.
  for (const e of journal.entries) if (e.backup) await unlinkIfPresent(fs, e.backup).catch(() => undefined);
  await unlinkIfPresent(fs, journalFile).catch(() => undefined);
}

/** A backup that shares the target's data (hard link; a copy where links are not supported). */
async function keepBackup(fs: AtomicFs, target: string, backup: string): Promise<void> {
  try {
    await fs.link(target, backup);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV" && code !== "EMLINK") throw err;
    await fs.copyFile(target, backup, fsConstants.COPYFILE_EXCL);
  }
}

/** Puts the old files back (or removes a new file that had no predecessor), then drops temps and the journal. */
async function rollBack(fs: AtomicFs, journal: Journal, journalFile: string): Promise<void> {
  if (!journal.rollback) {
    journal.rollback = true;
    await fs.rename(await writeTemp(journalFile, JSON.stringify(journal), { fs }), journalFile);
  }
  for (const e of [...journal.entries].reverse()) {
    if (await exists(fs, e.temp)) {
      // Never renamed: the target is as it was (this also holds for a target that refused the rename).
      if (e.backup) await unlinkIfPresent(fs, e.backup);
      await unlinkIfPresent(fs, e.temp);
    } else if (e.backup) {
      if (await exists(fs, e.backup)) {
        await fs.rename(e.backup, e.target);
        // rename between two links of one file does nothing: the backup may still be there.
        await unlinkIfPresent(fs, e.backup);
      }
    } else {
      await unlinkIfPresent(fs, e.target); // this entry's new file went in, and there was no old one
    }
  }
  await syncDir(path.dirname(journalFile), fs);
  await unlinkIfPresent(fs, journalFile);
}

/**
 * Finishes a group replacement whose process died: rolled forward when the commit point (the last entry's
 * rename) was reached, else back. An unreadable journal was never complete, so nothing had been renamed.
 */
export async function recover(journalFile: string, fs: AtomicFs = nodeFs): Promise<"forward" | "back" | "none"> {
  let journal: Journal | undefined;
  try {
    const parsed = JSON.parse(await fs.readFile(journalFile, "utf8")) as Journal;
    if (Array.isArray(parsed?.entries) && parsed.entries.length > 0) journal = parsed;
  } catch {
    journal = undefined;
  }
  if (!journal) {
    await unlinkIfPresent(fs, journalFile);
    return "none";
  }
  const last = journal.entries[journal.entries.length - 1];
  if (journal.rollback || (await exists(fs, last.temp))) {
    await rollBack(fs, journal, journalFile);
    return "back";
  }
  for (const e of journal.entries) {
    if (e.backup) await unlinkIfPresent(fs, e.backup);
    await unlinkIfPresent(fs, e.temp);
  }
  await unlinkIfPresent(fs, journalFile);
  return "forward";
}

export interface SweepResult {
  removed: string[];
  recovered: string[];
}

/**
 * Removes what dead writers left in `dir`: unfinished group replacements are recovered first, then temporary
 * files and backups whose pid no longer runs are deleted. `only` limits it to siblings of these file names.
 * Files of running processes (this one included) are left alone.
 */
export async function sweepStale(dir: string, o: { only?: string[]; fs?: AtomicFs; alive?: (pid: number) => boolean } = {}): Promise<SweepResult> {
  const fs = o.fs ?? nodeFs;
  const alive = o.alive ?? ((pid: number) => pid === process.pid || processAlive(pid));
  const result: SweepResult = { removed: [], recovered: [] };
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return result;
  }
  const only = o.only ? new Set(o.only) : undefined;
  const stale = names
    .map((name) => ({ name, info: parseSibling(name) }))
    .filter((x): x is { name: string; info: NonNullable<ReturnType<typeof parseSibling>> } => {
      if (!x.info || alive(x.info.pid)) return false;
      // A journal is named after the group's main file; its other files are checked through it.
      return !only || only.has(x.info.target);
    });
  for (const x of stale.filter((s) => s.info.kind === "journal")) {
    const file = path.join(dir, x.name);
    try {
      await recover(file, fs);
      result.recovered.push(file);
    } catch {
      /* left for a later run; its files stay, so nothing is lost */
    }
  }
  const recoveredTags = new Set(stale.filter((s) => s.info.kind === "journal").map((s) => s.info.tag));
  for (const x of stale.filter((s) => s.info.kind !== "journal")) {
    const file = path.join(dir, x.name);
    // A backup of a group whose journal could not be recovered might be the only old copy: keep it.
    if (x.info.kind === "old" && !recoveredTags.has(x.info.tag) && names.some((n) => parseSibling(n)?.kind === "journal" && parseSibling(n)?.tag === x.info.tag)) continue;
    try {
      await unlinkIfPresent(fs, file);
      if (!(await exists(fs, file))) result.removed.push(file);
    } catch {
      /* not ours to worry about: left as it is */
    }
  }
  return result;
}

/** sweepStale over a folder tree (bounded depth; links are not followed). */
export async function sweepStaleTree(root: string, maxDepth = 4): Promise<SweepResult> {
  const total: SweepResult = { removed: [], recovered: [] };
  const walk = async (dir: string, depth: number) => {
    const r = await sweepStale(dir);
    total.removed.push(...r.removed);
    total.recovered.push(...r.recovered);
    if (depth >= maxDepth) return;
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name), depth + 1);
  };
  await walk(root, 0);
  return total;
}
