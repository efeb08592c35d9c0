/**
 * Where the job queue lives: `--queue redis://[user:password@]host:port[/db]` (rediss:// for TLS). One parser
 * for the server and the workers, so both name a bad address the same way; the password never appears in a
 * message (display). No Redis client here: the CLI's other commands load this file without one.
 */
export class QueueUrlError extends Error {}

export interface QueueAddress {
  /** As given (with the password): what ioredis connects to. */
  url: string;
  /** For messages and logs: the password replaced by ***. */
  display: string;
}

/** The BullMQ queue all servers and workers of one Redis database share. */
export const QUEUE_NAME = "nova-jobs";

export function parseQueueUrl(text: string, source: string): QueueAddress {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    throw new QueueUrlError(`${source}: '${text}' is not a URL; give redis://host:port[/db] (e.g. redis://10.0.0.5:6379/0)`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new QueueUrlError(`${source}: '${u.protocol}' is not redis: or rediss: (give redis://host:port[/db])`);
  if (!u.hostname) throw new QueueUrlError(`${source}: no host in '${text}' (give redis://host:port[/db])`);
  const db = u.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) throw new QueueUrlError(`${source}: '/${db}' is not a Redis database number (0-15)`);
  const display = u.password ? text.replace(`:${u.password}@`, ":***@") : text.trim();
  return { url: text.trim(), display };
}
