#!/usr/bin/env bash
# Configures and builds jvb-audio. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Default BUILD_DIR: build (RelWithDebInfo, tests and benchmarks included).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
