/**
 * Preloaded into a measured child process (`node --import <this file> ...`): when the process exits it writes its
 * peak resident set size (process.resourceUsage().maxRSS, KiB; getrusage RUSAGE_SELF, so all its threads
 * including the inference thread, not ffmpeg) to the file named by BENCH_RSS_FILE. This works with any command
 * and without /usr/bin/time.
 */
import { writeFileSync } from "node:fs";

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.on("exit", () => {
    try {
      writeFileSync(target, String(process.resourceUsage().maxRSS));
    } catch {
      // the bench reports a missing value; never change the measured command's exit
    }
  });
}
