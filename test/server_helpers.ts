/**
 * Shared set-up for the server tests (test/server_*.test.ts): a temporary server root with the seed's input files,
 * a server on a free loopback port, and the seed's request (NOVA.md §7) aimed at the fixture module.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { NovaClient } from "../lib/server/client.js";
import { resolveConfig, type ServerConfig, type ServerFlags } from "../lib/server/config.js";
import { startServer, type RunningServer } from "../lib/server/server.js";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURE_CML = path.join(PROJECT_ROOT, "test/fixtures/cml");
export const SEED_JOB_ID = "´face_mesh_stream";
/** As NOVA sends it, with Windows separators. */
export const FIXTURE_TRAINER = "modules\\fixture\\fixture.trainer";

export interface ServerRoot {
  root: string;
  workDir: string;
  video: Buffer;
  bbox: Buffer;
  flags: ServerFlags;
}

/** A fresh folder tree: work/ (the server's cwd, with path/to/my/*), cache/, tmp/, log/, data/. */
export function makeRoot(t: TestContext, extraFlags: ServerFlags = {}): ServerRoot {
  const root = mkdtempSync(path.join(os.tmpdir(), "facemesh-server-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const workDir = path.join(root, "work");
  mkdirSync(path.join(workDir, "path/to/my"), { recursive: true });
  const video = randomBytes(4096);
  const bbox = randomBytes(700);
  writeFileSync(path.join(workDir, "path/to/my/file.mp4"), video);
  writeFileSync(path.join(workDir, "path/to/my/bounding_boxes.stream"), bbox);
  const flags: ServerFlags = {
    cmlDir: FIXTURE_CML,
    port: 0,
    cacheDir: path.join(root, "cache"),
    tmpDir: path.join(root, "tmp"),
    logDir: path.join(root, "log"),
    dataDir: path.join(root, "data"),
    ...extraFlags,
  };
  return { root, workDir, video, bbox, flags };
}

export interface Started {
  server: RunningServer;
  client: NovaClient;
  config: ServerConfig;
}

export async function start(t: TestContext, r: ServerRoot, tweak: Partial<ServerConfig> = {}): Promise<Started> {
  const config = { ...resolveConfig(r.flags, {}, r.workDir), ...tweak };
  const server = await startServer(config);
  const client = new NovaClient(server.url, { insecureTls: true });
  t.after(async () => {
    client.close();
    await server.close();
  });
  return { server, client, config };
}

/** The seed's data entries (NOVA.md §7), with mixed-case sub types. */
export function seedData(outputUri = "path/to/my/stream.stream"): string {
  return JSON.stringify([
    { src: "file:stream:video", type: "input", id: "input_data", uri: "path/to/my/file.mp4" },
    { src: "file:stream:ssiStream", type: "input", id: "face_bb", uri: "path/to/my/bounding_boxes.stream" },
    { src: "file:stream:ssistream", type: "output", id: "output_stream", uri: outputUri },
  ]);
}

/** The seed's form, plus fields NOVA also sends (which the server must ignore or mask). */
export function seedForm(jobID = SEED_JOB_ID, outputUri?: string): Record<string, string> {
  return {
    jobID,
    trainerFilePath: FIXTURE_TRAINER,
    data: seedData(outputUri),
    options: "{}",
    dbHost: "127.0.0.1",
    dbPort: "37317",
    dbUser: "nova",
    dbPassword: "hunter2-db-secret",
    leftContext: "0",
    rightContext: "0",
    frameSize: "0",
    force: "False",
    sessions: '["session_1"]',
    dataset: "demo",
    somethingNew: "ignored",
  };
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What the fixture module writes for the given inputs: "<id> <sha256> <size>" lines, ids sorted. */
export function expectedFixtureOutput(inputs: Record<string, Buffer>): string {
  return Object.keys(inputs)
    .sort()
    .map((id) => `${id} ${sha256(inputs[id])} ${inputs[id].length}\n`)
    .join("");
}

export function read(file: string): string {
  return readFileSync(file, "utf8");
}

/** Polls `fn` until it returns a value other than undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pid a fixture logged as "pid=N". */
export async function loggedPid(client: NovaClient, jobID: string): Promise<number> {
  return eventually(async () => {
    const m = /pid=(\d+)/.exec(await client.log(jobID));
    return m ? Number(m[1]) : undefined;
  }, 15_000, `pid of ${jobID}`);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export const LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;
