#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest part of packaging.installed.* (tests/packaging/test-installed): runs
in the testbed (Debian 6.1, or the trixie-backports kernel) whose root is a
debootstrapped Debian 12 (or 13) with the hypertrace and hypertrace-dkms .debs
installed.  The INSTALLED
/usr/sbin/hypertrace traces hcgen with each backend, checked against hcgen's
ground truth with the same assertions as tests/vm/hypertrace/test_trace.py
(htest.py); -b kmod loads the DKMS-built module with modprobe (HT_KMOD_PATH
empty).

The runner mounts the testbed kernel's own module tree over
/lib/modules/ABI; this script binds the root's own tree (the linux-image
package's modules plus DKMS's updates/dkms/, indexed by DKMS's depmod) back
over it, as on a host where these packages are installed."""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("HT_HYPERTRACE", "/usr/sbin/hypertrace")
os.environ.setdefault("HT_HCGEN", os.path.join(HERE, "hcgen"))
import htest  # noqa: E402
from htest import Tracer, assert_records_match, check, counts_by_nr, finish, log, parse_json_lines, run_hcgen  # noqa: E402

htest.KMOD_PATH = ""  # hypertrace -b kmod: `modprobe hypertrace`, never insmod of a build tree
ABI = os.environ.get("HT_TESTBED_ABI") or os.uname().release
SCHEDULE = ["--vcpus", "2", "--calls", "42x300,43x150,7x50", "--noise", "2"]


def sh(*cmd, check_rc=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def use_root_modules():
    """Bind the root's /usr/lib/modules/ABI (hidden by the runner's mounts) over /lib/modules/ABI."""
    os.makedirs("/run/ht-rootfs", exist_ok=True)
    sh("mount", "--bind", "/", "/run/ht-rootfs")  # not --rbind: the root's own files only
    own = f"/run/ht-rootfs/usr/lib/modules/{ABI}"
    # Kernels that compress their modules get hypertrace.ko.xz (or .zst) from dkms.
    kos = glob.glob(f"{own}/updates/dkms/hypertrace.ko*")
    assert len(kos) == 1, f"DKMS modules in the root's {own}: {kos}"
    sh("mount", "--bind", own, f"/lib/modules/{ABI}")
    path = sh("modinfo", "-n", "hypertrace")
    want = f"/lib/modules/{ABI}/updates/dkms/{os.path.basename(kos[0])}"
    assert path == want, f"modprobe would load {path}, not {want}"
    log(f"     modprobe finds {path} (vermagic {sh('modinfo', '-F', 'vermagic', 'hypertrace')})")


def trace(backend, *args):
    t = Tracer("-b", backend, *args, name=f"installed-{backend}-{len(args)}")
    try:
        truth = run_hcgen(*SCHEDULE)
    finally:
        out = t.stop()
    want = "using the " + ("eBPF" if backend == "bpf" else "kernel-module")
    assert want in t.stderr(), f"'{want}' not in hypertrace's stderr:\n{t.stderr()}"
    return t, truth, out


def only_42(backend):
    def run():
        t, truth, out = trace(backend, "-n", "42", "-f", "json")
        recs = parse_json_lines(out)
        assert recs and {r["nr"] for r in recs} == {42}, f"nrs seen: {sorted({r['nr'] for r in recs})}"
        assert_records_match(recs, truth, nrs={42})
        tot = t.totals()
        assert tot["records"] == len(recs) == counts_by_nr(truth, {42})[42], f"totals {tot}, {len(recs)} records"
        assert tot["filtered"] == sum(counts_by_nr(truth).values()) - len(recs), f"filtered: {tot}"
        assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
        log(f"     {backend}: {len(recs)} records of nr 42 (hcgen issued {counts_by_nr(truth, {42})[42]}), totals {tot}")
    return run


def all_numbers(backend):
    def run():
        t, truth, out = trace(backend, "-f", "json")
        recs = parse_json_lines(out)
        assert_records_match(recs, truth)
        tot = t.totals()
        assert tot["records"] == len(recs) == sum(counts_by_nr(truth).values()), f"totals {tot}"
        assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
        log(f"     {backend}: {len(recs)} records of the {sum(counts_by_nr(truth).values())} hcgen issued, totals {tot}")
    return run


def module_was_loaded_by_modprobe():
    assert os.path.isdir("/sys/module/hypertrace"), "hypertrace.ko is not loaded after -b kmod"
    sh("modprobe", "-r", "hypertrace")
    assert not os.path.exists("/sys/module/hypertrace"), "modprobe -r left the module loaded"
    assert not os.path.exists("/dev/hypertrace"), "/dev/hypertrace left after modprobe -r"


def installed_files():
    for f in ("/usr/sbin/hypertrace", "/usr/share/man/man8/hypertrace.8.gz",
              "/usr/share/bash-completion/completions/hypertrace", "/usr/share/doc/hypertrace/README.md.gz"):
        assert os.path.isfile(f), f"{f} missing"
    out = sh("/usr/sbin/hypertrace", "--check")
    log("     " + out.replace("\n", "\n     "))
    assert "eBPF: works" in out and "kernel module: works" in out, "--check: a backend does not work"


check("root's module tree with the DKMS module", use_root_modules)
check("installed files; hypertrace --check: both backends work", installed_files)
check("[installed kmod] -n 42, exact ground truth", only_42("kmod"))
check("[installed kmod] all numbers, exact ground truth", all_numbers("kmod"))
check("modprobe loaded the DKMS module; modprobe -r removes it and /dev/hypertrace", module_was_loaded_by_modprobe)
check("[installed bpf] -n 42, exact ground truth", only_42("bpf"))
check("[installed bpf] all numbers, exact ground truth", all_numbers("bpf"))
finish()
