#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed, every kernel of the matrix): the eBPF and the
module backend, tracing ONE workload run at the same time (they attach
independently), report the same records field by field, exit reason
included, apart from the timestamps and the host CPU; and both equal hcgen's
ground truth.  The log says how each backend traced (its "using" line: the
prototypes, from BTF or the module's compile-time guess, and the state)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import Tracer, assert_records_match, check, finish, log, parse_json_lines, run_hcgen  # noqa: E402

# Fields that may differ between two probes of one event: when each ran, and
# where (a vCPU thread can migrate between them).
PER_PROBE = {"t_exit_ns", "t_hypercall_ns", "t_entry_ns", "latency_ns", "cpu", "t_userspace_exit_ns", "vmm_ns"}


def keyed(records):
    return {(r["tid"], r["a0"]): {k: v for k, v in r.items() if k not in PER_PROBE} for r in records}


def run_both(*args, schedule):
    bpf = Tracer("-b", "bpf", "-f", "json", *args, name="agree-bpf")
    try:
        kmod = Tracer("-b", "kmod", "-f", "json", *args, name="agree-kmod")
    except Exception:
        bpf.stop()
        raise
    try:
        truth = run_hcgen(*schedule)
    finally:
        out_kmod = kmod.stop()
        out_bpf = bpf.stop()
    for t in (bpf, kmod):
        log(f"     {t.stderr().splitlines()[0]}")
    return truth, parse_json_lines(out_bpf), parse_json_lines(out_kmod), bpf.totals(), kmod.totals()


def same_records(*args, schedule, nrs=None):
    def run():
        truth, rb, rk, tb, tk = run_both(*args, schedule=schedule)
        assert_records_match(rb, truth, nrs=nrs)
        assert_records_match(rk, truth, nrs=nrs)
        kb, kk = keyed(rb), keyed(rk)
        assert kb.keys() == kk.keys(), f"{len(kb.keys() ^ kk.keys())} calls seen by one backend only"
        diff = [(k, kb[k], kk[k]) for k in kb if kb[k] != kk[k]]
        assert not diff, f"{len(diff)} records differ, e.g. bpf {diff[0][1]} kmod {diff[0][2]}"
        for name in ("records", "dropped", "unmatched", "filtered"):
            assert tb[name] == tk[name], f"{name}: bpf {tb[name]} kmod {tk[name]}"
        log(f"     {len(rb)} records equal field by field; bpf totals {tb}")
    return run


check("both backends at once: every hypercall, 3 vCPUs",
      same_records(schedule=["--vcpus", "3", "--calls", "42x500,43x300,7x100", "--noise", "1"]))
check("both backends at once: -n 42 --hypercall-exits-only",
      same_records("-n", "42", "--hypercall-exits-only",
                   schedule=["--vcpus", "2", "--calls", "42x300,43x300", "--noise", "2"], nrs={42}))
finish()
