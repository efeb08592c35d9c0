/** Connections to the queue's Redis: how servers and workers connect, and how long they wait for an answer. */
import { Redis } from "ioredis";
import type { QueueAddress } from "./queue_url.js";

export { QUEUE_NAME, type QueueAddress } from "./queue_url.js";

/**
 * A Redis connection as BullMQ wants it, reconnecting at most every 2 s while Redis is away. `waitThrough`: while
 * Redis is away, commands wait for it to come back (workers: their jobs go on); otherwise they fail at once (the
 * server: a request is answered with an error, and a refused job must not be queued later when Redis returns).
 */
export function connectRedis(address: QueueAddress, name: string, waitThrough = true): Redis {
  const redis = new Redis(address.url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: waitThrough,
    // Nor is a command that was on its way when the connection dropped sent again after the reconnect.
    autoResendUnfulfilledCommands: waitThrough,
    connectionName: name,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Errors while Redis is away are reported by whoever waits on a command; the connection itself retries.
  redis.on("error", () => undefined);
  return redis;
}

/**
 * Resolves `promise`; rejects after `ms`, or when the command fails (Redis away), with a message naming the queue
 * and what was being done.
 */
export async function withinTime<T>(promise: Promise<T>, ms: number, address: QueueAddress, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the job queue at ${address.display} did not answer within ${ms / 1000} s (${what}); is redis-server running there?`)), ms);
  });
  const failed = promise.catch((err: unknown) => {
    throw new Error(`the job queue at ${address.display} is not reachable (${what}: ${(err as Error).message}); is redis-server running there?`);
  });
  try {
    return await Promise.race([failed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the connection is ready (commands fail before that without waitThrough), or rejects after `ms`. */
export async function whenReady(redis: Redis, ms: number, address: QueueAddress): Promise<void> {
  if (redis.status === "ready") return;
  await withinTime(new Promise<void>((resolve) => redis.once("ready", () => resolve())), ms, address, "connecting");
}
