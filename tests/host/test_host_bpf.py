#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Host test (the development/CI machine itself, whatever its kernel): the
eBPF backend loads and attaches to the kvm tracepoints, runs, exits 0, and
leaves no BPF program behind; bad input exits 2 with a clear message and
nothing attached.  The host cannot prove tracing (its PVM hypervisor never
fires the kvm tracepoints), so the testbed
tests do that; here zero records is the expected result."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm", "hypertrace"))
from htest import HYPERTRACE, check, finish, log  # noqa: E402

TRACEFS = "/sys/kernel/tracing"


def our_programs():
    """Ids of loaded BPF programs that are hypertrace's (named ht_*)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(p["id"] for p in json.loads(out or "[]") if p.get("name", "").startswith("ht_"))


# Record v2's optional probes (userspace/backend/bpf_attach_plan.cpp): each
# attached where this kernel has its tracepoint, besides kvm_exit,
# kvm_hypercall and kvm_entry.
OPTIONAL_TRACEPOINTS = ("kvm_hv_hypercall", "kvm_hv_hypercall_done", "kvm_userspace_exit")


KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM, KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL = 0xAE03, 38, 1 << 1


def xen_attached():
    """kvm_xen_hypercall is attached where the kernel has it and KVM can
    fire it (KVM_CAP_XEN_HVM with the intercept), or /dev/kvm cannot be
    asked (userspace/kernel/kernel_facts.cpp: attached anyway)."""
    if not os.path.isdir(os.path.join(TRACEFS, "events", "kvm", "kvm_xen_hypercall")):
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return True
    try:
        caps = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM)
    finally:
        os.close(fd)
    return caps > 0 and bool(caps & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL)


def expected_programs():
    """How many ht_* programs a plain run attaches on this kernel."""
    return 3 + sum(os.path.isdir(os.path.join(TRACEFS, "events", "kvm", tp)) for tp in OPTIONAL_TRACEPOINTS) + \
        xen_attached()


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


def stop_signal_ends_cleanly(signo):
    """SIGINT, SIGTERM and SIGHUP all end a run like Ctrl-C: totals, the
    output written (the text header at least), exit 0, nothing attached."""
    def run():
        want = expected_programs()
        proc = subprocess.Popen([HYPERTRACE, "-b", "bpf"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(our_programs()) < want:
                time.sleep(0.05)
            assert len(our_programs()) == want, \
                f"expected {want} attached programs while running, got {our_programs()}"
            proc.send_signal(signo)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:  # a failed check must not leave it attached
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, f"exit {proc.returncode} on {signo.name}:\n{err}"
        assert "totals: records=0 " in err, err
        assert out.startswith("TIME(s) "), f"text output lost on {signo.name}: {out!r}"
        assert our_programs() == [], f"programs left loaded after {signo.name}: {our_programs()}"
    return run


def output_fails(args, target, error, sigpipe=signal.SIG_DFL):
    """An output that fails (full device, closed pipe) ends the run at once:
    totals, an error naming the output and errno, exit 1, nothing attached.
    The run asks for 20 s; the failure must end it long before."""
    def run():
        r, w = os.pipe()
        stdout = w if target == "closed pipe" else subprocess.DEVNULL
        if target == "closed pipe":
            os.close(r)  # the reader went away before the first write (| head)

        def child_signals():
            signal.signal(signal.SIGPIPE, sigpipe)
        t0 = time.monotonic()
        p = subprocess.run([HYPERTRACE, "-b", "bpf", *args, "20s"], stdout=stdout, stderr=subprocess.PIPE,
                           text=True, timeout=60, preexec_fn=child_signals)
        elapsed = time.monotonic() - t0
        os.close(w)
        if target != "closed pipe":
            os.close(r)
        assert p.returncode == 1, f"{args} into {target}: exit {p.returncode}, want 1:\n{p.stderr}"
        assert "totals: records=0 " in p.stderr, p.stderr
        assert f"hypertrace: {error}\n" in p.stderr, f"'{error}' not in:\n{p.stderr}"
        assert elapsed < 15, f"the failed output did not stop the 20 s run (ended after {elapsed:.1f} s)"
        assert our_programs() == [], f"programs left loaded: {our_programs()}"
        log(f"     ended after {elapsed:.1f} s: {p.stderr.strip().splitlines()[-1]}")
    return run


def failed_run_keeps_existing_output():
    """-o FILE of a run whose backend fails (-b kmod: no module on this
    host) is left exactly as it was; a run that traces replaces it."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "previous.jsonl")
        previous = '{"pid":1,"nr":42}\n' * 1000
        with open(path, "w") as f:
            f.write(previous)
        p = hypertrace("-b", "kmod", "-f", "json", "-o", path, "1s")
        assert p.returncode == 1, f"exit {p.returncode}, want 1 (kmod cannot load here):\n{p.stderr}"
        assert "kmod backend" in p.stderr, p.stderr
        with open(path) as f:
            assert f.read() == previous, "a failed run changed the existing --output file"
        p = hypertrace("-b", "bpf", "-f", "csv", "-o", path, "1s")
        assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
        with open(path) as f:
            assert f.read() == "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,t_exit_ns,t_hypercall_ns," \
                               "t_entry_ns,latency_ns,name,abi,a4,a5,hv_fast,hv_rep_cnt,hv_rep_idx,hv_var_cnt," \
                               "hv_ingpa,hv_outgpa,hv_result,t_userspace_exit_ns,uexit_reason,vmm_ns,served_by," \
                               "vm,vm_uuid,vm_source,vcpu_index\n", \
                "a run that traced did not replace the file"


def failed_run_leaves_no_new_output():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "new.txt")
        p = hypertrace("-b", "kmod", "-o", path, "1s")
        assert p.returncode == 1, f"exit {p.returncode}, want 1 (kmod cannot load here):\n{p.stderr}"
        assert os.listdir(d) == [], f"a failed run left {os.listdir(d)} behind"


def summary_output_fails_at_end():
    """-s without -i writes only at the end: that write is checked too."""
    p = hypertrace("-b", "bpf", "-s", "-o", "/dev/full", "1s")
    assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
    assert "totals: records=0 " in p.stderr, p.stderr
    assert "hypertrace: writing to '/dev/full' failed: No space left on device\n" in p.stderr, p.stderr
    assert our_programs() == [], f"programs left loaded: {our_programs()}"


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


def forced_attach(mode, says, not_says):
    """HYPERTRACE_BPF_ATTACH=raw|btf: that attach mode only (raw stays proven
    where tp_btf is the default), exit 0, nothing left."""
    def run():
        env = dict(os.environ, HYPERTRACE_BPF_ATTACH=mode)
        p = subprocess.run([HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=60, env=env)
        assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
        first = p.stderr.split("\n")[0]
        assert says in first and not_says not in first, p.stderr
        assert our_programs() == [], f"programs left loaded: {our_programs()}"
    return run


def bad_attach_override():
    env = dict(os.environ, HYPERTRACE_BPF_ATTACH="fentry")
    p = subprocess.run([HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
    assert "HYPERTRACE_BPF_ATTACH='fentry'" in p.stderr and "classic, raw, btf" in p.stderr, p.stderr
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
        for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            check(f"host: {signo.name} ends tracing cleanly with totals", stop_signal_ends_cleanly(signo))
        full = "writing to '/dev/full' failed: No space left on device"
        for args, target, error, sigpipe in [
                (["-o", "/dev/full"], "/dev/full", full, signal.SIG_DFL),
                (["-f", "csv", "-o", "/dev/full"], "/dev/full", full, signal.SIG_DFL),
                (["-s", "-i", "200ms", "-o", "/dev/full"], "/dev/full", full, signal.SIG_DFL),
                ([], "closed pipe", "writing to stdout failed: Broken pipe", signal.SIG_DFL),
                ([], "closed pipe", "writing to stdout failed: Broken pipe", signal.SIG_IGN)]:
            how = " (SIGPIPE ignored by the parent)" if sigpipe == signal.SIG_IGN else ""
            check(f"host: {' '.join(['hypertrace', *args])} into {target}{how} -> stops, totals, error, exit 1",
                  output_fails(args, target, error, sigpipe))
        check("host: -s -o /dev/full: the final summary's failure -> exit 1", summary_output_fails_at_end)
        check("host: failed run keeps an existing -o file byte for byte", failed_run_keeps_existing_output)
        check("host: failed run leaves no new -o file behind", failed_run_leaves_no_new_output)
        check("host: LRU-hash fallback loads and attaches", lru_fallback)
        check("host: unknown HYPERTRACE_BPF_STATE -> exit 1, names the choices", bad_state_override)
        check("host: HYPERTRACE_BPF_ATTACH=raw attaches raw_tp, no tp_btf",
              forced_attach("raw", "kvm_entry raw", " btf"))
        check("host: HYPERTRACE_BPF_ATTACH=btf attaches tp_btf",
              forced_attach("btf", "kvm_entry btf", "kvm_entry raw"))
        check("host: unknown HYPERTRACE_BPF_ATTACH -> exit 1, names the choices", bad_attach_override)
        check("host: -s -i loads the summary maps, exits 0, detaches", summary_interval)
        check("host: not root -> names the missing capabilities", not_root)
        check("host: --check says eBPF works", check_reports_bpf)
        for args, words in [(["-n", "foo"], ["--nr", "foo"]),
                            (["-n", "-1"], ["-1"]),
                            (["--min-latency", "5parsecs"], ["5parsecs"]),
                            (["-f", "xml"], ["xml"]),
                            (["-p", "999999999"], ["999999999"]),
                            (["-b", "bpf", "-o", "/nonexistent/dir/out"], ["/nonexistent/dir/out"]),
                            # 2^63 ns and more wrapped negative: the run ended at once with exit 0.
                            (["-b", "bpf", "-d", "18446744073709551615ns"],
                             ["--duration '18446744073709551615ns'", "maximum of 525600m"]),
                            (["-b", "bpf", "153722868m"], ["duration '153722868m'", "maximum of 525600m"]),
                            (["-b", "bpf", "-s", "-i", "9223372036854775808ns"],
                             ["--interval '9223372036854775808ns'", "maximum of 525600m"]),
                            (["-b", "bpf", "600000000000h"], ["600000000000h"])]:
            check(f"host: bad input {' '.join(args)} -> exit 2, nothing attached", bad_input(args, words))
    finally:
        if mounted_here:
            subprocess.run(["umount", TRACEFS], check=False)
    finish()


main()
