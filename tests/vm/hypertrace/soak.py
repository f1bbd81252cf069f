#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest soak (testbed): `hypertrace -b BACKEND -s -i 1` while hcgen
issues hypercalls without pause for a given time, per backend.

Checks, per backend:
 - counts: the per-interval summaries add up, per (pid, nr), exactly to what
   the hcgen runs issued; totals: dropped 0, unmatched 0, and
   hypercalls = emitted + filtered + unmatched + dropped;
 - memory flat after warm-up: hypertrace's resident memory (VmRSS less the
   ring it maps from the kernel, whose pages become resident as the kernel
   writes them, up to the ring's size); for kmod the module's
   vmalloc areas (/proc/vmallocinfo) and, loosely, Slab; for eBPF the
   memlock of hypertrace's maps and the entries of its hash maps.
   Sampled after the first hcgen run, a third in (the baseline: by then the
   first intervals have allocated what hypertrace keeps, e.g. kmod's buffer
   for a whole summary table, 9.7 MB), two thirds in and at the end; a table
   is printed, and growth from the baseline to the end beyond MARGIN fails.

usage: soak.py [--duration SEC] [BACKEND...]     (default 60 s, bpf kmod)
The duration also comes from HT_SOAK_SECONDS.  An hour in the testbed:
  HT_BUILD_DIR=$PWD/build tests/vm/run --kernel 6.12 --timeout 7800 -- \\
      tests/vm/hypertrace/soak.py --duration 3600
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import Tracer, check, counts_by_nr, finish, log, parse_json_lines, run_hcgen  # noqa: E402

# One hcgen run: about a second of hypercalls in the testbed, no exits
# between them but one per 1024-call window.
WORKLOAD = ["--vcpus", "2", "--calls", "42x3000,43x1500,7x500", "--noise", "0", "--no-calls"]

# What "flat" allows between the warm-up sample and the end.
MARGIN = {
    "rss_kb": 1024,          # hypertrace's resident memory less the ring mapping
    "vmalloc_bytes": 0,      # the module's vmalloc areas: fixed at load
    "slab_kb": 16384,        # global Slab: every hcgen run creates and destroys a VM
    "bpf_memlock": 0,        # eBPF maps are preallocated
    "bpf_hash_entries": 64,  # hash-map entries: bounded, not growing with time
    "percpu_kb": 4096,       # global Percpu: per-CPU map values (and each VM's)
}

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--duration", type=float, default=float(os.environ.get("HT_SOAK_SECONDS", 60)),
                help="seconds of hypercalls per backend (default 60, or HT_SOAK_SECONDS)")
ap.add_argument("backends", nargs="*", default=["bpf", "kmod"], help="bpf and/or kmod (default both)")
args = ap.parse_args()
for b in args.backends:
    if b not in ("bpf", "kmod"):
        sys.exit(f"soak.py: unknown backend {b!r}: use bpf and/or kmod")
if args.duration < 9:
    sys.exit("soak.py: --duration must be at least 9 seconds (a third of it is warm-up)")


def proc_kb(path, key):
    with open(path) as f:
        m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else None


def rss_split(pid):
    """(VmRSS-like total, the part that is the ring mapped from the kernel)
    in kB, from /proc/PID/smaps.  The ring's pages become resident as the
    kernel writes through them, up to the ring's size: that is kernel memory
    (counted with the module's or the map's), not a leak in hypertrace."""
    total = ring = 0
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split()
                name = fields[5] if len(fields) > 5 else ""
            elif line.startswith("Rss:"):
                kb = int(line.split()[1])
                total += kb
                if name in ("/dev/hypertrace", "anon_inode:bpf-map"):
                    ring += kb
    return total, ring


def vmalloc_bytes(module):
    """Bytes of /proc/vmallocinfo areas allocated by the module's code."""
    total = 0
    with open("/proc/vmallocinfo") as f:
        for line in f:
            if f"[{module}]" in line:
                total += int(line.split()[1])
    return total


def bpftool_json(*a):
    p = subprocess.run(["bpftool", "-j", *a], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"bpftool {' '.join(a)}: {p.stderr.strip()}")
    return json.loads(p.stdout or "null")


def bpf_maps():
    """hypertrace's maps: those its programs (named ht_*) use.  (bpftool
    here lists no holder pids.)"""
    ids = set()
    for p in bpftool_json("prog", "show"):
        if p.get("name", "").startswith("ht_"):
            ids.update(p.get("map_ids", []))
    return [m for m in bpftool_json("map", "show") if m["id"] in ids]


def sample(backend, tracer_pid):
    total, ring = rss_split(tracer_pid)
    s = {"vmrss_kb": proc_kb(f"/proc/{tracer_pid}/status", "VmRSS"), "ring_rss_kb": ring,
         "rss_kb": total - ring, "slab_kb": proc_kb("/proc/meminfo", "Slab")}
    if backend == "kmod":
        s["vmalloc_bytes"] = vmalloc_bytes("hypertrace")
        s["vmalloc_used_kb"] = proc_kb("/proc/meminfo", "VmallocUsed")
    else:
        maps = bpf_maps()
        if not maps:
            raise AssertionError("bpftool shows no map of hypertrace's ht_* programs")
        s["bpf_maps"] = len(maps)
        s["bpf_memlock"] = sum(int(m.get("bytes_memlock", 0)) for m in maps)
        # Entries of the hash maps with small values (a dump of the per-CPU
        # statistics maps, 9.5 KB per value and CPU, would take too long
        # here: their growth shows in Percpu instead).
        entries = 0
        for m in maps:
            if "hash" in m.get("type", "") and m.get("bytes_value", 0) <= 256:
                entries += len(bpftool_json("map", "dump", "id", str(m["id"])) or [])
        s["bpf_hash_entries"] = entries
        s["percpu_kb"] = proc_kb("/proc/meminfo", "Percpu")
    return s


def soak(backend):
    t = Tracer("-b", backend, "-s", "-i", "1", "-f", "json", name=f"soak-{backend}")
    want = collections.Counter()
    samples = []
    runs = 0
    t0 = time.monotonic()
    try:
        # start: after the first hcgen run; warm: a third in (the baseline);
        # middle: two thirds in; end.
        due = [("start", 0), ("warm", args.duration / 3), ("middle", args.duration * 2 / 3)]
        while time.monotonic() - t0 < args.duration:
            truth = run_hcgen(*WORKLOAD)
            runs += 1
            for nr, n in counts_by_nr(truth).items():
                want[(truth["pid"], nr)] += n
            el = time.monotonic() - t0
            if due and el >= due[0][1]:
                samples.append((due.pop(0)[0], el, sample(backend, t.proc.pid)))
        samples.append(("end", time.monotonic() - t0, sample(backend, t.proc.pid)))
    finally:
        out = t.stop()
    rows = parse_json_lines(out)
    tot = t.totals()
    got = collections.Counter()
    for r in rows:
        got[(r["pid"], r["nr"])] += r["count"]
    intervals = {r.get("interval") for r in rows}

    keys = list(samples[0][2])
    log(f"     [{backend}] {runs} hcgen runs, {sum(want.values())} hypercalls in "
        f"{samples[-1][1]:.0f} s, {len(intervals)} intervals with rows, totals {tot}")
    log(f"     [{backend}] {'sample':8} {'t (s)':>7} " + " ".join(f"{k:>16}" for k in keys))
    for name, el, s in samples:
        log(f"     [{backend}] {name:8} {el:7.1f} " + " ".join(f"{s[k]:>16}" for k in keys))

    def counts():
        missing = {k: n for k, n in want.items() if got[k] != n}
        extra = {k: n for k, n in got.items() if k not in want}
        assert not missing and not extra, \
            f"{len(missing)} (pid, nr) counted wrong, e.g. {list(missing.items())[:3]} " \
            f"(got {[got[k] for k in list(missing)[:3]]}); {len(extra)} never issued, e.g. {list(extra.items())[:3]}"
        assert len(intervals) >= args.duration * 0.5, f"only {len(intervals)} intervals had rows"
        assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
        rhs = tot["emitted"] + tot["filtered"] + tot["unmatched"] + tot["dropped"]
        assert tot["hypercalls"] == rhs == sum(want.values()), f"totals {tot}, issued {sum(want.values())}"

    def flat():
        warm, end = dict((n, x) for n, _, x in samples)["warm"], samples[-1][2]
        grew = [f"{k} {warm[k]} -> {end[k]} (+{end[k] - warm[k]}, margin {MARGIN[k]})"
                for k in keys if k in MARGIN and end[k] - warm[k] > MARGIN[k]]
        assert not grew, "memory grew after warm-up: " + "; ".join(grew)

    check(f"[{backend}] soak {args.duration:.0f} s: interval counts add up to what hcgen issued", counts)
    check(f"[{backend}] soak {args.duration:.0f} s: memory flat after warm-up", flat)


for backend in args.backends:
    check(f"[{backend}] soak ran", lambda: soak(backend))
finish()
