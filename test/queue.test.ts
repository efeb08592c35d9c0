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
import { logMatch, startCluster, startQueueServer, startWorker } from "./support/queue_cluster.js";
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

/** Pids the parts' processes logged, by worker. */
async function partPids(log: string): Promise<Map<string, number[]>> {
  const pids = new Map<string, number[]>();
  for (const m of log.matchAll(/\[(w\d)\] part \d+\/\d+: pid=(\d+)/g)) pids.set(m[1]!, [...(pids.get(m[1]!) ?? []), Number(m[2])]);
  return pids;
}

test("a worker killed with SIGKILL mid-part: the part runs again on another worker and the output is complete", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS);
  const { client } = await startQueueServer(t, r, redis);
  const w1 = await startWorker(t, r, redis, "w1");
  await startWorker(t, r, redis, "w2");
  await client.post("/process", partedForm(r, "job", { parts: 2, part_ms: 4000 }));
  const started = await logMatch(client, "job", /\[w1\] part (\d)\/2: pid=(\d+)/);
  const [part, pid] = [started[1]!, Number(started[2])];
  w1.child.kill("SIGKILL");
  await w1.exited();
  // Its job process sees the worker gone and stops too.
  await eventually(() => (processAlive(pid) ? undefined : true), 10_000, "the dead worker's job process to stop");
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.FINISHED, await client.log("job"));
  assert.equal(readFileSync(outFile(r, "job"), "utf8"), expected(2));
  const log = await client.log("job");
  assert.match(log, new RegExp(`\\[w2\\] part ${part}/2 started`), "the killed part ran again on w2");
  assert.deepEqual(leftParts(r), []);
});

test("a job cancelled while its parts run on two workers: every part stops, nothing is written", { skip }, async (t) => {
  const r = makeRoot(t);
  const { client } = await startCluster(t, r, REDIS, { workers: ["w1", "w2"] });
  // Part 1 finishes at once (its file is written into the parts folder); parts 2 and 3 run long, one per worker.
  await client.post("/process", partedForm(r, "job", { parts: 3, part_ms: [100, 60_000, 60_000] }));
  const pids = await eventually(async () => {
    const byWorker = await partPids(await client.log("job"));
    return byWorker.size === 2 && /part 1\/3 done/.test(await client.log("job")) && [...byWorker.values()].flat().length === 3 ? byWorker : undefined;
  }, 30_000, "parts running on both workers").catch(async (err: Error) => assert.fail(`${err.message}\n${await client.log("job")}`));
  assert.ok(leftParts(r).length === 1, "part 1's file is in its folder");
  const cancel = await client.post("/cancel", { jobID: "job" });
  assert.equal(cancel.status, 200, cancel.text());
  assert.equal(await client.waitFor("job", [JobStatus.CANCELED, JobStatus.ERROR, JobStatus.FINISHED], 30_000), JobStatus.CANCELED, await client.log("job"));
  for (const pid of [...pids.values()].flat()) await eventually(() => (processAlive(pid) ? undefined : true), 10_000, `part process ${pid} to stop`);
  assert.equal(existsSync(outFile(r, "job")), false, "no output");
  await eventually(() => (leftParts(r).length === 0 ? true : undefined), 20_000, "the finished part's folder to be removed");
  // Both workers go on with the next job.
  await client.post("/process", partedForm(r, "next", { parts: 2, part_ms: 100 }));
  assert.equal(await client.waitFor("next", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED, await client.log("next"));
  assert.equal(readFileSync(outFile(r, "next"), "utf8"), expected(2));
});

test("Redis killed and restarted mid-job (append-only file): the job goes on and finishes whole", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS, { persistent: true });
  const { client } = await startQueueServer(t, r, redis);
  await startWorker(t, r, redis, "w1");
  await client.post("/process", partedForm(r, "job", { parts: 2, part_ms: 3000 }));
  await logMatch(client, "job", /\[w1\] part 1\/2: pid=\d+/);
  await redis.stop(true);
  await new Promise((res) => setTimeout(res, 1000));
  await redis.start();
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.FINISHED, await client.log("job"));
  assert.equal(readFileSync(outFile(r, "job"), "utf8"), expected(2));
  assert.deepEqual(leftParts(r), []);
});

test("Redis restarted without its data mid-job: the job ends in ERROR with the reason, and no output appears", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS, { persistent: false });
  const { client } = await startQueueServer(t, r, redis);
  const worker = await startWorker(t, r, redis, "w1");
  await client.post("/process", partedForm(r, "job", { parts: 2, part_ms: 3000 }));
  await logMatch(client, "job", /\[w1\] part 1\/2: pid=\d+/);
  await redis.stop(true);
  await redis.start();
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.ERROR);
  assert.match(await client.log("job"), /no longer has job \S+ \(was Redis restarted without saving its data\?\)/);
  // The part that was running finishes, finds its job gone, and removes what it wrote.
  await new Promise((res) => setTimeout(res, 4000));
  assert.equal(existsSync(outFile(r, "job")), false, "no output");
  await eventually(() => (leftParts(r).length === 0 ? true : undefined), 20_000, "the orphaned part's folder to be removed");
  // The worker is still there and runs the next job.
  assert.equal(worker.child.exitCode, null);
  await client.post("/process", partedForm(r, "next", { parts: 2, part_ms: 100 }));
  assert.equal(await client.waitFor("next", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED, await client.log("next"));
});

test("the server restarted: queued and running jobs still answer /job_status, then finish", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS);
  const a = await startQueueServer(t, r, redis);
  await startWorker(t, r, redis, "w1");
  await a.client.post("/process", { jobID: "running", trainerFilePath: SLEEPER, data: "[]", options: '{"sleep_ms": 4000}' });
  await a.client.post("/process", { jobID: "queued", trainerFilePath: SLEEPER, data: "[]", options: '{"sleep_ms": 200}' });
  await logMatch(a.client, "running", /pid=\d+/);
  assert.equal(await a.client.status("running"), JobStatus.RUNNING);
  assert.equal(await a.client.status("queued"), JobStatus.WAITING);
  a.child.kill("SIGKILL");
  await a.exited();
  const b = await startQueueServer(t, r, redis);
  assert.ok([JobStatus.RUNNING, JobStatus.FINISHED].includes(await b.client.status("running")));
  assert.ok([JobStatus.WAITING, JobStatus.RUNNING, JobStatus.FINISHED].includes(await b.client.status("queued")));
  assert.equal(await b.client.waitFor("running", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);
  assert.equal(await b.client.waitFor("queued", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);
  // Log lines written while no server was up are in the log, once.
  const log = await b.client.log("running");
  assert.equal(log.match(/sleeper done/g)?.length, 1, log);
});

test("a part that always fails: tried three times, then the job is ERROR with the part's reason and its parts removed", { skip }, async (t) => {
  const r = makeRoot(t);
  const { client } = await startCluster(t, r, REDIS, { workers: ["w1"] });
  await client.post("/process", partedForm(r, "job", { parts: 3, part_ms: 100, fail_part: 1 }));
  assert.equal(await client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.ERROR);
  const log = await client.log("job");
  assert.match(log, /Job failed with exception part 2 of 3 failed: part 1 fails on purpose/);
  assert.equal(log.match(/part 2\/3 failed: part 1 fails on purpose; it will be tried again/g)?.length, 2, log);
  assert.equal(existsSync(outFile(r, "job")), false);
  await eventually(() => (leftParts(r).length === 0 ? true : undefined), 20_000, "the parts' folder to be removed");
});

test("facemesh worker and serve --queue refuse a missing or bad queue address with a clear message", { skip }, async () => {
  const { runCli } = await import("./support/facemesh_harness.js");
  const none = await runCli(["worker", "--cml-dir", "."], { timeoutMs: 20_000 });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--queue: give the queue's address, redis:\/\/host:port\[\/db\]/);
  const bad = await runCli(["worker", "--queue", "http://x:1"], { timeoutMs: 20_000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--queue: 'http:' is not redis: or rediss:/);
  const noCml = await runCli(["worker", "--queue", "redis://127.0.0.1:1", "--cml-dir", "/nonexistent/cml"], { timeoutMs: 20_000 });
  assert.equal(noCml.code, 2);
  assert.match(noCml.stderr, /cml_dir \/nonexistent\/cml is not a directory/);
  const serve = await runCli(["serve", "--port", "0", "--queue", "redis://h:1/x"], { timeoutMs: 20_000 });
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /--queue: '\/x' is not a Redis database number/);
});

test("a NOVA database job on three sessions: one part per session, spread over two workers; the password leaves Redis when it ends", { skip }, async (t) => {
  const { openTestDb } = await import("./support/test_db.js");
  const { readSsiStream } = await import("../lib/ssi/stream.js");
  const { Redis } = await import("ioredis");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const { PROJECT_ROOT } = await import("./server_helpers.js");
  const cml = path.join(PROJECT_ROOT, "test/fixtures/cml_db");
  const tdb = await openTestDb(t);
  const r = makeRoot(t);
  const dataDir = path.join(r.root, "nova-data");
  r.flags.dataDir = dataDir;
  const { client, redis } = await startCluster(t, r, REDIS, { cmlDir: cml, workers: ["w1", "w2"] });
  const dataset = tdb.newDataset();
  const sessions = ["s1", "s2", "s3"];
  await tdb.insert(dataset, "Sessions", sessions.map((name) => ({ name })));
  await tdb.insert(dataset, "Streams", [
    { name: "video", fileExt: "mp4", type: "video", sr: 25, isValid: true },
    { name: "face_bb", fileExt: "stream", type: "feature;face;boundingbox;blazeface", sr: 25, isValid: true },
  ]);
  sessions.forEach((s, i) => {
    mkdirSync(path.join(dataDir, dataset, s), { recursive: true });
    writeFileSync(path.join(dataDir, dataset, s, "subject.video.mp4"), "v".repeat(10 + i));
    writeFileSync(path.join(dataDir, dataset, s, "subject.face_bb.stream"), "b".repeat(3 + i));
  });
  const data = JSON.stringify([
    { id: "data", type: "input", src: "db:stream:Video", name: "video", role: "subject", active: true },
    { id: "bounding_box", type: "input", src: "db:stream:SSIStream:feature;face;boundingbox", name: "face_bb", role: "subject", active: true },
    { id: "landmarks", type: "output", src: "db:stream:SSIStream:test;sizes", name: "sizes", role: "subject", active: true },
  ]);
  const form = { jobID: "12345678", trainerFilePath: "modules\\sessions\\sessions.trainer", dbHost: tdb.host, dbPort: String(tdb.port), dbUser: tdb.user, dbPassword: tdb.password, data, options: "{}", sessions: JSON.stringify(sessions), dataset };
  assert.equal((await client.post("/process", form, true)).status, 200);
  assert.equal(await client.waitFor("12345678", [JobStatus.FINISHED, JobStatus.ERROR], 60_000), JobStatus.FINISHED, await client.log("12345678"));
  for (const [i, s] of sessions.entries()) {
    const stream = await readSsiStream(path.join(dataDir, dataset, s, "subject.sizes.stream"));
    assert.deepEqual([...stream.data], [3 + i, 10 + i], `session ${s}: its own files`);
  }
  const log = await client.log("12345678");
  assert.match(log, /split into 3 sessions/);
  assert.match(log, /\[w1\] session \d\/3 's\d' started/);
  assert.match(log, /\[w2\] session \d\/3 's\d' started/);
  assert.match(log, /all 3 sessions done/);
  assert.ok(!log.includes(tdb.password), "the password is not in the log");
  const docs = (await tdb.find(dataset, "Streams")).filter((d) => d.name === "sizes");
  assert.equal(docs.length, 1);
  const all = (await client.request("GET", "/job_status_all")).json<Array<{ job_key: string; progress: string }>>();
  assert.equal(all.find((j) => j.job_key === "12345678")?.progress, "3/3");
  // Nothing in Redis holds the password any more (the server blanks it once the job has ended).
  const db = new Redis(redis.url);
  t.after(() => db.disconnect());
  await eventually(async () => {
    for (const key of await db.keys("*")) {
      const type = await db.type(key);
      const values = type === "hash" ? Object.values(await db.hgetall(key)) : type === "string" ? [await db.get(key)] : type === "list" ? await db.lrange(key, 0, -1) : [];
      if (values.some((v) => v?.includes(tdb.password))) return undefined;
    }
    return true;
  }, 10_000, "the password to be gone from Redis");
  assert.deepEqual(tdb.unexpected(), []);
});

test("queue mode under load and misconfiguration: many jobs at once, a jobID reused, a worker without the module, a server without Redis", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS);
  const { client } = await startQueueServer(t, r, redis);
  await startWorker(t, r, redis, "w1", ["--jobs", "2"]);
  await startWorker(t, r, redis, "w2");
  // Eight jobs of three parts at once, submitted concurrently.
  const ids = Array.from({ length: 8 }, (_, i) => `many-${i}`);
  const answers = await Promise.all(ids.map((id) => client.post("/process", partedForm(r, id, { parts: 3, part_ms: 150 }))));
  assert.deepEqual(answers.map((a) => a.status), ids.map(() => 200));
  for (const id of ids) {
    assert.equal(await client.waitFor(id, [JobStatus.FINISHED, JobStatus.ERROR], 90_000), JobStatus.FINISHED, await client.log(id));
    assert.equal(readFileSync(outFile(r, id), "utf8"), expected(3));
  }
  assert.deepEqual(leftParts(r), []);
  // A finished job's id submitted again is a new job (its own queue id), and finishes again.
  assert.equal((await client.post("/process", partedForm(r, "many-0", { parts: 2, part_ms: 100 }))).status, 200);
  assert.equal(await client.waitFor("many-0", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);
  assert.equal(readFileSync(outFile(r, "many-0"), "utf8"), expected(2));
  // An id still running is refused, as without a queue.
  await client.post("/process", partedForm(r, "busy", { parts: 2, part_ms: 3000 }));
  assert.equal((await client.post("/process", partedForm(r, "busy", { parts: 2 }))).status, 409);
  assert.equal(await client.waitFor("busy", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);

  // A worker whose cml_dir lacks the module: the job fails at once, saying which worker and why.
  const r2 = makeRoot(t);
  const redis2 = await startRedis(t, REDIS);
  const other = await startQueueServer(t, r2, redis2);
  const emptyCml = path.join(r2.root, "empty-cml");
  (await import("node:fs")).mkdirSync(emptyCml);
  await startWorker(t, r2, redis2, "bare", [], emptyCml);
  await other.client.post("/process", partedForm(r2, "job", { parts: 2 }));
  assert.equal(await other.client.waitFor("job", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.ERROR);
  assert.match(await other.client.log("job"), /Job failed with exception worker bare: trainerFilePath 'modules\/parted\/parted\.trainer': no such trainer in cml_dir .*empty-cml/);

  // A server whose queue does not answer says so and exits.
  await redis2.stop();
  const { runCli } = await import("./support/facemesh_harness.js");
  const down = await runCli(["serve", "--port", "0", "--queue", redis2.url, "--cml-dir", String(r2.flags.cmlDir), "--log-dir", path.join(r2.root, "log2"), "--tmp-dir", path.join(r2.root, "tmp2"), "--cache-dir", path.join(r2.root, "cache2")], { timeoutMs: 30_000 });
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, new RegExp(`the job queue at ${redis2.url.replace(/[.]/g, "\\.")} did not answer within 10 s \\(connecting\\); is redis-server running there\\?`));
});

test("a job cancelled before any worker took it never runs; with Redis down, /process and /cancel answer 503 naming the queue", { skip }, async (t) => {
  const r = makeRoot(t);
  const redis = await startRedis(t, REDIS);
  const { client } = await startQueueServer(t, r, redis);
  await client.post("/process", partedForm(r, "early", { parts: 2, part_ms: 100 }));
  assert.equal(await client.status("early"), JobStatus.WAITING);
  assert.equal((await client.post("/cancel", { jobID: "early" })).status, 200);
  assert.equal(await client.status("early"), JobStatus.CANCELED);
  await startWorker(t, r, redis, "w1");
  await client.post("/process", partedForm(r, "after", { parts: 2, part_ms: 100 }));
  assert.equal(await client.waitFor("after", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);
  assert.equal(existsSync(outFile(r, "early")), false, "the cancelled job never ran");
  assert.equal(await client.status("early"), JobStatus.CANCELED);

  await client.post("/process", partedForm(r, "stuck", { parts: 2, part_ms: 60_000 }));
  await logMatch(client, "stuck", /part \d\/2: pid=/);
  await redis.stop();
  const refused = await client.post("/process", partedForm(r, "refused", { parts: 2 }));
  assert.equal(refused.status, 503, refused.text());
  // "not reachable" once the server has seen the connection drop; "did not answer" if it had not yet (a busy machine).
  assert.match(refused.text(), /the job queue at redis:\/\/127\.0\.0\.1:\d+ (is not reachable \(queueing the job: .*\)|did not answer within 10 s \(queueing the job\)); is redis-server running there\?/);
  assert.equal(await client.status("refused"), JobStatus.ERROR);
  const cancel = await client.post("/cancel", { jobID: "stuck" });
  assert.equal(cancel.status, 503, cancel.text());
  assert.match(cancel.text(), /could not cancel 'stuck': the job queue at redis:\/\/127\.0\.0\.1:\d+ (is not reachable|did not answer within 10 s) \(cancelling the job/);
  // Redis back (the server reconnects within 2 s): the cancel can be given again and reaches the worker.
  await redis.start();
  await eventually(async () => ((await client.post("/cancel", { jobID: "stuck" })).status === 200 ? true : undefined), 10_000, "a cancel answered once Redis is back");
  assert.equal(await client.waitFor("stuck", [JobStatus.CANCELED, JobStatus.ERROR, JobStatus.FINISHED], 30_000), JobStatus.CANCELED);
  // The refused job was not queued behind the server's back when Redis came back (its parts take 2 s).
  await client.post("/process", partedForm(r, "later", { parts: 2, part_ms: 100 }));
  assert.equal(await client.waitFor("later", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED);
  await new Promise((res) => setTimeout(res, 3000));
  assert.equal(existsSync(outFile(r, "refused")), false, "the refused job never ran");
  assert.equal(await client.status("refused"), JobStatus.ERROR);
});

test("a request: output in queue mode: written by a worker on this machine into the server's tmp_dir, served by /fetch_result", { skip }, async (t) => {
  const r = makeRoot(t);
  const { client } = await startCluster(t, r, REDIS, { workers: ["w1"] });
  const form = { jobID: "fetch", trainerFilePath: PARTED, data: JSON.stringify([{ src: "request:text", type: "output", id: "result" }]), options: JSON.stringify({ parts: 2, part_ms: 100 }) };
  assert.equal((await client.post("/process", form)).status, 200);
  assert.equal(await client.waitFor("fetch", [JobStatus.FINISHED, JobStatus.ERROR], 30_000), JobStatus.FINISHED, await client.log("fetch"));
  const fetched = await client.post("/fetch_result", { jobID: "fetch" });
  assert.equal(fetched.status, 200, fetched.text());
  assert.equal(fetched.text(), expected(2));
});
