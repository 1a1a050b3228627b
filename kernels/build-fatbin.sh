#!/usr/bin/env bash
# Compiles every kernel in src/ into one fatbin (sm_80, sm_89, sm_90a machine code plus compute_90
# PTX for newer chips), written to $1/lserve.fatbin. Compute capability 9.0 gets sm_90a (the
# Hopper-only wgmma GEMM, gemm_sm90.cuh) instead of plain sm_90: every 9.0 device runs sm_90a code,
# and with both in the fatbin the driver's choice between them is not documented. A kernel that
# fails to compile fails the build. Without nvcc the build goes on without the fatbin and says so;
# the CUDA backend then reports at run time that the kernels were not built.
set -euo pipefail
out=${1:?usage: build-fatbin.sh OUTPUT_DIR}
src=src/lserve_kernels.cu
mkdir -p "$out"
if ! command -v nvcc >/dev/null 2>&1; then
  echo "[lserve-kernels] WARNING: nvcc not found on PATH: CUDA kernels NOT built; --device cuda will be unavailable" >&2
  rm -f "$out/lserve.fatbin"
  exit 0
fi
stamp="$out/lserve.fatbin"
if [ -f "$stamp" ] && [ -z "$(find src -newer "$stamp" -print -quit)" ]; then
  exit 0  # up to date
fi
nvcc_flags=(-O3 -std=c++17 -lineinfo --fatbin -Xptxas -warn-spills)
if [ -n "${LSERVE_SM90A_ONLY:-}" ]; then
  # A Hopper-only fatbin (a third of the size), for the GPU host's bundle under its transfer limit.
  nvcc_flags+=(-gencode arch=compute_90a,code=sm_90a)
else
  nvcc_flags+=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89
    -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90)
fi
echo "[lserve-kernels] nvcc $(nvcc --version | tail -1 | sed 's/.*release //')" >&2
nvcc "${nvcc_flags[@]}" -Isrc -o "$stamp.tmp" "$src"
mv "$stamp.tmp" "$stamp"
