"""NOVA's database request (NOVA.md §8) with Python requests, multipart as NOVA sends it; see db_request.sh for the
variables and where the files go.

    SERVER=https://127.0.0.1:8080 DB_HOST=127.0.0.1 DB_PORT=27017 DB_USER=nova DB_PASSWORD=... \
    DATASET=my_dataset SESSIONS=session_1,session_2 python3 examples/db_request.py
"""
import json
import os
import sys
import time

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

env = os.environ.get
server = env("SERVER", "https://127.0.0.1:8080")
role = env("ROLE", "subject")
job_id = env("JOB_ID", str(int(time.time()))[-8:])  # NOVA's job ids are 8 digits
data = [
    {"id": "data", "type": "input", "src": "db:stream:Video", "name": env("VIDEO_STREAM", "video"), "role": role, "active": True},
    {"id": "bounding_box", "type": "input", "src": "db:stream:SSIStream:feature;face;boundingbox", "name": env("BBOX_STREAM", "face_bounding_box"), "role": role, "active": True},
    {"id": "keypoints", "type": "input", "src": "db:stream:SSIStream:feature;face;landmarks;blazeface", "name": "facial_landmarks", "role": role, "active": False},
    {"id": "landmarks", "type": "output", "src": "db:stream:SSIStream:feature;face;landmarks;facemesh", "name": env("OUT_STREAM", "face_mesh"), "role": role, "active": True, "kind": "stream"},
]
fields = {
    "jobID": job_id,
    "trainerFilePath": env("TRAINER", "modules\\facemesh\\facemesh.trainer"),
    "dbHost": env("DB_HOST", "127.0.0.1"),
    "dbPort": env("DB_PORT", "27017"),
    "dbUser": env("DB_USER", ""),
    "dbPassword": env("DB_PASSWORD", ""),
    "leftContext": "0",
    "rightContext": "0",
    "frameSize": "0",
    "force": "True",
    "options": "{}",
    "data": json.dumps(data),
    "sessions": json.dumps(env("SESSIONS", "").split(",")),
    "dataset": env("DATASET", ""),
}
# files= with (None, value) makes requests send multipart/form-data fields, as NOVA does.
r = requests.post(f"{server}/process", files={k: (None, v) for k, v in fields.items()}, verify=False)
print(r.text)
r.raise_for_status()
print(f"job {job_id}")
while (status := requests.post(f"{server}/job_status", data={"jobID": job_id}, verify=False).json()["status"]) < 2:
    time.sleep(1)
print(requests.post(f"{server}/log", data={"jobID": job_id}, verify=False).json()["message"])
print(f"status {status} (2 = FINISHED, 3 = ERROR, 4 = CANCELED)")
sys.exit(0 if status == 2 else 1)
