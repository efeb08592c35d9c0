/**
 * A real redis-server for tests (Debian's `redis-server` package; .ci/run installs it when missing), on a free
 * loopback port, with its data in a temporary folder; stopped after the test. `restart` stops it and starts it
 * again on the same port and folder (with `appendonly`, what it held survives, as on a lab's server).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";

/** The redis-server binary, or a reason to skip. */
export function redisServerBinary(): { path: string } | { skip: string } {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const file = found.stdout.trim();
  if (found.status !== 0 || !file) return { skip: "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)" };
  return { path: file };
}

export interface RedisOptions {
  /** Keep data across restarts (append-only file, fsync on every write). Default true. */
  persistent?: boolean;
}

export interface TestRedis {
  url: string;
  port: number;
  /** Stops it (SIGKILL when `kill`, else a clean SHUTDOWN) and waits until it is gone. */
  stop(kill?: boolean): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    socket.setTimeout(500);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (c) => {
      data += c;
      if (data.includes("\r\n")) {
        socket.destroy();
        resolve(data.startsWith("+PONG"));
      }
    });
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => (socket.destroy(), resolve(false)));
  });
}

/** Starts a redis-server for this test; stopped (and its folder removed) after it. */
export async function startRedis(t: TestContext, binary: string, options: RedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "facemesh-redis-"));
  const port = await freePort();
  const persistent = options.persistent ?? true;
  let child: ChildProcess | undefined;
  let output = "";
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no", "--protected-mode", "yes"];
  if (persistent) args.push("--appendonly", "yes", "--appendfsync", "always");
  else args.push("--appendonly", "no");
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.on("data", (c) => (output += c));
      child.stderr!.on("data", (c) => (output += c));
      const until = Date.now() + 15_000;
      while (!(await answers(port))) {
        if (child.exitCode !== null || Date.now() > until) throw new Error(`redis-server did not start on port ${port}:\n${output.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(kill = false) {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill(kill ? "SIGKILL" : "SIGTERM");
      await gone;
    },
  };
  t.after(async () => {
    await redis.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });
  await redis.start();
  return redis;
}
