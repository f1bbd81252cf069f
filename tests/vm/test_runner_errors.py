#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The testbed runner's bad-input paths (issue: testbed): each gets its own
documented exit code and a message that names the problem and the fix, and
leaves no qemu behind.  Runs on the host (the no-SVM case boots a VM)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "hypertrace"))
from htest import check, finish  # noqa: E402

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run")
EX_USAGE, EX_BOOT = 90, 91


def our_qemus():
    """qemu processes of this test's no-SVM boot (its -cpu model is unique to it)."""
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64.*-cpu Haswell-noTSX"],
                         capture_output=True, text=True).stdout
    return out.split()


def expect(args, code, words, env=None):
    def run():
        p = subprocess.run([RUN, *args], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL)
        assert p.returncode == code, f"{args}: exit {p.returncode}, want {code}:\n{p.stderr}"
        for w in words:
            assert w in p.stderr, f"{args}: '{w}' not in:\n{p.stderr}"
    return run


check("unknown --kernel -> 90, names the choices",
      expect(["--kernel", "5.4", "--", "true"], EX_USAGE, ["unknown --kernel '5.4'", "5.10", "6.1", "6.12", "bpo", "sid"]))
check("missing COMMAND -> 90", expect(["--kernel", "6.1"], EX_USAGE, ["COMMAND"]))
check("qemu absent -> 90, names the package",
      expect(["--", "true"], EX_USAGE, ["not found", "qemu-system-x86"],
             env={"HT_TESTBED_QEMU": "qemu-system-x86_64-not-installed"}))
check("guest CPU without SVM -> 91, says so",
      expect(["--kernel", "6.12", "--timeout", "200", "--", "true"], EX_BOOT, ["no SVM"],
             env={"HT_TESTBED_CPU": "Haswell-noTSX"}))


def no_qemu_left():
    assert not our_qemus(), f"qemu of the failed boot still running: {our_qemus()}"


check("no qemu left behind by the failed boot", no_qemu_left)
finish()
