/**
 * Preloaded into a measured child process (`node --import <this file> ...`): when the process exits it writes, to
 * the file named by BENCH_RSS_FILE, one JSON object:
 * - maxRssKb: its peak resident set size (process.resourceUsage().maxRSS; getrusage RUSAGE_SELF, so all its
 *   threads including the inference thread, not ffmpeg);
 * - cpuMs: its CPU time, user + system, all threads;
 * - childCpuMs: CPU time of its child processes that have exited and been waited for (ffmpeg, ffprobe), from
 *   /proc/self/stat (cutime + cstime, in USER_HZ = 100 ticks per second on Linux); null elsewhere.
 * This works with any command and without /usr/bin/time.
 */
import { readFileSync, writeFileSync } from "node:fs";

function childCpuMs(): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    // Fields after the command name (which may hold spaces) start at state (field 3); cutime, cstime are 16, 17.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return null;
  }
}

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.on("exit", () => {
    try {
      const u = process.resourceUsage();
      writeFileSync(target, JSON.stringify({ maxRssKb: u.maxRSS, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, childCpuMs: childCpuMs() }));
    } catch {
      // the bench reports a missing value; never change the measured command's exit
    }
  });
}
