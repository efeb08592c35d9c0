/** GET /: the job table DISCOVER shows (templates/index.html), with cancel buttons; no external scripts. */
import type { JobSummary } from "./job_view.js";

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function jobTablePage(jobs: JobSummary[], title: string): string {
  const rows = jobs
    .slice()
    .reverse()
    .map((j) => {
      const key = escapeHtml(j.job_key);
      const cancel =
        j.status === "WAITING" || j.status === "RUNNING" ? `<button class="cancel" data-job-key="${key}">Cancel</button>` : "";
      return (
        `<tr data-status="${escapeHtml(j.status)}"><td>${key}</td><td>${escapeHtml(j.module_name)}</td><td class="status">${escapeHtml(j.status)}</td>` +
        `<td>${escapeHtml(j.progress)}</td><td>${escapeHtml(j.start_time)}</td><td>${escapeHtml(j.end_time)}</td>` +
        `<td><a href="/log/${encodeURIComponent(j.job_key)}" target="_blank">Log</a></td><td>${cancel}</td></tr>`
      );
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
tr[data-status=ERROR] .status{color:#b00}tr[data-status=FINISHED] .status{color:#070}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<table id="jobs"><thead><tr><th>Job Key</th><th>Module</th><th>Status</th><th>Progress</th><th>Start</th><th>End</th><th>Log</th><th>Actions</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="8">no jobs yet</td></tr>'}
</tbody></table>
<script>
for (const btn of document.querySelectorAll("button.cancel")) {
  btn.addEventListener("click", async () => {
    btn.disabled = true; btn.textContent = "Canceling...";
    const res = await fetch("/cancel", { method: "POST", body: new URLSearchParams({ jobID: btn.dataset.jobKey }) });
    btn.textContent = res.ok ? "Canceled" : "Error";
    if (res.ok) btn.closest("tr").querySelector(".status").textContent = "CANCELED"; else btn.disabled = false;
  });
}
</script></body></html>
`;
}
