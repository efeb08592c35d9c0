/** Connections to the queue's Redis: how servers and workers connect, and how long they wait for an answer. */
import { Redis } from "ioredis";
import type { QueueAddress } from "./queue_url.js";

export { QUEUE_NAME, type QueueAddress } from "./queue_url.js";

/**
 * A Redis connection as BullMQ wants it (commands wait through a reconnect instead of failing after a few
 * retries), reconnecting at most every 2 s while Redis is away.
 */
export function connectRedis(address: QueueAddress, name: string): Redis {
  const redis = new Redis(address.url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Errors while Redis is away are reported by whoever waits on a command; the connection itself retries.
  redis.on("error", () => undefined);
  return redis;
}

/** Resolves `promise`, or rejects after `ms` with a message naming the queue (Redis not answering). */
export async function withinTime<T>(promise: Promise<T>, ms: number, address: QueueAddress, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the job queue at ${address.display} did not answer within ${ms / 1000} s (${what}); is redis-server running there?`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
