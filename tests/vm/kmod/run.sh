#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Host side: build hypertrace.ko for the testbed kernel(s) against their
# Debian headers (build-testbed-modules: on this host or in a root of the
# kernel's release), build the test client, boot each kernel and run
# test_kmod.sh in it.
#   tests/vm/kmod/run.sh [KERNEL...]   (5.10 6.1 6.12 bpo sid; default 6.1 6.12)
set -uo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
build=${HT_BUILD_DIR:-$top/build}
export HT_BUILD_DIR=$build
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
cmake --build "$build" --target hcgen kmod_client >/dev/null || exit 1
rc=0
for k in "${kernels[@]}"; do
    tests/vm/kmod/build-testbed-modules "$k" || exit 1
    abi=$(tests/vm/run --kernel "$k" --print-abi) || exit 1
    scratch=$build/kmod-test/scratch-$abi
    rm -rf "$scratch" && mkdir -p "$scratch"
    echo "=== kmod tests on $abi"
    HT_SCRATCH=$scratch timeout 900 tests/vm/run --kernel "$k" --timeout 800 -- \
        tests/vm/kmod/test_kmod.sh
    r=$?
    echo "=== $abi: exit $r"
    [ $r -eq 0 ] || rc=1
done
exit $rc
