/**
 * Per-job log files, `<log_dir>/<safe name>.log`, lines `YYYY-MM-DD HH:MM:SS LEVEL message` as DISCOVER writes
 * them (Python logging, asctime in local time). Every line passes through scrubText first, so a module that
 * echoes a password still does not put it on disk.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { scrubText } from "./secrets.js";

export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

export function logTimestamp(d: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export class JobLog {
  constructor(
    readonly file: string,
    private readonly secrets: readonly string[] = [],
  ) {}

  /** Starts the log afresh (a job id used again gets a new log, as DISCOVER opens it with mode "w"). */
  reset(): void {
    writeFileSync(this.file, "");
  }

  write(level: LogLevel, message: string): void {
    const text = scrubText(message, this.secrets).replace(/\r?\n$/, "");
    try {
      // Synchronous append: lines stay in order and are on disk if the server dies right after.
      appendFileSync(this.file, `${logTimestamp()} ${level} ${text}\n`);
    } catch {
      // A log that cannot be written must not take the server down.
    }
  }

  info(message: string): void {
    this.write("INFO", message);
  }
  warn(message: string): void {
    this.write("WARNING", message);
  }
  error(message: string): void {
    this.write("ERROR", message);
  }
  critical(message: string): void {
    this.write("CRITICAL", message);
  }
}
