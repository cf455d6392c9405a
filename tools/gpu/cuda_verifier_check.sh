#!/usr/bin/env bash
# CUDA check of the verifier on a GPU machine with PyTorch but no .NET (run from the repo root there, after
# tools/gpu/pack_cuda_bundle.sh here): TorchSharp 0.107 is built for libtorch 2.10; this borrows the machine's
# libtorch (PyTorch's lib folder) and reports any symbol it lacks. Then it runs the shipped target through
# `synera eval --device cuda` (accuracy must equal the CPU's) and `synera bench verifier --device cuda`, with
# random drafts and with the LLM's own (accepted whole).
set -uo pipefail
out="${OUT:-/tmp/cuda-check}"
mkdir -p /tmp/dotnet /tmp/app "$out"
tar -xJf .cuda/dotnet.tar.xz -C /tmp/dotnet && tar -xJf .cuda/app.tar.xz -C /tmp/app || exit 2
app=/tmp/app/synera
torchlib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
python3 - "$torchlib" "$app/runtimes/linux-x64/native/libLibTorchSharp.so" <<'PY'
import ctypes, os, sys
lib, sharp = sys.argv[1], sys.argv[2]
for name in ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libc10_cuda.so", "libtorch_cuda.so"):
    ctypes.CDLL(os.path.join(lib, name), mode=ctypes.RTLD_GLOBAL)
try:
    ctypes.CDLL(sharp, mode=os.RTLD_NOW | os.RTLD_GLOBAL)
    print("LibTorchSharp: every symbol resolves against this libtorch")
except OSError as e:
    print("LibTorchSharp: eager binding fails (lazy binding may still run what we call):", e)
PY
export LD_LIBRARY_PATH="$torchlib:$app/runtimes/linux-x64/native:${LD_LIBRARY_PATH:-}" DOTNET_ROOT=/tmp/dotnet SYNERA_ROOT="$PWD"
run() { /tmp/dotnet/dotnet "$app/synera.dll" "$@"; }
run eval --model models/target --device cuda --out "$out/eval-target-cuda.json" 2>&1 | tee "$out/eval.log"
run bench verifier --device cuda --seconds 3 --out "$out" 2>&1 | tee "$out/bench.log"
# Drafts the LLM accepts whole exercise the kept-logits path (a span judged on the previous span's last row).
run bench verifier --device cuda --seconds 3 --drafts target --out "$out/target" 2>&1 | tee "$out/bench-target.log"
