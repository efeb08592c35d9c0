/**
 * The database the `db:` tests use: a real MongoDB when FACEMESH_TEST_MONGODB_URI is set (e.g.
 * mongodb://nova:secret@127.0.0.1:27017/), otherwise the in-process stand-in (mongo_standin.ts). Tests seed and
 * read documents through the official driver either way, each test in databases of its own that are dropped after.
 */
import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import { MongoClient, type Document } from "mongodb";
import { MongoStandin } from "./mongo_standin.js";

export interface TestDb {
  /** True against a real MongoDB (FACEMESH_TEST_MONGODB_URI). */
  real: boolean;
  host: string;
  port: number;
  /** Credentials the server's jobs get (the stand-in's user, or the URI's). */
  user: string;
  password: string;
  /** A fresh database name for this test (dropped when the test ends). */
  newDataset(prefix?: string): string;
  insert(dataset: string, collection: string, docs: Document[]): Promise<void>;
  find(dataset: string, collection: string): Promise<Document[]>;
  /** Commands the stand-in received that it does not implement (always empty against a real MongoDB). */
  unexpected(): string[];
  /** The stand-in's command log ("<db>.<command>"); undefined against a real MongoDB. */
  commands(): string[] | undefined;
}

export const STANDIN_USER = "nova";
export const STANDIN_PASSWORD = "pw-of-the-nova-db-user";

export async function openTestDb(t: TestContext): Promise<TestDb> {
  const uri = process.env.FACEMESH_TEST_MONGODB_URI;
  let standin: MongoStandin | undefined;
  let host: string;
  let port: number;
  let user: string;
  let password: string;
  let client: MongoClient;
  if (uri) {
    const u = new URL(uri);
    host = u.hostname.replace(/^\[|\]$/g, "");
    port = Number(u.port || 27017);
    user = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  } else {
    standin = await MongoStandin.start({ users: { [STANDIN_USER]: STANDIN_PASSWORD } });
    host = "127.0.0.1";
    port = standin.port;
    user = STANDIN_USER;
    password = STANDIN_PASSWORD;
    client = new MongoClient(`mongodb://127.0.0.1:${port}/`, { auth: { username: user, password }, directConnection: true, serverSelectionTimeoutMS: 5000 });
  }
  await client.connect();
  const created: string[] = [];
  t.after(async () => {
    for (const name of created) await client.db(name).dropDatabase().catch(() => undefined);
    await client.close();
    await standin?.close();
  });
  return {
    real: standin === undefined,
    host,
    port,
    user,
    password,
    newDataset(prefix = "facemesh_test") {
      const name = `${prefix}_${randomBytes(4).toString("hex")}`;
      created.push(name);
      return name;
    },
    async insert(dataset, collection, docs) {
      await client.db(dataset).collection(collection).insertMany(docs.map((d) => ({ ...d })));
    },
    async find(dataset, collection) {
      return client.db(dataset).collection(collection).find({}).toArray();
    },
    unexpected: () => standin?.unexpected ?? [],
    commands: () => standin?.commands,
  };
}
