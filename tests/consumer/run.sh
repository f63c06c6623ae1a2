#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs the consumer with
# find_package(reservoir) and again with pkg-config, and checks the installed tools run.
# Args: BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
# The tools come with the library.
if [ -d "$src/tools/reservoir-bench" ]; then
  "$prefix/bin/reservoir-bench" --version >/dev/null
fi
# CXX / CXXFLAGS: the library's compiler and sanitizer flags (tests/CMakeLists.txt).
cxx=${CXX:-c++} cxxflags=${CXXFLAGS:-}
cmake -S "$src/tests/consumer" -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$cxxflags" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs reservoir)
# shellcheck disable=SC2086
"$cxx" $cxxflags "$src/tests/consumer/main.cpp" $flags -o "$prefix/consumer-pc"
"$prefix/consumer-pc"
