#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The prototypes test_kmod.sh traces with, from `kmod_client detect`'s JSON:
kvm's BTF where the kernel has module BTF (>= 5.11), else the module's
compile-time guess (5.10).  Where BTF exists the guess must equal it, so the
guess is proven on every kernel it is built for, not only where it is used.
Prints one line: the exit prototype in use (enum ht_exit_proto), ok or bad,
and what was found."""
import json
import sys

EXIT = {1: "kvm_exit(exit_reason, vcpu, isa)", 2: "kvm_exit(vcpu, isa)"}
ENTRY = {2: "kvm_entry(vcpu)", 3: "kvm_entry(vcpu, force_immediate_exit)"}
SOURCE = {1: "kernel version", 2: "kernel headers"}

d = json.load(open(sys.argv[1]))
g = (d["guess_exit"], d["guess_entry"])
guess = f"{EXIT.get(g[0], g[0])}, {ENTRY.get(g[1], g[1])} (from the {SOURCE.get(d['guess_source'], '?')})"
if d["exit_proto"] and d["entry_proto"]:
    btf = (d["exit_proto"], d["entry_proto"])
    same = g == btf
    print(btf[0], "ok" if same else "bad",
          f"from kvm's BTF: {EXIT.get(btf[0], btf[0])}, {ENTRY.get(btf[1], btf[1])}; the module's compile-time "
          f"guess {guess} {'equals them' if same else 'DIFFERS'}")
else:
    known = g[0] in EXIT and g[1] in ENTRY
    print(g[0], "ok" if known else "bad", f"no kvm BTF here: the module's compile-time guess {guess}")
