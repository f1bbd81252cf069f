# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Helpers for in-guest hypertrace tests: run the workload (hcgen) under a
running hypertrace and compare what hypertrace reported with the ground truth
hcgen printed.  Every check raises AssertionError with a message that says
what differed; a test script's exit status is its verdict."""

import collections
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

BUILD = os.environ.get("HT_BUILD_DIR") or os.path.join(os.getcwd(), "build")
HYPERTRACE = os.environ.get("HT_HYPERTRACE", os.path.join(BUILD, "userspace", "hypertrace"))
HCGEN = os.environ.get("HT_HCGEN", os.path.join(BUILD, "tests", "workload", "hcgen"))
# Files one process writes while another reads them (hypertrace's -o file
# and its stderr, polled until it says it is attached) live in the guest's
# own tmpfs, not on the 9p scratch share (HT_SCRATCH): from 7.x on, 9p reads go through
# netfs, and a read racing another process's append fails with ENODATA
# ("No data available"; 2 in 40 runs of a writer and a polling reader).
WORK = tempfile.mkdtemp(prefix="htest-", dir="/tmp")
# The module the testbed tests load (-b kmod): built for the running ABI by
# tests/vm/kmod/build-testbed-modules into build/kmod-<abi>/.
KMOD_PATH = os.environ.get("HT_KMOD_PATH") or os.path.join(
    BUILD, f"kmod-{os.environ.get('HT_TESTBED_ABI') or os.uname().release}", "hypertrace.ko")

RESULTS = {"passed": 0, "failed": 0}
TRACERS = []      # every Tracer's process; none may outlive its check


def log(msg):
    print(msg, flush=True)


def check(name, fn):
    """Run one named check; count it; keep going so one run reports all.
    A hypertrace a check left running (it failed before stopping it) is
    killed, so the next check starts clean, and fails the check."""
    try:
        fn()
        left = reap_tracers()
        assert not left, f"left hypertrace running: {left}"
    except Exception as e:  # noqa: BLE001 - report every failure the same way
        reap_tracers()
        RESULTS["failed"] += 1
        where = "" if isinstance(e, AssertionError) else f" (at {where_raised(e)})"
        log(f"FAIL {name}: {e}{where}")
    else:
        RESULTS["passed"] += 1
        log(f"ok   {name}")


def where_raised(e):
    """file:line of the test code an unexpected exception came from."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/tests/" in f.filename]
    f = (frames or traceback.extract_tb(e.__traceback__))[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} {f.line}"


def reap_tracers():
    """Kill every Tracer still running; return the commands that were."""
    left = []
    for p in TRACERS:
        if p.poll() is None:
            left.append(" ".join(p.args))
            p.kill()
            p.wait(timeout=60)
    TRACERS.clear()
    return left


def finish():
    log(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] or not RESULTS["passed"] else 0)


class Tracer:
    """hypertrace running in the background, started and waited on until it
    says it is attached."""

    def __init__(self, *args, name="trace", timeout=60, env=None):
        self.out_path = os.path.join(WORK, f"{name}.out")
        self.err_path = os.path.join(WORK, f"{name}.err")
        self.args = [HYPERTRACE, *args, "-o", self.out_path]
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=dict(os.environ, HT_KMOD_PATH=KMOD_PATH, **(env or {})))
        TRACERS.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Tracing hypercalls" in self.stderr():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{' '.join(self.args)} exited {self.proc.returncode} before attaching:\n"
                                     f"{self.stderr()}")
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"hypertrace did not attach within {timeout}s:\n{self.stderr()}")

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self, timeout=60):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=timeout)
        self.err.close()
        if rc != 0:
            raise AssertionError(f"hypertrace exited {rc}:\n{self.stderr()}")
        with open(self.out_path) as f:
            return f.read()

    def totals(self):
        """The counters hypertrace prints at exit, e.g. 'records 12', as a dict.
        Every run's counters must obey the accounting identity: checked here,
        so every test that reads totals proves it."""
        return parse_totals(self.stderr())


def parse_totals(stderr):
    """The 'totals:' line of hypertrace's stderr as a dict, after checking the
    identity hypercalls = emitted + filtered + unmatched + dropped from the
    numbers themselves and that hypertrace printed its 'identity:' line."""
    m = re.search(r"^totals: (.*)$", stderr, re.M)
    if not m:
        raise AssertionError(f"no 'totals:' line in hypertrace's stderr:\n{stderr}")
    tot = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    assert_identity(tot)
    assert re.search(r"^identity: hypercalls \d+ = ", stderr, re.M), f"no 'identity:' line:\n{stderr}"
    return tot


def assert_identity(tot):
    """hypercalls = emitted + filtered + unmatched + dropped, exactly, and
    unmatched = unmatched_hypercall + in_flight (common/ht_state_machine.h)."""
    assert tot["unmatched"] == tot["unmatched_hypercall"] + tot["in_flight"], f"unmatched split: {tot}"
    rhs = tot["emitted"] + tot["filtered"] + tot["unmatched"] + tot["dropped"]
    assert tot["hypercalls"] == rhs, \
        f"identity broken: hypercalls {tot['hypercalls']} != emitted + filtered + unmatched + dropped = {rhs}: {tot}"


def run_hcgen(*args):
    p = subprocess.run([HCGEN, "schedule", *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"hcgen {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    truth = json.loads(p.stdout)
    for v in truth["vcpus"]:
        if not v.get("ret_ok", True):
            raise AssertionError(f"hcgen vcpu {v['vcpu_id']}: unexpected hypercall return values")
    return truth


def expected_calls(truth, nrs=None, vcpu=None):
    """{(tid, a0): (pid, vcpu_id, nr, a1, a2, a3)} for every call hypertrace should report."""
    calls = {}
    for v in truth["vcpus"]:
        if vcpu is not None and v["vcpu_id"] != vcpu:
            continue
        for nr, a0, a1, a2, a3 in v["calls"]:
            if nrs is None or nr in nrs:
                calls[(v["tid"], a0)] = (truth["pid"], v["vcpu_id"], nr, a1, a2, a3)
    return calls


KVM_PARA_H = "/usr/include/linux/kvm_para.h"  # linux-libc-dev: hcgen builds against these headers


def kvm_hc_names():
    """{nr: name} of every KVM_HC_* the kernel's uapi header defines: the
    ground truth for hypertrace's names (its table is checked against this,
    not against itself)."""
    with open(KVM_PARA_H) as f:
        names = {int(m.group(2)): m.group(1)
                 for m in re.finditer(r"^#define\s+(KVM_HC_\w+)\s+(\d+)\s*$", f.read(), re.M)}
    assert names.get(7) == "KVM_HC_MIPS_EXIT_VM", f"{KVM_PARA_H}: no KVM_HC_MIPS_EXIT_VM 7 in {names}"
    return names


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def assert_records_match(records, truth, nrs=None, vcpu=None):
    """Records (dicts with the JSON field names, ints) equal the ground truth
    exactly: each expected call once, nothing else, right ids and args, exit
    <= hypercall <= entry, the vendor's hypercall exit reason."""
    want = expected_calls(truth, nrs, vcpu)
    seen = collections.Counter((r["tid"], r["a0"]) for r in records)
    dups = [k for k, n in seen.items() if n > 1]
    assert not dups, f"{len(dups)} calls reported more than once, e.g. {dups[:3]}"
    extra = [k for k in seen if k not in want]
    assert not extra, f"{len(extra)} records match no expected call, e.g. {extra[:3]}"
    missing = [k for k in want if k not in seen]
    assert not missing, f"{len(missing)} of {len(want)} expected calls missing, e.g. {missing[:3]}"
    for r in records:
        pid, vcpu_id, nr, a1, a2, a3 = want[(r["tid"], r["a0"])]
        got = (r["pid"], r["vcpu"], r["nr"], r["a1"], r["a2"], r["a3"])
        assert got == (pid, vcpu_id, nr, a1, a2, a3), f"record {r} != expected {(pid, vcpu_id, nr, a1, a2, a3)}"
        assert r["t_exit_ns"] <= r["t_hypercall_ns"] <= r["t_entry_ns"], f"timestamps out of order: {r}"
        assert r["latency_ns"] == r["t_entry_ns"] - r["t_exit_ns"], f"latency_ns wrong: {r}"
        # hcgen's schedule mode makes KVM hypercalls KVM serves itself.
        assert r["abi"] == "kvm" and r["served_by"] == "kernel", f"abi/served_by wrong: {r}"
        assert r["isa"] == truth["isa"] and r["exit_reason"] == truth["exit_reason"], \
            f"exit reason {r['isa']}/{r['exit_reason']} != {truth['isa']}/{truth['exit_reason']}"


def counts_by_nr(truth, nrs=None):
    c = collections.Counter()
    for v in truth["vcpus"]:
        for k, n in v["counts"].items():
            if nrs is None or int(k) in nrs:
                c[int(k)] += n
    return c


_OFFERS = None


def kernel_offers():
    """What the running kernel offers the eBPF backend, found the way a user
    would look (sysfs BTF, kallsyms, bpftool), for tests that assert what
    hypertrace must choose here rather than what one kernel version did:
      kvm_btf       kvm's module BTF (/sys/kernel/btf/kvm): prototypes for
                    raw tracepoints and kvm's records for CO-RE
      running_vcpu  kvm_running_vcpu in that BTF and in kallsyms: the slot
                    table keyed by the vCPU
      task_storage  BPF task storage and its helpers for tracepoints
      bpf_mem_alloc struct bpf_mem_alloc in vmlinux BTF: run-time allocation
                    in tracing programs without a kernel WARNING
      srcu_fast     SRCU-fast (struct srcu_ctr in vmlinux BTF), which
                    tracepoints need before they can leave preemption on
                    around their callbacks (include/linux/tracepoint.h):
                    without it, raw tracepoint programs never run
                    preemptible"""
    global _OFFERS
    if _OFFERS is not None:
        return _OFFERS

    def bpftool(*args):
        p = subprocess.run(["bpftool", *args], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"bpftool {' '.join(args)}: {p.stderr}"
        return p.stdout

    kvm_btf = os.path.exists("/sys/kernel/btf/kvm")
    running_vcpu = False
    if kvm_btf and "VAR 'kvm_running_vcpu'" in bpftool("btf", "dump", "file", "/sys/kernel/btf/kvm"):
        with open("/proc/kallsyms") as f:  # "ffffffffc0a1b2c0 d kvm_running_vcpu\t[kvm]"
            running_vcpu = any(len(w) > 2 and w[2] == "kvm_running_vcpu" and int(w[0], 16) != 0
                               for w in (ln.split() for ln in f))
    probe = json.loads(bpftool("-j", "feature", "probe", "kernel"))
    helpers = set(probe.get("helpers", {}).get("tracepoint_available_helpers", []))
    task_storage = (probe.get("map_types", {}).get("have_task_storage_map_type", False)
                    and {"bpf_task_storage_get", "bpf_get_current_task_btf"} <= helpers)
    vmlinux = bpftool("btf", "dump", "file", "/sys/kernel/btf/vmlinux")
    _OFFERS = {"kvm_btf": kvm_btf, "running_vcpu": running_vcpu, "task_storage": task_storage,
               "bpf_mem_alloc": "STRUCT 'bpf_mem_alloc'" in vmlinux, "srcu_fast": "STRUCT 'srcu_ctr'" in vmlinux}
    log(f"     kernel {os.uname().release} offers: {_OFFERS}")
    return _OFFERS


def expect_refusal(args, env, says):
    """hypertrace ARGS with ENV must refuse to start: exit 1, SAYS on stderr,
    and no BPF program of it left loaded."""
    p = subprocess.run([HYPERTRACE, *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **env))
    assert p.returncode == 1, f"{' '.join(args)} with {env}: exit {p.returncode}, want 1:\n{p.stderr}"
    assert says in p.stderr, f"{' '.join(args)} with {env}: no '{says}' in:\n{p.stderr}"
    left = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    assert " ht_" not in left, f"programs left loaded:\n{left}"
    return p.stderr
