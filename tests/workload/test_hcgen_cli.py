#!/usr/bin/env python3
"""hcgen's hyperv, xen and forward modes, and schedule's VM-name options: bad command lines are refused before
any KVM work, with exit 2 and a message naming the problem (runs anywhere, no
/dev/kvm needed).  Usage: test_hcgen_cli.py PATH/TO/hcgen"""
import subprocess
import sys

CASES = [
    # (args, exit, text the message must contain)
    (["hyperv", "--help"], 0, "usage: hcgen hyperv"),
    (["xen", "--help"], 0, "usage: hcgen xen"),
    (["forward", "--help"], 0, "usage: hcgen forward"),
    (["--help"], 0, "hcgen hyperv|xen|forward"),
    (["nosuchmode"], 2, "hyperv, xen or forward"),
    (["hyperv", "--calls", "0x10000x1"], 2, "out of range"),
    (["hyperv", "--calls", "0x8:rep=0x1000x1"], 2, "out of range"),
    (["hyperv", "--calls", "0x8:bogusx1"], 2, "unknown key"),
    (["hyperv", "--calls", "0x8:fast"], 2, "bad count"),
    (["hyperv", "--calls", "0x8x0"], 2, "bad count"),
    (["hyperv", "--calls", "0x8x1,"], 2, "trailing comma"),
    (["hyperv", "--calls", ""], 2, "empty"),
    (["hyperv", "--via", "nope"], 2, "--via"),
    (["hyperv", "--synic", "maybe"], 2, "--synic"),
    (["xen", "--vcpus", "17"], 2, "too large"),
    (["xen", "--vcpus", "0"], 2, "--vcpus"),
    (["xen", "--calls", "17:a0=0x100000000x1"], 2, "32 bits"),
    (["forward", "--vmm-wait", "maybe"], 2, "--vmm-wait"),
    (["forward", "--vmm-delay-us", "x"], 2, "not a number"),
    (["forward", "--calls", "12x70000"], 2, "at most"),
    (["forward", "extra"], 2, "unexpected argument"),
    # schedule under a VM name (hcgen_vmname.c): QEMU-like -name/-uuid
    (["schedule", "-name", "debug-threads=on", "--vcpus", "1", "--calls", "42x1"], 2, "no guest name"),
    (["schedule", "-name", "guest=,debug-threads=on", "--vcpus", "1", "--calls", "42x1"], 2, "no guest name"),
    (["schedule", "-name", "x,colour=red", "--vcpus", "1", "--calls", "42x1"], 2, "unknown item"),
    (["schedule", "--vcpus", "1", "--calls", "42x1", "-name"], 2, "-name needs a value"),
    (["schedule", "-uuid", "1234", "--vcpus", "1", "--calls", "42x1"], 2, "8-4-4-4-12"),
    (["schedule", "--libvirt-dir", "/tmp", "--vcpus", "1", "--calls", "42x1"], 2, "--libvirt-dir needs -name"),
    (["schedule", "-name", "a/b", "--libvirt-dir", "/tmp", "--vcpus", "1", "--calls", "42x1"], 2,
     "without '/'"),
    (["schedule", "--vcpu-id-stride", "0", "--vcpus", "1", "--calls", "42x1"], 2, "must be >= 1"),
    (["schedule", "--vcpu-id-stride", "65", "--vcpus", "1", "--calls", "42x1"], 2, "too large"),
]


def main():
    hcgen = sys.argv[1]
    bad = 0
    for args, want_rc, want_text in CASES:
        p = subprocess.run([hcgen] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        out = p.stdout + p.stderr
        if p.returncode != want_rc or want_text not in out or (want_rc and p.stdout):
            bad += 1
            print("FAIL: hcgen %s: exit %d (want %d), output %r (want %r in it%s)"
                  % (" ".join(args), p.returncode, want_rc, out[-300:], want_text,
                     ", nothing on stdout" if want_rc else ""))
    print("test_hcgen_cli: %d of %d cases %s" % (len(CASES) - bad, len(CASES), "ok" if not bad else "FAILED"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
