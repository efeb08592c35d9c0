"""The seed's file: request (NOVA.md §7) with Python requests; see file_request.sh for the variables.

    SERVER=https://127.0.0.1:8080 VIDEO=... BBOX=... OUT=... python3 examples/file_request.py

verify=False accepts the server's self-signed certificate, as NOVA does. Exit status 0 when the job FINISHED.
"""
import json
import os
import sys
import time

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

server = os.environ.get("SERVER", "https://127.0.0.1:8080")
job_id = os.environ.get("JOB_ID", "´face_mesh_stream")
data = [
    {"src": "file:stream:video", "type": "input", "id": "input_data", "uri": os.environ.get("VIDEO", "path/to/my/file.mp4")},
    {"src": "file:stream:ssiStream", "type": "input", "id": "face_bb", "uri": os.environ.get("BBOX", "path/to/my/bounding_boxes.stream")},
    {"src": "file:stream:ssistream", "type": "output", "id": "output_stream", "uri": os.environ.get("OUT", "path/to/my/stream.stream")},
]
form = {"jobID": job_id, "trainerFilePath": os.environ.get("TRAINER", "modules\\facemesh\\facemesh.trainer"), "data": json.dumps(data)}

r = requests.post(f"{server}/process", data=form, verify=False)
print(r.text)
r.raise_for_status()
while (status := requests.post(f"{server}/job_status", data={"jobID": job_id}, verify=False).json()["status"]) < 2:
    time.sleep(1)
print(requests.post(f"{server}/log", data={"jobID": job_id}, verify=False).json()["message"])
print(f"status {status} (2 = FINISHED, 3 = ERROR, 4 = CANCELED)")
sys.exit(0 if status == 2 else 1)
