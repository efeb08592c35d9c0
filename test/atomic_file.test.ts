/**
 * lib/atomic_file.ts and the SSI writer on it: a failure (or a kill) at every single file operation of a stream
 * commit leaves the old pair or the new pair readable, never a mix; a kill is finished by the next run; a folder
 * as output and dead writers' leftovers are handled. Failures are injected through the AtomicFs seam; one case
 * uses a real immutable file (chattr +i, root only) and one a real dead process.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { nodeFs, sweepStale, writeFileAtomic, type AtomicFs } from "../lib/atomic_file.js";
import { readSsiStream, SsiStreamWriter, writeSsiStream } from "../lib/ssi/stream.js";

function tmpDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "facemesh-atomic-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const OLD = Float32Array.from([1, 2, 3, 4, 5, 6]); // 3 rows of dim 2
const NEW = Float32Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]); // 5 rows

/** Which stream is at `file`: "old", "new", "none" (neither file), or a reason it is damaged. */
async function which(file: string): Promise<string> {
  if (!existsSync(file) && !existsSync(`${file}~`)) return "none";
  try {
    const s = await readSsiStream(file);
    const values = Array.from(s.data as Float32Array);
    if (values.join() === Array.from(OLD).join()) return "old";
    if (values.join() === Array.from(NEW).join()) return "new";
    return `other values ${values.join()}`;
  } catch (err) {
    return `damaged: ${(err as Error).message}`;
  }
}

class Injected extends Error {}

/**
 * An AtomicFs whose `failAt`-th mutating operation throws. mode "error": only that one (the writer then cleans
 * up); mode "kill": that one and every later one (the process is gone; nothing more happens).
 */
function faultyFs(failAt: number, mode: "error" | "kill"): { fs: AtomicFs; ops: string[]; failed: () => string } {
  const ops: string[] = [];
  let failedOp = "";
  let n = 0;
  let dead = false;
  const step = (what: string) => {
    if (dead) throw new Injected(`after kill: ${what}`);
    n++;
    ops.push(what);
    if (n === failAt) {
      failedOp = what.replace(/\.\d+\.[0-9a-f]{12}\./g, ".<tag>.");
      if (mode === "kill") dead = true;
      throw Object.assign(new Injected(`injected failure at step ${n}: ${what}`), { code: "EIO" });
    }
  };
  const wrapHandle = (h: FileHandle, file: string): FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== "function") return v;
        if (prop === "write" || prop === "writeFile" || prop === "sync") {
          return (...args: unknown[]) => {
            step(`${String(prop)} ${path.basename(file)}`);
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
  const fs: AtomicFs = {
    open: async (f, flags, mode) => {
      if (flags !== "r" && flags !== 0) step(`open ${path.basename(f)}`);
      return wrapHandle(await nodeFs.open(f, flags, mode), f);
    },
    rename: async (a, b) => (step(`rename ${path.basename(a)} -> ${path.basename(b)}`), nodeFs.rename(a, b)),
    link: async (a, b) => (step(`link ${path.basename(b)}`), nodeFs.link(a, b)),
    copyFile: async (a, b, m) => (step(`copy ${path.basename(b)}`), nodeFs.copyFile(a, b, m)),
    unlink: async (f) => (step(`unlink ${path.basename(f)}`), nodeFs.unlink(f)),
    lstat: (f) => nodeFs.lstat(f),
    readdir: (d) => nodeFs.readdir(d),
    readFile: (f, e) => nodeFs.readFile(f, e),
  };
  return { fs, ops, failed: () => failedOp };
}

const OPTIONS = { sr: 25, dim: 2 };

async function writeWith(file: string, fs: AtomicFs): Promise<void> {
  const w = await SsiStreamWriter.create(file, OPTIONS, { fs });
  try {
    await w.append(NEW);
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.commit();
}

for (const hadOld of [true, false]) {
  for (const mode of ["error", "kill"] as const) {
    test(`SSI commit, ${hadOld ? "over an existing stream" : "to a new name"}: a${mode === "kill" ? " kill" : "n error"} at every step leaves the old or the new pair`, async (t) => {
      let steps = 0;
      const seen: string[] = [];
      for (let failAt = 1; ; failAt++) {
        const dir = tmpDir(t);
        const file = path.join(dir, "x.stream");
        if (hadOld) await writeSsiStream(file, OPTIONS, OLD);
        const { fs, failed: failedOp } = faultyFs(failAt, mode);
        let failed = false;
        try {
          await writeWith(file, fs);
        } catch (err) {
          failed = true;
          assert.ok(err instanceof Error);
        }
        if (!failed) {
          assert.equal(await which(file), "new");
          steps = failAt - 1;
          break;
        }
        if (mode === "kill") {
          // The next run (here: a sweep that treats the writer as gone) finishes or undoes the replacement.
          await sweepStale(dir, { alive: () => false });
        }
        const state = await which(file);
        const allowed = hadOld ? ["old", "new"] : ["none", "new"];
        assert.ok(allowed.includes(state), `failure at step ${failAt} (${failedOp()}): stream is ${state}`);
        seen.push(`${failedOp()} -> ${state}`);
        if (mode === "kill") assert.deepEqual(readdirSync(dir).sort(), state === "none" ? [] : ["x.stream", "x.stream~"], `leftovers after step ${failAt}`);
        else assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith(".")).sort(), state === "none" ? [] : ["x.stream", "x.stream~"]);
        assert.ok(failAt < 100, "the commit never succeeded");
      }
      t.diagnostic(`${steps} file operations, each failed once: ${seen.join("; ")}`);
      assert.ok(steps >= 8, `only ${steps} steps were exercised`);
    });
  }
}

test("a stream whose header cannot be replaced (immutable file) keeps the old pair whole", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, "x.stream");
  await writeSsiStream(file, OPTIONS, OLD);
  const chattr = spawnSync("chattr", ["+i", file]);
  if (chattr.status !== 0) return t.skip(`chattr +i is not available here (${chattr.stderr?.toString().trim() || chattr.error?.message})`);
  let error: Error | undefined;
  try {
    await writeSsiStream(file, OPTIONS, NEW);
  } catch (err) {
    error = err as Error;
  } finally {
    spawnSync("chattr", ["-i", file]);
  }
  assert.equal(await which(file), "old");
  assert.match(String(error?.message), /x\.stream/);
  assert.ok(error?.cause, "the error keeps its cause");
  assert.deepEqual(readdirSync(dir).sort(), ["x.stream", "x.stream~"]);
});

test("a folder as output is refused before anything is written", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, "x.stream");
  mkdirSync(file);
  await assert.rejects(writeSsiStream(file, OPTIONS, NEW), /x\.stream: is a folder/);
  assert.deepEqual(readdirSync(dir), ["x.stream"], "no stray x.stream~ or temp file");
  const other = path.join(dir, "y.stream");
  mkdirSync(`${other}~`);
  await assert.rejects(writeSsiStream(other, OPTIONS, NEW), /y\.stream~: is a folder/);
  assert.deepEqual(readdirSync(dir).sort(), ["x.stream", "y.stream~"]);
});

test("a killed writer's temporary files are removed by the next write of that stream, a live one's are kept", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, "x.stream");
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  // The old writer's names (.x.stream.PID.hex.tmp~) and this module's (.x.stream~.PID.hex.tmp).
  const leftovers = [`.x.stream.${dead}.0a1b2c3d4e5f.tmp`, `.x.stream.${dead}.0a1b2c3d4e5f.tmp~`, `.x.stream~.${dead}.0a1b2c3d4e5f.tmp`];
  for (const n of leftovers) writeFileSync(path.join(dir, n), Buffer.alloc(1000));
  const live = `.x.stream.${process.pid}.ffffffffffff.tmp~`;
  writeFileSync(path.join(dir, live), "in use");
  const unrelated = `.other.stream.${dead}.0a1b2c3d4e5f.tmp`;
  writeFileSync(path.join(dir, unrelated), "another stream's");
  await writeSsiStream(file, OPTIONS, NEW);
  assert.deepEqual(readdirSync(dir).sort(), [unrelated, live, "x.stream", "x.stream~"].sort());
  assert.equal(await which(file), "new");
});

test("writeFileAtomic replaces whole files and keeps the cause of a failure", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, "a.json");
  await writeFileAtomic(file, "one");
  await writeFileAtomic(file, "two", { mode: 0o600 });
  assert.equal(readFileSync(file, "utf8"), "two");
  for (let failAt = 1; failAt <= 4; failAt++) {
    const { fs } = faultyFs(failAt, "error");
    await assert.rejects(writeFileAtomic(file, "three", { fs }), (err: Error) => {
      assert.match(err.message, /a\.json/);
      assert.ok(err.cause instanceof Injected, `step ${failAt}: cause kept`);
      return true;
    });
    assert.equal(readFileSync(file, "utf8"), "two", `step ${failAt}`);
    assert.deepEqual(readdirSync(dir), ["a.json"], `no temp file left after step ${failAt}`);
  }
  mkdirSync(path.join(dir, "d"));
  await assert.rejects(writeFileAtomic(path.join(dir, "d"), "x"), /is a folder/);
});

/** Writes NEW to both streams through one faulty fs and commits them together (the landmark + head-pose case). */
async function writeBothWith(first: string, second: string, fs: AtomicFs): Promise<void> {
  const writers: SsiStreamWriter[] = [];
  try {
    for (const f of [first, second]) writers.push(await SsiStreamWriter.create(f, OPTIONS, { fs }));
    for (const w of writers) await w.append(NEW);
  } catch (err) {
    for (const w of writers) await w.abort();
    throw err;
  }
  await SsiStreamWriter.commitTogether(writers);
}

for (const mode of ["error", "kill"] as const) {
  test(`two streams of one folder committed together (SsiStreamWriter.commitTogether): a${mode === "kill" ? " kill" : "n error"} at every step leaves both old or both new`, async (t) => {
    let steps = 0;
    const seen: string[] = [];
    for (let failAt = 1; ; failAt++) {
      const dir = tmpDir(t);
      const pose = path.join(dir, "p.stream");
      const mesh = path.join(dir, "x.stream");
      await writeSsiStream(pose, OPTIONS, OLD);
      await writeSsiStream(mesh, OPTIONS, OLD);
      const { fs, failed: failedOp } = faultyFs(failAt, mode);
      let failed = false;
      try {
        await writeBothWith(pose, mesh, fs);
      } catch {
        failed = true;
      }
      if (!failed) {
        assert.deepEqual([await which(pose), await which(mesh)], ["new", "new"]);
        steps = failAt - 1;
        break;
      }
      if (mode === "kill") await sweepStale(dir, { alive: () => false });
      const states = [await which(pose), await which(mesh)];
      assert.ok(states[0] === states[1] && ["old", "new"].includes(states[0]!), `failure at step ${failAt} (${failedOp()}): head pose ${states[0]}, landmarks ${states[1]}`);
      seen.push(`${failedOp()} -> ${states[0]}`);
      const files = mode === "kill" ? readdirSync(dir) : readdirSync(dir).filter((n) => !n.startsWith("."));
      assert.deepEqual(files.sort(), ["p.stream", "p.stream~", "x.stream", "x.stream~"], `leftovers after step ${failAt}`);
      assert.ok(failAt < 200, "the commit never succeeded");
    }
    t.diagnostic(`${steps} file operations, each failed once: ${seen.join("; ")}`);
    assert.ok(steps >= 16, `only ${steps} steps were exercised`);
    assert.ok(seen.some((s) => s.endsWith("-> new")) || mode === "error", "a kill after the commit point rolls forward");
  });
}

test("commitTogether across two folders: each stream is replaced whole, the last one given last", async (t) => {
  const dir = tmpDir(t);
  mkdirSync(path.join(dir, "a"));
  mkdirSync(path.join(dir, "b"));
  const pose = path.join(dir, "a", "p.stream");
  const mesh = path.join(dir, "b", "x.stream");
  const writers = [await SsiStreamWriter.create(pose, OPTIONS), await SsiStreamWriter.create(mesh, OPTIONS)];
  for (const w of writers) await w.append(NEW);
  const headers = await SsiStreamWriter.commitTogether(writers);
  assert.deepEqual(headers.map((h) => h.rows), [5, 5]);
  assert.deepEqual([await which(pose), await which(mesh)], ["new", "new"]);
  // A failing prepare (the second stream's data cannot be written: step 2, after its temp file was opened) leaves
  // both as they were, and no temp file.
  const { fs } = faultyFs(2, "error");
  const again = [await SsiStreamWriter.create(pose, OPTIONS), await SsiStreamWriter.create(mesh, OPTIONS, { fs })];
  for (const w of again) await w.append(OLD);
  await assert.rejects(SsiStreamWriter.commitTogether(again), /x\.stream.*injected failure/);
  assert.deepEqual([await which(pose), await which(mesh)], ["new", "new"]);
  assert.deepEqual([...readdirSync(path.join(dir, "a")), ...readdirSync(path.join(dir, "b"))].sort(), ["p.stream", "p.stream~", "x.stream", "x.stream~"]);
});
