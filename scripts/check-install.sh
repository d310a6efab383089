#!/usr/bin/env bash
# Installs graft from BUILD_DIR into a scratch prefix and builds a tiny consumer project against it with
# find_package(graft) + target_link_libraries(app graft::graft), then runs it. The consumer writes
# `using namespace graft;` and uses onnx::Model, and fails to compile if graft leaks its dependencies' compile
# definitions or headers (examples/consumer/main.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
cmake --install "$BUILD" --prefix "$PREFIX/install" >/dev/null
cmake -S examples/consumer -B "$PREFIX/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$PREFIX/install" >/dev/null
cmake --build "$PREFIX/consumer" >/dev/null
"$PREFIX/consumer/consumer"
