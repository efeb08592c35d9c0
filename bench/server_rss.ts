/**
 * Peak resident memory of each job process of the server running the real facemesh module: N jobs submitted at
 * once (detection mode, no bbox), each worker's VmHWM read from /proc while it runs (Linux only).
 *
 *   node dist/bench/server_rss.js VIDEO [--jobs N]
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../lib/convert/models.js";
import { NovaClient } from "../lib/server/client.js";
import { resolveConfig } from "../lib/server/config.js";
import { JobStatus } from "../lib/server/job_store.js";
import { startServer } from "../lib/server/server.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { jobs: { type: "string", default: "1" } } });
const video = path.resolve(positionals[0] ?? "");
const jobs = Number(values.jobs);
const root = mkdtempSync(path.join(os.tmpdir(), "facemesh-rss-"));
mkdirSync(path.join(root, "cml"));
symlinkSync(projectRoot(), path.join(root, "cml", "facemesh"));
const config = { ...resolveConfig({ cmlDir: path.join(root, "cml"), port: 0, tmpDir: path.join(root, "tmp"), logDir: path.join(root, "log"), cacheDir: path.join(root, "cache") }, {}, root), jobs };
const server = await startServer(config);
const client = new NovaClient(server.url);
const keys = Array.from({ length: jobs }, (_, i) => `rss${i}`);
for (const key of keys) {
  const data = [
    { src: "file:stream:video", type: "input", id: "data", uri: video },
    { src: "file:stream:ssistream", type: "output", id: "landmarks", uri: path.join(root, `${key}.stream`) },
  ];
  const res = await client.post("/process", { jobID: key, trainerFilePath: "facemesh/facemesh.trainer", data: JSON.stringify(data) });
  if (res.status !== 200) throw new Error(res.text());
}
const peak = new Map<string, number>();
const t0 = Date.now();
for (;;) {
  for (const key of keys) {
    const pid = server.manager.pidOf(key);
    if (!pid) continue;
    try {
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
      if (hwm) peak.set(key, Math.max(peak.get(key) ?? 0, hwm));
    } catch {
      /* exited between the two reads */
    }
  }
  const states = await Promise.all(keys.map((k) => client.status(k)));
  if (states.every((s) => s >= JobStatus.FINISHED)) {
    const bad = keys.filter((_, i) => states[i] !== JobStatus.FINISHED);
    if (bad.length) throw new Error(`${bad.join(", ")} did not finish: ${await client.log(bad[0])}`);
    break;
  }
  await new Promise((r) => setTimeout(r, 25));
}
const mb = [...peak.values()].map((kb) => kb / 1024);
console.log(JSON.stringify({ jobs, cores: os.availableParallelism(), seconds: (Date.now() - t0) / 1000, peakRssMb: mb.map((m) => Math.round(m)), totalMb: Math.round(mb.reduce((a, b) => a + b, 0)) }));
client.close();
await server.close();
rmSync(root, { recursive: true, force: true });
