/** How a job record is shown: DISCOVER's Job.serializable() shape (job_utils.py) for /job_status_all and GET /. */
import { JobStatus, type JobRecord } from "./job_store.js";
import { redactForm } from "./secrets.js";

/** Bounds of a job's stored details: what /job_status_all and GET / show of the request. */
export const DETAILS_BOUNDS = { maxFields: 32, maxValueChars: 2048, maxTotalChars: 16 * 1024 } as const;

/**
 * A bounded summary of a request form as JSON text: secrets masked, at most maxFields fields, each value cut to
 * maxValueChars (with a note of its full length), the whole at most maxTotalChars. A request carrying megabytes
 * stores kilobytes.
 */
export function jobDetails(form: Record<string, string>): string {
  const out: Record<string, string> = {};
  const entries = Object.entries(redactForm(form));
  let total = 0;
  for (const [i, [k, v]] of entries.entries()) {
    if (i >= DETAILS_BOUNDS.maxFields) {
      out["…"] = `${entries.length - i} more fields not shown`;
      break;
    }
    const key = k.length > 64 ? `${k.slice(0, 64)}…` : k;
    const value = v.length > DETAILS_BOUNDS.maxValueChars ? `${v.slice(0, DETAILS_BOUNDS.maxValueChars)}… (${v.length} characters)` : v;
    total += key.length + value.length;
    if (total > DETAILS_BOUNDS.maxTotalChars) {
      out["…"] = `${entries.length - i} more fields not shown`;
      break;
    }
    out[key] = value;
  }
  return JSON.stringify(out);
}

export interface JobSummary {
  job_key: string;
  job_type: string;
  module_name: string;
  status: string;
  progress: string;
  start_time: string;
  end_time: string;
  log_path: string;
  details: string;
  interactive_url: string;
}

export function summarize(job: JobRecord): JobSummary {
  return {
    job_key: job.jobKey,
    job_type: job.jobType || "Unknown",
    module_name: job.moduleName,
    status: JobStatus[job.status],
    progress: job.progress || "-",
    start_time: job.startTime,
    end_time: job.endTime,
    log_path: job.logPath,
    details: job.details, // secrets were masked before the record was stored
    interactive_url: "",
  };
}
