#!/usr/bin/env bash
# GPU check for facemesh: which onnxruntime devices load on a GPU machine, faces/s at batch 50 and 256 on each,
# and landmark parity with the CPU run on the same face crops. Two steps:
#
#   1. here (development machine, after `npx tsc -p .`):   bash bench/gpu.sh prepare
#      builds .cache/gpu/ (about 45 MB): Node (xz), onnxruntime-node's Linux x64 binaries + JS deps (xz), dist/ +
#      models/ (xz), 64 real face crops, the Vulkan loader .deb (for webgpu on a bare image).
#   2. on the GPU machine, in ONE call (the device tool; at most ~8 minutes, every step has its own timeout):
#      run(command="bash bench/gpu.sh", carry=[".cache/gpu"], timeout_s=480)
#      It writes $OUT/gpu.json (everything) and $OUT/gpu.log, and prints a summary. After the three devices it
#      runs the CPU with one session copy per core and bench/webgpu_probe.ts (the WebGPU provider alone: node
#      placement, original vs PRelu-free graph, per-node profile), about 100 s in all on the H100.
#   3. end to end (optional): `facemesh run` with --device cpu and webgpu on the videos in .cache/gpu/media, and the
#      webgpu rows against the cpu rows. ffmpeg + ffprobe (.cache/gpu-ff) and Node do not fit in one call's 64 MiB,
#      so two calls, the second within 30 s of the first (the machine must still be warm: /tmp survives):
#      run(command="bash bench/gpu.sh ffmpeg", carry=[".cache/gpu-ff"], timeout_s=120)
#      run(command="bash bench/gpu.sh e2e", carry=[".cache/gpu"], timeout_s=300)      (about 35 s on the H100)
#
# CUDA: onnxruntime-node's CUDA provider (libonnxruntime_providers_cuda.so + _shared.so) is not in the npm package;
# its install script downloads it from NuGet (Microsoft.ML.OnnxRuntime.Gpu.Linux) when ONNXRUNTIME_NODE_INSTALL=cuda12,
# which is impossible offline and no npm package ships it. It also needs the CUDA 12 + cuDNN 9 runtime. The script
# looks for those libraries on the machine (e.g. in a Python onnxruntime-gpu / nvidia-* wheel), uses them if found,
# tries cuda either way and reports the exact reason when it does not load. webgpu is bundled with
# onnxruntime-node and needs only a Vulkan loader and the NVIDIA ICD.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$HERE/.cache/gpu"

GL_DEBS="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
FF_BUNDLE="$HERE/.cache/gpu-ff"
FF=/tmp/facemesh-ff
# What dist/lib/cli.js loads beyond onnxruntime-node and its dependencies (found by running it in a bare folder).
CLI_PACKAGES="yargs yargs-parser cliui escalade y18n get-caller-file wrap-ansi string-width strip-ansi ansi-regex
  ansi-styles emoji-regex get-east-asian-width is-fullwidth-code-point cli-progress fast-xml-parser
  fast-xml-builder path-expression-matcher @nodable/entities strnum is-unsafe xml-naming anynum"

prepare() {
  set -e
  cd "$HERE"
  [ -f dist/bench/gpu_check.js ] || { echo "build first: npx tsc -p ." >&2; exit 1; }
  mkdir -p "$BUNDLE/debs"
  local node_bin; node_bin="$(command -v node)"
  if [ ! -s "$BUNDLE/node.xz" ] || [ "$node_bin" -nt "$BUNDLE/node.xz" ]; then
    echo "compressing $node_bin ($(node --version)) ..."
    xz -T2 -6 -c "$node_bin" > "$BUNDLE/node.xz.tmp" && mv "$BUNDLE/node.xz.tmp" "$BUNDLE/node.xz"
  fi
  local ort_version; ort_version="$(node -p 'require("./node_modules/onnxruntime-node/package.json").version')"
  if [ ! -s "$BUNDLE/ort.tar.xz" ] || [ "$(cat "$BUNDLE/ort.version" 2>/dev/null)" != "$ort_version" ]; then
    echo "packing onnxruntime-node $ort_version (Linux x64 binaries only) and the JS packages dist/ needs ..."
    tar -C node_modules -cJf "$BUNDLE/ort.tar.xz.tmp" onnxruntime-node/package.json onnxruntime-node/dist \
      onnxruntime-node/bin/napi-v6/linux/x64 onnxruntime-common onnx-proto protobufjs long @protobufjs
    mv "$BUNDLE/ort.tar.xz.tmp" "$BUNDLE/ort.tar.xz"
    echo "$ort_version" > "$BUNDLE/ort.version"
  fi
  echo "packing dist/ and models/ ..."
  tar -cJf "$BUNDLE/app.tar.xz.tmp" dist models/*.onnx models/manifest.json && mv "$BUNDLE/app.tar.xz.tmp" "$BUNDLE/app.tar.xz"
  if [ ! -s "$BUNDLE/crops/crops.u8" ]; then node dist/bench/gpu_crops.js "$BUNDLE/crops"; fi
  # The NVIDIA Vulkan ICD is libGLX_nvidia.so.0, which needs glvnd: without these Dawn finds no adapter (seen on the
  # H100 machine: "No supported adapters" with libvulkan1 alone; with all of them webgpu loaded).
  if ! ls "$BUNDLE"/debs/libglvnd0_*.deb >/dev/null 2>&1; then
    echo "fetching the Vulkan loader .deb (Debian registry) ..."
    (cd "$BUNDLE/debs" && { apt-get download $GL_DEBS 2>/dev/null || { apt-get update -qq && apt-get download $GL_DEBS; }; }) ||
      echo "warning: could not download libvulkan1; webgpu will need the machine's own Vulkan loader" >&2
  fi
  # End to end (`facemesh run` on the GPU machine): ffmpeg and ffprobe travel in their own bundle, in a call of
  # their own, because with Node they would not fit in one call's 64 MiB.
  mkdir -p "$FF_BUNDLE"
  if [ ! -s "$FF_BUNDLE/ff.tar.xz" ]; then
    echo "compressing ffmpeg and ffprobe (about 2 minutes) ..."
    tar -C node_modules/@ffmpeg-installer/linux-x64 -cf - ffmpeg -C ../../@ffprobe-installer/linux-x64 ffprobe |
      xz -T2 -6 -c > "$FF_BUNDLE/ff.tar.xz.tmp" && mv "$FF_BUNDLE/ff.tar.xz.tmp" "$FF_BUNDLE/ff.tar.xz"
  fi
  echo "packing the CLI's other JS packages and the trainer ..."
  tar -cJf "$BUNDLE/cli.tar.xz.tmp" facemesh.trainer nova-plugin.json \
    $(cd node_modules && for p in $CLI_PACKAGES; do echo "node_modules/$p"; done) && mv "$BUNDLE/cli.tar.xz.tmp" "$BUNDLE/cli.tar.xz"
  # Two videos and their bbox streams (made with `facemesh detect`, as the bench does): a shared 512x512 talking
  # head when ../shared is there, and the bench's generated 720p clip when it has been made.
  mkdir -p "$BUNDLE/media"
  local v name
  for v in "$HERE/../shared/data/sadtalker/WDA_KatieHill_000.mp4" "$HERE/.cache/bench/720p-10s.mp4"; do
    [ -f "$v" ] || { echo "skipping $v (absent)"; continue; }
    name="$(basename "$v" .mp4)"
    cp "$v" "$BUNDLE/media/$name.mp4"
    [ -s "$BUNDLE/media/$name.bbox.stream~" ] || node dist/lib/cli.js detect "$v" -o "$BUNDLE/media/$name.bbox.stream" >/dev/null
  done
  du -sh "$BUNDLE" "$FF_BUNDLE"
  echo "now, on the GPU machine: run(command=\"bash bench/gpu.sh\", carry=[\".cache/gpu\"], timeout_s=480)"
  echo "end to end, two calls less than 30 s apart (the machine must stay warm in between):"
  echo "  run(command=\"bash bench/gpu.sh ffmpeg\", carry=[\".cache/gpu-ff\"], timeout_s=120)"
  echo "  run(command=\"bash bench/gpu.sh e2e\", carry=[\".cache/gpu\"], timeout_s=300)"
}

if [ "${1:-}" = "prepare" ]; then prepare; exit $?; fi

# First of the two end-to-end calls: ffmpeg and ffprobe to $FF, where the second call finds them.
if [ "${1:-}" = "ffmpeg" ]; then
  [ -s "$FF_BUNDLE/ff.tar.xz" ] || { echo "error: $FF_BUNDLE/ff.tar.xz missing: run 'bash bench/gpu.sh prepare' and carry .cache/gpu-ff" >&2; exit 1; }
  rm -rf "$FF"; mkdir -p "$FF"
  tar -C "$FF" -xJf "$FF_BUNDLE/ff.tar.xz" && "$FF/ffmpeg" -version | head -1 && "$FF/ffprobe" -version | head -1
  exit $?
fi
MODE="${1:-all}" # all: devices, CPU copies, webgpu probe; e2e: end to end only

# ---------------------------------------------------------------------------------------------------------------
# On the GPU machine.
OUT="${OUT:-$HERE/gpu-out}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
: > "$LOG"
W=/tmp/facemesh-gpu
rm -rf "$W"; mkdir -p "$W/node_modules"
say() { echo "$*" | tee -a "$LOG"; }
started=$(date +%s)
[ -d "$BUNDLE" ] || { say "error: $BUNDLE missing: run 'bash bench/gpu.sh prepare' here first and carry .cache/gpu"; exit 1; }

say "== machine"
{ timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"; uname -r; nproc; } | tee -a "$LOG"

say "== node"
NODE=""
if command -v node >/dev/null 2>&1 && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  NODE="$(command -v node)"
else
  timeout 60 xz -dc "$BUNDLE/node.xz" > "$W/node" && chmod +x "$W/node" && NODE="$W/node"
fi
[ -n "$NODE" ] && "$NODE" --version >/dev/null 2>&1 || { say "error: no usable node"; exit 1; }
say "$NODE $("$NODE" --version)"

say "== unpack"
timeout 90 tar -C "$W/node_modules" -xJf "$BUNDLE/ort.tar.xz" && timeout 60 tar -C "$W" -xJf "$BUNDLE/app.tar.xz" || { say "error: unpack failed"; exit 1; }
echo '{"name":"facemesh-gpu-check","private":true,"type":"module"}' > "$W/package.json"
ORT_BIN="$W/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"

say "== vulkan (webgpu)"
for f in "$BUNDLE"/debs/*.deb; do [ -f "$f" ] && dpkg -x "$f" / && say "unpacked $(basename "$f")"; done
ldconfig 2>/dev/null || true
ldconfig -p 2>/dev/null | grep 'libvulkan.so.1' | head -1 | tee -a "$LOG" || say "no Vulkan loader"
if ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1 && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  say "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi

say "== cuda provider"
CUDA_NOTE="onnxruntime-node ships no CUDA provider: its install script fetches libonnxruntime_providers_cuda.so from NuGet (ONNXRUNTIME_NODE_INSTALL=cuda12), impossible offline"
provider="$(timeout 60 find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'libonnxruntime_providers_cuda.so' -print 2>/dev/null | head -1)"
if [ -n "$provider" ]; then
  pdir="$(dirname "$provider")"
  cp "$provider" "$ORT_BIN/" && cp "$pdir/libonnxruntime_providers_shared.so" "$ORT_BIN/" 2>/dev/null
  CUDA_NOTE="$CUDA_NOTE; found a provider on this machine ($provider, from another onnxruntime build) and tried it"
  say "found $provider"
else
  say "no libonnxruntime_providers_cuda.so on this machine"
fi
# CUDA 12 / cuDNN 9 runtime libraries (the 1.23 provider links libcudart.so.12, libcublasLt.so.12, libcudnn.so.9).
cuda_libs="$(timeout 60 find / -xdev \( -path /proc -o -path /sys \) -prune -o \( -name 'libcudart.so.12*' -o -name 'libcublasLt.so.12*' -o -name 'libcudnn.so.9*' -o -name 'libcufft.so.11*' \) -print 2>/dev/null | head -20)"
if [ -n "$cuda_libs" ]; then
  export LD_LIBRARY_PATH="$(echo "$cuda_libs" | xargs -n1 dirname | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "CUDA 12 runtime libraries: $(echo "$cuda_libs" | xargs -n1 basename | sort -u | paste -sd' ')"
else
  say "no CUDA 12 / cuDNN 9 runtime libraries found (the machine's CUDA is $(ls -d /usr/local/cuda-* 2>/dev/null | xargs -n1 basename 2>/dev/null | paste -sd' ' || echo unknown))"
fi

CHECK="$W/dist/bench/gpu_check.js"
CROPS="$BUNDLE/crops"
check() { # device timeout
  local dev="$1" limit="$2" args=()
  if [ "$dev" = cpu ]; then args=(--save "$W/cpu.bin"); else args=(--ref "$W/cpu.bin"); fi
  say "== $dev (limit ${limit}s)"
  timeout -k 5 "$limit" "$NODE" "$CHECK" --device "$dev" --crops "$CROPS" "${args[@]}" > "$W/res-$dev.json" 2>> "$LOG"
  local rc=$?
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "{\"device\":\"$dev\",\"loaded\":false,\"error\":\"timed out after ${limit}s\",\"speed\":[]}" > "$W/res-$dev.json"
  [ -s "$W/res-$dev.json" ] || echo "{\"device\":\"$dev\",\"loaded\":false,\"error\":\"exit $rc, no output (see gpu.log)\",\"speed\":[]}" > "$W/res-$dev.json"
  tail -c 2000 "$W/res-$dev.json" | tee -a "$LOG"; echo | tee -a "$LOG"
}
if [ "$MODE" = all ]; then
check cpu 150
check cuda 120
check webgpu 150

# The attention model (refine_landmarks): the CPU's mesh as the reference, then webgpu (its graph gets the same
# PRelu-free rewrite; the three feature-map crops are GridSample).
for dev in cpu webgpu; do
  if [ "$dev" = cpu ]; then aargs=(--save "$W/cpu-attention.bin"); else aargs=(--ref "$W/cpu-attention.bin"); fi
  say "== $dev, face_landmark_with_attention"
  timeout -k 5 150 "$NODE" "$CHECK" --device "$dev" --model face_landmark_with_attention --crops "$CROPS" "${aargs[@]}" > "$W/res-$dev-attention.json" 2>> "$LOG"
  tail -c 2000 "$W/res-$dev-attention.json" | tee -a "$LOG"; echo | tee -a "$LOG"
done

# The CPU again with one single-threaded session copy per core (the default caps copies at MAX_CPU_WORKERS).
say "== cpu, one session copy per core ($(nproc))"
timeout -k 5 120 "$NODE" "$CHECK" --device cpu --crops "$CROPS" --workers "$(nproc)" > "$W/res-cpu-percore.json" 2>> "$LOG"
tail -c 2000 "$W/res-cpu-percore.json" | tee -a "$LOG"; echo | tee -a "$LOG"

# The WebGPU provider alone (no inference thread), one process per variant (bench/webgpu_probe.ts): which
# provider each node lands on (onnxruntime's verbose log), the original graph against the PRelu-free one that the
# pipeline gives it, per-node times (onnxruntime's profile), GPU use meanwhile. At most 8 files go to $OUT.
PROBE="$W/dist/bench/webgpu_probe.js"
: > "$OUT/webgpu_probe.jsonl"
say "== webgpu probe"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 250 > "$OUT/smi.csv" 2>&1 &
SMI=$!
: > "$W/verbose.log"
for m in face_landmark face_landmark_with_attention face_detection_short_range face_detection_full_range; do
  for v in default rewritten; do
    say "-- $m, $v graph: placement"
    timeout -k 5 60 "$NODE" "$PROBE" --model "$m" --variant "$v" --crops "$CROPS" --verbose --seconds 0.5 > /dev/null 2> "$W/v.log"
    grep -a -E "placed on \[" "$W/v.log" | sed 's/.*VerifyEachNodeIsAssignedToAnEp\]//' | tee -a "$LOG"
    cat "$W/v.log" >> "$W/verbose.log"
  done
done
gzip -c "$W/verbose.log" > "$OUT/webgpu_verbose.log.gz"
for v in default rewritten; do
  (sleep 5; nvidia-smi >> "$LOG" 2>&1) &
  timeout -k 5 90 "$NODE" "$PROBE" --variant "$v" --crops "$CROPS" >> "$OUT/webgpu_probe.jsonl" 2>> "$LOG"
  tail -n 1 "$OUT/webgpu_probe.jsonl" | tee -a "$LOG"
done
timeout -k 5 90 "$NODE" "$PROBE" --variant rewritten --crops "$CROPS" --profile "$W/prof" --seconds 1 >> "$OUT/webgpu_probe.jsonl" 2>> "$LOG"
for f in "$W"/prof_*.json; do [ -f "$f" ] && gzip -c "$f" > "$OUT/webgpu_profile.json.gz"; done
kill "$SMI" 2>/dev/null
fi

# End to end: `facemesh run` on the carried videos, cpu and webgpu, with a bbox stream and without, two rounds
# each (pipeline fps from FACEMESH_TIMING), then each webgpu stream against the cpu one (bench/gpu_rows.ts).
: > "$OUT/e2e.jsonl"
if [ -x "$FF/ffmpeg" ] && [ -x "$FF/ffprobe" ] && [ -d "$BUNDLE/media" ]; then
  say "== end to end"
  timeout 60 tar -C "$W" -xJf "$BUNDLE/cli.tar.xz" || say "error: cli.tar.xz did not unpack"
  export FFMPEG_PATH="$FF/ffmpeg" FFPROBE_PATH="$FF/ffprobe"
  for v in "$BUNDLE"/media/*.mp4; do
    name="$(basename "$v" .mp4)"
    size="$("$FFPROBE_PATH" -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$v" | tr , ' ')"
    for mode in bbox detect; do
      # detect = static mode (the detector on every frame), as before video mode became the default.
      extra=(--no-tracking); [ "$mode" = bbox ] && extra=(--bbox "$BUNDLE/media/$name.bbox.stream")
      for dev in cpu webgpu; do
        for round in 1 2; do
          s="$W/e2e-$name-$mode-$dev.stream"
          t0=$(date +%s.%N)
          FACEMESH_TIMING=1 timeout -k 5 120 "$NODE" "$W/dist/lib/cli.js" run "$v" -o "$s" --device "$dev" "${extra[@]}" > /dev/null 2> "$W/e2e.err"
          rc=$?
          wall=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
          timing="$(grep -a '^facemesh-timing ' "$W/e2e.err" | tail -1 | cut -d' ' -f2-)"
          [ -n "$timing" ] || timing=null
          err="$(grep -a -v '^facemesh' "$W/e2e.err" | tail -2 | tr '\n"' ' .' | cut -c1-300)"
          echo "{\"video\":\"$name\",\"mode\":\"$mode\",\"device\":\"$dev\",\"round\":$round,\"rc\":$rc,\"processSeconds\":$wall,\"timing\":$timing,\"stderr\":\"$err\"}" >> "$OUT/e2e.jsonl"
          tail -n 1 "$OUT/e2e.jsonl" | "$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8"));const t=r.timing;console.log(`${r.video} ${r.mode} ${r.device} round ${r.round}: rc ${r.rc}, process ${r.processSeconds.toFixed(2)} s${t?`, ${t.frames} frames, pipeline ${(t.frames/t.wallMs*1000).toFixed(0)} fps`:""}${r.rc?" "+r.stderr:""}`)' | tee -a "$LOG"
        done
      done
      if [ -s "$W/e2e-$name-$mode-cpu.stream~" ] && [ -s "$W/e2e-$name-$mode-webgpu.stream~" ]; then
        cmp="$("$NODE" "$W/dist/bench/gpu_rows.js" "$W/e2e-$name-$mode-cpu.stream" "$W/e2e-$name-$mode-webgpu.stream" $size)"
        echo "{\"video\":\"$name\",\"mode\":\"$mode\",\"webgpuVsCpu\":$cmp}" >> "$OUT/e2e.jsonl"
        say "$name $mode webgpu vs cpu rows: $cmp"
      fi
    done
  done
else
  say "== end to end: skipped (needs $FF from 'bash bench/gpu.sh ffmpeg' in the previous call, and media/ in the bundle)"
fi

"$NODE" -e '
const fs = require("fs");
const [w, out, note, started, mode] = process.argv.slice(1);
const read = (d) => { try { return JSON.parse(fs.readFileSync(`${w}/res-${d}.json`, "utf8")); } catch (e) { return { device: d, loaded: false, error: String(e), speed: [] }; } };
const devices = ["cpu", "cuda", "webgpu"].map(read);
const cpuPerCore = read("cpu-percore");
let webgpuProbe = [];
try { webgpuProbe = fs.readFileSync(`${out}/webgpu_probe.jsonl`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)); } catch {}
let e2e = [];
try { e2e = fs.readFileSync(`${out}/e2e.jsonl`, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)); } catch {}
const result = { when: new Date().toISOString(), seconds: Math.round(Date.now() / 1000 - Number(started)), cudaNote: note, devices, cpuPerCore, webgpuProbe, e2e };
fs.writeFileSync(`${out}/gpu.json`, JSON.stringify(result, null, 1));
for (const d of mode === "all" ? [...devices, { ...cpuPerCore, device: "cpu (one copy per core)" }] : []) {
  const speed = d.speed.map((s) => `batch ${s.batch}: ${s.facesPerSecond.toFixed(0)} faces/s`).join(", ");
  const par = d.parity ? `; vs cpu max ${d.parity.maxFramePx.toFixed(3)} px mean ${d.parity.meanFramePx.toFixed(4)} px (frame), score max diff ${d.parity.maxScoreDiff.toExponential(1)}` : "";
  console.log(`${d.device}: ${d.loaded ? `loaded (${d.thread} thread)` : "not loaded"}${speed ? `; ${speed}` : ""}${par}${d.error ? `; error: ${String(d.error).slice(0, 400)}` : ""}`);
}
for (const p of webgpuProbe) console.log(`webgpu probe ${p.variant ?? "?"}${p.speed ? ": " + p.speed.map((s) => `batch ${s.batch} ${s.facesPerSecond.toFixed(0)} faces/s`).join(", ") + `, max diff vs cpu ${p.maxDiff?.toExponential(1)} crop px, load ${p.loadMs} ms` : ""}${p.error ? ": error " + p.error.slice(0, 300) : ""}`);
console.log(`wrote ${out}/gpu.json`);
' "$W" "$OUT" "$CUDA_NOTE" "$started" "$MODE" | tee -a "$LOG"
