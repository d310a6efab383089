#!/usr/bin/env bash
# Installs every Debian package graft needs to build, test and benchmark.
# Used by the README and by .ci/run; safe to run again (apt-get skips what is there).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# python3-torch (with OpenBLAS, not the slow reference BLAS) is the independent reference: tests export
# models with it and compare graft against its outputs; bench/ compares training speed against it.
# clang-14 with its sanitizer/libFuzzer runtimes and OpenMP builds the fuzz harnesses and the sanitizer
# runs (scripts/fuzz.sh, scripts/sanitize.sh). Open MPI: data-parallel training (mpirun -np N graft finetune).
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git \
  libdnnl-dev \
  libprotobuf-dev protobuf-compiler libonnx-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libcli11-dev nlohmann-json3-dev \
  libutf8proc-dev libonig-dev \
  libcurl4-openssl-dev libssl-dev \
  clang-14 libclang-rt-14-dev libomp-14-dev \
  libopenmpi-dev openmpi-bin \
  python3 python3-numpy python3-onnx \
  python3-torch python3-torchvision libopenblas0-pthread \
  >/dev/null
echo "install-deps: done"
