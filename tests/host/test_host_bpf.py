#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Host test (the development/CI machine itself, whatever its kernel): the
eBPF backend loads and attaches to the kvm tracepoints, runs, exits 0, and
leaves no BPF program behind; bad input exits 2 with a clear message and
nothing attached.  The host cannot prove tracing (its PVM hypervisor never
fires the kvm tracepoints: ../shared/docs/kvm-facts.md §1), so the testbed
tests do that; here zero records is the expected result."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm", "hypertrace"))
from htest import HYPERTRACE, check, finish, log  # noqa: E402

TRACEFS = "/sys/kernel/tracing"


def our_programs():
    """Ids of loaded BPF programs that are hypertrace's (named ht_*)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(p["id"] for p in json.loads(out or "[]") if p.get("name", "").startswith("ht_"))


def hypertrace(*args, timeout=60):
    return subprocess.run([HYPERTRACE, *args], capture_output=True, text=True, timeout=timeout)


def attaches_and_detaches():
    assert our_programs() == [], f"hypertrace programs loaded before the test: {our_programs()}"
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        p = hypertrace("-b", "bpf", "-f", "json", "-o", out.name, "1s")
        assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
        assert "Tracing hypercalls" in p.stderr, p.stderr
        assert "using the eBPF backend" in p.stderr, p.stderr
        assert "totals: records=0 " in p.stderr, p.stderr
        assert open(out.name).read() == "", "records on a host whose hypervisor fires no kvm tracepoints"
    assert our_programs() == [], f"programs left loaded after exit: {our_programs()}"
    log("     " + p.stderr.strip().replace("\n", "\n     "))


def check_reports_bpf():
    p = hypertrace("--check")
    assert p.returncode == 0, f"--check exit {p.returncode}:\n{p.stdout}{p.stderr}"
    assert "eBPF: works" in p.stdout, p.stdout
    assert our_programs() == [], f"--check left programs loaded: {our_programs()}"


def bad_input(args, words):
    def run():
        p = hypertrace(*args)
        assert p.returncode == 2, f"{args}: exit {p.returncode}, want 2:\n{p.stderr}"
        for w in words:
            assert w in p.stderr, f"{args}: '{w}' not in message:\n{p.stderr}"
        assert our_programs() == [], f"{args}: programs left loaded: {our_programs()}"
    return run


def sigterm_stops():
    proc = subprocess.Popen([HYPERTRACE, "-b", "bpf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(our_programs()) < 3:
        time.sleep(0.05)
    assert len(our_programs()) == 3, f"expected 3 attached programs while running, got {our_programs()}"
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, f"exit {proc.returncode} on SIGTERM:\n{err}"
    assert "totals:" in err, err
    assert our_programs() == [], f"programs left loaded after SIGTERM: {our_programs()}"


def not_root():
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                        HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
    assert "CAP_BPF" in p.stderr and "root" in p.stderr, p.stderr


def tracefs_unmounted():
    p = hypertrace("-b", "bpf", "-d", "1")
    assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
    assert "tracefs is not mounted" in p.stderr and "mount -t tracefs" in p.stderr, p.stderr


def lru_fallback():
    env = dict(os.environ, HYPERTRACE_BPF_STATE="lru")
    p = subprocess.run([HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
    assert "LRU hash" in p.stderr, p.stderr
    assert our_programs() == [], f"programs left loaded: {our_programs()}"


def bad_state_override():
    env = dict(os.environ, HYPERTRACE_BPF_STATE="hash")
    p = subprocess.run([HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
    assert "HYPERTRACE_BPF_STATE='hash'" in p.stderr and "vcpu, task, lru" in p.stderr, p.stderr
    assert our_programs() == [], f"programs left loaded: {our_programs()}"


def summary_interval():
    """In-kernel summary with -i: the maps load, ticks print, exit 0, nothing left."""
    p = hypertrace("-b", "bpf", "-s", "-i", "200ms", "-d", "1")
    assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
    assert "totals:" in p.stderr, p.stderr
    assert our_programs() == [], f"programs left loaded: {our_programs()}"


def main():
    if os.geteuid() != 0:
        sys.exit("test_host_bpf: must run as root (it loads BPF programs)")
    mounted_here = False
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        check("host: tracefs not mounted -> clear error", tracefs_unmounted)
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
        mounted_here = True
    try:
        check("host: eBPF backend attaches, runs 1 s, exits 0, detaches", attaches_and_detaches)
        check("host: SIGTERM ends tracing cleanly", sigterm_stops)
        check("host: LRU-hash fallback loads and attaches", lru_fallback)
        check("host: unknown HYPERTRACE_BPF_STATE -> exit 1, names the choices", bad_state_override)
        check("host: -s -i loads the summary maps, exits 0, detaches", summary_interval)
        check("host: not root -> names the missing capabilities", not_root)
        check("host: --check says eBPF works", check_reports_bpf)
        for args, words in [(["-n", "foo"], ["--nr", "foo"]),
                            (["-n", "-1"], ["-1"]),
                            (["--min-latency", "5parsecs"], ["5parsecs"]),
                            (["-f", "xml"], ["xml"]),
                            (["-p", "999999999"], ["999999999"]),
                            (["-b", "bpf", "-o", "/nonexistent/dir/out"], ["/nonexistent/dir/out"])]:
            check(f"host: bad input {' '.join(args)} -> exit 2, nothing attached", bad_input(args, words))
    finally:
        if mounted_here:
            subprocess.run(["umount", TRACEFS], check=False)
    finish()


main()
