/**
 * A queue-mode cluster of real processes for tests: a redis-server (redis_server.ts), `facemesh serve --queue`
 * and any number of `facemesh worker`s, each its own process on loopback, all stopped after the test.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { TestContext } from "node:test";
import { NovaClient } from "../../lib/server/client.js";
import { eventually, PROJECT_ROOT, type ServerRoot } from "../server_helpers.js";
import { startRedis, type RedisOptions, type TestRedis } from "./redis_server.js";

const CLI = path.join(PROJECT_ROOT, "dist/lib/cli.js");

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves once the process has exited (at once when it has). */
  exited(): Promise<void>;
}

function launch(t: TestContext, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await gone;
  });
  return { child, output: () => out, exited: () => gone };
}

export interface QueueServer extends Proc {
  client: NovaClient;
}

/** `facemesh serve --queue` on the root's folders; resolves once it listens. */
export async function startQueueServer(t: TestContext, r: ServerRoot, redis: TestRedis, cmlDir = String(r.flags.cmlDir)): Promise<QueueServer> {
  const f = r.flags;
  const proc = launch(t, ["serve", "--port", "0", "--queue", redis.url, "--cml-dir", cmlDir, "--tmp-dir", String(f.tmpDir), "--log-dir", String(f.logDir), "--cache-dir", String(f.cacheDir), "--data-dir", String(f.dataDir)], r.workDir);
  const url = await eventually(
    () => /listening on (http\S+)[\s\S]*\n {2}queue /.exec(proc.output())?.[1] ?? (proc.child.exitCode !== null ? Promise.reject(new Error(proc.output())) : undefined),
    20_000,
    "the queue-mode server to start",
  );
  const client = new NovaClient(url);
  t.after(() => client.close());
  return { ...proc, client };
}

/** `facemesh worker` named `name`; resolves once it is connected to the queue. */
export async function startWorker(t: TestContext, r: ServerRoot, redis: TestRedis, name: string, extra: string[] = [], cmlDir = String(r.flags.cmlDir)): Promise<Proc> {
  const jobs = extra.includes("--jobs") ? [] : ["--jobs", "1"];
  // Its own temp folder, not made yet: the worker makes it.
  const proc = launch(t, ["worker", "--queue", redis.url, "--cml-dir", cmlDir, "--tmp-dir", path.join(r.root, `tmp-${name}`), "--name", name, "--lock-seconds", "2", ...jobs, ...extra], r.workDir);
  await eventually(() => (proc.output().includes(`facemesh worker ${name} on`) ? true : proc.child.exitCode !== null ? Promise.reject(new Error(proc.output())) : undefined), 20_000, `worker ${name} to start`);
  return proc;
}

/** Waits until the job's log matches `pattern`; returns the match. */
export async function logMatch(client: NovaClient, jobID: string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return eventually(async () => pattern.exec(await client.log(jobID)) ?? undefined, timeoutMs, `${jobID}'s log to match ${pattern}`);
}

export function assertExitedCleanly(proc: Proc): void {
  assert.ok(proc.child.exitCode !== null || proc.child.signalCode !== null, "the process has exited");
}

/** A redis-server, a queue-mode server on the root's folders and workers of these names, all for this test. */
export async function startCluster(
  t: TestContext,
  r: ServerRoot,
  redisBinary: string,
  o: { cmlDir?: string; workers?: string[]; redis?: RedisOptions } = {},
): Promise<{ redis: TestRedis; client: NovaClient; server: QueueServer; workers: Proc[] }> {
  const redis = await startRedis(t, redisBinary, o.redis);
  const server = await startQueueServer(t, r, redis, o.cmlDir);
  const workers: Proc[] = [];
  for (const name of o.workers ?? []) workers.push(await startWorker(t, r, redis, name, [], o.cmlDir));
  return { redis, client: server.client, server, workers };
}
