#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The in-guest half of tests/bench/run (runs INSIDE the testbed, as root).

One boot, every configuration: each round attaches one configuration at a
time (the order rotates from round to round, so slow drift of the shared
machine spreads over all of them), runs hcgen's loop mode once per workload
mode (all nr 42; 42/7 alternating), and detaches.  hypertrace runs check
their record counts against the hypercalls of nr 42 that hcgen issued.  In
round 0 each BPF configuration also gets one extra, untimed run per mode with
kernel.bpf_stats_enabled=1 for per-program run time.  The configurations
where a reader works, and the two baselines, also get long runs (--whole-n
hypercalls per KVM_RUN, all nr 42) in which the reader's drains fall inside
the timed window: the "whole" cost.  Around them the reader's own CPU time
is read from /proc/PID/task/*/schedstat (ns on the CPU; under icount, guest
instructions).  Raw results go to $HT_SCRATCH/bench-<kernel>.json;
tests/bench/report.py makes the tables.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

BUILD = os.environ["HT_BUILD_DIR"]
SCRATCH = os.environ["HT_SCRATCH"]
# The tracers write their output here: by default in the guest's own tmpfs,
# as a real host writes to a local file (the guest kernel copies every byte
# into its page cache).  HT_BENCH_OUTPUT=share: on the 9p share (SCRATCH),
# where the host does that work, outside the guest's instruction count, and
# a write(2) is a round trip to the host (on 6.12 a synchronous one, which
# keeps the reader in small passes).  Files are kept only until the records
# are counted; the stderr files are copied to SCRATCH.
OUTPUT_ON = os.environ.get("HT_BENCH_OUTPUT", "tmpfs")
LOCAL = "/tmp/htb-out" if OUTPUT_ON == "tmpfs" else os.path.join(SCRATCH, "out")
KERNEL = os.environ.get("HT_KERNEL", os.uname().release)
ABI = os.environ.get("HT_TESTBED_ABI") or os.uname().release
HYPERTRACE = os.path.join(BUILD, "userspace", "hypertrace")
HCGEN = os.path.join(BUILD, "tests", "workload", "hcgen")
TOOLS = os.environ.get("HT_BENCH_TOOLS", os.path.join(BUILD, "bench-tools"))
ATTACH = os.path.join(TOOLS, "ht-bench-attach")
EMPTY_OBJ = os.path.join(TOOLS, "empty.bpf.o")
KMOD = os.environ.get("HT_KMOD_PATH") or os.path.join(BUILD, f"kmod-{ABI}", "hypertrace.ko")
TRACEFS = "/sys/kernel/tracing"
MODES = {"all42": [], "alt42_7": ["--alt", "7"], "whole": []}
# Where a reader works (and the two baselines): the long "whole" runs.
WHOLE_CONFIGS = ["untraced", "empty-classic", "ht-stream", "ht-summary", "ht-kmod"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wfile(path, text, append=False):
    # os.open: Python's append mode seeks to the end, which tracefs control
    # files refuse (EINVAL).
    fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        os.write(fd, text.encode())
    except OSError as e:
        log_path = os.path.join(TRACEFS, "error_log")
        inst_log = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(path)))), "error_log")
        raise RuntimeError(f"writing {text.strip()!r} to {path}: {e}\n{read(log_path)}{read(inst_log)}") from e
    finally:
        os.close(fd)


def wait_for(pred, what, proc=None, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: exited {proc.returncode} before it was ready")
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready within {timeout}s")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---- configurations: start() attaches and returns when attached; stop()
# detaches and returns (records seen or None, detail) ----------------------

class Untraced:
    bpf = False

    def start(self):
        pass

    def stop(self):
        return None, ""


class Process:
    """A tracer process, ready when `ready(stdout, stderr)` is true."""
    bpf = True

    def __init__(self, name, argv, ready, env=None):
        self.name, self.argv, self.ready, self.env = name, argv, ready, env
        self.out = os.path.join(LOCAL, f"{name}.out")
        self.err = os.path.join(LOCAL, f"{name}.err")

    def start(self):
        for p in (self.out, self.err):
            if os.path.exists(p):
                os.unlink(p)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=open(self.out, "w"), stderr=open(self.err, "w"),
                                     env=dict(os.environ, **(self.env or {})))
        try:
            wait_for(lambda: self.ready(read(self.out), read(self.err)), self.name, self.proc)
        except Exception:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name} did not attach:\n{read(self.err)[-2000:]}")
        self.startup_s = time.monotonic() - self.t0

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=300)
        shutil.copy(self.err, SCRATCH)
        if rc != 0:
            raise RuntimeError(f"{self.name} exited {rc}:\n{read(self.err)[-2000:]}")
        got = self.count()
        for p in (self.out, getattr(self, "file", self.out)):
            if os.path.exists(p):
                os.unlink(p)
        return got, ""

    def count(self):
        return None

    def cpu_ns(self):
        """The process's time on the CPU so far, in ns, all threads (the
        scheduler's sum_exec_runtime: syscalls and page faults included)."""
        task = f"/proc/{self.proc.pid}/task"
        total = 0
        for tid in os.listdir(task):
            total += int(read(os.path.join(task, tid, "schedstat")).split()[0] or 0)
        return total

    def sched_counts(self):
        """Voluntary context switches (the reader blocking: waits for the
        ring, its output) and user/system ticks, all threads."""
        task = f"/proc/{self.proc.pid}/task"
        vol = user = system = 0
        for tid in os.listdir(task):
            m = re.search(r"^voluntary_ctxt_switches:\s*(\d+)", read(os.path.join(task, tid, "status")), re.M)
            vol += int(m.group(1)) if m else 0
            st = read(os.path.join(task, tid, "stat")).rsplit(")", 1)[-1].split()
            user, system = user + int(st[11]), system + int(st[12])
        return {"voluntary_switches": vol, "utime_ticks": user, "stime_ticks": system}


class Hypertrace(Process):
    def __init__(self, name, args, env=None, summary=False):
        self.summary = summary
        self.file = os.path.join(LOCAL, f"{name}.records")
        super().__init__(name, [HYPERTRACE, "-n", "42", "-f", "json", "-o", self.file, *args],
                         lambda o, e: "Tracing hypercalls" in e, env=dict(env or {}, HT_KMOD_PATH=KMOD))

    def count(self):
        text = read(self.file)
        if self.summary:
            got = sum(o["count"] for o in map(json.loads, text.splitlines()) if o["nr"] == 42)
        else:
            got = sum(1 for line in text.splitlines() if '"nr":42,' in line)
        m = re.search(r"^totals: (.*)$", read(self.err), re.M)
        self.totals = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))} if m else {}
        self.detail = read(self.err).splitlines()[0] if read(self.err) else ""
        return got


class Bpftrace(Process):
    SCRIPT = r"""
BEGIN { printf("ATTACHED\n"); }
tracepoint:kvm:kvm_exit { @te[tid] = nsecs; }
tracepoint:kvm:kvm_hypercall /args->nr == 42 && @te[tid]/ {
  @th[tid] = nsecs; @ha0[tid] = args->a0;
}
tracepoint:kvm:kvm_entry /@th[tid]/ {
  printf("R %d %d 42 %d %d %d\n", pid, tid, @ha0[tid], @th[tid] - @te[tid], nsecs - @te[tid]);
  delete(@th[tid]); delete(@te[tid]);
}
END { clear(@te); clear(@th); clear(@ha0); }
"""

    def __init__(self):
        self.file = os.path.join(LOCAL, "bpftrace.records")
        script = os.path.join(SCRATCH, "bench.bt")
        with open(script, "w") as f:
            f.write(self.SCRIPT)
        # Debian splits the headers: bpftrace must be told where both halves
        # are (the testbed's /lib/modules/ABI/build alone is not enough).
        common = re.sub(r"-[a-z0-9]+$", "-common", ABI)
        env = {"BPFTRACE_KERNEL_SOURCE": f"/usr/src/linux-headers-{common}",
               "BPFTRACE_KERNEL_BUILD": f"/usr/src/linux-headers-{ABI}"}
        # stdout, line-buffered (-o FILE is block-buffered whatever -B says).
        super().__init__("bpftrace", ["bpftrace", "-B", "line", script],
                         lambda o, e: "ATTACHED" in o, env=env)
        self.file = self.out

    def count(self):
        return sum(1 for line in read(self.file).splitlines() if line.startswith("R "))


class Tracefs:
    """The three kvm events on, in a private instance (no hist, no readers)."""
    bpf = False

    def __init__(self):
        self.inst = os.path.join(TRACEFS, "instances", "htb_events")

    def start(self):
        os.mkdir(self.inst)
        wfile(os.path.join(self.inst, "buffer_size_kb"), "8192")
        for ev in ("kvm_exit", "kvm_hypercall", "kvm_entry"):
            wfile(os.path.join(self.inst, "events", "kvm", ev, "enable"), "1")

    def stop(self):
        for ev in ("kvm_exit", "kvm_hypercall", "kvm_entry"):
            wfile(os.path.join(self.inst, "events", "kvm", ev, "enable"), "0")
        os.rmdir(self.inst)
        return None, ""


class FtraceHist:
    """The stateful selection done with ftrace alone: hist triggers keyed by
    pid stamp every exit, keep hypercall 42's time and nr, and on the next
    entry compute the latency and fire a synthetic event (onmatch)."""
    bpf = False
    SYNTH = "htb_hclat pid_t pid; u64 nr; u64 a0; u64 lat"
    TRIGGERS = [
        ("kvm_exit", "hist:keys=common_pid:te=common_timestamp"),
        ("kvm_hypercall", "hist:keys=common_pid:th=$te,hnr=nr,ha0=a0 if nr == 42"),
        ("kvm_entry", "hist:keys=common_pid:p=common_pid,lat=common_timestamp-$th:"
                      "onmatch(kvm.kvm_hypercall).trace(htb_hclat,$p,$hnr,$ha0,$lat)"),
    ]

    def __init__(self):
        self.inst = os.path.join(TRACEFS, "instances", "htb_hist")

    def start(self):
        wfile(os.path.join(TRACEFS, "synthetic_events"), self.SYNTH + "\n", append=True)
        os.mkdir(self.inst)
        wfile(os.path.join(self.inst, "buffer_size_kb"), "8192")
        for ev, trig in self.TRIGGERS:
            wfile(os.path.join(self.inst, "events", "kvm", ev, "trigger"), trig + "\n", append=True)
        wfile(os.path.join(self.inst, "events", "synthetic", "htb_hclat", "enable"), "1")

    def stop(self):
        wfile(os.path.join(self.inst, "events", "synthetic", "htb_hclat", "enable"), "0")
        got = sum(1 for line in read(os.path.join(self.inst, "trace")).splitlines() if "htb_hclat:" in line)
        for ev, trig in reversed(self.TRIGGERS):
            wfile(os.path.join(self.inst, "events", "kvm", ev, "trigger"), "!" + trig + "\n", append=True)
        os.rmdir(self.inst)
        wfile(os.path.join(TRACEFS, "synthetic_events"), "!" + self.SYNTH + "\n", append=True)
        return got, ""


def configs(only):
    c = {
        "untraced": Untraced(),
        "empty-classic": Process("empty-classic", [ATTACH, EMPTY_OBJ, "classic"], lambda o, e: "attached" in o),
        "empty-raw": Process("empty-raw", [ATTACH, EMPTY_OBJ, "raw"], lambda o, e: "attached" in o),
        "tracefs": Tracefs(),
        "ftrace-hist": FtraceHist(),
        "bpftrace": Bpftrace(),
        "ht-stream": Hypertrace("ht-stream", ["-b", "bpf"]),
        "ht-summary": Hypertrace("ht-summary", ["-b", "bpf", "-s"], summary=True),
        "ht-kmod": Hypertrace("ht-kmod", ["-b", "kmod"]),
        "ht-stream-classic": Hypertrace("ht-stream-classic", ["-b", "bpf"], env={"HYPERTRACE_BPF_ATTACH": "classic"}),
    }
    c["ht-kmod"].bpf = False
    return {k: v for k, v in c.items() if not only or k in only}


# ---- workload and stats ----------------------------------------------------

def settle_reader(cfg, timeout=10.0):
    """Wait until the reader has drained what the workload left in its ring:
    its CPU time stops growing over more than a drain period (HT_RING_POLL_MS,
    20 ms), apart from the idle poll's own few microseconds."""
    last, deadline = cfg.cpu_ns(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cfg.cpu_ns()
        if now - last < 200_000:
            return now
        last = now
    return last


def hcgen(n, mode, repeat=1):
    p = subprocess.run([HCGEN, "loop", "-n", str(n), "--repeat", str(repeat), "--json", *MODES[mode]],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"hcgen loop exited {p.returncode}: {p.stderr}")
    j = json.loads(p.stdout)
    if not j.get("ret_ok", True):
        raise RuntimeError("hcgen: unexpected hypercall return values")
    w, runs = j.get("warmup", 1), len(j["runs"])
    issued = w * min(n, 100) + runs * n
    if mode in ("all42", "whole"):
        n42 = issued
    else:
        n42 = w * math.ceil(min(n, 100) / 2) + runs * math.ceil(n / 2)
    return j, issued, n42


def prog_stats():
    p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    out = {}
    for prog in json.loads(p.stdout or "[]"):
        out[prog["id"]] = (prog.get("name", "?"), prog.get("type", "?"),
                           prog.get("run_time_ns", 0), prog.get("run_cnt", 0))
    return out


def stats_run(n, mode):
    wfile("/proc/sys/kernel/bpf_stats_enabled", "1")
    try:
        before = prog_stats()
        _, issued, n42 = hcgen(n, mode)
        after = prog_stats()
    finally:
        wfile("/proc/sys/kernel/bpf_stats_enabled", "0")
    progs = []
    for pid, (name, typ, rt, rc) in after.items():
        b = before.get(pid, (name, typ, 0, 0))
        if rc - b[3] > 0:
            progs.append({"prog": name, "type": typ, "run_cnt": rc - b[3], "run_time_ns": rt - b[2],
                          "ns_per_hypercall": (rt - b[2]) / issued, "runs_per_hypercall": (rc - b[3]) / issued})
    return progs, n42


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inner", type=int, default=3, help="timed KVM_RUNs per hcgen run (hcgen --repeat)")
    ap.add_argument("--only", default="", help="comma list of configurations")
    ap.add_argument("--whole-n", type=int, default=60000,
                    help="hypercalls per KVM_RUN of the whole-cost runs (0: none)")
    ap.add_argument("--whole-inner", type=int, default=3, help="timed KVM_RUNs of the whole-cost runs")
    a = ap.parse_args()
    if os.path.exists(os.path.join(TRACEFS, "instances", "htb_hist")):
        raise SystemExit("stale tracefs instance htb_hist")
    os.makedirs(LOCAL, exist_ok=True)
    cfgs = configs([x for x in a.only.split(",") if x])
    names = list(cfgs)
    res = {"kernel": KERNEL, "abi": ABI, "uname": os.uname().release, "n": a.n, "rounds": a.rounds,
           "inner": a.inner, "whole_n": a.whole_n, "whole_inner": a.whole_inner, "reader": [],
           "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource").strip(),
           "cmdline": read("/proc/cmdline").strip(), "timing": os.environ.get("HT_BENCH_TIMING", "wallclock"),
           "cpus": os.cpu_count(), "tracer_output": OUTPUT_ON,
           "runs": [], "checks": [], "bpf_stats": [], "startup_s": {}, "details": {}}
    out_path = os.path.join(SCRATCH, f"bench-{KERNEL}.json")
    failures = 0
    for rnd in range(a.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            cfg = cfgs[name]
            log(f"round {rnd} {name}")
            cfg.start()
            if hasattr(cfg, "startup_s"):
                res["startup_s"].setdefault(name, []).append(cfg.startup_s)
            want = 0
            try:
                for mode in MODES:
                    whole = mode == "whole"
                    if whole and not (a.whole_n and name in WHOLE_CONFIGS):
                        continue
                    has_cpu = whole and hasattr(cfg, "cpu_ns")
                    cpu0 = settle_reader(cfg) if has_cpu else 0
                    sc0 = cfg.sched_counts() if has_cpu else {}
                    j, issued, n42 = hcgen(a.whole_n if whole else a.n, mode, a.whole_inner if whole else a.inner)
                    want += n42
                    if has_cpu:
                        cpu = settle_reader(cfg) - cpu0
                        sc = {k: v - sc0[k] for k, v in cfg.sched_counts().items()}
                        res["reader"].append(dict(sc, config=name, round=rnd, hypercalls=issued, records=n42,
                                                  cpu_ns=cpu, ns_per_hypercall=cpu / issued))
                    for r in j["runs"]:
                        res["runs"].append({"config": name, "mode": mode, "round": rnd,
                                            "ns_per_call": r["ns_per_call"], "total_ns": r["total_ns"]})
                    if rnd == 0 and cfg.bpf and not whole:
                        progs, n42s = stats_run(a.n, mode)
                        want += n42s
                        for p in progs:
                            res["bpf_stats"].append(dict(p, config=name, mode=mode))
            finally:
                got, _ = cfg.stop()
            if got is not None:
                ok = got == want
                chk = {"config": name, "round": rnd, "expected_nr42": want, "records": got, "ok": ok}
                tot = getattr(cfg, "totals", None)
                if tot is not None:
                    chk["totals"] = tot
                    ok = ok and tot.get("records") == want and tot.get("dropped", 1) == 0
                    chk["ok"] = ok
                    res["details"][name] = getattr(cfg, "detail", "")
                # Only hypertrace's counts are a verdict; the peers' are
                # reported (bpftrace loses events when its buffer is full).
                chk["verdict"] = name.startswith("ht-")
                res["checks"].append(chk)
                if not ok and chk["verdict"]:
                    failures += 1
                log(f"  records {got} / expected {want}: {'ok' if ok else 'MISMATCH'}")
            with open(out_path, "w") as f:
                json.dump(res, f, indent=1)
    log(f"wrote {out_path}; {failures} record-count check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
