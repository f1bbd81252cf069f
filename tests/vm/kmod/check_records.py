#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Check kmod_client's records against hcgen's ground truth, exactly.

usage: check_records.py RECORDS TRUTH.json [TRUTH.json...]
         [--reason 0x81] [--isa 2] [--reason-unknown] [--attach-count N]
         [--nr LO-HI ...]

RECORDS is kmod_client's output: one JSON record per line, then a summary
line.  Every record must belong to exactly one call of one truth file (by
pid, tid, vcpu_id, nr, a0..a3); every wanted call must have exactly one
record.  Prints one line per check and 'N passed, N failed'."""

import argparse
import collections
import json
import os
import sys

HT_CNT = ["emitted", "dropped", "unmatched_hypercall", "unmatched_exit",
          "filtered", "evicted", "no_state", "hypercalls"]

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
                    help="state table too small on purpose: records are a subset, "
                         "every lost call is counted (evicted or unmatched)")
    ap.add_argument("--min-records", type=int, default=1)
    args = ap.parse_args()

    ranges = []
    for r in args.nr:
        lo, _, hi = r.partition("-")
        ranges.append((int(lo, 0), int(hi or lo, 0)))

    def wanted(nr):
        return not ranges or any(lo <= nr <= hi for lo, hi in ranges)

    lines = [json.loads(l) for l in open(args.records) if l.strip()]
    summary = lines[-1] if lines and "counters" in lines[-1] else None
    recs = [l for l in lines if "counters" not in l]
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

    got = collections.Counter()
    bad = []
    for r in recs:
        key = (r["pid"], r["tid"], r["vcpu_id"], r["nr"], *r["a"])
        got[key] += 1
        problems = []
        if (r["len"], r["version"], r["size"]) != (96, 1, 96):
            problems.append(f"len/version/size {r['len']}/{r['version']}/{r['size']}")
        if r["reserved0"] or r["reserved1"]:
            problems.append("reserved fields not zero")
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
        check("state was evicted, and counted", c["evicted"] > 0, str(c))
        check("every lost call is counted: emitted + unmatched + evicted >= calls",
              c["emitted"] + c["unmatched_hypercall"] + c["evicted"] >= calls and c["dropped"] == 0,
              f"{c} vs {calls} calls")
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
    check("nothing dropped, no state trouble",
          c["dropped"] == 0 and c["no_state"] == 0 and c["evicted"] == 0, str(c))
    check("command succeeded", summary["child_status"] == 0, str(summary["child_status"]))
    check("stopped and detached after stop", st["running"] == 0 and st["attached"] == 0,
          str(st))
    if args.attach_count is not None:
        check(f"attached {args.attach_count} times", st["attach_count"] == args.attach_count,
              str(st))
    print(f"counters {c}; status {st}; {summary['detection']}")


if __name__ == "__main__":
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
