#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Host side of the module tests: build hypertrace.ko for each ABI (against
# that ABI's Debian headers, in build/kmod-<abi>/, one dir per ABI since M=
# builds in place).  The test client (kmod_client) is a CMake target.
#   tests/vm/kmod/build.sh ABI...
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
build=${HT_BUILD_DIR:-$top/build}
for abi in "$@"; do
    kdir=/lib/modules/$abi/build
    if [ ! -d "$kdir" ]; then
        echo "build.sh: no headers for $abi: apt-get install linux-headers-$abi" >&2
        exit 1
    fi
    rm -rf "$build/kmod-$abi"
    t0=$SECONDS
    make -s -j"$(nproc)" -C "$top/kmod" KDIR="$kdir" OUT="$build/kmod-$abi" >&2
    echo "kmod $abi (on this host): $build/kmod-$abi/hypertrace.ko:" \
        "$("$top/tests/vm/kmod/describe-build" "$build/kmod-$abi" "$abi"); make $((SECONDS - t0)) s" >&2
done
