/**
 * Queue mode on real processes: a redis-server started here, `facemesh serve --queue`, and `facemesh worker`s.
 * The modules are the server tests' fixtures: `sleeper` (a job run whole) and `parted` (a job that runs as parts,
 * the way facemesh runs a long video in segments: plan, parts on any worker, join in order).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { JobStatus } from "../lib/server/job_store.js";
import { eventually, makeRoot, processAlive, type ServerRoot } from "./server_helpers.js";
import { logMatch, startQueueServer, startWorker } from "./support/queue_cluster.js";
import { redisServerBinary, startRedis } from "./support/redis_server.js";

const redisBin = redisServerBinary();
const skip = "skip" in redisBin ? redisBin.skip : false;
const REDIS = "path" in redisBin ? redisBin.path : "";

const PARTED = "modules/parted/parted.trainer";
const SLEEPER = "modules/sleeper/sleeper.trainer";

function partedForm(r: ServerRoot, jobID: string, options: Record<string, unknown>, out = path.join(r.root, "out", `${jobID}.txt`)): Record<string, string> {
  return {
    jobID,
    trainerFilePath: PARTED,
    data: JSON.stringify([{ src: "file:text", type: "output", id: "result", uri: out }]),
    options: JSON.stringify(options),
  };
}

const outFile = (r: ServerRoot, jobID: string) => path.join(r.root, "out", `${jobID}.txt`);
const expected = (n: number) => Array.from({ length: n }, (_, i) => `part ${i}\n`).join("");
/** Folders of parts left next to the outputs. */
const leftParts = (r: ServerRoot) => (existsSync(path.join(r.root, "out")) ? readdirSync(path.join(r.root, "out")).filter((f) => f.endsWith(".parts")) : []);

test("queue mode: jobs run on workers; a job's parts spread over two workers and are joined in order", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS);
  const server = await startQueueServer(t, r, redis);
  await startWorker(t, r, redis, "w1");
  await startWorker(t, r, redis, "w2");
  const { client } = server;
  assert.equal((await client.post("/process", partedForm(r, "parted", { parts: 4, part_ms: 1500 }))).status, 200);
  assert.equal((await client.post("/process", { jobID: "whole", trainerFilePath: SLEEPER, data: "[]", options: '{"sleep_ms": 300}' })).status, 200);
  assert.equal(await client.waitFor("parted", [JobStatus.FINISHED, JobStatus.ERROR, JobStatus.CANCELED], 60_000), JobStatus.FINISHED, await client.log("parted"));
  assert.equal(await client.waitFor("whole", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED, await client.log("whole"));
  assert.equal(readFileSync(outFile(r, "parted"), "utf8"), expected(4));
  const log = await client.log("parted");
  // Both machines took parts, and each part ran once.
  assert.match(log, /\[w1\] part \d\/4 started/);
  assert.match(log, /\[w2\] part \d\/4 started/);
  for (let i = 1; i <= 4; i++) assert.equal(log.match(new RegExp(`part ${i}/4 started`, "g"))?.length, 1, log);
  assert.match(log, /split into 4 parts/);
  assert.match(log, /joining 4 parts/);
  assert.deepEqual(leftParts(r), []);
  // Progress: the parts' steps summed (4 parts x 30 steps of 50 ms).
  const all = (await client.request("GET", "/job_status_all")).json<Array<{ job_key: string; progress: string }>>();
  assert.equal(all.find((j) => j.job_key === "parted")?.progress, "120/120");
  assert.match(await client.log("whole"), /sleeper done/);
});
