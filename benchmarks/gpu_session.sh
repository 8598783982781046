#!/usr/bin/env bash
# Issue #12's measurements in one short GPU window, in priority order; every result is written under $OUT the
# moment it exists, so a window that ends early still returns what was measured.
#
#   On the GPU machine (the repository root, the packed data carried in .carry/):
#     mkdir -p .carry && cp ../shared/data/cifar10-jpeg.npz .carry/         # here, before the call (~56 MB)
#     bash benchmarks/gpu_session.sh                                         # there; BUDGET_S=540 by default
#   Rehearsal on a CPU (tiny sizes, same steps, same files):
#     REHEARSE=1 DEVICE=cpu DATA=synthetic OUT=/tmp/gpu-rehearsal bash benchmarks/gpu_session.sh
#
# (a) batch 128: graphed / eager fast path / the lab's DataLoader pipeline, 3 epochs each, same run;
# (b) the same with batch norm; (c) batch 8, 2 epochs, graphed and eager; (d) 50 epochs end to end, data loading
# included — all four by bench_train.py --gpu-suite, one JSON line each into bench.jsonl;
# then the Training page's worker end to end (worker_check.py: queue, live epochs, cancel, checkpoint);
# (e) the lab's ladder (python -m cnncalc ladder), full lengths when the time left allows, else shortened and
# labelled so in ladder.txt.
set -u
OUT=${OUT:-/tmp/gpu-out}
DATA=${DATA:-.carry/cifar10-jpeg.npz}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-540}
REHEARSE=${REHEARSE:-0}
PY=${PY:-python}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
start=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - start) )); }
log() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$OUT/session.log"; }

# The core needs safetensors for checkpoints; a GPU machine without the internet installs the carried wheel.
$PY -c "import safetensors" 2>/dev/null || $PY -m pip install -q --no-index --find-links .carry/wheels safetensors \
  >>"$OUT/session.log" 2>&1
{ $PY -c "import torch, platform; print('torch', torch.__version__, '| python', platform.python_version());
import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null; nproc; } >"$OUT/machine.txt" 2>&1
log "machine: $(tr '\n' ' ' <"$OUT/machine.txt")"

if [ "$REHEARSE" = 1 ]; then SIZES="--limit 512 --full-run 3"; WLIMIT="--limit 600"; LADDER="--limit 600 --epochs 1";
else SIZES="--full-run 50"; WLIMIT=""; LADDER=""; fi

log "(a)-(d) bench_train --gpu-suite"
timeout $(( $(left) - 60 )) $PY benchmarks/bench_train.py --gpu-suite --data "$DATA" --device "$DEVICE" $SIZES \
  --out "$OUT/bench.jsonl" 2>&1 | tee -a "$OUT/session.log"

if [ "$(left)" -gt 90 ]; then
  log "worker end to end"
  timeout $(( $(left) - 40 )) $PY benchmarks/worker_check.py --data "$DATA" --device "$DEVICE" --epochs 3 $WLIMIT \
    --out "$OUT/worker.json" 2>&1 | tail -40 | tee -a "$OUT/session.log"
fi

# (e) The full ladder is ~4×50 + 50 + 100 epochs; at the graphed path's ~0.25–0.4 s per epoch plus evaluation
# that is about 2–3 minutes. With less time left, every step runs 10 epochs, labelled "shortened".
T=$(( $(left) - 15 ))
if [ "$T" -gt 30 ]; then
  if [ -z "$LADDER" ] && [ "$T" -lt 200 ]; then LADDER="--epochs 10"; echo "shortened: every step 10 epochs" >"$OUT/ladder.txt"; fi
  [ -z "$LADDER" ] && echo "full lengths" >"$OUT/ladder.txt"
  [ "$REHEARSE" = 1 ] && echo "rehearsal: $LADDER" >"$OUT/ladder.txt"
  log "(e) ladder $LADDER, ${T} s left for it"
  L0=$(date +%s)
  CNNCALC_DATA="$OUT/store" timeout "$T" $PY -m cnncalc ladder --data "$DATA" --device "$DEVICE" $LADDER \
    --json >"$OUT/ladder.jsonl" 2>>"$OUT/session.log"
  echo "exit $? after $(( $(date +%s) - L0 )) s" >>"$OUT/ladder.txt"
  rm -rf "$OUT/store"  # checkpoints: not needed back, and they count against what returns
fi
log "done, $(left) s of the budget left"
