/**
 * Progress for the CLI: a bar on a terminal (cli-progress), otherwise a quiet line every few seconds, so logs
 * from CI or a NOVA server stay readable.
 */
import cliProgress from "cli-progress";
import type { ProgressReporter } from "./nova/hooks.js";

export interface Progress {
  report: ProgressReporter;
  stop(): void;
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} frames | {fps} fps | ETA {eta_formatted}`, hideCursor: true, stream },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    let running = false;
    return {
      report(done, total) {
        const fps = (done / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(1);
        if (!running) {
          bar.start(total ?? done, done, { fps });
          running = true;
        } else {
          if (total !== undefined && total !== bar.getTotal()) bar.setTotal(Math.max(total, done));
          else if (total === undefined && done > bar.getTotal()) bar.setTotal(done);
          bar.update(done, { fps });
        }
      },
      stop() {
        if (running) bar.stop();
      },
    };
  }
  let last = 0;
  const started = Date.now();
  return {
    report(done, total) {
      const now = Date.now();
      if (now - last < 5000 && (total === undefined || done < total)) return;
      last = now;
      const fps = done / Math.max(1e-3, (now - started) / 1000);
      stream.write(`${label}: ${done}${total !== undefined ? `/${total}` : ""} frames (${fps.toFixed(1)} fps)\n`);
    },
    stop() {},
  };
}
