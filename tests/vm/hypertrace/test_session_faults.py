#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed, 6.1 and 6.12): session-level faults, for both
backends in one boot.  Each case is judged against hcgen's ground truth and
against the kernel's state afterwards (no program, map or link left, the
module's refcount back to 0, kvm's refcount back to what it was, kvm_amd
loaded), and every lettered case ends with a normal short trace that must be
exact (the next session works):
  a. kill -9 of hypertrace while hcgen runs
  b. kvm_amd + kvm unloaded and reloaded mid-trace (kmod resumes; bpf pins kvm)
  c. two sessions at once (two eBPF sessions; a second module session refused)
  d. ring overflow with the smallest --ring-size: nothing invented, counters add up
  e. output faults: -o /dev/full, | head -1, SIGHUP, -o kept when the backend fails
Every wait has a timeout: a hang is a failure, never a blocked test."""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import (HCGEN, HYPERTRACE, KMOD_PATH, WORK, Tracer, assert_records_match, check, parse_totals,  # noqa: E402
                   counts_by_nr, expected_calls, finish, log, parse_json_lines, run_hcgen)

BACKENDS = sys.argv[1:] or ["bpf", "kmod"]
if any(b not in ("bpf", "kmod") for b in BACKENDS):
    sys.exit(f"usage: {sys.argv[0]} [bpf|kmod]...")

# A short exact trace (the "next session works" check) and a run long enough
# (~3 s under TCG) to be interrupted while hcgen is still issuing hypercalls.
SHORT = ["--vcpus", "2", "--calls", "42x300,43x200,7x50", "--noise", "1", "--timeout", "60"]
# Long enough that SIGHUP, sent once records flow, lands mid-run: 14,000
# calls once all arrived first on a quiet machine.
LONG = ["--vcpus", "2", "--calls", "42x30000,43x5000", "--noise", "1", "--timeout", "60"]
# Long enough that a second session attaches while it still runs: that
# took 32,000 to 36,000+ of 36,000 calls (one miss) under TCG; 72,000 now.
KILL = ["--vcpus", "2", "--calls", "42x32000,43x4000", "--noise", "1", "--timeout", "60"]
# Far more records than a one-page ring holds between two drains (20 ms).
BURST = ["--vcpus", "2", "--calls", "42x4000", "--noise", "0", "--timeout", "60"]
WAIT = 30          # s: any hypertrace exit we wait for
SELF_EXIT = 20     # s: hypertrace must end by itself after a broken output
SETTLE = 10        # s: for the kernel to release what an exited session held
PAGE = os.sysconf("SC_PAGE_SIZE")
LIVE = []          # every process this script started that may still run


def env_for(extra=None):
    return dict(os.environ, **{"HT_KMOD_PATH": KMOD_PATH, **(extra or {})})


class Session:
    """hypertrace in the background with its stdout going to `stdout` (a file
    object, subprocess.PIPE or DEVNULL) and stderr to a file; started and
    waited on until it says it is attached."""

    def __init__(self, args, name, stdout=subprocess.DEVNULL, env=None, timeout=60, attach=True):
        self.err_path = os.path.join(WORK, f"{name}.err")
        self.args = [HYPERTRACE, *args]
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.args, stdout=stdout, stderr=err, env=env_for(env))
        LIVE.append(self.proc)
        deadline = time.monotonic() + timeout
        while attach and "Tracing hypercalls" not in self.stderr():
            if self.proc.poll() is not None:
                raise AssertionError(f"{' '.join(self.args)} exited {self.proc.returncode} before "
                                     f"attaching:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"hypertrace did not attach within {timeout}s:\n{self.stderr()}")
            time.sleep(0.05)

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def wait(self, timeout=WAIT, what="exit"):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
            raise AssertionError(f"hypertrace did not {what} within {timeout}s (killed):\n{self.stderr()}")

    def totals(self):
        return parse_totals(self.stderr())  # checks the identity too


class Hcgen:
    """hcgen in the background, for faults injected while it runs."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([HCGEN, "schedule", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        LIVE.append(self.proc)

    def running(self):
        return self.proc.poll() is None

    def truth(self, timeout=90):
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(f"hcgen exited {self.proc.returncode}:\n{err}")
        truth = json.loads(out)
        for v in truth["vcpus"]:
            assert v.get("ret_ok", True), f"hcgen vcpu {v['vcpu_id']}: unexpected hypercall return values"
        return truth


def sh(*argv, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def wait_until(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def nonempty(path):
    return lambda: os.path.exists(path) and os.path.getsize(path) > 0


# --- the kernel's state ------------------------------------------------------

def bpf_objects():
    """{kind: {id: name}} of every BPF program, map and link in the kernel."""
    objs = {}
    for kind in ("prog", "map", "link"):
        rc, out, err = sh("bpftool", "-j", kind, "show")
        assert rc == 0, f"bpftool {kind} show: {err}"
        objs[kind] = {o["id"]: o.get("name") or o.get("tp_name") or o.get("type", "?")
                      for o in json.loads(out or "[]")}
    return objs


def module_loaded(name):
    return os.path.exists(f"/sys/module/{name}/initstate")


def refcnt(name):
    with open(f"/sys/module/{name}/refcnt") as f:
        return int(f.read())


BASE_BPF = bpf_objects()
BASE_KVM_REFCNT = refcnt("kvm")


def leftovers():
    """What a finished session left in the kernel, as a list of sentences."""
    left = []
    now = bpf_objects()
    for kind, objs in now.items():
        new = {i: n for i, n in objs.items() if i not in BASE_BPF[kind]}
        if new:
            left.append(f"bpf {kind}s left: {sorted(new.items())}")
    if module_loaded("hypertrace") and refcnt("hypertrace") != 0:
        left.append(f"hypertrace module refcnt {refcnt('hypertrace')} (want 0)")
    if not module_loaded("kvm_amd") or not module_loaded("kvm"):
        left.append("kvm/kvm_amd not loaded")
    elif refcnt("kvm") != BASE_KVM_REFCNT:
        left.append(f"kvm refcnt {refcnt('kvm')}, {BASE_KVM_REFCNT} before any session (kvm still pinned)")
    alive = [p.args for p in LIVE if p.poll() is None and p.args[0] == HYPERTRACE]
    if alive:
        left.append(f"hypertrace still running: {alive}")
    return left


def settled_leftovers(what):
    """leftovers() once the kernel had SETTLE s for releases it may finish a
    moment after the process is reaped (BPF objects are freed after RCU
    grace periods); logs the clean state, how long the look took (bpftool
    alone takes seconds under TCG) and anything that lingered on the way."""
    t0 = time.monotonic()
    first = leftovers()
    if first and not wait_until(lambda: not leftovers(), SETTLE, 0.2):
        return leftovers()
    log(f"     kernel clean after {what} (looked for {time.monotonic() - t0:.1f}s): no bpf prog/map/link, "
        f"kvm refcnt {refcnt('kvm')}, hypertrace module "
        + (f"refcnt {refcnt('hypertrace')}" if module_loaded("hypertrace") else "not loaded")
        + (f" (lingered at first: {'; '.join(first)})" if first else ""))
    return []


def assert_clean(what):
    left = settled_leftovers(what)
    if left:
        raise AssertionError(f"after {what}: " + "; ".join(left))


def restore():
    """After a case, pass or fail: nothing of ours runs, kvm_amd is loaded."""
    for p in LIVE:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                log(f"     pid {p.pid} ({p.args}) survived SIGKILL for {WAIT}s")
    LIVE[:] = [p for p in LIVE if p.poll() is None]
    if not module_loaded("kvm_amd"):
        sh("modprobe", "kvm_amd")
    wait_until(lambda: os.path.exists("/dev/kvm"), 10)


# --- records -----------------------------------------------------------------

def assert_records_subset(records, truth):
    """Records that arrived (fields pid tid vcpu nr a0..a3) are each one of
    hcgen's calls, with that call's values, and none twice."""
    want = expected_calls(truth)
    seen = collections.Counter((r["tid"], r["a0"]) for r in records)
    dups = [k for k, n in seen.items() if n > 1]
    assert not dups, f"{len(dups)} calls reported more than once, e.g. {dups[:3]}"
    extra = [k for k in seen if k not in want]
    assert not extra, f"{len(extra)} records match no call hcgen made, e.g. {extra[:3]}"
    for r in records:
        got = (r["pid"], r["vcpu"], r["nr"], r["a1"], r["a2"], r["a3"])
        assert got == want[(r["tid"], r["a0"])], f"record {r} != hcgen's {want[(r['tid'], r['a0'])]}"


TEXT_HEADER = "TIME(s) "


def parse_text(text):
    """hypertrace's text lines -> dicts; asserts every line is complete."""
    assert text == "" or text.endswith("\n"), f"text output ends mid-line: ...{text[-120:]!r}"
    lines = text.splitlines()
    if not lines:
        return []
    assert lines[0].startswith(TEXT_HEADER), f"first line is not the header: {lines[0]!r}"
    recs = []
    for ln in lines[1:]:
        # TIME PID TID VCPU NR NAME ("-" if none) A0..A3 REASON 3 latencies
        # ABI VMM ("-" if none), then VIDX and VM, the last one the line's
        # rest (a VM name may hold spaces; '-' when unnamed).
        f = ln.split(None, 17)
        assert len(f) == 18, f"incomplete or garbled text line: {ln!r}"
        recs.append({"pid": int(f[1]), "tid": int(f[2]), "vcpu": int(f[3]), "nr": int(f[4]), "name": f[5],
                     "a0": int(f[6], 16), "a1": int(f[7], 16), "a2": int(f[8], 16), "a3": int(f[9], 16),
                     "abi": f[14]})
    return recs


def total_calls(truth):
    return sum(counts_by_nr(truth).values())


def tracer(*args, name):
    t = Tracer(*args, name=name)
    LIVE.append(t.proc)
    return t


def next_session_exact(backend, what):
    """A normal short trace after the fault: exact, nothing lost, nothing left."""
    def run():
        t = tracer("-b", backend, "-f", "json", name=f"{backend}-next")
        try:
            truth = run_hcgen(*SHORT)
        finally:
            out = t.stop(timeout=WAIT)
        recs = parse_json_lines(out)
        assert_records_match(recs, truth)
        tot = t.totals()
        assert tot["records"] == len(recs) == total_calls(truth) and tot["dropped"] == tot["unmatched"] == 0, \
            f"totals {tot}, {len(recs)} records, {total_calls(truth)} calls"
        assert_clean("the next session")
        log(f"     next session after {what}: {len(recs)} records exact")
    return run


# --- a. kill -9 --------------------------------------------------------------

def assert_suffix(records, truth):
    """A session attached while hcgen ran: per vCPU, every call from its
    first record on, none lost, none invented (the call in flight at attach
    may be the one before the first record; a vCPU may have finished)."""
    assert_records_subset(records, truth)
    assert records, "no records although hcgen still ran"
    for v in truth["vcpus"]:
        seqs = sorted(r["a0"] & 0xffffff for r in records if r["tid"] == v["tid"])
        n = len(v["calls"])
        if not seqs:
            log(f"     vcpu {v['vcpu_id']} had finished its {n} calls before the session attached")
            continue
        assert seqs == list(range(seqs[0], n)), \
            f"vcpu {v['vcpu_id']}: {n - seqs[0] - len(seqs)} calls lost between seq {seqs[0]} and {n - 1}"


def kill9(backend):
    """SIGKILL while hcgen runs: nothing left behind, and a new session on
    the same, still running workload sees every call from its attach on."""
    def run():
        out = os.path.join(WORK, "kill9.out")
        s = Session(["-b", backend, "-f", "json", "-o", out], f"{backend}-kill9")
        h = Hcgen(*KILL)
        assert wait_until(nonempty(out), 30), "no records within 30 s"
        assert h.running(), "hcgen ended before the kill: the kill was not mid-trace"
        s.proc.kill()
        rc = s.wait(what="die of SIGKILL")
        assert rc == -signal.SIGKILL, f"exit {rc}"
        assert_clean("kill -9")
        t = tracer("-b", backend, "-f", "json", name=f"{backend}-kill9-next")
        try:
            attached_while_running = h.running()
            truth = h.truth()
        finally:
            out = t.stop(timeout=WAIT)
        assert attached_while_running, "hcgen ended before the new session attached: make KILL longer"
        recs = parse_json_lines(out)
        tot = t.totals()
        log(f"     killed mid-run; the new session saw the last {len(recs)} of {total_calls(truth)} calls "
            f"(per vCPU: {collections.Counter(r['vcpu'] for r in recs)}); "
            f"totals {tot}")
        assert_suffix(recs, truth)
        assert tot["records"] == len(recs) and tot["dropped"] == 0, f"totals {tot}"
        assert_clean("the session after kill -9")
    return run


# --- b. kvm unloaded and reloaded mid-trace ----------------------------------

def reload_kvm_kmod():
    """The module's tracepoint notifier lets kvm go and come back; tracing
    resumes: records of a run before the unload and of a run after the
    reload, each exact."""
    s = tracer("-b", "kmod", "-f", "json", name="kmod-reload")
    try:
        before = run_hcgen(*SHORT)
        rc, _, err = sh("modprobe", "-r", "kvm_amd", "kvm")
        assert rc == 0, f"modprobe -r kvm_amd kvm refused while -b kmod traces: {err}"
        assert not module_loaded("kvm"), "kvm still loaded"
        rc, _, err = sh("modprobe", "kvm_amd")
        assert rc == 0, f"modprobe kvm_amd: {err}"
        assert wait_until(lambda: os.path.exists("/dev/kvm"), 10), "/dev/kvm did not come back"
        after = run_hcgen(*SHORT)
    finally:
        out = s.stop(timeout=WAIT)
    recs = parse_json_lines(out)
    by_pid = collections.defaultdict(list)
    for r in recs:
        by_pid[r["pid"]].append(r)
    assert set(by_pid) <= {before["pid"], after["pid"]}, f"records of other pids: {set(by_pid)}"
    assert_records_match(by_pid[after["pid"]], after)
    assert_records_match(by_pid[before["pid"]], before)
    tot = s.totals()
    assert tot["dropped"] == tot["unmatched"] == 0, f"totals {tot}"
    log(f"     {len(by_pid[before['pid']])} records before the unload, {len(by_pid[after['pid']])} after "
        f"the reload, both exact; totals {tot}")
    assert_clean("the reload")


def reload_kvm_bpf():
    """Attached eBPF pins kvm: modprobe -r is refused with a clear message,
    tracing goes on exact, and kvm unloads once hypertrace has exited."""
    s = tracer("-b", "bpf", "-f", "json", name="bpf-reload")
    try:
        rc, _, err = sh("modprobe", "-r", "kvm_amd", "kvm")
        assert rc != 0, "kvm unloaded while eBPF programs were attached to its tracepoints"
        assert "in use" in err, f"modprobe -r's message does not say why: {err!r}"
        assert module_loaded("kvm"), "kvm gone although modprobe -r failed"
        log(f"     modprobe -r refused: {err.strip()} (kvm_amd "
            f"{'still loaded' if module_loaded('kvm_amd') else 'was removed first'})")
        if not module_loaded("kvm_amd"):  # removed before kvm was refused
            rc, _, err2 = sh("modprobe", "kvm_amd")
            assert rc == 0, f"modprobe kvm_amd: {err2}"
            wait_until(lambda: os.path.exists("/dev/kvm"), 10)
        truth = run_hcgen(*SHORT)
    finally:
        out = s.stop(timeout=WAIT)
    assert_records_match(parse_json_lines(out), truth)
    assert_clean("the refused unload")
    rc, _, err = sh("modprobe", "-r", "kvm_amd", "kvm")
    assert rc == 0, f"kvm still pinned after hypertrace exited: {err}"
    rc, _, err = sh("modprobe", "kvm_amd")
    assert rc == 0, f"modprobe kvm_amd: {err}"
    assert wait_until(lambda: os.path.exists("/dev/kvm"), 10), "/dev/kvm did not come back"


# --- c. two sessions at once -------------------------------------------------

def two_bpf():
    a = tracer("-b", "bpf", "-f", "json", name="bpf-two-a")
    try:
        b = tracer("-b", "bpf", "-f", "json", name="bpf-two-b")
    except Exception:
        a.stop(timeout=WAIT)
        raise
    try:
        truth = run_hcgen(*SHORT)
    finally:
        out_b = b.stop(timeout=WAIT)
        out_a = a.stop(timeout=WAIT)
    for t, out in ((a, out_a), (b, out_b)):
        recs = parse_json_lines(out)
        assert_records_match(recs, truth)
        tot = t.totals()
        assert tot["records"] == len(recs) and tot["dropped"] == tot["unmatched"] == 0, f"totals {tot}"
    log(f"     both sessions: {total_calls(truth)} records exact")
    assert_clean("two eBPF sessions")


def two_kmod():
    a = tracer("-b", "kmod", "-f", "json", name="kmod-two-a")
    try:
        p = subprocess.run([HYPERTRACE, "-b", "kmod", "-d", "5"], capture_output=True, text=True,
                           timeout=WAIT, env=env_for())
        assert p.returncode == 1, f"second module session: exit {p.returncode}, want 1:\n{p.stderr}"
        assert "another hypertrace session" in p.stderr and "busy" in p.stderr, p.stderr
        log(f"     second session refused: {p.stderr.strip().splitlines()[-1]}")
        truth = run_hcgen(*SHORT)
    finally:
        out = a.stop(timeout=WAIT)
    assert_records_match(parse_json_lines(out), truth)
    tot = a.totals()
    assert tot["dropped"] == tot["unmatched"] == 0, f"first session's totals {tot}"
    assert_clean("the refused second session")


# --- d. ring overflow ---------------------------------------------------------

def overflow(backend):
    def run():
        smallest = f"{PAGE // 1024}K"
        p = subprocess.run([HYPERTRACE, "-b", backend, "--ring-size", f"{PAGE // 2048}K", "-d", "1"],
                           capture_output=True, text=True, timeout=WAIT, env=env_for())
        assert p.returncode == 2 and "--ring-size" in p.stderr, \
            f"half a page accepted as --ring-size (exit {p.returncode}): {smallest} is not the smallest\n{p.stderr}"
        t = tracer("-b", backend, "-f", "json", "--ring-size", smallest, name=f"{backend}-overflow")
        try:
            truth = run_hcgen(*BURST)
        finally:
            out = t.stop(timeout=WAIT)
        recs = parse_json_lines(out)
        tot = t.totals()
        log(f"     --ring-size {smallest}, {total_calls(truth)} calls: {len(recs)} records, totals {tot}")
        assert tot["dropped"] > 0, f"the burst did not overflow a {smallest} ring: {tot}"
        assert tot["records"] == len(recs) == tot["emitted"], f"records read != emitted: {tot}, {len(recs)} lines"
        assert tot["hypercalls"] == tot["emitted"] + tot["filtered"] + tot["unmatched"] + tot["dropped"], \
            f"hypercalls != emitted + filtered + unmatched + dropped: {tot}"
        assert tot["hypercalls"] == total_calls(truth), \
            f"hypercalls={tot['hypercalls']} but hcgen made {total_calls(truth)}"
        assert_records_subset(recs, truth)
        assert_clean("the overflow")
    return run


# --- e. output faults ---------------------------------------------------------

class Faults:
    """The ways one run differs from what is required, all of them, so a
    failing case says everything that is wrong at once."""

    def __init__(self):
        self.found = []

    def want(self, ok, what):
        if not ok:
            self.found.append(what)

    def totals(self, session):
        try:
            return session.totals()
        except AssertionError as e:
            self.found.append(f"totals: {str(e).splitlines()[0]}")
            return None

    def clean(self, what):
        self.found += [f"left after {what}: {x}" for x in settled_leftovers(what)]

    def done(self, session):
        if self.found:
            raise AssertionError("; ".join(self.found) + f"\n{session.stderr()}")


def error_lines(stderr):
    """hypertrace's messages other than the backend choice and the totals."""
    return [ln for ln in stderr.splitlines()
            if ln.startswith("hypertrace:") and not ln.startswith("hypertrace: using ")]


def dev_full_text(backend):
    """Text output writes its header when tracing starts: into /dev/full that
    fails at once, so the run ends before tracing anything, by itself."""
    def run():
        s = Session(["-b", backend, "-o", "/dev/full"], f"{backend}-full-text", attach=False)
        rc = s.wait(timeout=60, what="end by itself when its first write failed")
        log(f"     text header into /dev/full: exit {rc}; stderr {error_lines(s.stderr())}")
        f = Faults()
        f.want(rc == 1, f"exit {rc} after the header could not be written (want 1, not a signal)")
        f.want("Tracing hypercalls" not in s.stderr(), "said it was tracing into an output that had failed")
        f.totals(s)
        f.want(any(re.search(r"/dev/full.*No space left", ln) for ln in error_lines(s.stderr())),
               "no error naming /dev/full and ENOSPC on stderr")
        f.clean("-o /dev/full (text)")
        f.done(s)
    return run


def dev_full(backend):
    def run():
        s = Session(["-b", backend, "-f", "json", "-o", "/dev/full"], f"{backend}-full")
        truth = run_hcgen(*SHORT)
        ended = wait_until(lambda: s.proc.poll() is not None, 5)
        if not ended:
            s.proc.send_signal(signal.SIGINT)
        rc = s.wait()
        log(f"     {total_calls(truth)} calls into /dev/full: exit {rc}, "
            f"{'ended by itself' if ended else 'ran on until SIGINT'}; stderr {error_lines(s.stderr())}")
        f = Faults()
        f.want(rc > 0, f"exit {rc} after every write failed (want non-zero, not a signal)")
        tot = f.totals(s)
        # Stopping mid-workload detaches hypercall, exit, entry in that
        # order: no hypercall is seen without the exit before it (a state
        # still armed at stop is in_flight, not unmatched_hypercall).
        f.want(tot is None or tot["unmatched_hypercall"] == 0, f"spurious unmatched at stop: {tot}")
        f.want(any(re.search(r"/dev/full|No space left|output", ln) for ln in error_lines(s.stderr())),
               "no error about the output on stderr")
        f.clean("-o /dev/full")
        f.done(s)
    return run


def head_1(backend):
    def run():
        with open(os.path.join(WORK, "head.out"), "w") as head_out:
            s = Session(["-b", backend], f"{backend}-head", stdout=subprocess.PIPE)
            head = subprocess.Popen(["head", "-1"], stdin=s.proc.stdout, stdout=head_out)
            LIVE.append(head)
            s.proc.stdout.close()  # head holds the only read end
        first = run_hcgen(*SHORT)
        try:
            head.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError("head -1 got no line from a trace of real records") from None
        # Records after head is gone: hypertrace has to write into the closed
        # pipe, and then end.
        second = run_hcgen(*SHORT)
        t0 = time.monotonic()
        rc = s.wait(timeout=SELF_EXIT, what="end after head -1 exited (hangs or keeps tracing)")
        with open(os.path.join(WORK, "head.out")) as f:
            line = f.read()
        log(f"     exit {rc} {time.monotonic() - t0:.1f}s after the 2nd run ({total_calls(first)} + "
            f"{total_calls(second)} calls); stderr {error_lines(s.stderr())}")
        f = Faults()
        f.want(line.startswith(TEXT_HEADER) and line.endswith("\n") and line.count("\n") == 1,
               f"head -1 printed {line!r}")
        f.want(rc > 0, f"exit {rc} (want non-zero, not killed by a signal)")
        f.totals(s)
        f.want(any(re.search(r"(?i)broken pipe|stdout|standard output|output", ln)
                   for ln in error_lines(s.stderr())), "no error about the output on stderr")
        f.clean("| head -1")
        f.done(s)
    return run


def lines_in(path):
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def sighup(backend):
    def run():
        # The guest's own tmpfs, not the 9p scratch dir: an output that slow
        # lets the ring hold tens of thousands of unwritten records, which
        # the stop still delivers (so nothing looked "mid-run").
        path = os.path.join("/tmp", f"{backend}-hup.out")
        s = Session(["-b", backend, "-o", path], f"{backend}-hup")
        h = Hcgen(*LONG)
        # The header is written when tracing starts: wait for a record too.
        assert wait_until(lambda: lines_in(path) >= 2, 30), "no records within 30 s"
        assert h.running(), "hcgen ended before SIGHUP: not mid-trace"
        lines_at_hup = lines_in(path)
        t_hup = time.monotonic()
        s.proc.send_signal(signal.SIGHUP)
        rc = s.wait()
        t_exit = time.monotonic()
        hcgen_running_at_exit = h.running()
        truth = h.truth()
        log(f"     SIGHUP with {lines_at_hup} lines written; hypertrace ended {t_exit - t_hup:.2f} s later, "
            f"hcgen {'still running' if hcgen_running_at_exit else 'already done'} then")
        with open(path) as f:
            text = f.read()
        log(f"     SIGHUP mid-run: exit {rc}, {len(text)} bytes, {text.count(chr(10))} lines, "
            f"{total_calls(truth)} calls in all")
        f = Faults()
        f.want(rc == 0, f"exit {rc} after SIGHUP, want 0")
        tot = f.totals(s)
        f.want(tot is None or tot["unmatched_hypercall"] == 0, f"spurious unmatched at stop: {tot}")
        f.want(text.endswith("\n"), f"the output ends mid-line: ...{text[-60:]!r}")
        try:
            recs = parse_text(text[:text.rfind("\n") + 1])  # the complete lines
            assert_records_subset(recs, truth)
        except AssertionError as e:
            f.found.append(str(e))
        else:
            f.want(tot is None or len(recs) == tot["records"], f"{len(recs)} lines written, totals {tot}")
            f.want(0 < len(recs) < total_calls(truth), f"{len(recs)} of {total_calls(truth)}: not mid-run")
        f.clean("SIGHUP")
        f.done(s)
    return run


PREVIOUS = "an earlier trace the user keeps\n" * 100


def keeps_output(backend):
    """A session that cannot start leaves an existing -o file as it was."""
    def run():
        path = os.path.join(WORK, "keep.out")
        with open(path, "w") as f:
            f.write(PREVIOUS)
        if backend == "kmod":
            if module_loaded("hypertrace"):
                rc, _, err = sh("rmmod", "hypertrace")
                assert rc == 0, f"rmmod hypertrace after the sessions ended: {err}"
            env = {"HT_KMOD_PATH": "/nonexistent/hypertrace.ko"}
        else:
            rc, _, err = sh("modprobe", "-r", "kvm_amd", "kvm")
            assert rc == 0, f"modprobe -r kvm_amd kvm: {err}"
            env = {}
        try:
            p = subprocess.run([HYPERTRACE, "-b", backend, "-o", path, "-d", "1"], capture_output=True,
                               text=True, timeout=WAIT, env=env_for(env))
        finally:
            if backend == "bpf":
                sh("modprobe", "kvm_amd")
        log(f"     failing -b {backend}: exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
        assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
        with open(path) as f:
            now = f.read()
        assert now == PREVIOUS, f"-o {path} changed: {len(PREVIOUS)} bytes before, {len(now)} now"
        if backend == "kmod":
            assert not module_loaded("hypertrace") and not os.path.exists("/dev/hypertrace"), \
                "a module is loaded although insmod had no file"
        assert wait_until(lambda: os.path.exists("/dev/kvm"), 10), "/dev/kvm did not come back"
        assert_clean("the failed start")
    return run


CASES = {
    "a": [("kill -9 mid-trace", kill9)],
    "b": [("kvm_amd + kvm unloaded and reloaded mid-trace",
           lambda b: reload_kvm_kmod if b == "kmod" else reload_kvm_bpf)],
    "c": [("two sessions at once", lambda b: two_kmod if b == "kmod" else two_bpf)],
    "d": [("ring overflow, smallest --ring-size", overflow)],
    "e": [("-o /dev/full, text header", dev_full_text), ("-f json -o /dev/full", dev_full), ("| head -1", head_1), ("SIGHUP mid-run", sighup),
          ("failing backend keeps an existing -o file", keeps_output)],
}

started = time.monotonic()
log(f"kernel {os.uname().release}, page {PAGE}, kvm refcnt {BASE_KVM_REFCNT}, "
    f"bpf objects before: {BASE_BPF}")
for backend in BACKENDS:
    for letter, cases in CASES.items():
        for name, make in cases:
            t0 = time.monotonic()
            check(f"[{backend}] {letter}. {name}", make(backend))
            restore()
            log(f"     ({time.monotonic() - t0:.1f}s)")
        check(f"[{backend}] {letter}. next session exact", next_session_exact(backend, letter))
        restore()
log(f"all cases: {time.monotonic() - started:.0f}s")
finish()
