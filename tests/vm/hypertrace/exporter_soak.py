#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest soak of hypertrace --serve (run by hand, not by ctest):
  tests/vm/run --kernel 6.1 --timeout 900 -- tests/vm/hypertrace/exporter_soak.py [--duration S] [bpf|kmod]
For DURATION seconds (default 240), VMs come and go (an hcgen schedule of
2 vCPUs and 3 numbers, a new process each time, so new series), Prometheus
scrapes every second and 4 extra scrapers scrape in a loop; --series-grace
is 10 s, so series are made and dropped all the time.  Every 10 s it prints
the exporter's RSS, the series exported and the scrapes served; at the end
every VM's calls must be in hypertrace_kernel_hypercalls_total exactly and
the RSS of the second half must not grow by more than 1 MiB."""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_exporter as te  # noqa: E402  (helpers; its suites run only as a script)

ap = argparse.ArgumentParser()
ap.add_argument("--duration", type=int, default=240)
ap.add_argument("backend", nargs="?", default="bpf", choices=["bpf", "kmod"])
args = ap.parse_args()

exp = te.Exporter("-b", args.backend, "--series-grace", "10s", name="soak-exporter")
prom = te.Prometheus([("hypertrace", te.PORT)])
stop = threading.Event()
scrapes = [0]


def scraper():
    while not stop.is_set():
        st, _, _ = te.scrape()
        assert st in (200, 503), st
        scrapes[0] += 1


threads = [threading.Thread(target=scraper, daemon=True) for _ in range(4)]
for t in threads:
    t.start()
issued = vms = 0
rows = []
t0 = time.monotonic()
next_sample = 0
while time.monotonic() - t0 < args.duration:
    truth = te.run_hcgen("--vcpus", "2", "--calls", "42x100,43x50,44x25", "--noise", "0", "--no-calls")
    issued += sum(v["hypercalls"] for v in truth["vcpus"])
    vms += 1
    el = time.monotonic() - t0
    if el >= next_sample:
        _, _, body = te.scrape()
        series = te.samples(body, "hypertrace_series")[()]
        rows.append((el, te.rss_kb(exp.proc.pid), series, scrapes[0], vms))
        print(f"t={el:6.1f} s  RSS {rows[-1][1]:6d} kB  series {series:4.0f}  scrapes {scrapes[0]:6d}  VMs {vms}",
              flush=True)
        next_sample += 10
stop.set()
for t in threads:
    t.join(timeout=60)
time.sleep(3)
total = prom.value("max_over_time(hypertrace_kernel_hypercalls_total[10m])")
prom.stop()
exp.stop()
half = [r[1] for r in rows[len(rows) // 2:]]
print(f"{vms} VMs, {issued} hypercalls issued, hypertrace_kernel_hypercalls_total {total:.0f}; "
      f"{scrapes[0]} extra scrapes; RSS second half {min(half)}..{max(half)} kB")
assert total == issued, f"exporter counted {total}, hcgen issued {issued}"
assert max(half) - min(half) <= 1024, f"RSS grew in the second half: {half}"
print("PASS")
