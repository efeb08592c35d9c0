#!/usr/bin/env bash
# What NOVA's "NOVA-Server" window sends to run facemesh on sessions of a NOVA database (NOVA.md §8), with curl:
# multipart form, db: data entries (stream name + role), the database's address and credentials. The server
# finds the inputs in <data_dir>/<DATASET>/<session>/<ROLE>.<stream>.<ext>, writes
# <ROLE>.<OUT_STREAM>.stream beside them and adds OUT_STREAM to the dataset's Streams collection.
#   SERVER=https://127.0.0.1:8080 DB_HOST=127.0.0.1 DB_PORT=27017 DB_USER=nova DB_PASSWORD=... \
#   DATASET=my_dataset SESSIONS=session_1,session_2 ./examples/db_request.sh
# The password goes to curl on stdin, not on its command line (where `ps` would show it).
set -euo pipefail
SERVER="${SERVER:-https://127.0.0.1:8080}"
TRAINER="${TRAINER:-modules\\facemesh\\facemesh.trainer}"
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-27017}"
DB_USER="${DB_USER:-}"
DB_PASSWORD="${DB_PASSWORD:-}"
DATASET="${DATASET:?set DATASET to the NOVA database name}"
SESSIONS="${SESSIONS:?set SESSIONS to a comma-separated list of session names}"
ROLE="${ROLE:-subject}"
VIDEO_STREAM="${VIDEO_STREAM:-video}"
BBOX_STREAM="${BBOX_STREAM:-face_bounding_box}"
OUT_STREAM="${OUT_STREAM:-face_mesh}"
# NOVA's job ids are 8 digits.
JOB_ID="${JOB_ID:-$(date +%s | tail -c 9)}"

SESSIONS_JSON="[\"$(printf '%s' "$SESSIONS" | sed 's/,/","/g')\"]"
DATA="[{\"id\":\"data\",\"type\":\"input\",\"src\":\"db:stream:Video\",\"name\":\"$VIDEO_STREAM\",\"role\":\"$ROLE\",\"active\":true},
{\"id\":\"bounding_box\",\"type\":\"input\",\"src\":\"db:stream:SSIStream:feature;face;boundingbox\",\"name\":\"$BBOX_STREAM\",\"role\":\"$ROLE\",\"active\":true},
{\"id\":\"keypoints\",\"type\":\"input\",\"src\":\"db:stream:SSIStream:feature;face;landmarks;blazeface\",\"name\":\"facial_landmarks\",\"role\":\"$ROLE\",\"active\":false},
{\"id\":\"landmarks\",\"type\":\"output\",\"src\":\"db:stream:SSIStream:feature;face;landmarks;facemesh\",\"name\":\"$OUT_STREAM\",\"role\":\"$ROLE\",\"active\":true,\"kind\":\"stream\"}]"

# --form-string sends values as they are (-F would read ';' and '@' specially).
printf '%s' "$DB_PASSWORD" | curl -sSk --fail-with-body "$SERVER/process" \
  --form-string "jobID=$JOB_ID" --form-string "trainerFilePath=$TRAINER" \
  --form-string "dbHost=$DB_HOST" --form-string "dbPort=$DB_PORT" --form-string "dbUser=$DB_USER" -F "dbPassword=<-" \
  --form-string "leftContext=0" --form-string "rightContext=0" --form-string "frameSize=0" --form-string "force=True" \
  --form-string "options={}" --form-string "data=$DATA" --form-string "sessions=$SESSIONS_JSON" --form-string "dataset=$DATASET"
echo
echo "job $JOB_ID"
while :; do
  STATUS=$(curl -sSk "$SERVER/job_status" --form-string "jobID=$JOB_ID" | sed -E 's/.*"status": *([0-9]+).*/\1/')
  [ "$STATUS" -ge 2 ] && break
  sleep 1
done
curl -sSk "$SERVER/log" --form-string "jobID=$JOB_ID" | sed -e 's/^{"message": *"//' -e 's/"}$//' -e 's/\\n/\n/g'
echo "status $STATUS (2 = FINISHED, 3 = ERROR, 4 = CANCELED)"
[ "$STATUS" -eq 2 ]
