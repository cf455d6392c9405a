#!/usr/bin/env bash
# Packs what tools/gpu/cuda_verifier_check.sh needs on a GPU machine that has PyTorch (with CUDA) but no .NET:
# the .NET runtime and the `synera` program without the CPU libtorch it ships with (the machine's libtorch
# is used instead). Writes .cuda/dotnet.tar.xz and .cuda/app.tar.xz (~35 MB; .cuda/ is git-ignored locally).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pub="$(mktemp -d)/synera"
dotnet publish "$root/Synera.Cli/Synera.Cli.csproj" -c Release -o "$pub" -v q --nologo -clp:ErrorsOnly
find "$pub/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
find "$pub/runtimes/linux-x64/native" -type f ! -name libLibTorchSharp.so -delete
mkdir -p "$root/.cuda"
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
[[ -f "$root/.cuda/dotnet.tar.xz" ]] || tar -cJf "$root/.cuda/dotnet.tar.xz" -C "$dotnet_root" dotnet host shared/Microsoft.NETCore.App
tar -cJf "$root/.cuda/app.tar.xz" -C "$(dirname "$pub")" synera
ls -la "$root/.cuda"
