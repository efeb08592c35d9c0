/**
 * A STAND-IN for MongoDB, for tests only: no MongoDB server can be installed on the machines these tests run on
 * (NOVA.md §8), so the server's real `mongodb` driver talks over a real TCP socket to this small wire-protocol
 * server instead. It is not a database: documents live in memory, filters are top-level equality only, updates
 * are `$set` only. It answers the driver's handshake (legacy `ismaster` over OP_QUERY, then OP_MSG), SCRAM-SHA-256
 * authentication (server side, on node:crypto), and exactly the commands the NOVA `db:` flow sends (ping, find,
 * update, insert, endSessions, dropDatabase). Any other command, filter operator or update operator is answered
 * with an error AND recorded in `unexpected`, which the tests assert to be empty: a new query cannot pass
 * unnoticed. Set FACEMESH_TEST_MONGODB_URI to run the same tests against a real MongoDB (test/support/test_db.ts).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { Binary, deserialize, Long, ObjectId, serialize, type Document } from "bson";

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const SCRAM_ITERATIONS = 4096;

interface Connection {
  id: number;
  user?: string;
  scram?: { user: string; clientFirstBare: string; serverFirst: string; nonce: string; salted: Buffer };
}

class CommandError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly codeName: string,
  ) {
    super(message);
  }
}

/** Top-level equality only; anything with an operator is refused (even on an empty collection). */
function matcher(filter: Document): (doc: Document) => boolean {
  for (const [k, v] of Object.entries(filter)) {
    if (k.startsWith("$") || (v !== null && typeof v === "object" && !(v instanceof ObjectId) && Object.keys(v).some((x) => x.startsWith("$")))) {
      throw new Error(`filter operator in ${JSON.stringify(filter)}`);
    }
  }
  return (doc) => Object.entries(filter).every(([k, v]) => JSON.stringify(doc[k]) === JSON.stringify(v));
}

/** A SASL payload (BSON binary) as text. */
function payloadText(value: unknown): string {
  const b = value as Binary;
  return Buffer.from(b.buffer.subarray(0, b.position)).toString("utf8");
}

const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();

export class MongoStandin {
  /** Every command received, as "<db>.<command>", in order. */
  readonly commands: string[] = [];
  /** Commands or query shapes the stand-in does not implement (each also answered with an error). */
  readonly unexpected: string[] = [];
  private readonly data = new Map<string, Map<string, Document[]>>();
  private readonly sockets = new Set<net.Socket>();
  private nextConnection = 1;

  private constructor(
    private readonly server: net.Server,
    /** user -> password; empty: no authentication required. */
    private readonly users: Record<string, string>,
  ) {}

  static async start(options: { users?: Record<string, string> } = {}): Promise<MongoStandin> {
    const server = net.createServer();
    const standin = new MongoStandin(server, options.users ?? {});
    server.on("connection", (s) => standin.serve(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return standin;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  collection(db: string, name: string): Document[] {
    let dbMap = this.data.get(db);
    if (!dbMap) this.data.set(db, (dbMap = new Map()));
    let coll = dbMap.get(name);
    if (!coll) dbMap.set(name, (coll = []));
    return coll;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    const conn: Connection = { id: this.nextConnection++ };
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const message = buffered.subarray(0, buffered.readInt32LE(0));
        buffered = buffered.subarray(message.length);
        const reply = this.handleMessage(conn, message);
        if (reply) socket.write(reply);
      }
    });
  }

  private handleMessage(conn: Connection, msg: Buffer): Buffer | undefined {
    const requestId = msg.readInt32LE(4);
    const opCode = msg.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // Only the driver's first handshake comes this way: flags, "admin.$cmd", skip, limit, the command.
      const nsEnd = msg.indexOf(0, 20);
      const ns = msg.toString("utf8", 20, nsEnd);
      const body = deserialize(msg.subarray(nsEnd + 9, nsEnd + 9 + msg.readInt32LE(nsEnd + 9)));
      const reply = serialize(this.execute(conn, ns.replace(/\.\$cmd$/, ""), body));
      const head = Buffer.alloc(36);
      head.writeInt32LE(36 + reply.length, 0);
      head.writeInt32LE(requestId, 8);
      head.writeInt32LE(OP_REPLY, 12);
      head.writeBigInt64LE(0n, 20); // cursor id
      head.writeInt32LE(1, 32); // one document
      return Buffer.concat([head, reply]);
    }
    if (opCode !== OP_MSG) {
      this.unexpected.push(`wire op code ${opCode}`);
      return undefined;
    }
    const flags = msg.readUInt32LE(16);
    const end = msg.length - (flags & 1 ? 4 : 0);
    let body: Document = {};
    for (let at = 20; at < end; ) {
      const kind = msg[at];
      if (kind === 0) {
        const size = msg.readInt32LE(at + 1);
        body = { ...deserialize(msg.subarray(at + 1, at + 1 + size)), ...body };
        at += 1 + size;
      } else {
        // A document sequence: the driver's way of sending a command's array (e.g. `updates`) outside the body.
        const size = msg.readInt32LE(at + 1);
        const idEnd = msg.indexOf(0, at + 5);
        const field = msg.toString("utf8", at + 5, idEnd);
        const docs: Document[] = [];
        for (let d = idEnd + 1; d < at + 1 + size; d += msg.readInt32LE(d)) docs.push(deserialize(msg.subarray(d, d + msg.readInt32LE(d))));
        body[field] = docs;
        at += 1 + size;
      }
    }
    const reply = serialize(this.execute(conn, String(body.$db ?? "admin"), body));
    const head = Buffer.alloc(21);
    head.writeInt32LE(21 + reply.length, 0);
    head.writeInt32LE(requestId, 8);
    head.writeInt32LE(OP_MSG, 12);
    return Buffer.concat([head, reply]);
  }

  private execute(conn: Connection, db: string, body: Document): Document {
    const name = Object.keys(body)[0] ?? "";
    this.commands.push(`${db}.${name}`);
    try {
      return { ...this.command(conn, db, name, body), ok: 1 };
    } catch (err) {
      if (err instanceof CommandError) return { ok: 0, errmsg: err.message, code: err.code, codeName: err.codeName };
      const text = `${db}.${name}: ${(err as Error).message}`;
      this.unexpected.push(text);
      process.stderr.write(`MongoDB stand-in: not implemented: ${text}\n`);
      return { ok: 0, errmsg: `MongoDB stand-in does not implement ${text}`, code: 59, codeName: "CommandNotFound" };
    }
  }

  private command(conn: Connection, db: string, name: string, body: Document): Document {
    const open = name === "ismaster" || name === "isMaster" || name === "hello" || name === "saslStart" || name === "saslContinue" || name === "ping" || name === "endSessions";
    if (!open && Object.keys(this.users).length > 0 && !conn.user) {
      throw new CommandError(`command ${name} requires authentication`, 13, "Unauthorized");
    }
    switch (name) {
      case "ismaster":
      case "isMaster":
      case "hello":
        return {
          helloOk: true,
          ismaster: true,
          isWritablePrimary: true,
          maxBsonObjectSize: 16 * 1024 * 1024,
          maxMessageSizeBytes: 48_000_000,
          maxWriteBatchSize: 100_000,
          localTime: new Date(),
          logicalSessionTimeoutMinutes: 30,
          connectionId: conn.id,
          minWireVersion: 0,
          maxWireVersion: 21,
          readOnly: false,
          ...(typeof body.saslSupportedMechs === "string" ? { saslSupportedMechs: ["SCRAM-SHA-256"] } : {}),
        };
      case "ping":
      case "endSessions":
        return {};
      case "saslStart":
        return this.saslStart(conn, body);
      case "saslContinue":
        return this.saslContinue(conn, body);
      case "find": {
        for (const k of Object.keys(body)) {
          if (!["find", "filter", "limit", "singleBatch", "batchSize", "$db", "lsid", "$readPreference", "$clusterTime"].includes(k)) throw new Error(`find option '${k}'`);
        }
        const docs = this.collection(db, String(body.find)).filter(matcher((body.filter as Document) ?? {}));
        const limit = Math.abs(Number(body.limit ?? 0));
        return { cursor: { id: Long.ZERO, ns: `${db}.${String(body.find)}`, firstBatch: limit > 0 ? docs.slice(0, limit) : docs } };
      }
      case "insert": {
        const coll = this.collection(db, String(body.insert));
        const docs = body.documents as Document[];
        for (const d of docs) coll.push({ _id: new ObjectId(), ...d });
        return { n: docs.length };
      }
      case "update": {
        const coll = this.collection(db, String(body.update));
        let n = 0;
        let nModified = 0;
        const upserted: Document[] = [];
        (body.updates as Document[]).forEach((u, index) => {
          const ops = Object.keys(u.u as Document);
          if (ops.length !== 1 || ops[0] !== "$set" || u.multi) throw new Error(`update ${JSON.stringify(u.u)} (only one $set)`);
          const set = (u.u as Document).$set as Document;
          const hit = coll.find(matcher(u.q as Document));
          if (hit) {
            Object.assign(hit, set);
            n++;
            nModified++;
          } else if (u.upsert) {
            const doc = { _id: new ObjectId(), ...(u.q as Document), ...set };
            coll.push(doc);
            upserted.push({ index, _id: doc._id });
            n++;
          }
        });
        return { n, nModified, ...(upserted.length ? { upserted } : {}) };
      }
      case "dropDatabase":
        this.data.delete(db);
        return {};
      default:
        throw new Error("command not implemented");
    }
  }

  private saslStart(conn: Connection, body: Document): Document {
    if (body.mechanism !== "SCRAM-SHA-256") throw new Error(`mechanism ${String(body.mechanism)}`);
    const clientFirst = payloadText(body.payload);
    const m = /^n,,(n=([^,]*),r=([^,]*))$/.exec(clientFirst);
    if (!m) throw new Error(`SCRAM client-first message '${clientFirst}'`);
    const user = m[2].replace(/=2C/g, ",").replace(/=3D/g, "=");
    const password = this.users[user];
    if (password === undefined) throw new CommandError("Authentication failed.", 18, "AuthenticationFailed");
    const salt = randomBytes(16);
    const nonce = m[3] + randomBytes(18).toString("base64");
    const serverFirst = `r=${nonce},s=${salt.toString("base64")},i=${SCRAM_ITERATIONS}`;
    conn.scram = { user, clientFirstBare: m[1], serverFirst, nonce, salted: pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, "sha256") };
    return { conversationId: 1, done: false, payload: new Binary(Buffer.from(serverFirst)) };
  }

  private saslContinue(conn: Connection, body: Document): Document {
    const s = conn.scram;
    if (!s) throw new CommandError("No SASL session state found", 17, "ProtocolError");
    const clientFinal = payloadText(body.payload);
    const m = /^(c=biws,r=([^,]*)),p=(.*)$/.exec(clientFinal);
    conn.scram = undefined;
    if (!m || m[2] !== s.nonce) throw new CommandError("Authentication failed.", 18, "AuthenticationFailed");
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${m[1]}`;
    const clientKey = hmac(s.salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(m[3], "base64");
    const recovered = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
    if (recovered.length !== storedKey.length || !timingSafeEqual(createHash("sha256").update(recovered).digest(), storedKey)) {
      throw new CommandError("Authentication failed.", 18, "AuthenticationFailed");
    }
    conn.user = s.user;
    const serverSignature = hmac(hmac(s.salted, "Server Key"), authMessage).toString("base64");
    return { conversationId: 1, done: true, payload: new Binary(Buffer.from(`v=${serverSignature}`)) };
  }
}
