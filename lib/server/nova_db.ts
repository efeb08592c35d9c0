/**
 * NOVA's MongoDB, as a job on `db:` sources needs it (NOVA.md §8): one database per dataset, whose `Sessions`
 * collection lists the sessions and whose `Streams` collection maps a stream name to its file extension (and
 * sample rate, media type, dim labels). Talks through the official `mongodb` driver.
 *
 * Errors are NovaDbError with a message a NOVA user can act on: which host:port, which dataset, session or stream,
 * and never the password. The password is handed to the driver as an option, never inside a URI, so no driver
 * message can echo it; messages are still scrubbed of it, in case.
 */
import { MongoClient, MongoServerError, type Document } from "mongodb";

export interface DbConnectionParams {
  host: string;
  port: number;
  /** Empty: connect without authentication. */
  user: string;
  password: string;
  /** Server selection and connect timeout. */
  timeoutMs: number;
}

/** A `Streams` document: what NOVA knows about a stream name in a dataset. */
export interface StreamDocument {
  name: string;
  fileExt: string;
  type?: string;
  sr?: number;
  dimlabels?: unknown[];
  isValid?: boolean;
}

export class NovaDbError extends Error {
  override name = "NovaDbError";
}

export const SESSIONS = "Sessions";
export const STREAMS = "Streams";
/** NOVA creates its users in MongoDB's admin database (pymongo's default auth source, too). */
const AUTH_SOURCE = "admin";
/** MongoDB's error code for a failed SASL/SCRAM conversation (wrong user or password). */
const AUTHENTICATION_FAILED = 18;
const UNAUTHORIZED = 13;

export function dbAddress(p: { host: string; port: number }): string {
  return p.host.includes(":") ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/** The errors a failed operation may hide behind: the error itself, its causes, and a selection error's per-server reasons. */
function errorChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number) => {
    if (e === null || e === undefined || seen.has(e) || depth > 6) return;
    seen.add(e);
    out.push(e);
    if (typeof e !== "object") return;
    const o = e as { cause?: unknown; reason?: { servers?: Map<string, { error?: unknown }> } };
    visit(o.cause, depth + 1);
    const servers = o.reason?.servers;
    if (servers instanceof Map) for (const s of servers.values()) visit(s.error, depth + 1);
  };
  visit(err, 0);
  return out;
}

function scrub(text: string, password: string): string {
  return password.length > 0 ? text.split(password).join("****") : text;
}

/** A driver error as a NovaDbError that says what to check. `doing`: what the job was doing ("read Streams of 'x'"). */
export function explainDbError(err: unknown, p: DbConnectionParams, doing: string): NovaDbError {
  if (err instanceof NovaDbError) return err;
  const at = dbAddress(p);
  const chain = errorChain(err);
  const server = chain.find((e): e is MongoServerError => e instanceof MongoServerError);
  if (server?.code === AUTHENTICATION_FAILED || server?.codeName === "AuthenticationFailed") {
    return new NovaDbError(`authentication failed for user '${p.user}' at the NOVA database ${at} (auth database ${AUTH_SOURCE}): check dbUser and dbPassword`);
  }
  if (server?.code === UNAUTHORIZED || server?.codeName === "Unauthorized") {
    const who = p.user ? `user '${p.user}'` : "an unauthenticated client (no dbUser given)";
    return new NovaDbError(`the NOVA database ${at} does not let ${who} ${doing}: ${scrub(server.message, p.password)}`);
  }
  const names = chain.map((e) => (e instanceof Error ? e.name : ""));
  if (names.some((n) => /ServerSelection|Network|Timeout/.test(n))) {
    const reason = chain.map((e) => (e instanceof Error ? e.message : "")).filter((m) => m && !/^Server selection timed out/.test(m))[0] ?? "";
    return new NovaDbError(
      `the NOVA database at ${at} did not answer within ${p.timeoutMs / 1000} s` + (reason ? ` (${scrub(reason, p.password)})` : "") + ": check dbHost and dbPort, and that MongoDB runs there and is reachable from this server",
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new NovaDbError(`the NOVA database ${at} failed to ${doing}: ${scrub(message, p.password)}`);
}

export class NovaDb {
  private constructor(
    private readonly client: MongoClient,
    readonly params: DbConnectionParams,
  ) {}

  get address(): string {
    return dbAddress(this.params);
  }

  /** Connects and authenticates (if a user is given); fails within about timeoutMs when nothing answers. */
  static async connect(p: DbConnectionParams): Promise<NovaDb> {
    const host = p.host.includes(":") ? `[${p.host}]` : p.host;
    const client = new MongoClient(`mongodb://${host}:${p.port}/`, {
      auth: p.user ? { username: p.user, password: p.password } : undefined,
      authSource: AUTH_SOURCE,
      // NOVA names one server: talk to it, whatever replica-set role it has.
      directConnection: true,
      serverSelectionTimeoutMS: p.timeoutMs,
      connectTimeoutMS: p.timeoutMs,
      appName: "facemesh NOVA server",
      maxPoolSize: 2,
    });
    try {
      await client.connect();
      // connect() alone may not authenticate a pooled connection yet: one command makes wrong credentials fail here.
      await client.db(AUTH_SOURCE).command({ ping: 1 });
    } catch (err) {
      await client.close().catch(() => undefined);
      throw explainDbError(err, p, "connect");
    }
    return new NovaDb(client, p);
  }

  private async run<T>(doing: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw explainDbError(err, this.params, doing);
    }
  }

  /** Names of the requested sessions that the dataset's Sessions collection does not hold; throws for an unknown dataset. */
  async missingSessions(dataset: string, sessions: readonly string[]): Promise<string[]> {
    return this.run(`read the Sessions of dataset '${dataset}'`, async () => {
      const coll = this.client.db(dataset).collection(SESSIONS);
      const missing: string[] = [];
      for (const name of sessions) if (!(await coll.findOne({ name }))) missing.push(name);
      if (missing.length === sessions.length && !(await coll.findOne({}))) {
        throw new NovaDbError(
          `unknown dataset '${dataset}': the NOVA database ${this.address} has no sessions in '${dataset}' (field 'dataset' must name a NOVA database)`,
        );
      }
      return missing;
    });
  }

  /** A few session names of the dataset, for error messages. */
  async someSessionNames(dataset: string, limit = 20): Promise<string[]> {
    return this.run(`read the Sessions of dataset '${dataset}'`, async () => {
      const docs = await this.client.db(dataset).collection(SESSIONS).find({}).limit(limit).toArray();
      return docs.map((d: Document) => String(d.name));
    });
  }

  /** The Streams document of a stream name, or undefined. */
  async stream(dataset: string, name: string): Promise<StreamDocument | undefined> {
    return this.run(`read the Streams of dataset '${dataset}'`, async () => {
      const doc = await this.client.db(dataset).collection(STREAMS).findOne({ name });
      return doc ? (doc as unknown as StreamDocument) : undefined;
    });
  }

  async streamNames(dataset: string, limit = 50): Promise<string[]> {
    return this.run(`read the Streams of dataset '${dataset}'`, async () => {
      const docs = await this.client.db(dataset).collection(STREAMS).find({}).limit(limit).toArray();
      return docs.map((d: Document) => String(d.name));
    });
  }

  /** Inserts or updates (matched by name) a stream's document, so that NOVA lists the stream. */
  async upsertStream(dataset: string, doc: StreamDocument): Promise<void> {
    await this.run(`write the Streams of dataset '${dataset}'`, async () => {
      const { name, ...fields } = doc;
      await this.client.db(dataset).collection(STREAMS).updateOne({ name }, { $set: { name, ...fields } }, { upsert: true });
    });
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
