/**
 * lib/server/nova_db.ts through the real `mongodb` driver over TCP: against the stand-in (test/support/
 * mongo_standin.ts) or, with FACEMESH_TEST_MONGODB_URI, a real MongoDB. Covers the reads and the upsert of NOVA's
 * `db:` flow and the errors a NOVA user can meet: wrong password, nothing listening, a server that never answers,
 * an unknown dataset; and that the stand-in refuses what it does not implement.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { MongoClient } from "mongodb";
import { NovaDb, NovaDbError, type DbConnectionParams } from "../lib/server/nova_db.js";
import { MongoStandin } from "./support/mongo_standin.js";
import { openTestDb } from "./support/test_db.js";

const TIMEOUT_MS = 600;

test("sessions, streams and the Streams upsert round-trip through the driver (with SCRAM authentication)", async (t) => {
  const tdb = await openTestDb(t);
  const dataset = tdb.newDataset();
  await tdb.insert(dataset, "Sessions", [{ name: "s1" }, { name: "s2" }]);
  await tdb.insert(dataset, "Streams", [{ name: "video", fileExt: "mp4", type: "video", sr: 25, isValid: true }]);
  const db = await NovaDb.connect({ host: tdb.host, port: tdb.port, user: tdb.user, password: tdb.password, timeoutMs: 5000 });
  t.after(() => db.close());
  assert.deepEqual(await db.missingSessions(dataset, ["s1", "s2", "s9"]), ["s9"]);
  assert.equal((await db.stream(dataset, "video"))?.fileExt, "mp4");
  assert.equal(await db.stream(dataset, "nope"), undefined);
  await db.upsertStream(dataset, { name: "face_mesh", fileExt: "stream", sr: 25, type: "feature;face;landmarks;facemesh", dimlabels: [], isValid: true });
  await db.upsertStream(dataset, { name: "face_mesh", fileExt: "stream", sr: 30, type: "feature;face;landmarks;facemesh", dimlabels: [], isValid: true });
  const docs = (await tdb.find(dataset, "Streams")).filter((d) => d.name === "face_mesh");
  assert.equal(docs.length, 1, "matched by name: the second upsert updates the first document");
  assert.equal(docs[0].sr, 30);
  assert.deepEqual((await db.streamNames(dataset)).sort(), ["face_mesh", "video"]);
  assert.deepEqual(tdb.unexpected(), []);
  const commands = tdb.commands();
  if (commands) assert.ok(commands.includes("admin.saslContinue"), `the driver authenticated (commands: ${commands.join(", ")})`);
});

test("a wrong password is 'authentication failed' naming user and host:port, never the password", async (t) => {
  const tdb = await openTestDb(t);
  if (!tdb.user) return t.skip("FACEMESH_TEST_MONGODB_URI has no user: authentication cannot fail");
  const wrong = "not-the-password-42";
  const p: DbConnectionParams = { host: tdb.host, port: tdb.port, user: tdb.user, password: wrong, timeoutMs: 5000 };
  const err = await NovaDb.connect(p).then(
    () => assert.fail("connected with a wrong password"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof NovaDbError, String(err));
  assert.match(err.message, new RegExp(`authentication failed for user '${tdb.user}' at the NOVA database ${tdb.host}:${tdb.port}`));
  assert.ok(!err.message.includes(wrong) && !err.message.includes(tdb.password), err.message);
  assert.deepEqual(tdb.unexpected(), []);
});

test("an unknown user is refused the same way", async (t) => {
  const tdb = await openTestDb(t);
  const err = await NovaDb.connect({ host: tdb.host, port: tdb.port, user: "nobody_here", password: "whatever-pw", timeoutMs: 5000 }).then(
    () => assert.fail("connected as an unknown user"),
    (e: unknown) => e as Error,
  );
  assert.match(err.message, /authentication failed for user 'nobody_here'/);
});

async function expectTimeout(port: number, password: string): Promise<void> {
  const err = await NovaDb.connect({ host: "127.0.0.1", port, user: "nova", password, timeoutMs: TIMEOUT_MS }).then(
    () => assert.fail("connected to nothing"),
    (e: unknown) => e as Error,
  );
  assert.ok(err instanceof NovaDbError, String(err));
  assert.match(err.message, new RegExp(`the NOVA database at 127\\.0\\.0\\.1:${port} did not answer within 0\\.6 s`));
  assert.match(err.message, /check dbHost and dbPort/);
  assert.ok(!err.message.includes(password), err.message);
}

test("nothing listening on dbHost:dbPort: a timeout error naming host:port", async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  await expectTimeout(port, "secret-pw-nothing-there");
});

test("a server that accepts and never answers: a timeout error naming host:port", async (t) => {
  const silent = net.createServer((s) => s.on("error", () => undefined));
  const held: net.Socket[] = [];
  silent.on("connection", (s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  await expectTimeout((silent.address() as net.AddressInfo).port, "secret-pw-silent");
  assert.ok(held.length > 0, "the driver did connect to the silent server");
});

test("an unknown dataset (no sessions at all) is named as such", async (t) => {
  const tdb = await openTestDb(t);
  const db = await NovaDb.connect({ host: tdb.host, port: tdb.port, user: tdb.user, password: tdb.password, timeoutMs: 5000 });
  t.after(() => db.close());
  const dataset = tdb.newDataset("no_such_dataset");
  await assert.rejects(db.missingSessions(dataset, ["s1"]), new RegExp(`unknown dataset '${dataset}'`));
});

test("the stand-in refuses and records what it does not implement", async (t) => {
  const standin = await MongoStandin.start();
  t.after(() => standin.close());
  const client = new MongoClient(`mongodb://127.0.0.1:${standin.port}/`, { directConnection: true, serverSelectionTimeoutMS: 2000 });
  t.after(() => client.close());
  await assert.rejects(client.db("x").command({ listCollections: 1 }), /does not implement x\.listCollections/);
  await assert.rejects(client.db("x").collection("c").findOne({ a: { $gt: 1 } }), /filter operator/);
  await assert.rejects(client.db("x").collection("c").updateOne({ a: 1 }, { $inc: { b: 1 } }), /only one \$set/);
  assert.equal(standin.unexpected.length, 3, standin.unexpected.join("\n"));
});
