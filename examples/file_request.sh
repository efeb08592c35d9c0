#!/usr/bin/env bash
# The seed's file: request (NOVA.md §7) with curl: landmarks of VIDEO, using the bounding boxes in BBOX, into OUT.
# Paths are as the server sees them (absolute, or relative to the folder `facemesh serve` runs in).
#   SERVER=https://127.0.0.1:8080 VIDEO=path/to/my/file.mp4 BBOX=path/to/my/bounding_boxes.stream \
#   OUT=path/to/my/stream.stream ./examples/file_request.sh
# -k accepts the server's self-signed certificate, as NOVA does. Exit status 0 when the job FINISHED.
set -euo pipefail
SERVER="${SERVER:-https://127.0.0.1:8080}"
JOB_ID="${JOB_ID:-´face_mesh_stream}"
TRAINER="${TRAINER:-modules\\facemesh\\facemesh.trainer}"
VIDEO="${VIDEO:-path/to/my/file.mp4}"
BBOX="${BBOX:-path/to/my/bounding_boxes.stream}"
OUT="${OUT:-path/to/my/stream.stream}"

# JSON string escaping for the paths (backslashes and quotes), enough for file names.
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
DATA="[{\"src\":\"file:stream:video\",\"type\":\"input\",\"id\":\"input_data\",\"uri\":\"$(esc "$VIDEO")\"},
{\"src\":\"file:stream:ssiStream\",\"type\":\"input\",\"id\":\"face_bb\",\"uri\":\"$(esc "$BBOX")\"},
{\"src\":\"file:stream:ssistream\",\"type\":\"output\",\"id\":\"output_stream\",\"uri\":\"$(esc "$OUT")\"}]"

curl -sSk --fail-with-body "$SERVER/process" \
  --data-urlencode "jobID=$JOB_ID" --data-urlencode "trainerFilePath=$TRAINER" --data-urlencode "data=$DATA"
echo
while :; do
  STATUS=$(curl -sSk "$SERVER/job_status" --data-urlencode "jobID=$JOB_ID" | sed -E 's/.*"status": *([0-9]+).*/\1/')
  [ "$STATUS" -ge 2 ] && break
  sleep 1
done
# The job's log: /log answers {"message": "<the whole log>"}; unwrap it for reading.
curl -sSk "$SERVER/log" --data-urlencode "jobID=$JOB_ID" | sed -e 's/^{"message": *"//' -e 's/"}$//' -e 's/\\n/\n/g'
echo "status $STATUS (2 = FINISHED, 3 = ERROR, 4 = CANCELED)"
[ "$STATUS" -eq 2 ]
