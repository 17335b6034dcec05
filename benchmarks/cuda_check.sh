#!/usr/bin/env bash
# The CUDA path checked and measured in one go, on a machine with a GPU (under 10 minutes on one H100-class GPU:
# each stage has its own time limit, 555 s together, and a failing or timed-out stage does not stop the next):
#   1. the CUDA variants of the tests (`pytest -m cuda`: models, bf16, checkpointing, accumulation, master weights,
#      KV cache, chunked planning, pretraining and train-ac on the GPU, and no host-device waits in a training step
#      or a CEM search);
#   2. the benchmark table on the GPU (ceiling, pretraining tiny/small fp32/bf16, attention, AC rollout, CEM, encode);
#   3. the bf16 pretraining step with torch.compile (inductor; tiny and small);
#   4. master weights against plain bf16 autocast, paired in one process.
#
#     bash benchmarks/cuda_check.sh [OUT_DIR]          # default: benchmarks/results/cuda-<timestamp>
#
# Everything printed is also written under OUT_DIR (logs, the benchmark CSV/JSON). Run from the repository root,
# with the project installed (or PYTHONPATH=. and its dependencies importable); $PYTHON (default python3) runs it.
set -uo pipefail
out=${1:-benchmarks/results/cuda-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
status=0

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log to OUT_DIR/NAME.log, remember a failure
    local name=$1 seconds=$2
    shift 2
    echo "=== $name: $*"
    timeout "$seconds" "$@" 2>&1 | tee "$out/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc"
    [ "$rc" -eq 0 ] || status=1
}

"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, \
torch.cuda.get_device_name())" || exit 1
stage tests 150 "$py" -m pytest -q -m cuda -p no:cacheprovider
stage bench 180 "$py" -m benchmarks --device cuda --only pretrain,attention,ac,cem,encode --steps 10 \
    --out "$out/bench"
stage compile 180 "$py" -m benchmarks --device cuda --compile --only pretrain --precisions bf16 --steps 10 \
    --out "$out/compile"
stage paired 45 "$py" -m benchmarks.pretrain_step --device cuda --precisions bf16,bf16-autocast --paired 8 \
    --steps 10
exit $status
