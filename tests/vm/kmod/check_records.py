#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Check kmod_client's records against hcgen's ground truth, exactly.

usage: check_records.py RECORDS TRUTH.json [TRUTH.json...]
         [--reason 0x81] [--isa 2] [--reason-unknown] [--attach-count N]
         [--nr LO-HI ...] [--subset | --evicting | --expect-evicted]
         [--aggregate [--min-nonempty-takes N] [--agg-full]]

RECORDS is kmod_client's output: one JSON record per line, then a summary
line.  Every record must belong to exactly one call of one truth file (by
pid, tid, vcpu_id, nr, a0..a3); every wanted call must have exactly one
record.  With --aggregate, RECORDS holds {"agg":..} lines (summary mode,
one per key per take) and must hold no record: counts per (pid, nr) summed
over the takes must equal the calls issued.  Prints one line per check and
'N passed, N failed'."""

import argparse
import collections
import json
import os
import sys

HT_CNT = ["emitted", "dropped", "unmatched_hypercall", "unmatched_exit",
          "filtered", "evicted", "no_state", "hypercalls", "in_flight"]

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("truth", nargs="+")
    ap.add_argument("--reason", type=lambda s: int(s, 0), default=0x81)
    ap.add_argument("--isa", type=int, default=2)
    ap.add_argument("--reason-unknown", action="store_true")
    ap.add_argument("--attach-count", type=int)
    ap.add_argument("--nr", action="append", default=[])
    ap.add_argument("--vcpu", type=int, help="only this vcpu's calls are expected")
    ap.add_argument("--subset", action="store_true",
                    help="ring too small on purpose: records are a subset, "
                         "emitted + dropped == calls")
    ap.add_argument("--evicting", action="store_true",
                    help="state table too small on purpose (more threads than "
                         "slots): records are a subset, each thread's records are "
                         "complete or absent, every lost call is counted")
    ap.add_argument("--expect-evicted", action="store_true",
                    help="records exact, and slots of finished threads were "
                         "taken over (evicted > 0)")
    ap.add_argument("--aggregate", action="store_true",
                    help="summary mode: check the statistics, not records")
    ap.add_argument("--min-nonempty-takes", type=int, default=1)
    ap.add_argument("--agg-full", action="store_true",
                    help="key table too small on purpose: keys present are "
                         "exact, the others' calls counted as dropped")
    ap.add_argument("--min-records", type=int, default=1)
    ap.add_argument("--slots", type=int, default=8,
                    help="state table slots (--evicting)")
    args = ap.parse_args()

    ranges = []
    for r in args.nr:
        lo, _, hi = r.partition("-")
        ranges.append((int(lo, 0), int(hi or lo, 0)))

    def wanted(nr):
        return not ranges or any(lo <= nr <= hi for lo, hi in ranges)

    lines = [json.loads(l) for l in open(args.records) if l.strip()]
    summary = lines[-1] if lines and "counters" in lines[-1] else None
    aggs = [l["agg"] for l in lines if "agg" in l]
    recs = [l for l in lines if "counters" not in l and "agg" not in l]
    check("summary line present", summary is not None)
    if summary is None:
        return

    truths = [json.load(open(t)) for t in args.truth]
    expected = collections.Counter()
    tid_of = {}
    per_vcpu_counts = {}
    for t in truths:
        for v in t["vcpus"]:
            tid_of[(t["pid"], v["vcpu_id"])] = v["tid"]
            cnt = collections.Counter()
            for c in v["calls"]:
                if wanted(c[0]) and args.vcpu in (None, v["vcpu_id"]):
                    expected[(t["pid"], v["tid"], v["vcpu_id"], *c)] += 1
                    cnt[c[0]] += 1
            per_vcpu_counts[(t["pid"], v["vcpu_id"])] = cnt

    if args.aggregate:
        check_aggregate(args, summary, recs, aggs, expected)
        return

    got = collections.Counter()
    bad = []
    for r in recs:
        key = (r["pid"], r["tid"], r["vcpu_id"], r["nr"], *r["a"])
        got[key] += 1
        problems = []
        if (r["len"], r["version"], r["size"]) != (152, 2, 152):
            problems.append(f"len/version/size {r['len']}/{r['version']}/{r['size']}")
        if r["reserved0"]:
            problems.append("reserved fields not zero")
        if r["abi"] != 0 or r["uexit_reason"] != 0:
            problems.append(f"abi {r['abi']} uexit_reason {r['uexit_reason']}: "
                            "hcgen's calls are KVM ones the kernel serves")
        if args.reason_unknown:
            if r["flags"] != 1 or r["isa"] != 0 or r["exit_reason"] != 0:
                problems.append(f"expected reason-unknown, got flags {r['flags']} "
                                f"isa {r['isa']} reason {r['exit_reason']:#x}")
        else:
            if r["flags"] != 0:
                problems.append(f"flags {r['flags']}")
            if r["isa"] != args.isa or r["exit_reason"] != args.reason:
                problems.append(f"isa {r['isa']} exit_reason {r['exit_reason']:#x}")
        te, th, tn = r["t"]
        if not (0 < te <= th <= tn):
            problems.append(f"timestamps not exit <= hypercall <= entry: {r['t']}")
        if r["cpu"] >= (os.cpu_count() or 1024):
            problems.append(f"cpu {r['cpu']}")
        if tid_of.get((r["pid"], r["vcpu_id"])) != r["tid"]:
            problems.append(f"tid {r['tid']} is not vcpu {r['vcpu_id']}'s thread")
        if problems:
            bad.append((r, problems))

    check("every record well formed (version, size, reason, isa, tid, time order)",
          not bad, f"{len(bad)} bad, first: {bad[0] if bad else ''}")
    missing = expected - got
    extra = got - expected
    c = dict(zip(HT_CNT, summary["counters"]))
    st = summary["status"]
    check(f"at least {args.min_records} records", len(recs) >= args.min_records,
          f"{len(recs)}")
    if args.subset:
        check("records are a subset of the ground truth, none twice", not extra,
              f"{sum(extra.values())} extra/duplicate (e.g. {list(extra)[:3]})")
        check("emitted + dropped == calls, some dropped",
              c["emitted"] + c["dropped"] == sum(expected.values()) and c["dropped"] > 0,
              f"{c} vs {sum(expected.values())} calls")
        check("counter emitted == records", c["emitted"] == len(recs),
              f"{c} vs {len(recs)}")
        check("command succeeded", summary["child_status"] == 0,
              str(summary["child_status"]))
        print(f"counters {c}; status {st}")
        return
    if args.evicting:
        calls = sum(expected.values())
        check("records are a subset of the ground truth, none twice", not extra,
              f"{sum(extra.values())} extra/duplicate (e.g. {list(extra)[:3]})")
        # Per thread: all of its calls (it had a slot) or none (it had none).
        exp_t = collections.Counter()
        got_t = collections.Counter()
        for k, n in expected.items():
            exp_t[k[1]] += n
        for k, n in got.items():
            got_t[k[1]] += n
        with_recs = [t for t in exp_t if got_t[t]]
        partial = [t for t in exp_t if 0 < got_t[t] < exp_t[t]]
        check("threads with a slot are traced exactly, the others not at all",
              not partial or c["evicted"] > 0,
              f"partial threads {[(t, got_t[t], exp_t[t]) for t in partial]}")
        check(f"some threads traced, at most the table's {args.slots} slots",
              0 < len(with_recs) <= args.slots, f"{len(with_recs)} of {len(exp_t)}")
        check("threads beyond the table counted as no_state",
              len(with_recs) == len(exp_t) or c["no_state"] > 0, str(c))
        check("every lost call is counted: emitted + unmatched + evicted + no_state >= calls",
              c["emitted"] + c["unmatched_hypercall"] + c["evicted"] + c["no_state"] >= calls
              and c["dropped"] == 0, f"{c} vs {calls} calls")
        check("counter emitted == records", c["emitted"] == len(recs), f"{c} vs {len(recs)}")
        check("command succeeded", summary["child_status"] == 0, str(summary["child_status"]))
        print(f"counters {c}; status {st}")
        return
    check(f"records match the ground truth exactly ({sum(expected.values())} calls)",
          not missing and not extra,
          f"{sum(missing.values())} missing (e.g. {list(missing)[:3]}), "
          f"{sum(extra.values())} extra/duplicate (e.g. {list(extra)[:3]})")
    # Counts per nr per vCPU, stated separately for a readable failure.
    for (pid, vid), cnt in sorted(per_vcpu_counts.items()):
        if args.vcpu is not None and vid != args.vcpu:
            cnt = collections.Counter()
        seen = collections.Counter(r["nr"] for r in recs
                                   if r["pid"] == pid and r["vcpu_id"] == vid)
        check(f"pid {pid} vcpu {vid}: counts per nr {dict(cnt)}",
              seen == cnt, f"got {dict(seen)}")
        seqs = [r["a"][0] & 0xffffff for r in recs if r["pid"] == pid and r["vcpu_id"] == vid]
        check(f"pid {pid} vcpu {vid}: every seq once, a0's vcpu bits right",
              len(seqs) == len(set(seqs)) and all((r["a"][0] >> 24) == vid for r in recs
                                                  if r["pid"] == pid and r["vcpu_id"] == vid),
              f"{len(seqs)} records, {len(set(seqs))} distinct seqs")

    check("counter emitted == records", c["emitted"] == len(recs), f"{c} vs {len(recs)}")
    if args.expect_evicted:
        check("nothing dropped, no thread without state, idle slots taken over (evicted)",
              c["dropped"] == 0 and c["no_state"] == 0 and c["evicted"] > 0, str(c))
    else:
        check("nothing dropped, no state trouble",
              c["dropped"] == 0 and c["no_state"] == 0 and c["evicted"] == 0, str(c))
    check("command succeeded", summary["child_status"] == 0, str(summary["child_status"]))
    check("stopped and detached after stop", st["running"] == 0 and st["attached"] == 0,
          str(st))
    if args.attach_count is not None:
        check(f"attached {args.attach_count} times", st["attach_count"] == args.attach_count,
              str(st))
    print(f"counters {c}; status {st}; {summary['detection']}")


def check_aggregate(args, summary, recs, aggs, expected):
    c = dict(zip(HT_CNT, summary["counters"]))
    st = summary["status"]
    want = collections.Counter()
    for k, n in expected.items():
        want[(k[0], k[3])] += n           # (pid, nr)
    calls = sum(want.values())
    # A key that finds no room in the module's table travels as a record
    # (kmod/ht_probes.c ht_emit): only with a full table.
    if args.agg_full:
        check("a full table sends the rest as records", recs, "no records")
    else:
        check("summary mode wrote no records", not recs, f"{len(recs)} records")
    got = collections.Counter()
    per_take = collections.Counter()
    bad = []
    for a in aggs:
        got[(a["pid"], a["nr"])] += a["count"]
        per_take[(a["take"], a["pid"], a["nr"])] += 1
        p = []
        if a["parity"] != 0 or a["count"] <= 0:
            p.append("reserved/count")
        if not a["hist_ok"]:
            p.append("histogram does not match count/min/max")
        if not (a["min_ns"] <= a["max_ns"] and
                a["count"] * a["min_ns"] <= a["sum_ns"] <= a["count"] * a["max_ns"]):
            p.append("min/max/sum inconsistent")
        if a["sum_exit_hc_ns"] + a["sum_hc_entry_ns"] != a["sum_ns"]:
            p.append("exit->hc + hc->entry != sum")
        if p:
            bad.append((a, p))
    check("every entry consistent (hist, min <= max, sums)", not bad,
          f"{len(bad)} bad, first {bad[0] if bad else ''}")
    check("each key at most once per take", all(n == 1 for n in per_take.values()),
          str([k for k, n in per_take.items() if n > 1][:3]))
    if args.agg_full:
        extra = {k: n for k, n in got.items() if want.get(k) != n}
        check("keys present are counted exactly", not extra and got,
              f"{extra} vs {dict(want)}")
        both = got + collections.Counter((r["pid"], r["nr"]) for r in recs)
        check("table + records == issued, per (pid, nr), nothing dropped",
              both == want and c["dropped"] == 0, f"{dict(both)} vs {dict(want)}; {c}")
        check("counter emitted == sum of counts + records",
              c["emitted"] == sum(got.values()) + len(recs), f"{c} vs {sum(got.values())} + {len(recs)}")
    else:
        check(f"counts per (pid, nr) summed over {summary.get('takes')} takes == issued "
              f"({calls} calls, {len(want)} keys)", got == want,
              f"got {dict(got)} want {dict(want)}")
        check("counter emitted == sum of counts, nothing dropped",
              c["emitted"] == sum(got.values()) and c["dropped"] == 0, str(c))
    check(f"at least {args.min_nonempty_takes} non-empty takes",
          summary.get("nonempty_takes", 0) >= args.min_nonempty_takes,
          f"{summary.get('nonempty_takes')} of {summary.get('takes')}")
    check("command succeeded", summary["child_status"] == 0, str(summary["child_status"]))
    check("stopped and detached after stop", st["running"] == 0 and st["attached"] == 0,
          str(st))
    print(f"counters {c}; takes {summary.get('takes')} "
          f"(non-empty {summary.get('nonempty_takes')}); keys {dict(got)}")


if __name__ == "__main__":
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
