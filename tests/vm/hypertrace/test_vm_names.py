#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed, 6.1 and 6.12): VMs by name, each backend given as
an argument (bpf, kmod).  hcgen runs under a name the way QEMU and libvirt
show one (a -name/-uuid command line, "CPU N/KVM" thread names, a
libvirt-like status file in a directory hypertrace is pointed at with
HYPERTRACE_LIBVIRT_RUN_DIR, a machine.slice scope in cgroup2) and its JSON
says which name, UUID, tids and vCPU indices it used: every record's vm,
vm_uuid, vm_source and vcpu_index must equal that ground truth, the records
themselves stay exact, --vm keeps exactly one VM's calls and counts the rest."""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import (HCGEN, WORK, Tracer, assert_records_match, check, counts_by_nr, finish, log,  # noqa: E402
                   parse_json_lines)

BACKENDS = sys.argv[1:] or ["bpf"]
assert all(b in ("bpf", "kmod") for b in BACKENDS), f"usage: {sys.argv[0]} [bpf] [kmod]"
SCHEDULE = ["--vcpus", "2", "--calls", "42x60,43x30", "--noise", "1"]
CALLS = 2 * 90  # records of one SCHEDULE run
LIBVIRT_DIR = os.path.join(WORK, "libvirt-run")
ENV = {"HYPERTRACE_LIBVIRT_RUN_DIR": LIBVIRT_DIR}
UUID_A = "6A7D3C1E-0B2F-4C5D-8E9F-A1B2C3D4E5F6"
UUID_B = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
CGROUP = "/sys/fs/cgroup"
os.makedirs(LIBVIRT_DIR, exist_ok=True)


def start_hcgen(*args, schedule=SCHEDULE, prefix=(), mode="schedule"):
    """hcgen MODE --hold in the background (prefix: a wrapper command):
    its vCPU threads stay alive after their calls until it gets SIGUSR1."""
    return subprocess.Popen([*prefix, HCGEN, mode, "--hold", *args, *schedule], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def truth_of(p):
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, f"hcgen {' '.join(p.args)} exited {p.returncode}:\n{err}"
    truth = json.loads(out)
    assert all(v.get("ret_ok", truth.get("ok")) for v in truth["vcpus"]), f"hcgen: unexpected return values: {err}"
    return truth


def usr1_blocked(pid):
    """hcgen blocks SIGUSR1 before it starts its vCPU threads (--hold), which
    inherit the mask (the main thread's SigBlk does not show it while it
    waits in sigwait, which unblocks the signal for the wait)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                blk = next(ln for ln in f if ln.startswith("SigBlk:"))
            if int(blk.split()[1], 16) & (1 << (signal.SIGUSR1 - 1)):
                return True
    except (OSError, StopIteration):
        pass
    return False


def seen(path, pid):
    """Records (or summary rows) of pid hypertrace has written so far."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return 0
    return sum(1 for ln in text.splitlines()
               if f'"pid":{pid},' in ln or (ln.split()[1:2] == [str(pid)] and not ln.startswith("TIME")))


def traced(backend, name, *args, runs, mode="schedule"):
    """hypertrace -b BACKEND ARGS around hcgen runs: runs is a list of (hcgen
    arguments, schedule, wrapper, lines to see).  Each hcgen is released
    (SIGUSR1) once hypertrace has written that many lines of its pid (0: a
    VM --vm removes), so its threads were alive when hypertrace named them,
    however slowly this loaded testbed schedules hypertrace.
    Returns (tracer, [truth...], output)."""
    t = Tracer("-b", backend, *args, name=f"{backend}-{name}", env=ENV)
    procs = []
    try:
        procs = [start_hcgen(*a, schedule=sch, prefix=pre, mode=mode) for a, sch, pre, _ in runs]
        deadline = time.monotonic() + 300
        while not all(usr1_blocked(p.pid) and seen(t.out_path, p.pid) >= n for p, (*_, n) in zip(procs, runs)):
            assert time.monotonic() < deadline, \
                f"hypertrace wrote {[seen(t.out_path, p.pid) for p in procs]} lines of {[r[3] for r in runs]}"
            assert all(p.poll() is None for p in procs), "an hcgen exited before its release"
            time.sleep(0.1)
        for p in procs:
            p.send_signal(signal.SIGUSR1)
        truths = [truth_of(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = t.stop()
    return t, truths, out


def assert_vm_fields(records, truth, vm, uuid, source, index_known):
    """Every record of this hcgen says its VM as the ground truth has it."""
    # The pm32 modes (hyperv, xen, forward) number their vCPUs 0..K-1 as KVM does.
    index_by_tid = {v["tid"]: v.get("vcpu_index", v["vcpu_id"]) for v in truth["vcpus"]}
    mine = [r for r in records if r["pid"] == truth["pid"]]
    assert mine, "no record of this hcgen"
    for r in mine:
        want_index = index_by_tid[r["tid"]] if index_known else None
        got = (r["vm"], r["vm_uuid"], r["vm_source"], r["vcpu_index"])
        assert got == (vm, uuid, source, want_index), f"record {r}: vm fields {got} != {(vm, uuid, source, want_index)}"


def libvirt_source(backend):
    """Status file in the directory of HYPERTRACE_LIBVIRT_RUN_DIR: name, UUID
    and the vCPU map from it (thread names off, so only libvirt knows the
    index); the file is gone once hcgen exited."""
    _, (truth,), out = traced(backend, "libvirt", "-f", "json", runs=[
        (["-name", "guest=lv-db,debug-threads=off", "-uuid", UUID_A, "--libvirt-dir", LIBVIRT_DIR], SCHEDULE, (),
         CALLS)])
    assert truth["vm_name"] == "lv-db" and truth["vm_uuid"] == UUID_A.lower(), truth
    assert truth["libvirt_status"] == os.path.join(LIBVIRT_DIR, "lv-db.xml"), truth["libvirt_status"]
    assert not os.path.exists(truth["libvirt_status"]), "hcgen left its status file behind"
    assert all(v["thread_name"] is None for v in truth["vcpus"]), truth["vcpus"]
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)
    assert_vm_fields(recs, truth, "lv-db", UUID_A.lower(), "libvirt", True)


def cmdline_source(backend):
    """QEMU's -name with a ',,' escape and a space, -uuid in capitals; the
    index from the "CPU N/KVM" thread names."""
    _, (truth,), out = traced(backend, "cmdline", "-f", "json", runs=[
        (["-name", "guest=lab,,vm 1,debug-threads=on", "-uuid", UUID_A], SCHEDULE, (), CALLS)])
    assert truth["vm_name"] == "lab,vm 1", truth["vm_name"]
    assert [v["thread_name"] for v in truth["vcpus"]] == ["CPU 0/KVM", "CPU 1/KVM"], truth["vcpus"]
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)
    assert_vm_fields(recs, truth, "lab,vm 1", UUID_A.lower(), "cmdline", True)


def hyperv_named(backend):
    """A Hyper-V guest (hcgen hyperv) named on its command line: its
    kvm_hv_hypercall records carry the name, the UUID and the index from
    the CPU N/KVM threads, one record per call hcgen made."""
    calls = ["--vcpus", "2", "--via", "page", "--calls", "0x2x10,0x3:rep=2x10"]
    _, (truth,), out = traced(backend, "hyperv", "-f", "json", "-n", "hv:0x2-0x3", mode="hyperv", runs=[
        (["-name", "guest=win-lab,debug-threads=on", "-uuid", UUID_B], calls, (), 40)])
    assert (truth["vm_name"], truth["vm_uuid"]) == ("win-lab", UUID_B), truth
    recs = [r for r in parse_json_lines(out) if r["pid"] == truth["pid"]]
    want = sorted((v["tid"], c["code"]) for v in truth["vcpus"] for c in v["calls"])
    got = sorted((r["tid"], r["nr"]) for r in recs)
    assert got == want, f"hyperv records (tid, code) {got} != hcgen's {want}"
    assert all(r["abi"] == "hyperv" for r in recs), recs
    assert_vm_fields(recs, truth, "win-lab", UUID_B, "cmdline", True)


def cgroup2_mounted():
    with open("/proc/mounts") as f:
        return any(ln.split()[1] == CGROUP and ln.split()[2] == "cgroup2" for ln in f)


def cgroup_source(backend):
    """An unnamed hcgen started inside machine.slice/machine-qemu\\x2d7\\x2dcg\\x2dvm.scope
    (cgroup2, mounted here if the testbed has not): named "cg-vm" from the
    cgroup, no UUID, no index (no thread names)."""
    if not cgroup2_mounted():
        subprocess.run(["mount", "-t", "cgroup2", "none", CGROUP], check=True)
        log("     mounted cgroup2 on " + CGROUP)
    slice_dir = os.path.join(CGROUP, "machine.slice")
    scope = os.path.join(slice_dir, "machine-qemu\\x2d7\\x2dcg\\x2dvm.scope")
    os.makedirs(scope, exist_ok=True)
    try:
        # The shell moves itself into the scope, then becomes hcgen: every
        # thread of hcgen is born there.
        wrap = ["sh", "-c", f"echo $$ > '{scope}/cgroup.procs' && exec \"$@\"", "sh"]
        _, (truth,), out = traced(backend, "cgroup", "-f", "json", runs=[([], SCHEDULE, wrap, CALLS)])
    finally:
        os.rmdir(scope)
    assert truth["vm_name"] is None, truth["vm_name"]
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)
    assert_vm_fields(recs, truth, "cg-vm", None, "cgroup", False)


def unnamed(backend):
    """A plain hcgen: every record still there, shown by pid, vm null."""
    _, (truth,), out = traced(backend, "unnamed", "-f", "json", runs=[([], SCHEDULE, (), CALLS)])
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)
    assert_vm_fields(recs, truth, None, None, "none", False)


def two_vms_filtered(backend):
    """Two named hcgens at once; --vm alpha (given before either runs: a
    warning, then caught when it starts) keeps exactly alpha's calls, and the
    totals count beta's as vm_filtered.  Then --vm BETA-UUID in text: the VM
    column (the line's rest) says beta on each of beta's calls."""
    alpha_args = ["-name", "guest=alpha,debug-threads=on", "-uuid", UUID_A]
    beta_args = ["-name", "beta,debug-threads=on", "-uuid", UUID_B]
    t, (alpha, beta), out = traced(backend, "vm-alpha", "-f", "json", "--vm", "alpha",
                                   runs=[(alpha_args, SCHEDULE, (), CALLS), (beta_args, SCHEDULE, (), 0)])
    assert "--vm 'alpha' matches no running VM now" in t.stderr(), t.stderr()
    recs = parse_json_lines(out)
    assert_records_match(recs, alpha)
    assert_vm_fields(recs, alpha, "alpha", UUID_A.lower(), "cmdline", True)
    tot = t.totals()
    beta_calls = sum(counts_by_nr(beta).values())
    assert tot["vm_filtered"] == beta_calls, f"vm_filtered {tot['vm_filtered']} != beta's {beta_calls} calls: {tot}"
    assert tot["emitted"] == len(recs) + beta_calls, tot

    t, (alpha, beta), out = traced(backend, "vm-beta", "--vm", UUID_B.upper(),
                                   runs=[(alpha_args, SCHEDULE, (), 0), (beta_args, SCHEDULE, (), CALLS)])
    lines = out.splitlines()
    assert lines[0].split()[-2:] == ["VIDX", "VM"], lines[0]
    body = lines[1:]
    assert len(body) == sum(counts_by_nr(beta).values()), f"{len(body)} lines for beta's {counts_by_nr(beta)}"
    index_by_tid = {v["tid"]: v["vcpu_index"] for v in beta["vcpus"]}
    for ln in body:
        # TIME PID TID VCPU NR NAME A0..A3 REASON 3 latencies ABI VMM VIDX VM
        # (the rest of the line: a name may hold spaces)
        f = ln.split(None, 17)
        assert len(f) == 18, f"text line of {len(f)} fields: {ln!r}"
        assert int(f[1]) == beta["pid"], ln
        assert f[5] == "-", f"NAME of {ln!r}: hcgen's numbers here have none"
        assert f[14] == "kvm", f"ABI of {ln!r}: hcgen's default mode issues KVM hypercalls"
        assert f[16] == str(index_by_tid[int(f[2])]) and f[17] == "beta", f"VIDX/VM of {ln!r}"
    assert t.totals()["vm_filtered"] == sum(counts_by_nr(alpha).values())


def stride(backend):
    """--vcpu-id-stride 2: KVM's vcpu_ids 0, 2, 4 (the VCPU field), the VMM's
    indices 0, 1, 2 (vcpu_index, from the thread names)."""
    sched = ["--vcpus", "3", "--calls", "42x40", "--noise", "1"]
    _, (truth,), out = traced(backend, "stride", "-f", "json", runs=[
        (["-name", "guest=strided,debug-threads=on", "--vcpu-id-stride", "2"], sched, (), 120)])
    assert [(v["vcpu_id"], v["vcpu_index"]) for v in truth["vcpus"]] == [(0, 0), (2, 1), (4, 2)], truth["vcpus"]
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)  # vcpu = KVM's vcpu_id
    assert_vm_fields(recs, truth, "strided", None, "cmdline", True)
    assert {(r["vcpu"], r["vcpu_index"]) for r in recs} == {(0, 0), (2, 1), (4, 2)}


def summary_labels(backend):
    """--summary -i 1 rows carry the VM: the named hcgen's by name, the
    unnamed one's vm null; the intervals' counts add up exactly, the rows
    printed after the named hcgen exited still named (cached)."""
    _, (named, plain), out = traced(backend, "summary", "-s", "-i", "1", "-f", "json", runs=[
        (["-name", "guest=sum-vm"], SCHEDULE, (), 1), ([], SCHEDULE, (), 1)])
    got = {}
    for r in parse_json_lines(out):
        assert r["abi"] == "kvm", f"ABI of a row of hcgen's KVM hypercalls: {r}"
        key = (r["pid"], r["nr"], r["vm"], r["vm_source"])
        got[key] = got.get(key, 0) + r["count"]
    want = {(named["pid"], 42, "sum-vm", "cmdline"): 120, (named["pid"], 43, "sum-vm", "cmdline"): 60,
            (plain["pid"], 42, None, "none"): 120, (plain["pid"], 43, None, "none"): 60}
    assert got == want, f"summary rows {got} != {want}"


CHECKS = [("libvirt status file (HYPERTRACE_LIBVIRT_RUN_DIR): name, UUID, vCPU map", libvirt_source),
          ("QEMU command line: -name with ',,', -uuid, CPU N/KVM threads", cmdline_source),
          ("cgroup machine scope", cgroup_source),
          ("a Hyper-V guest (hcgen hyperv) named on its command line", hyperv_named),
          ("an unnamed VM is shown by pid", unnamed),
          ("--vm with two named VMs at once: exactly one VM's calls, the rest counted", two_vms_filtered),
          ("--vcpu-id-stride: vcpu_index next to KVM's vcpu_id", stride),
          ("--summary rows labelled with the VM", summary_labels)]
for backend in BACKENDS:
    for name, fn in CHECKS:
        check(f"[{backend}] {name}", lambda fn=fn, backend=backend: fn(backend))
finish()
