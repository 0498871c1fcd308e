#!/usr/bin/env bash
# cifar-grid.sh - the CIFAR-10 FleXOR runs of docs/RESULTS.md (paper Table 1 / Table 2 settings on a short
# CPU schedule): ResNet-20 at 0.8 / 1.0 / 0.6 / 0.4 bit and the 0.47-bit per-stage setting (N_in 19/16/7),
# and ResNet-32 at 0.8 bit. Each starts from the pretrained full-precision model (encrypted with --init) and
# distils from it. Every run has its own checkpoint, so an interrupted grid resumes where it stopped; finished
# runs are skipped. Needs the FP models: /usr/bin/python3 tools/import_pretrained.py ../shared/pretrained/*.th
# Usage: tools/experiments/cifar-grid.sh [EPOCHS] [OUTDIR] [SHORT]   (defaults: 10, ~/.cache/flexor-wasm/runs, 3)
# ResNet-20 at 0.8 and 1.0 bit train EPOCHS epochs; the other settings SHORT epochs (on 2 cores one epoch of
# ResNet-20 is ~4-8 minutes, so a 10-epoch run of every setting does not fit one session). THREADS (default 2)
# sets the trainer threads, e.g. THREADS=1 when another grid shares the machine.
set -uo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=${1:-10}
OUT=${2:-$HOME/.cache/flexor-wasm/runs}
SHORT=${3:-3}
THREADS=${THREADS:-2}
M=${FLEXOR_MODELS:-$HOME/.cache/flexor-wasm/models}
mkdir -p "$OUT"
[ -x build/native/flexor ] || ./build.sh native
BIN="$OUT/flexor-cifar"
cp build/native/flexor "$BIN"

run() { # run NAME DEPTH EPOCHS ARGS...
    local name=$1 depth=$2 epochs=$3; shift 3
    if grep -q '^done:' "$OUT/$name.log" 2>/dev/null; then echo "skip $name (done)"; return; fi
    local fp="$M/resnet$depth-fp.fxm"
    [ -f "$fp" ] || { echo "missing $fp: run tools/import_pretrained.py first" >&2; return 1; }
    echo "run $name"
    if [ -f "$OUT/$name.ckpt" ]; then
        "$BIN" train cifar10 --resume --ckpt "$OUT/$name.ckpt" --threads "$THREADS" >> "$OUT/$name.log" 2>&1
    else
        "$BIN" train cifar10 --model "resnet$depth" "$@" --init "$fp" --teacher "$fp" --T 4 --kd 0.9 --lr 0.05 \
            --warmup 0.3 --epochs "$epochs" --sched cosine --stanh 10 --stanh0 5 --wd 1e-5 --batch 128 --seed 1 \
            --threads "$THREADS" --ckpt "$OUT/$name.ckpt" --ckpt-every 300 --out "$OUT/$name.fxm" > "$OUT/$name.log" 2>&1
    fi
    tail -1 "$OUT/$name.log"
}

run r20-b0.8 20 "$EPOCHS" --bits 0.8
run r20-b1.0 20 "$EPOCHS" --bits 1.0
run r20-b0.4 20 "$SHORT" --bits 0.4
run r20-b0.6 20 "$SHORT" --bits 0.6
run r32-b0.8 32 "$SHORT" --bits 0.8
run r20-b0.47 20 "$SHORT" --bits 0.4 --stage-nin 19,16,7
