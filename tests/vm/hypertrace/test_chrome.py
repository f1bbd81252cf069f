#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed): -f chrome, the Trace Event Format timeline, for
each backend given as an argument (bpf, kmod), against hcgen's ground truth.

The file is read with Python's strict JSON parser and checked against the
format (every event has ph, ts, pid, tid, name, cat; ts in microseconds with
three decimals, i.e. exact ns; B/E pairs properly nested per track in file
order; metadata events name the process and threads) and against what hcgen issued: one slice per call,
per vCPU thread and nr exactly hcgen's counts, each slice's args equal to the
call (nr, a0..a3, vcpu_id), named by KVM's table (kvm_para.h) or "nr N",
its two phases inside it and the calls apart on their track, the process
named by hcgen's -name, each track by the vCPU index.  Calls hcgen served as
the VMM (hcgen forward) have a "VMM" phase at least as long as hcgen's own
time.  The run ends by SIGINT, SIGTERM or its duration: valid JSON each time."""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import HCGEN, Tracer, check, finish, kvm_hc_names, log  # noqa: E402

BACKENDS = sys.argv[1:] or ["bpf"]
assert all(b in ("bpf", "kmod") for b in BACKENDS), f"usage: {sys.argv[0]} [bpf] [kmod]"
VM_NAME = "timeline vm"  # a space: the name is a JSON string, not a token
UUID = "5e1f3c2a-7b6d-4e8f-9a0b-1c2d3e4f5a6b"
SCHEDULE = ["--vcpus", "2", "--calls", "42x40,7x25", "--noise", "1"]
DELAY_US = 300  # hcgen forward's VMM time per call it serves
NUM = r"-?\d+\.\d{3}"  # microseconds, exact to the ns


def load(text):
    """The events, after checking the file is one JSON array whose events
    have the keys and units of the format."""
    events = json.loads(text)  # strict: a missing ']' or a trailing comma fails here
    assert isinstance(events, list) and events, f"not a non-empty JSON array: {text[:200]!r}"
    assert text.endswith("\n]\n"), f"the array is not closed by hypertrace: ends {text[-40:]!r}"
    for e in events:
        for k in ("ph", "ts", "pid", "tid", "name", "cat"):
            assert k in e, f"event without {k}: {e}"
        assert e["ph"] in ("B", "E", "M"), f"unexpected phase: {e}"
    # Units: every ts written as microseconds with three decimals.
    raw = re.findall(r'"ts":([^,}]+)', text)
    bad = [v for v in raw if not re.fullmatch(NUM, v)]
    assert len(raw) == len(events) and not bad, f"ts not in us with 3 decimals: {bad[:3]}"
    return events


def ns(us):
    """A ts (us, three decimals) as integer ns."""
    return round(us * 1000)


def metadata(events, name):
    return {(e["pid"], e["tid"]): e["args"] for e in events if e["ph"] == "M" and e["name"] == name}


def calls_and_phases(events):
    """{tid: [(call, [phases])]}, each a dict of name, begin, end (ns), args,
    after checking each track is a proper tree in file order: ts never goes
    back, each E closes the innermost open slice of its name, calls apart,
    the two phases adjacent and filling their call, the VMM phase at the end
    of hypercall->entry."""
    out, stacks, last = collections.defaultdict(list), collections.defaultdict(list), {}
    for e in events:
        if e["ph"] == "M":
            continue
        tid, t = e["tid"], ns(e["ts"])
        assert t >= last.get(tid, 0), f"tid {tid}: ts goes back at {e}"
        last[tid] = t
        stack = stacks[tid]
        if e["ph"] == "B":
            sp = {"name": e["name"], "cat": e["cat"], "begin": t, "end": None, "args": e.get("args", {})}
            if not stack:
                assert e["cat"] == "hypercall", f"tid {tid}: {e} outside any call"
                if out[tid]:
                    assert t >= out[tid][-1][0]["end"], f"tid {tid}: call at {e['ts']} overlaps the previous"
                out[tid].append((sp, []))
            else:
                assert e["cat"] == "phase", f"tid {tid}: a call inside another: {e}"
                out[tid][-1][1].append(sp)
            stack.append(sp)
        else:
            assert stack and stack[-1]["name"] == e["name"], f"tid {tid}: {e} closes {stack[-1:]}"
            stack.pop()["end"] = t
    assert not any(stacks.values()), f"slices left open: {dict(stacks)}"
    for tid, calls in out.items():
        for call, phases in calls:
            names = [p["name"] for p in phases]
            assert names[:2] == ["exit->hypercall", "hypercall->entry"] and set(names[2:]) <= {"VMM"}, \
                f"tid {tid}: phases {names} of {call}"
            a, b = phases[0], phases[1]
            assert (a["begin"], a["end"], b["end"]) == (call["begin"], b["begin"], call["end"]), \
                f"tid {tid}: phases {phases} do not fill {call}"
            if len(phases) == 3:
                assert b["begin"] <= phases[2]["begin"] and phases[2]["end"] == call["end"], \
                    f"tid {tid}: VMM phase {phases[2]} not at the end of {b}"
    return out


def wait_for_slices(t, pid, n, procs):
    """Until hypertrace has written n calls of pid (it flushes after each
    pass over the ring), with hcgen's threads still held alive."""
    deadline = time.monotonic() + 300
    while True:
        with open(t.out_path) as f:
            got = sum(1 for ln in f if ln.startswith('{"ph":"E","cat":"hypercall"') and f'"pid":{pid},' in ln)
        if got >= n:
            return
        assert time.monotonic() < deadline, f"hypertrace wrote {got} of {n} slices of pid {pid}"
        assert all(p.poll() is None for p in procs), "hcgen exited before its release"
        time.sleep(0.1)


def totals_exact(t, n):
    tot = t.totals()
    assert (tot["emitted"], tot["unmatched"], tot["dropped"]) == (n, 0, 0), f"totals {tot} for {n} calls"


def named_vm(backend):
    """A named hcgen (schedule --hold: its threads live until hypertrace has
    named them), stopped by SIGINT."""
    t = Tracer("-b", backend, "-f", "chrome", name=f"{backend}-chrome-named")
    p = subprocess.Popen([HCGEN, "schedule", "--hold", "-name", f"guest={VM_NAME},debug-threads=on", "-uuid", UUID,
                          *SCHEDULE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_slices(t, p.pid, 2 * 65, [p])
        p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"hcgen exited {p.returncode}: {err}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = t.stop()
    truth = json.loads(out)
    assert truth["vm_name"] == VM_NAME and all(v["ret_ok"] for v in truth["vcpus"]), truth
    events = load(text)
    pid = truth["pid"]
    names = kvm_hc_names()
    reason = {1: "vmcall", 2: "vmmcall"}[truth["isa"]]

    assert metadata(events, "process_name") and all(
        a["name"] == VM_NAME for (p_, _), a in metadata(events, "process_name").items() if p_ == pid), \
        f"process names {metadata(events, 'process_name')} != {VM_NAME!r}"
    threads = {tid: a["name"] for (p_, tid), a in metadata(events, "thread_name").items() if p_ == pid}
    want_threads = {v["tid"]: f"vCPU {v['vcpu_index']} (tid {v['tid']})" for v in truth["vcpus"]}
    assert threads == want_threads, f"thread names {threads} != {want_threads}"
    order = {tid: a["sort_index"] for (p_, tid), a in metadata(events, "thread_sort_index").items() if p_ == pid}
    assert order == {v["tid"]: v["vcpu_index"] for v in truth["vcpus"]}, f"sort indices {order}"

    tracks = calls_and_phases([e for e in events if e["pid"] == pid])
    assert set(tracks) == {v["tid"] for v in truth["vcpus"]}, f"tracks {set(tracks)}"
    n = 0
    for v in truth["vcpus"]:
        calls = [c for c, _ in tracks[v["tid"]]]
        assert all(c["cat"] == "hypercall" for c in calls)
        got = collections.Counter(c["args"]["nr"] for c in calls)
        want = collections.Counter({int(k): c for k, c in v["counts"].items()})
        assert got == want, f"vcpu {v['vcpu_id']}: slices per nr {dict(got)} != hcgen's {dict(want)}"
        issued = {a0: (nr, a1, a2, a3) for nr, a0, a1, a2, a3 in v["calls"]}
        seen = set()
        for c in calls:
            a = c["args"]
            a0 = int(a["a0"], 16)
            assert a0 in issued and a0 not in seen, f"slice {c} matches no call of hcgen, or twice"
            seen.add(a0)
            nr, a1, a2, a3 = issued[a0]
            got_args = (a["nr"], int(a["a1"], 16), int(a["a2"], 16), int(a["a3"], 16), a["vcpu_id"], a["abi"])
            assert got_args == (nr, a1, a2, a3, v["vcpu_id"], "kvm"), f"slice {c} != hcgen's call {issued[a0]}"
            assert c["name"] == names.get(nr, f"nr {nr}"), f"slice name {c['name']!r} for nr {nr}"
            assert (a["exit_reason"], a["served_by"], a["vmm_ns"]) == (reason, "kernel", None), f"args of {c}"
            assert (a["vm"], a["vm_uuid"], a["vm_source"], a["vcpu_index"]) == \
                (VM_NAME, UUID, "cmdline", v["vcpu_index"]), f"VM args of {c}"
        n += len(calls)
    totals_exact(t, n)
    log(f"     {backend}: {n} slices exact ({', '.join(f'{k} x{c}' for k, c in sorted(want.items()))} per vCPU), "
        f"process '{VM_NAME}', tracks {sorted(want_threads.values())}")


def vmm_served(backend):
    """hcgen forward: nr 12 goes to hcgen as the VMM; stopped by SIGTERM."""
    t = Tracer("-b", backend, "-f", "chrome", name=f"{backend}-chrome-forward")
    p = subprocess.run([HCGEN, "forward", "--vcpus", "2", "--calls", "12x20,42x20", "--vmm-delay-us", str(DELAY_US),
                        "--vmm-wait", "busy"], capture_output=True, text=True, timeout=600)
    try:
        assert p.returncode == 0, f"hcgen forward exited {p.returncode} (5: this kernel cannot forward): {p.stderr}"
        truth = json.loads(p.stdout)
        want = sum(len(v["calls"]) for v in truth["vcpus"])
        wait_for_slices(t, truth["pid"], want, [])
    finally:
        t.proc.send_signal(signal.SIGTERM)
        rc = t.proc.wait(timeout=60)
        t.err.close()
    assert rc == 0, f"hypertrace exited {rc} on SIGTERM:\n{t.stderr()}"
    with open(t.out_path) as f:
        events = load(f.read())
    tracks = calls_and_phases([e for e in events if e["pid"] == truth["pid"]])
    served = 0
    for v in truth["vcpus"]:
        by_a0 = {int(c["args"]["a0"], 16): (c, ph) for c, ph in tracks.get(v["tid"], [])}
        assert len(by_a0) == len(v["calls"]) == len(tracks[v["tid"]]), \
            f"vcpu {v['vcpu_id']}: {len(tracks[v['tid']])} slices for {len(v['calls'])} calls"
        for call in v["calls"]:
            c, phases = by_a0[call["a0"]]
            assert c["args"]["nr"] == call["nr"] and c["args"]["served_by"] == call["served_by"], f"{c} != {call}"
            vmm = [ph for ph in phases if ph["name"] == "VMM"]
            if call["served_by"] == "vmm":
                served += 1
                assert len(vmm) == 1 and vmm[0]["args"]["uexit_reason"] == 3, f"no VMM phase (KVM_EXIT_HYPERCALL) in {c}"
                length = vmm[0]["end"] - vmm[0]["begin"]
                assert length >= call["vmm_ns"] >= DELAY_US * 1000, f"VMM phase {length} ns < hcgen's own {call['vmm_ns']}"
                assert c["args"]["vmm_ns"] == length, f"vmm_ns of {c}"
            else:
                assert not vmm, f"a VMM phase in a call KVM served: {c}"
    assert served == 40, f"{served} VMM-served calls, hcgen forward issues 20 per vCPU"
    totals_exact(t, 80)
    log(f"     {backend}: 80 slices, {served} with a VMM phase >= hcgen's own time")


def duration_end(backend):
    """-d: the run ends by itself, the file closed; an unnamed VM is 'pid N'."""
    t = Tracer("-b", backend, "-f", "chrome", "-d", "20", name=f"{backend}-chrome-duration")
    p = subprocess.run([HCGEN, "schedule", "--vcpus", "1", "--calls", "42x10"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    truth = json.loads(p.stdout)
    rc = t.proc.wait(timeout=120)
    t.err.close()
    assert rc == 0, f"hypertrace -d 20 exited {rc}:\n{t.stderr()}"
    with open(t.out_path) as f:
        events = load(f.read())
    assert {a["name"] for (p_, _), a in metadata(events, "process_name").items() if p_ == truth["pid"]} == \
        {f"pid {truth['pid']}"}, metadata(events, "process_name")
    tracks = calls_and_phases([e for e in events if e["pid"] == truth["pid"]])
    assert sum(len(c) for c in tracks.values()) == 10, {k: len(c) for k, c in tracks.items()}
    totals_exact(t, 10)


for backend in BACKENDS:
    check(f"[{backend}] -f chrome: a named VM, slices exact against hcgen, ended by SIGINT",
          lambda backend=backend: named_vm(backend))
    check(f"[{backend}] -f chrome: VMM-served calls have a VMM phase, ended by SIGTERM",
          lambda backend=backend: vmm_served(backend))
    check(f"[{backend}] -f chrome: ended by -d, an unnamed VM by pid", lambda backend=backend: duration_end(backend))
finish()
