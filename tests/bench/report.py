#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""tests/bench/report.py OUTDIR: turn the raw results in OUTDIR (bench-<kernel>.json
from guest_bench.py, host.json from tests/bench/run) into OUTDIR/results.md
and OUTDIR/results.json, and print the Markdown."""

import glob
import json
import os
import statistics
import sys

ORDER = ["untraced", "empty-classic", "empty-raw", "tracefs", "ftrace-hist", "bpftrace",
         "ht-stream", "ht-summary", "ht-kmod", "ht-stream-classic"]
LABEL = {
    "untraced": "untraced",
    "empty-classic": "3 empty BPF progs, classic tracepoints (floor)",
    "empty-raw": "3 empty BPF progs, raw tracepoints",
    "tracefs": "tracefs: 3 kvm events on (instance)",
    "ftrace-hist": "ftrace hist triggers + synthetic event (onmatch)",
    "bpftrace": "bpftrace, equivalent script",
    "ht-stream": "hypertrace -n 42 -f json (eBPF)",
    "ht-summary": "hypertrace -n 42 -s (eBPF)",
    "ht-kmod": "hypertrace -n 42 -b kmod",
    "ht-stream-classic": "hypertrace -n 42, eBPF forced classic (HYPERTRACE_BPF_ATTACH=classic)",
}
MODES = [("all42", "all nr 42"), ("alt42_7", "alternating 42/7")]
WHOLE = "whole"  # long all-42 runs: the reader's drains inside the timed window


def fmt(x, nd=0):
    return "–" if x is None else f"{x:,.{nd}f}"


def analyse(d):
    out = {"kernel": d["kernel"], "abi": d["abi"], "n": d["n"], "rounds": d["rounds"],
           "inner": d.get("inner", 1), "clocksource": d.get("clocksource"), "timing": d.get("timing", "wallclock"),
           "cpus": d.get("cpus"), "tracer_output": d.get("tracer_output", "share"), "rows": {}}
    per = {}
    for r in d["runs"]:
        per.setdefault((r["config"], r["mode"]), []).append(r["ns_per_call"])
    med = {k: statistics.median(v) for k, v in per.items()}
    mn = {k: min(v) for k, v in per.items()}
    for name in [c for c in ORDER if any(k[0] == c for k in per)]:
        row = {"label": LABEL.get(name, name)}
        for mode in [m for m, _ in MODES] + [WHOLE]:
            if (name, mode) not in med:
                continue
            r = {"runs_ns_per_call": per[(name, mode)], "median_ns_per_call": med[(name, mode)],
                 "min_ns_per_call": mn[(name, mode)],
                 "spread_ns": max(per[(name, mode)]) - min(per[(name, mode)])}
            for stat, tab in (("median", med), ("min", mn)):
                base, floor, m = tab.get(("untraced", mode)), tab.get(("empty-classic", mode)), tab[(name, mode)]
                added = None if base is None else m - base
                fa = None if base is None or floor is None else floor - base
                r[f"added_ns_{stat}"] = added
                r[f"x_floor_{stat}"] = added / fa if added is not None and fa and fa > 0 else None
                r[f"x_untraced_{stat}"] = m / base if base else None
            row[mode] = r
        # The unrelated call (nr 7) of the alternating mode: alt = (c42 + c7) / 2.
        for stat in ("median", "min"):
            if "all42" in row and "alt42_7" in row and row["all42"][f"added_ns_{stat}"] is not None:
                row[f"nr7_added_ns_{stat}"] = 2 * row["alt42_7"][f"added_ns_{stat}"] - row["all42"][f"added_ns_{stat}"]
        out["rows"][name] = row
    fl = out["rows"].get("empty-classic", {})
    for stat in ("median", "min"):
        fa = fl.get("all42", {}).get(f"added_ns_{stat}")
        for row in out["rows"].values():
            if f"nr7_added_ns_{stat}" in row and fa and fa > 0:
                row[f"nr7_x_floor_{stat}"] = row[f"nr7_added_ns_{stat}"] / fa
    out["whole_n"], out["whole_inner"] = d.get("whole_n"), d.get("whole_inner")
    reader = {}
    for r in d.get("reader", []):
        reader.setdefault(r["config"], []).append(r)
    for name, rs in reader.items():
        if name in out["rows"]:
            out["rows"][name]["reader_ns_per_hypercall"] = statistics.median(r["ns_per_hypercall"] for r in rs)
    stats = {}
    for s in d.get("bpf_stats", []):
        stats.setdefault(s["config"], {}).setdefault(s["mode"], []).append(
            {"prog": s["prog"], "type": s["type"], "ns_per_hypercall": s["ns_per_hypercall"],
             "runs_per_hypercall": s["runs_per_hypercall"]})
    out["bpf_stats"] = stats
    out["checks"] = d.get("checks", [])
    out["details"] = d.get("details", {})
    out["startup_guest_s"] = d.get("startup_s", {})
    return out


def markdown(kernels, host):
    L = []
    L.append("Times are **emulated** (qemu TCG, nested SVM, guest clock source TSC): compare ratios, "
             "not absolute values.  With `--time icount` (the default) qemu advances guest time by 1 ns "
             "per guest instruction, so ns/call is an instruction count: the same in every run and "
             "untouched by other load on the host, but blind to what instructions cost on real hardware "
             "(cache misses, atomics, serializing instructions).  With `--time wallclock` anything else "
             "running on the host cores slows some runs: mind the spread; contention only ever adds time, "
             "so the **min** columns are the less noisy estimate.  added = ns/call − untraced; "
             "×floor = added / added of the 3 empty classic-tracepoint programs; nr 7 (the unrelated "
             "call of the alternating mode) = 2·added(alt) − added(all-42).")
    for k in kernels:
        L.append("")
        L.append(f"### Debian {k['kernel']} ({k['abi']}), hcgen loop -n {k['n']}, {k['rounds']} interleaved "
                 f"rounds × {k['inner']} runs, clocksource {k.get('clocksource')}, "
                 f"{k.get('cpus')} guest CPU(s), tracer output on {k.get('tracer_output')}, time: "
                 + ("icount (1 ns per guest instruction: deterministic)" if k.get("timing") == "icount"
                    else "emulated wall clock"))
        for mode, title in MODES:
            L.append("")
            L.append(f"**{title}**")
            L.append("")
            L.append("| configuration | median ns/call | min | added (median) | ×floor | ×untraced "
                     "| added (min) | ×floor (min) | runs (ns/call) |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for name, row in k["rows"].items():
                r = row.get(mode)
                if not r:
                    continue
                runs = " ".join(f"{x:.0f}" for x in r["runs_ns_per_call"])
                L.append("| " + " | ".join([
                    row["label"], fmt(r["median_ns_per_call"]), fmt(r["min_ns_per_call"]),
                    fmt(r["added_ns_median"]), fmt(r["x_floor_median"], 2), fmt(r["x_untraced_median"], 2),
                    fmt(r["added_ns_min"]), fmt(r["x_floor_min"], 2), runs]) + " |")
        if any(WHOLE in row for row in k["rows"].values()):
            L.append("")
            L.append(f"**Both costs, all nr 42**: on the vCPU (the table above: {k['n']:,} hypercalls per "
                     f"KVM_RUN, the reader's drains mostly outside the timed window) and **whole** "
                     f"({k.get('whole_n') or 0:,} hypercalls per KVM_RUN, {k.get('whole_inner')} runs per "
                     f"round: the reader's drains inside the window, on the one guest CPU); ×floor against "
                     f"empty-classic at the same length.  reader = the tracer process's own CPU time "
                     f"(schedstat) per hypercall over the whole runs.")
            L.append("")
            L.append("| configuration | vCPU added (median) | vCPU ×floor | whole median ns/call | whole added "
                     "(median) | whole ×floor | whole added (min) | whole ×floor (min) | reader ns/call "
                     "| whole runs (ns/call) |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for name, row in k["rows"].items():
                w, v = row.get(WHOLE), row.get("all42", {})
                if not w:
                    continue
                runs = " ".join(f"{x:.0f}" for x in w["runs_ns_per_call"])
                L.append("| " + " | ".join([
                    row["label"], fmt(v.get("added_ns_median")), fmt(v.get("x_floor_median"), 2),
                    fmt(w["median_ns_per_call"]), fmt(w["added_ns_median"]), fmt(w["x_floor_median"], 2),
                    fmt(w["added_ns_min"]), fmt(w["x_floor_min"], 2),
                    fmt(row.get("reader_ns_per_hypercall")), runs]) + " |")
        L.append("")
        L.append("**Unrelated hypercall** (nr 7, derived), added ns and ×floor: " + "; ".join(
            f"{name} {fmt(row.get('nr7_added_ns_min'))} (min) / {fmt(row.get('nr7_added_ns_median'))} "
            f"(median), ×{fmt(row.get('nr7_x_floor_min'), 2)} / ×{fmt(row.get('nr7_x_floor_median'), 2)}"
            for name, row in k["rows"].items() if name != "untraced"))
        if k["bpf_stats"]:
            L.append("")
            L.append("BPF run time per hypercall (kernel.bpf_stats_enabled=1, one extra untimed run per "
                     "mode; counts only the program, not the classic tracepoint's record formatting):")
            L.append("")
            L.append("| configuration | mode | program (type): ns per hypercall [runs per hypercall] | total ns |")
            L.append("|---|---|---|---:|")
            for cfg, modes in k["bpf_stats"].items():
                for mode, progs in modes.items():
                    desc = ", ".join(f"{p['prog']} ({p['type']}): {p['ns_per_hypercall']:,.0f} "
                                     f"[{p['runs_per_hypercall']:.2f}]" for p in progs)
                    tot = sum(p["ns_per_hypercall"] for p in progs)
                    L.append(f"| {cfg} | {mode} | {desc} | {tot:,.0f} |")
        L.append("")
        L.append("Record-count checks (records == hypercalls of nr 42 issued while attached; "
                 "only hypertrace's are a verdict):")
        L.append("")
        for c in k["checks"]:
            verdict = "ok" if c["ok"] else ("MISMATCH" if c.get("verdict") else "lost events (peer, reported only)")
            L.append(f"- {c['config']} round {c['round']}: {c['records']} / {c['expected_nr42']}: {verdict}")
        for name, det in k["details"].items():
            L.append(f"- {name}: `{det}`")
    if host:
        L.append("")
        L.append("### Host (not emulated)")
        L.append("")
        if host.get("startup_s"):
            s = host["startup_s"]
            L.append(f"- hypertrace start → \"Tracing hypercalls\" on stderr ({host.get('uname', '')}, "
                     f"eBPF backend, {len(s)} runs): median {statistics.median(s):.3f} s, "
                     f"min {min(s):.3f} s, max {max(s):.3f} s; runs: {' '.join(f'{x:.3f}' for x in s)}")
            if host.get("startup_detail"):
                L.append(f"  (`{host['startup_detail']}`)")
        for line in host.get("ring", []):
            L.append(f"- ring reader: {line}")
        if host.get("reader_insns"):
            L.append("")
            L.append("The reader's user-space instructions per record (`tests/bench/reader-insns`, callgrind):")
            L.append("")
            L.append("| format | user-space instructions per record |")
            L.append("|---|---:|")
            L.extend(host["reader_insns"])
    return "\n".join(L) + "\n"


def main():
    outdir = sys.argv[1]
    kernels = [analyse(json.load(open(p))) for p in sorted(glob.glob(os.path.join(outdir, "bench-*.json")))]
    host_p = os.path.join(outdir, "host.json")
    host = json.load(open(host_p)) if os.path.exists(host_p) else None
    md = markdown(kernels, host)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"kernels": kernels, "host": host}, f, indent=1)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
