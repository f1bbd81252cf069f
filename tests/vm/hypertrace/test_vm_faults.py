#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed, every kernel): hypertrace under workload faults,
for each backend named on the command line (default: bpf kmod), one boot.

 a. A VM destroyed while a hypercall is in flight (KVM forwarded
    MAP_GPA_RANGE to userspace; the vCPU never re-enters), then a second VM
    on the same threads (same tids, and likely the freed vCPU memory): no
    record is invented from the lost call (no nr 12, every record is one of
    the second VM's calls), the lost call is counted as unmatched, and
    hypercalls = emitted + filtered + unmatched + dropped.  Records and
    --summary.  KVM forwards a hypercall to userspace only with
    KVM_CAP_EXIT_HYPERCALL (added with KVM_HC_MAP_GPA_RANGE in Linux 5.14): on older
    kernels (Debian's 5.10) no hypercall can stay in flight, and the test
    instead checks that the kernel says so and hcgen refuses --abandon.
 b. vCPU threads that exit mid-sequence while the others go on: records
    exact against what each thread issued.
 c. 20,000 distinct hypercall numbers under --summary (no -n): the kernel's
    summary table fills up, the rest travels as records; every hypercall is
    accounted for and the counts are exact.  The time one kvm_entry probe
    takes is measured with ftrace's function_graph tracer (global tracer,
    restored afterwards): the module's ht_probe_entry_* functions, and for
    eBPF the raw-tracepoint glue __bpf_trace_kvm_entry that runs the program.
"""

import fcntl
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import (HCGEN, Tracer, assert_identity, assert_records_match, check, counts_by_nr, finish, log,  # noqa: E402
                   parse_json_lines, run_hcgen)

BACKENDS = sys.argv[1:] or ["bpf", "kmod"]
for b in BACKENDS:
    if b not in ("bpf", "kmod"):
        sys.exit(f"usage: {sys.argv[0]} [bpf|kmod]...")

TRACEFS = "/sys/kernel/tracing"
ABANDON = ["--vcpus", "2", "--calls", "42x300,43x150", "--noise", "1", "--abandon"]
# vCPUs 1 and 2 stop early; hcgen makes vCPU 0 issue its last window only
# after their threads exited (under TCG a stopped thread was once starved
# past vCPU 0's end: 527 ms against 509 ms, 20x fewer calls).
STOP = ["--vcpus", "3", "--calls", "42x2000,43x1000", "--noise", "2", "--stop", "1:150,2:7"]
DISTINCT = ["--vcpus", "1", "--calls", "1000-20999x1", "--noise", "0", "--no-calls"]
DISTINCT_N = 20000
# kvm_entry runs with interrupts off: one probe call must never take long.
# A hang detector, not a performance bound: under qemu TCG (tens of times
# slower than hardware, and sharing the host's cores) with function_graph's
# own cost included, the module's probe measured p99 10 us on one number and
# 4.7 ms with 20,000 distinct numbers (its full table walked on every miss).
PROBE_LIMIT_NS = 20_000_000


def total_calls(truth):
    return sum(v["hypercalls"] for v in truth["vcpus"])


def run(backend, name, tracer_args, schedule):
    t = Tracer("-b", backend, *tracer_args, name=f"faults-{backend}-{name}")
    try:
        truth = run_hcgen(*schedule)
    finally:
        out = t.stop()
    return t, truth, out


KVM_CHECK_EXTENSION = 0xAE03      # _IO(KVMIO, 0x03), include/uapi/linux/kvm.h
KVM_CAP_EXIT_HYPERCALL = 201
KVM_HC_MAP_GPA_RANGE = 12


def kvm_forwards_map_gpa_range():
    """Whether this KVM can forward KVM_HC_MAP_GPA_RANGE to userspace."""
    fd = os.open("/dev/kvm", os.O_RDWR)
    try:
        mask = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL)
    finally:
        os.close(fd)
    return mask > 0 and bool(mask & (1 << KVM_HC_MAP_GPA_RANGE))


def case_abandon_impossible(backend):
    """No KVM_CAP_EXIT_HYPERCALL: hcgen must refuse --abandon and say why."""
    p = subprocess.run([HCGEN, "schedule", *ABANDON], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "KVM_CAP_EXIT_HYPERCALL" in p.stderr, \
        f"hcgen --abandon on a KVM without KVM_CAP_EXIT_HYPERCALL: exit {p.returncode}, {p.stderr[-500:]}"
    log(f"     [{backend}] abandon: not possible on this kernel ({os.uname().release}: "
        f"no KVM_CAP_EXIT_HYPERCALL, no hypercall can stay in flight); hcgen refused as it must")


def abandon_preconditions(truth):
    """The workload did what the case needs (hcgen's ground truth)."""
    assert truth["abandoned"] == len(truth["vcpus"]), f"abandoned {truth['abandoned']}"
    assert truth["vm1_destroyed"] is True, f"vm1_destroyed {truth['vm1_destroyed']}: the first VM still exists"
    ab_tids = sorted(a["tid"] for a in truth["abandoned_calls"])
    assert ab_tids == sorted(v["tid"] for v in truth["vcpus"]), "the second VM runs on other threads"


def case_abandon_records(backend):
    t, truth, out = run(backend, "abandon", ["-f", "json"], ABANDON)
    recs = parse_json_lines(out)
    tot = t.totals()
    log(f"     [{backend}] abandoned {truth['abandoned']}, second VM {total_calls(truth)} calls, "
        f"{len(recs)} records, totals {tot}")
    check(f"[{backend}] abandon: hcgen left {truth['abandoned']} calls in flight and destroyed the VM",
          lambda: abandon_preconditions(truth))

    def no_nr12():
        bad = [r for r in recs if r["nr"] == 12]
        assert not bad, f"{len(bad)} invented record(s) from the abandoned MAP_GPA_RANGE, e.g. {bad[0]}"
    check(f"[{backend}] abandon: no record of the lost hypercall (nr 12)", no_nr12)
    check(f"[{backend}] abandon: records are exactly the second VM's calls",
          lambda: assert_records_match(recs, truth))

    def counted():
        assert tot["records"] == len(recs) == total_calls(truth), f"{len(recs)} records, totals {tot}"
        assert tot["unmatched"] == truth["abandoned"], \
            f"unmatched {tot['unmatched']}, want {truth['abandoned']} (the abandoned calls): {tot}"
        assert tot["hypercalls"] == total_calls(truth) + truth["abandoned"], f"totals {tot}"
        assert_identity(tot)
    check(f"[{backend}] abandon: lost call counted unmatched, identity holds", counted)


def case_abandon_summary(backend):
    t, truth, out = run(backend, "abandon-s", ["--summary", "-f", "json"], ABANDON)
    rows = parse_json_lines(out)
    tot = t.totals()
    log(f"     [{backend}] -s: {len(rows)} rows, totals {tot}")
    check(f"[{backend}] abandon -s: preconditions", lambda: abandon_preconditions(truth))

    def exact():
        assert not [r for r in rows if r["nr"] == 12], f"a summary row for nr 12: {rows}"
        got = {(r["pid"], r["nr"]): r["count"] for r in rows}
        want = {(truth["pid"], nr): n for nr, n in counts_by_nr(truth).items()}
        assert got == want, f"summary counts {got} != ground truth {want}"

    def counted():
        assert tot["unmatched"] == truth["abandoned"], f"unmatched {tot['unmatched']}: {tot}"
        assert tot["emitted"] == total_calls(truth), f"totals {tot}"
        assert_identity(tot)
    check(f"[{backend}] abandon -s: no nr-12 row, counts exact", exact)
    check(f"[{backend}] abandon -s: lost call counted unmatched, identity holds", counted)


def case_thread_exit(backend):
    t, truth, out = run(backend, "stop", ["-f", "json"], STOP)
    recs = parse_json_lines(out)
    tot = t.totals()
    log(f"     [{backend}] issued per vCPU " +
        ", ".join(f"{v['vcpu_id']}:{v['hypercalls']} (ended {v['end_ns'] / 1e6:.0f} ms)" for v in truth["vcpus"]) +
        f"; {len(recs)} records, totals {tot}")

    def pre():
        by = {v["vcpu_id"]: v for v in truth["vcpus"]}
        assert by[1]["hypercalls"] == 150 and by[2]["hypercalls"] == 7 and by[0]["hypercalls"] == 3000, by
        assert max(by[1]["end_ns"], by[2]["end_ns"]) < by[0]["end_ns"], "a stopped thread outlived vCPU 0"

    def exact():
        assert_records_match(recs, truth)
        assert tot["records"] == len(recs) == total_calls(truth), f"totals {tot}"
        assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
        assert_identity(tot)
    check(f"[{backend}] thread exit: vCPUs 1, 2 stopped after 150, 7 calls while vCPU 0 went on", pre)
    check(f"[{backend}] thread exit: records exact per thread", exact)


class FunctionGraph:
    """The global ftrace tracer as function_graph on some functions; restores
    what it changed.  durations() gives the ns of every traced call."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.saved = {f: self._read(f).strip() for f in ("current_tracer", "buffer_size_kb", "tracing_on")}
        # "7 (expanded: 1408)": the buffer is not allocated yet; 1408 is its size.
        m = re.search(r"expanded: (\d+)", self.saved["buffer_size_kb"])
        self.saved["buffer_size_kb"] = m.group(1) if m else self.saved["buffer_size_kb"].split()[0]
        if self.saved["current_tracer"] != "nop":
            raise AssertionError(f"the global tracer is in use ({self.saved['current_tracer']})")
        self._write("tracing_on", "0")
        self._write("buffer_size_kb", "16384")
        try:
            self._write("set_ftrace_filter", pattern)
        except OSError as e:
            self.restore()
            raise AssertionError(f"set_ftrace_filter {pattern!r}: {e} (not traceable here)") from e
        self._write("trace", "")
        self._write("current_tracer", "function_graph")
        self._write("tracing_on", "1")

    @staticmethod
    def _read(f):
        with open(os.path.join(TRACEFS, f)) as fh:
            return fh.read()

    @staticmethod
    def _write(f, v):
        with open(os.path.join(TRACEFS, f), "w") as fh:
            fh.write(v + "\n")

    def stop(self):
        self._write("tracing_on", "0")
        text = self._read("trace")
        overrun = sum(int(m) for m in re.findall(r"^overrun: (\d+)$",
                                                 "".join(self._read(f"per_cpu/{c}/stats")
                                                         for c in os.listdir(os.path.join(TRACEFS, "per_cpu"))),
                                                 re.M))
        self.restore()
        # function_graph prints a leaf call as "<cpu>) [marker] 12.345 us | func();"
        durs = [int(float(m) * 1000) for m in re.findall(r"([\d.]+) us\s+\|\s+ht_probe_entry", text)]
        return durs, overrun

    def restore(self):
        self._write("tracing_on", "0")
        self._write("current_tracer", "nop")
        self._write("set_ftrace_filter", "")
        self._write("buffer_size_kb", self.saved["buffer_size_kb"])
        self._write("tracing_on", self.saved["tracing_on"])


class BpfStats:
    """kernel.bpf_stats_enabled: run count and total run time of hypertrace's
    kvm_entry programs (the JIT'ed program cannot be traced by ftrace, and
    __bpf_trace_kvm_entry is notrace), so for eBPF only the mean is known."""

    def __init__(self, pid):
        self.pid = pid
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            self.saved = f.read().strip()
        self._set("1")
        self.before = self._progs()

    @staticmethod
    def _set(v):
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(v + "\n")

    def _progs(self):
        p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=60)
        progs = json.loads(p.stdout or "[]")
        # hypertrace's programs are named ht_* (bpftool here lists no holder pids)
        return {q["id"]: (q.get("run_cnt", 0), q.get("run_time_ns", 0)) for q in progs
                if q.get("name", "").startswith("ht_entry")}

    def stop(self):
        after = self._progs()
        self._set(self.saved)
        cnt = sum(after[i][0] - self.before.get(i, (0, 0))[0] for i in after)
        ns = sum(after[i][1] - self.before.get(i, (0, 0))[1] for i in after)
        return cnt, ns


def summary_run(backend, name, schedule):
    """hypertrace -s traces one hcgen run while the kvm_entry probe is timed."""
    t = Tracer("-b", backend, "--summary", "-f", "json", name=f"faults-{backend}-{name}")
    timer, timing = None, {}
    try:
        try:  # after attach: the module's functions exist now
            timer = FunctionGraph("ht_probe_entry_*") if backend == "kmod" else BpfStats(t.proc.pid)
        except AssertionError as e:
            log(f"     [{backend}] no probe timing: {e}")
        truth = run_hcgen(*schedule)
    finally:
        if isinstance(timer, FunctionGraph):
            durs, overrun = timer.stop()
            durs.sort()
            if durs:
                timing = {"calls": len(durs), "overrun": overrun, "max_ns": durs[-1],
                          "p99_ns": durs[len(durs) * 99 // 100], "median_ns": int(statistics.median(durs)),
                          "mean_ns": int(statistics.mean(durs))}
        elif timer:
            cnt, ns = timer.stop()
            if cnt:
                timing = {"calls": cnt, "mean_ns": ns // cnt}
        out = t.stop()
    rows = parse_json_lines(out)
    tot = t.totals()
    got = {}
    for r in rows:
        got[(r["pid"], r["nr"])] = got.get((r["pid"], r["nr"]), 0) + r["count"]
    want = {(truth["pid"], nr): n for nr, n in counts_by_nr(truth).items()}
    what = "ht_probe_entry_* (function_graph)" if backend == "kmod" else "kvm_entry programs (bpf_stats)"
    log(f"     [{backend}] {name}: {len(want)} distinct numbers, {len(rows)} summary rows, "
        f"{sum(got.values())} counted, hcgen {truth['elapsed_ns'] / 1e9:.2f} s, totals {tot}")
    log(f"     [{backend}] {name}: {what}: " +
        (", ".join(f"{k} {v / 1000:.1f} us" if k.endswith("_ns") else f"{k} {v}" for k, v in timing.items())
         if timing else "not measured") +
        (" (qemu TCG; function_graph's own cost included)" if backend == "kmod" else " (qemu TCG)"))
    return truth, tot, rows, got, want, timing


def case_distinct(backend):
    # The same number of calls on one number first: what the probe costs
    # when its table is not under attack (and how noisy TCG timing is).
    _, btot, _, bgot, bwant, btiming = summary_run(backend, "one-nr", ["--vcpus", "1", "--calls", f"42x{DISTINCT_N}",
                                                                        "--noise", "0", "--no-calls"])
    truth, tot, rows, got, want, timing = summary_run(backend, "distinct", DISTINCT)

    def accounted():
        assert bgot == bwant, f"one-nr run: summary {bgot} != {bwant}"
        assert len(want) == DISTINCT_N, f"hcgen issued {len(want)} distinct numbers"
        assert_identity(tot)
        assert tot["hypercalls"] == DISTINCT_N, f"totals {tot}"
        assert sum(got.values()) == tot["emitted"], f"rows add up to {sum(got.values())}, emitted {tot['emitted']}"
        assert len(rows) == len(got), "the same (pid, nr) in two rows"

    def exact():
        assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
        missing = [k for k in want if k not in got]
        wrong = {k: (got[k], want.get(k)) for k in got if got[k] != want.get(k)}
        assert not missing and not wrong, \
            f"{len(missing)} numbers missing (e.g. {missing[:3]}), {len(wrong)} wrong (e.g. {list(wrong.items())[:3]})"

    def probe_time():
        assert timing, "the kvm_entry probe could not be timed"
        assert timing["calls"] >= DISTINCT_N, f"only {timing['calls']} probe calls timed: {timing}"
        # p99, not max: under TCG the guest clock is the host's, so a host-side
        # preemption of qemu shows up as one long call anywhere (compare the
        # one-nr run's max); a probe that walks a full table shows in p99.
        key = "p99_ns" if "p99_ns" in timing else "mean_ns"
        assert timing[key] <= PROBE_LIMIT_NS, \
            f"kvm_entry probe {key} {timing[key] / 1e6:.2f} ms > {PROBE_LIMIT_NS / 1e6:.0f} ms " \
            f"(one-nr run: {btiming})"
        if backend == "kmod":
            # Bounded, not merely finite: a new key costs about what a known
            # one does.  Measured p99 13.7/11.8 us against 4.4/3.2 us on one
            # number (6.1/6.12); before the 8-slot bound 1.05/5.0 ms.  A
            # machine busy beside the testbed gave 97.3 us against 4.7 us
            # (5.10): the slack is 250 us, still a quarter of the walk's.
            limit = 10 * btiming["p99_ns"] + 250_000
            assert timing["p99_ns"] <= limit, \
                f"kvm_entry probe p99 {timing['p99_ns'] / 1e3:.1f} us > 10x the one-nr run's " \
                f"{btiming['p99_ns'] / 1e3:.1f} us + 250 us: a probe walks the table"

    check(f"[{backend}] 20000 distinct -s: completes, every hypercall accounted for", accounted)
    check(f"[{backend}] 20000 distinct -s: summary counts exact", exact)
    check(f"[{backend}] 20000 distinct -s: kvm_entry probe {'p99' if backend == 'kmod' else 'mean'} "
          f"under {PROBE_LIMIT_NS / 1e6:.0f} ms", probe_time)


CASES = ([("abandon", case_abandon_records), ("abandon -s", case_abandon_summary)]
         if kvm_forwards_map_gpa_range() else [("abandon impossible", case_abandon_impossible)])
CASES += [("thread exit", case_thread_exit), ("distinct", case_distinct)]
for backend in BACKENDS:
    for name, fn in CASES:
        check(f"[{backend}] {name}: ran", lambda: fn(backend))
finish()
