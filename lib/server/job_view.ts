/** How a job record is shown: DISCOVER's Job.serializable() shape (job_utils.py) for /job_status_all and GET /. */
import { JobStatus, type JobRecord } from "./job_store.js";

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
