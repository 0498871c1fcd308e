#!/usr/bin/env bash
# build.sh - builds everything from the one C source tree in src/:
#   build/native/libflexor.a   native static library (gcc/clang -O3)
#   build/native/flexor        native command-line program
#   build/native/fxtests       native C test suite, and build/native/fxtests-san under ASan + UBSan
#   wasm/flexor.wasm           the WebAssembly SIMD module (standalone, loaded by wasm/flexor.js)
#   build/wasm/fxtests.wasm    the C test suite as a WebAssembly module (run by tests/run-wasm.mjs)
# Usage: ./build.sh [native|wasm|all|deps] (default all; deps installs what the tests need beyond compilers). On Debian as root, missing toolchain packages are
# installed; elsewhere the script says exactly what is missing.
set -euo pipefail
cd "$(dirname "$0")"
what=${1:-all}

die() { echo "build.sh: $*" >&2; exit 1; }

need() { # need <command> <debian package>
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "build.sh: installing $2 (for $1)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null \
            || die "apt-get install $2 failed"
        command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
    else
        die "missing '$1': install the Debian package '$2' (or your system's equivalent) and re-run"
    fi
}

SRC=$(ls src/*.c src/nn/*.c src/io/*.c src/kernels/*.c | sort)
TESTS=$(ls tests/c/*.c | sort)
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter"

# A file is rebuilt only when one of its inputs is newer; `stale out inputs...`.
stale() { local out=$1 f; shift; [ ! -e "$out" ] && return 0; for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done; return 1; }
HDRS=$(ls src/*.h src/kernels/*.h tests/c/*.h tools/cli/*.h)

build_native() {
    need gcc gcc
    local cc=${CC:-gcc} out=build/native
    mkdir -p "$out/obj"
    local objs=()
    for f in $SRC; do
        local o="$out/obj/$(echo "$f" | tr / _).o"
        if stale "$o" "$f" $HDRS; then $cc -std=c11 -O3 $WARN -Werror -c "$f" -o "$o"; fi
        objs+=("$o")
    done
    rm -f "$out/libflexor.a" && ar rcs "$out/libflexor.a" "${objs[@]}"
    if stale "$out/flexor" tools/cli/*.c "$out/libflexor.a"; then
        $cc -std=c11 -O3 $WARN -Werror -Isrc tools/cli/*.c "$out/libflexor.a" -lm -lpthread -o "$out/flexor"
    fi
    if stale "$out/fxtests" $TESTS "$out/libflexor.a"; then
        $cc -std=c11 -O2 $WARN -Werror -Isrc $TESTS "$out/libflexor.a" -lm -o "$out/fxtests"
    fi
    if stale "$out/fxtests-san" $SRC $TESTS $HDRS; then
        $cc -std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
            $WARN -Isrc $SRC $TESTS -lm -o "$out/fxtests-san"
    fi
    echo "build.sh: native ok ($out/libflexor.a, $out/flexor, $out/fxtests, $out/fxtests-san)"
}

# Every fx_* / fxw_* function declared in flexor.h or defined in api_flat.c is exported.
exports() {
    { grep -ohE '^[a-z_0-9 ]+\*? ?\*?(fx|fxw)_[a-z0-9_]+\(' src/flexor.h src/api_flat.h \
        | grep -oE '(fx|fxw)_[a-z0-9_]+\(' | tr -d '('; } | sort -u | sed 's/^/_/' | paste -sd, -
}

build_wasm() {
    if ! command -v emcc >/dev/null 2>&1; then need emcc emscripten; fi
    command -v wasm-opt >/dev/null 2>&1 || need wasm-opt binaryen
    mkdir -p build/wasm wasm
    local common="-std=c11 -O3 -msimd128 $WARN -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=33554432 -sMAXIMUM_MEMORY=4294967296"
    if stale wasm/flexor.wasm $SRC $HDRS; then
        emcc $common --no-entry -sEXPORTED_FUNCTIONS="$(exports)" $SRC -o wasm/flexor.wasm
    fi
    if stale build/wasm/fxtests.wasm $SRC $TESTS $HDRS; then
        emcc $common -Isrc -sERROR_ON_UNDEFINED_SYMBOLS=0 -sWARN_ON_UNDEFINED_SYMBOLS=0 $SRC $TESTS -o build/wasm/fxtests.wasm
    fi
    echo "build.sh: wasm ok (wasm/flexor.wasm $(wc -c < wasm/flexor.wasm) bytes, build/wasm/fxtests.wasm)"
}

# What the tests need beyond the compilers: Debian's Chromium (browser tests) and python3-torch (PyTorch
# reference, DDP exporter test). Installed as root on Debian; elsewhere reported.
test_deps() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1 || missing+=(python3-torch python3-numpy)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "build.sh: installing test dependencies: ${missing[*]}" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    else
        echo "build.sh: the tests also need: ${missing[*]} (Debian packages); the tests that use them will fail" >&2
    fi
}

case "$what" in
deps) test_deps ;;
native) build_native ;;
wasm) build_wasm ;;
all) build_native; build_wasm ;;
*) die "unknown target '$what' (native, wasm or all)" ;;
esac
