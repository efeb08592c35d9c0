/**
 * `facemesh` from any folder. The `npm pack` tarball must hold everything the install step needs (postinstall
 * compiles the TypeScript and builds the models from the npm packages): the tarball is unpacked, given the
 * checkout's dependencies, and its postinstall run, offline. That folder is then installed globally into a
 * temporary prefix (`npm install -g --prefix`, which links a folder and its bins), and `facemesh --help` and one
 * `facemesh run` are run from an unrelated folder through the prefix's bin, with PATH pointing there.
 *
 * Why not `npm install -g facemesh-x.tgz` here: that resolves the dependencies from the registry (a tarball has
 * no lockfile; --offline fails with ENOTCACHED on the package metadata) and better-sqlite3 then needs a prebuilt
 * binary from GitHub or node headers from nodejs.org. See README "Running it for NOVA".
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { readSsiStream } from "../lib/ssi/stream.js";
import { PROJECT_ROOT } from "./server_helpers.js";
import { makeFaceClip, ROW_DIM } from "./support/facemesh_harness.js";

const exec = promisify(execFile);
const NPM_TIMEOUT_MS = 300_000;

test("npm pack holds what postinstall needs; installed globally, `facemesh` runs from any folder", async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), "facemesh-install-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // npm reads a project's .npmrc from the folder it runs in: run it from the temporary root, not the checkout.
  const npmEnv = { ...process.env, npm_config_cache: path.join(os.homedir(), ".npm"), npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
  const packed = await exec("npm", ["pack", "--json", "--pack-destination", root, PROJECT_ROOT], { cwd: root, env: npmEnv, timeout: NPM_TIMEOUT_MS, encoding: "utf8" });
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  const files = info.files.map((f) => f.path);
  for (const f of ["package.json", "facemesh.ts", "facemesh.trainer", "nova-plugin.json", "tsconfig.json", "scripts/build-models.ts", "lib/cli.ts", "lib/server/main.ts", "lib/server/db_job.ts"]) {
    assert.ok(files.includes(f), `the tarball lacks ${f}`);
  }
  // npm always packs the bin targets (dist/lib/cli.js, dist/lib/server/main.js) when they exist; postinstall
  // compiles all of dist/ anyway. Nothing else built, and no tests, belongs in the tarball.
  const bins = ["dist/lib/cli.js", "dist/lib/server/main.js"];
  const stray = files.filter((f) => (/^(test|dist|bench)\//.test(f) && !bins.includes(f)) || f.endsWith(".onnx"));
  assert.deepEqual(stray, [], "the tarball carries tests or build outputs");

  // The install step, from the tarball's contents alone (dependencies: the checkout's, as npm would install them).
  const pkg = path.join(root, "unpacked");
  mkdirSync(pkg);
  await exec("tar", ["-xzf", path.join(root, info.filename), "-C", pkg, "--strip-components=1"], { timeout: 60_000 });
  symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(pkg, "node_modules"), "dir");
  await exec("npm", ["run", "postinstall"], { cwd: pkg, env: npmEnv, timeout: NPM_TIMEOUT_MS });

  // Global install into a temporary prefix; the bins are what npm links on every platform (.cmd shims on Windows).
  const prefix = path.join(root, "prefix");
  await exec("npm", ["install", "-g", "--offline", "--ignore-scripts", "--prefix", prefix, pkg], { cwd: root, env: npmEnv, timeout: NPM_TIMEOUT_MS });
  const bin = path.join(prefix, "bin");
  const elsewhere = path.join(root, "elsewhere");
  mkdirSync(elsewhere);
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`, NO_COLOR: "1" };
  const help = await exec("facemesh", ["--help"], { cwd: elsewhere, env, encoding: "utf8", timeout: 60_000 });
  assert.match(help.stdout, /facemesh run/);
  assert.match(help.stdout, /serve/);

  const clip = await makeFaceClip(path.join(elsewhere, "clip.mp4"), { frames: 4 });
  const run = await exec("facemesh", ["run", "clip.mp4", "--out", "clip.facemesh.stream"], { cwd: elsewhere, env, encoding: "utf8", timeout: 300_000 });
  const stream = await readSsiStream(path.join(elsewhere, "clip.facemesh.stream"));
  assert.equal(stream.dim, ROW_DIM, run.stderr);
  assert.equal(stream.rows, 4);
  assert.equal(clip, path.join(elsewhere, "clip.mp4"));
  // What ran is the installed copy (the unpacked tarball), with the models its own install step built.
  assert.equal(realpathSync(path.join(bin, "facemesh")), path.join(realpathSync(pkg), "dist", "lib", "cli.js"));
  assert.ok(existsSync(path.join(pkg, "models", "face_landmark.onnx")), "models built by the tarball's install step");
});
