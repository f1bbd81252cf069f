#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed, every kernel of the matrix): a hypertrace backend
(argument: bpf or kmod) traces the hcgen workload and reports exactly what
hcgen issued.  One script for both backends: the same assertions for each.
What the eBPF backend must choose (attach modes, state store) is derived from
what the kernel offers (htest.kernel_offers), not from its version."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collections  # noqa: E402

from htest import (HYPERTRACE, Tracer, assert_records_match, check, counts_by_nr, expect_refusal,  # noqa: E402
                   expected_calls, finish, kernel_offers, kvm_hc_names, log, parse_csv, parse_json_lines,
                   run_hcgen)

SCHEDULE = ["--vcpus", "3", "--calls", "42x400,43x250,7x100,0x1000x50", "--noise", "2"]
BACKEND = sys.argv[1] if len(sys.argv) > 1 else "bpf"
if BACKEND not in ("bpf", "kmod"):
    sys.exit(f"usage: {sys.argv[0]} [bpf|kmod]")


def trace(name, *args, schedule=SCHEDULE, env=None):
    t = Tracer("-b", BACKEND, *args, name=f"{BACKEND}-{name}", env=env)
    try:
        truth = run_hcgen(*schedule)
    finally:
        out = t.stop()
    return t, truth, out


# The "using" line's words for each state store (userspace/backend/bpf_backend.cpp).
STORE_SAYS = {"vcpu": "per-vCPU state in a slot table keyed by the vCPU", "task": "per-vCPU state in task storage",
              "lru": "per-vCPU state in an LRU hash by tid"}
FORMAT_SAYS = "classic records read at their tracefs format offsets"


def best_store(k):
    return "vcpu" if k["running_vcpu"] else "task" if k["task_storage"] else "lru"


PREEMPTIBLE_SAYS = "kvm_hypercall classic (a raw program would run preemptible here"


def assert_hypercall_attach(first, raw_says):
    """kvm_hypercall is raw, or classic because the kernel runs raw programs
    preemptible (and skips runs of one that overlap on a CPU); the latter
    only where tracepoints can leave preemption on (SRCU-fast)."""
    if PREEMPTIBLE_SAYS in first:
        assert kernel_offers()["srcu_fast"], f"kvm_hypercall classic on a kernel without SRCU-fast: {first}"
    else:
        assert raw_says in first, f"no '{raw_says}' in: {first}"


def assert_bpf_choice(stderr):
    """The eBPF backend chose what this kernel offers best.  With kvm's BTF:
    raw tracepoints (kvm_entry BTF-typed), no classic one but kvm_hypercall
    where raw programs run preemptible.  Without it (kvm a module on a kernel
    without module BTF, e.g. 5.10): all three classic, their records read at
    the format files' offsets, the exit reason from the kvm_exit record.  The
    state store: the vCPU slot table, else task storage, else the LRU hash."""
    # The three hot tracepoints' part of the "using" line (kvm_userspace_exit
    # and the other ABIs' tracepoints, classic on every kernel, follow it).
    first = stderr.split("\n")[0].split("; kvm_userspace_exit")[0]
    k = kernel_offers()
    if k["kvm_btf"]:
        assert "kvm_entry btf tracepoint" in first and "kvm_exit classic" not in first, stderr
        assert_hypercall_attach(first, "kvm_hypercall raw")
        if PREEMPTIBLE_SAYS not in first:
            assert "classic" not in first, stderr
    else:
        for says in ("kvm_exit classic (reason from the record", "kvm_hypercall classic", "kvm_entry classic",
                     FORMAT_SAYS + " (kvm's records are in no BTF)"):
            assert says in first, f"no '{says}' in: {stderr}"
    assert STORE_SAYS[best_store(k)] in first, f"want {best_store(k)} state for {k}: {stderr}"


def all_numbers():
    t, truth, out = trace("all", "-f", "json")
    # The "using" line: backend, prototypes (BTF or the module's compile-time
    # guess), state store; the test log says what this kernel was traced with.
    log(f"     {t.stderr().splitlines()[0]}")
    if BACKEND == "bpf":
        assert_bpf_choice(t.stderr())
    recs = parse_json_lines(out)
    assert_records_match(recs, truth)
    tot = t.totals()
    assert tot["records"] == len(recs) == sum(counts_by_nr(truth).values()), f"totals {tot}, {len(recs)} records"
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
    # Every hypercall hcgen issued was seen (the identity is checked by totals()).
    assert tot["hypercalls"] == sum(counts_by_nr(truth).values()), f"totals {tot}"
    log(f"     {len(recs)} records, totals {tot}")


def forced_state(store, says):
    """A state store forced with HYPERTRACE_BPF_STATE gives the same exact records."""
    t, truth, out = trace(store, "-f", "json", env={"HYPERTRACE_BPF_STATE": store})
    assert STORE_SAYS[store] in t.stderr(), t.stderr()
    assert says in t.stderr(), t.stderr()
    assert_records_match(parse_json_lines(out), truth)
    tot = t.totals()
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"


def no_kernel_addresses(map_name):
    """No entry of a state map, which root can read, holds a kernel address
    (the vCPU is kept XOR a random mask).  bpftool prints raw bytes, or with
    BTF the fields ("formatted"): every 8-byte word / every number is checked."""
    p = subprocess.run(["bpftool", "-j", "map", "dump", "name", map_name], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, f"bpftool map dump {map_name}: {p.stderr}"
    entries = json.loads(p.stdout)
    assert entries, f"{map_name} is empty"

    def numbers(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from numbers(x)
        elif isinstance(v, list):
            if v and all(isinstance(x, str) and x.startswith("0x") for x in v):
                raw = bytes(int(b, 16) for b in v)
                for i in range(0, len(raw) - 7, 8):
                    yield int.from_bytes(raw[i:i + 8], "little")
            else:
                for x in v:
                    yield from numbers(x)
        elif isinstance(v, int):
            yield v & 0xffffffffffffffff

    for e in entries:
        for word in numbers(e.get("formatted", e).get("value", e)):
            assert word < 0xffff800000000000, f"{map_name} holds a kernel address {word:#x}: {e}"
    return len(entries)


def lru_fallback():
    """The state-storage fallback for kernels without task storage; its map
    holds no kernel address."""
    t = Tracer("-b", BACKEND, "-f", "json", name=f"{BACKEND}-lru", env={"HYPERTRACE_BPF_STATE": "lru"})
    try:
        truth = run_hcgen(*SCHEDULE)
        entries = no_kernel_addresses("lru_states")
    finally:
        out = t.stop()
    assert "LRU hash" in t.stderr(), t.stderr()
    assert_records_match(parse_json_lines(out), truth)
    tot = t.totals()
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
    log(f"     lru_states: {entries} entries, none holds a kernel address")


def task_storage():
    """The task-storage state (kernels whose kvm has no kvm_running_vcpu in
    BTF or kallsyms, e.g. one built without it).  Where the kernel has no
    task storage (before 5.11), forcing it is refused, saying so."""
    if kernel_offers()["task_storage"]:
        forced_state("task", "task storage")
    else:
        expect_refusal(["-b", "bpf", "-d", "1"], {"HYPERTRACE_BPF_STATE": "task"},
                       "HYPERTRACE_BPF_STATE=task, but no task storage map or helpers")


def vcpu_state_refused():
    """Where kvm's BTF has no kvm_running_vcpu, forcing the slot table is
    refused, saying so (where it has it, all_numbers proves the slot table)."""
    expect_refusal(["-b", "bpf", "-d", "1"], {"HYPERTRACE_BPF_STATE": "vcpu"},
                   "HYPERTRACE_BPF_STATE=vcpu, but no kvm_running_vcpu")


def classic_attach():
    """The classic-tracepoint fallback (kernels whose BTF lacks what the raw
    path reads): the same exact records; kvm's records read by CO-RE where
    its BTF describes them, else at the format files' offsets."""
    t, truth, out = trace("classic", "-f", "json", env={"HYPERTRACE_BPF_ATTACH": "classic"})
    first = t.stderr().split("\n")[0]
    assert "raw" not in first, t.stderr()
    says = "records read by CO-RE (kvm module BTF)" if kernel_offers()["kvm_btf"] else FORMAT_SAYS
    assert says in first, f"no '{says}' in: {t.stderr()}"
    assert_records_match(parse_json_lines(out), truth)
    tot = t.totals()
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"


def format_fields():
    """Classic programs reading kvm's records at the tracefs format files'
    offsets, the path of kernels without kvm's BTF, forced where the BTF
    exists too (HYPERTRACE_BPF_FIELDS=format): the same exact records, with
    and without --summary."""
    env = {"HYPERTRACE_BPF_ATTACH": "classic", "HYPERTRACE_BPF_FIELDS": "format"}
    t, truth, out = trace("format", "-f", "json", env=env)
    assert FORMAT_SAYS in t.stderr().split("\n")[0], t.stderr()
    assert_records_match(parse_json_lines(out), truth)
    tot = t.totals()
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"
    t, truth, out = trace("format-summary", "--summary", "-f", "json", env=env)
    got = {(r["pid"], r["nr"]): r["count"] for r in parse_json_lines(out)}
    want = {(truth["pid"], nr): n for nr, n in counts_by_nr(truth).items()}
    assert got == want, f"summary counts {got} != ground truth {want}"


def raw_attach():
    """raw_tp forced (HYPERTRACE_BPF_ATTACH=raw, no tp_btf): the same exact
    records, so the raw programs stay proven where tp_btf is the default.
    Without kvm's BTF (no prototypes to read arguments by) it is refused,
    saying why."""
    if not kernel_offers()["kvm_btf"]:
        expect_refusal(["-b", "bpf", "-d", "1"], {"HYPERTRACE_BPF_ATTACH": "raw"},
                       "HYPERTRACE_BPF_ATTACH=raw, but no kvm tracepoint can be attached so here")
        return
    t, truth, out = trace("raw", "-f", "json", env={"HYPERTRACE_BPF_ATTACH": "raw"})
    first = t.stderr().split("\n")[0]
    assert "kvm_entry raw" in first and " btf" not in first, t.stderr()
    assert_hypercall_attach(first, "kvm_hypercall raw")
    assert_records_match(parse_json_lines(out), truth)
    tot = t.totals()
    assert tot["dropped"] == 0 and tot["unmatched"] == 0, f"totals {tot}"


def modprobe(*args):
    p = subprocess.run(["modprobe", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr


def no_kvm_tracepoints():
    """kvm unloaded: the eBPF backend says the kvm tracepoints are missing,
    exits 1 and leaves nothing loaded; then kvm comes back."""
    rc, err = modprobe("-r", "kvm_amd", "kvm")
    assert rc == 0, f"modprobe -r kvm_amd kvm: {err}"
    try:
        p = subprocess.run([HYPERTRACE, "-b", "bpf", "-d", "1"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, f"exit {p.returncode}, want 1:\n{p.stderr}"
        assert "kvm tracepoints" in p.stderr and "modprobe" in p.stderr, p.stderr
        left = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        assert " ht_" not in left, f"programs left loaded:\n{left}"
    finally:
        rc, err = modprobe("kvm_amd")
        assert rc == 0, f"modprobe kvm_amd: {err}"


def bpf_pins_kvm():
    """While the eBPF backend is attached, kvm cannot be unloaded (the
    attachments hold a module reference; README: backends table)."""
    t = Tracer("-b", "bpf", name="pin")
    try:
        rc, _ = modprobe("-r", "kvm_amd", "kvm")
        assert rc != 0, "kvm unloaded while eBPF programs were attached to its tracepoints"
    finally:
        # modprobe -r removes kvm_amd before it finds kvm in use: load it
        # again whatever happened, or /dev/kvm is gone for the next checks.
        modprobe("kvm_amd")
        t.stop()
    rc, err = modprobe("-r", "kvm_amd", "kvm")
    assert rc == 0, f"kvm still pinned after hypertrace exited: {err}"
    rc, err = modprobe("kvm_amd")
    assert rc == 0, f"modprobe kvm_amd: {err}"


def only_42():
    t, truth, out = trace("n42", "-n", "42", "-f", "json")
    recs = parse_json_lines(out)
    assert {r["nr"] for r in recs} == {42}, f"nrs seen: {sorted({r['nr'] for r in recs})}"
    assert_records_match(recs, truth, nrs={42})
    tot = t.totals()
    assert tot["filtered"] == sum(counts_by_nr(truth).values()) - len(recs), f"filtered count: {tot}"


def ranges_and_hex():
    _, truth, out = trace("ranges", "-n", "0x2a-43,0x1000", "-f", "csv")
    rows = parse_csv(out)
    assert all(row["name"] == "" for row in rows), "a name for 42, 43 or 0x1000, which have none"
    # Numbers as ints, empty as None, words (abi, served_by) as they are;
    # the VM fields (vm, vm_uuid, vm_source) are text.
    text = {"vm", "vm_uuid", "vm_source"}
    recs = [{k: (v if k in text else int(v) if v.lstrip("-").isdigit() else None if v == "" else v)
             for k, v in row.items() if k != "name"} for row in rows]
    assert_records_match(recs, truth, nrs={42, 43, 0x1000})
    assert all(r["vm_source"] == "none" and r["vm"] == "" and r["vcpu_index"] is None for r in recs), recs[:1]


def by_name():
    """-n by name: KVM_HC_MIPS_EXIT_VM (7 in the kernel's uapi header, one of
    hcgen's numbers) and 42 give exactly hcgen's calls of 7 and 42, each
    with the header's name for its nr (JSON "name", the text NAME column;
    none for 42)."""
    names = kvm_hc_names()
    t, truth, out = trace("byname", "-n", "KVM_HC_MIPS_EXIT_VM,42", "-f", "json")
    recs = parse_json_lines(out)
    assert_records_match(recs, truth, nrs={7, 42})
    got = collections.Counter((r["nr"], r["name"]) for r in recs)
    want = counts_by_nr(truth, {7, 42})
    assert got == {(7, names[7]): want[7], (42, None): want[42]}, f"(nr, name) counts {dict(got)} != {dict(want)}"
    assert t.totals()["filtered"] == sum(counts_by_nr(truth).values()) - len(recs), f"filtered: {t.totals()}"

    # The same in text, the name in any case: NAME right after NR.
    _, truth, out = trace("byname-text", "-n", "kvm_hc_mips_exit_vm", "-n", "42")
    lines = out.splitlines()
    assert lines[0].split()[4:6] == ["NR", "NAME"], f"header: {lines[0]!r}"
    seen = collections.Counter()
    for ln in lines[1:]:
        # TIME PID TID VCPU NR NAME A0..A3 REASON 3 latencies ABI VMM VIDX VM;
        # the last field, VM, may hold spaces.
        f = ln.split(None, 17)
        assert len(f) == 18, f"text line of {len(f)} fields: {ln!r}"
        nr, name = int(f[4]), f[5]
        assert f[14] == "kvm", f"-n named KVM hypercalls only, ABI {f[14]!r}: {ln!r}"
        assert name == names.get(nr, "-"), f"nr {nr} named {name!r}, the header says {names.get(nr, '-')!r}: {ln!r}"
        seen[(int(f[2]), int(f[6], 16))] += 1  # (tid, a0) identify a call
    want = expected_calls(truth, {7, 42})
    assert set(seen) == set(want) and max(seen.values()) == 1, \
        f"{len(seen)} calls in text ({sum(seen.values())} lines), hcgen made {len(want)} of 7 and 42"
    log(f"     by name: {len(recs)} JSON records and {len(seen)} text lines exact, 7 named {names[7]}")


def one_vcpu():
    _, truth, out = trace("vcpu1", "--vcpu", "1", "-f", "json")
    assert_records_match(parse_json_lines(out), truth, vcpu=1)


def other_pid():
    t, truth, out = trace("pid1", "-p", "1", "-f", "json")
    assert parse_json_lines(out) == [], "records from a process that is not the VM"
    assert t.totals()["records"] == 0


def hypercall_exits_only():
    _, truth, out = trace("strict", "--hypercall-exits-only", "-n", "42", "-f", "json")
    assert_records_match(parse_json_lines(out), truth, nrs={42})


def min_latency():
    t, truth, out = trace("minlat", "--min-latency", "10s", "-f", "json")
    assert parse_json_lines(out) == [], "records below --min-latency"
    assert t.totals()["filtered"] == sum(counts_by_nr(truth).values())


def summary_json():
    """--summary keeps the statistics in the kernel: exact counts per (pid,
    nr), no records through the ring, sane percentiles."""
    t, truth, out = trace("summary", "--summary", "-f", "json")
    if BACKEND == "bpf":
        assert_bpf_choice(t.stderr())
        # Without the kernel's any-context allocator the key tables are
        # preallocated (no run-time allocation WARNING; the runner fails
        # on any kernel WARNING).
        preallocated = "--summary keys preallocated" in t.stderr().split("\n")[0]
        assert preallocated != kernel_offers()["bpf_mem_alloc"], t.stderr()
    rows = parse_json_lines(out)
    got = {(r["pid"], r["nr"]): r["count"] for r in rows}
    want = {(truth["pid"], nr): n for nr, n in counts_by_nr(truth).items()}
    assert got == want, f"summary counts {got} != ground truth {want}"
    names = kvm_hc_names()
    for r in rows:
        assert r["name"] == names.get(r["nr"]), f"row of nr {r['nr']} named {r['name']!r}"
        assert 0 < r["min_ns"] <= r["p50_ns"] <= r["p99_ns"] <= r["p999_ns"] <= r["max_ns"], r
        assert r["min_ns"] <= r["avg_ns"] <= r["max_ns"], r
        assert r["avg_exit_hc_ns"] + r["avg_hc_entry_ns"] <= r["avg_ns"] + 1, r
    tot = t.totals()
    assert tot["emitted"] == sum(want.values()) and tot["dropped"] == 0, f"totals {tot}"


def summary_overflow():
    """Keys that find no room in the kernel's table travel as records and
    join the same statistics: still exact."""
    t, truth, out = trace("summary-full", "--summary", "-f", "json", env={"HYPERTRACE_BPF_AGG_KEYS": "2"})
    got = {(r["pid"], r["nr"]): r["count"] for r in parse_json_lines(out)}
    want = {(truth["pid"], nr): n for nr, n in counts_by_nr(truth).items()}
    assert got == want, f"summary counts {got} != ground truth {want}"
    tot = t.totals()
    assert tot["records"] == tot["emitted"] == sum(want.values()) and tot["dropped"] == 0, f"totals {tot}"


def summary_intervals():
    """-s -i: one summary per interval, each hypercall in exactly one."""
    sched = ["--vcpus", "2", "--calls", "42x8000,7x2000", "--noise", "1"]
    t, truth, out = trace("interval", "--summary", "-i", "200ms", "-n", "42", "-f", "json", schedule=sched)
    rows = parse_json_lines(out)
    intervals = {r.get("interval") for r in rows}
    assert len(intervals) >= 2, f"{len(intervals)} interval(s): hcgen ran for longer than 2 intervals"
    total = sum(r["count"] for r in rows if r["nr"] == 42 and r["pid"] == truth["pid"])
    assert total == counts_by_nr(truth, {42})[42], f"{total} counted over {len(intervals)} intervals"
    assert {r["nr"] for r in rows} == {42}, rows


def text_output():
    _, truth, out = trace("text", "-n", "42")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    body = [ln for ln in lines[1:]]
    assert len(body) == counts_by_nr(truth, {42})[42], f"{len(body)} text lines"
    assert all(" 42 " in f" {ln} " for ln in body), "a text line without nr 42"


CHECKS = [("all numbers, 3 vCPUs, exact ground truth", all_numbers),
          ("-n 42 emits only 42s", only_42),
          ("task-storage state, exact ground truth (or refused where absent)", task_storage),
          ("LRU-hash state fallback, exact ground truth", lru_fallback),
          ("classic-tracepoint fallback, exact ground truth", classic_attach),
          ("classic records at the format files' offsets, exact ground truth", format_fields),
          ("raw_tp forced (no tp_btf), exact ground truth (or refused without kvm BTF)", raw_attach),
          ("-n with hex and ranges, CSV", ranges_and_hex),
          ("-n by name: exact, NAME/name from the kernel's header", by_name),
          ("--vcpu 1", one_vcpu),
          ("-p of another process", other_pid),
          ("--hypercall-exits-only", hypercall_exits_only),
          ("--min-latency above every latency", min_latency),
          ("--summary -f json: in-kernel statistics", summary_json),
          ("--summary -i: intervals lose nothing", summary_intervals),
          ("--summary with a full kernel table: the rest as records, exact", summary_overflow),
          ("text output", text_output),
          ("kvm not loaded: clear error, nothing attached", no_kvm_tracepoints),
          ("attached eBPF pins kvm; released at exit", bpf_pins_kvm)]
BPF_ONLY = (task_storage, summary_overflow, lru_fallback, classic_attach, format_fields, raw_attach,
            no_kvm_tracepoints, bpf_pins_kvm, vcpu_state_refused)
if BACKEND == "bpf" and not kernel_offers()["running_vcpu"]:
    CHECKS.insert(3, ("slot table forced without kvm_running_vcpu: refused", vcpu_state_refused))
if BACKEND != "bpf":
    CHECKS = [c for c in CHECKS if c[1] not in BPF_ONLY]
for name, fn in CHECKS:
    check(f"[{BACKEND}] {name}", fn)
finish()
