#!/usr/bin/env bash
# mnist-grid.sh - the MNIST LeNet-5 experiments of docs/RESULTS.md: bits/weight x N_out x (random fill,
# N_tap = 2), the full-precision baseline and the backward-mode ablation. Each run is the native CLI with
# its own checkpoint, so an interrupted grid resumes where it stopped (finished runs are skipped).
# Usage: tools/experiments/mnist-grid.sh [EPOCHS] [OUTDIR]   (defaults: 10, ~/.cache/flexor-wasm/runs/mnist)
set -uo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=${1:-10}
OUT=${2:-$HOME/.cache/flexor-wasm/runs/mnist}
mkdir -p "$OUT"
[ -x build/native/flexor ] || ./build.sh native
# a private copy, so rebuilding the work tree does not change the binary under a running grid
BIN="$OUT/flexor"
cp build/native/flexor "$BIN"
LR=${LR:-3e-4} # Adam lr of the FleXOR runs (latent values start at N(0, 1e-3^2); 1e-3 flips them at random early)

run() { # run NAME ARGS...
    local name=$1; shift
    if grep -q '^done:' "$OUT/$name.log" 2>/dev/null; then echo "skip $name (done)"; return; fi
    local resume=()
    [ -f "$OUT/$name.ckpt" ] && resume=(--resume)
    echo "run $name: $*"
    if [ ${#resume[@]} -gt 0 ]; then
        "$BIN" train mnist --resume --ckpt "$OUT/$name.ckpt" --threads 2 >> "$OUT/$name.log" 2>&1
    else
        "$BIN" train mnist "$@" --epochs "$EPOCHS" --seed 1 --threads 2 --ckpt "$OUT/$name.ckpt" \
            --out "$OUT/$name.fxm" > "$OUT/$name.log" 2>&1
    fi
    tail -1 "$OUT/$name.log"
}

run fp --fp
for bits in 0.8 0.4 0.6 1.0; do
    for nout in 20 10; do
        run "b$bits-n$nout-tap2" --bits "$bits" --nout "$nout" --ntap 2 --lr "$LR"
        run "b$bits-n$nout-rand" --bits "$bits" --nout "$nout" --random-fill --lr "$LR"
    done
done
for mode in ste analog; do
    run "b0.8-n20-tap2-$mode" --bits 0.8 --nout 20 --ntap 2 --mode "$mode" --lr "$LR"
done
