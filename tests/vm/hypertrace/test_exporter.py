#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""In-guest test (testbed): hypertrace --serve, the Prometheus exporter, per
backend given as an argument (bpf, kmod), scraped by a REAL Prometheus (the
host's /usr/bin/prometheus, Debian's package, seen through the 9p root) and
checked with PromQL against hcgen's ground truth:
  - per (VM, nr) hypertrace_hypercalls_total and the histogram's _count equal
    hcgen's counts exactly; labels vm/uuid/abi/nr from hcgen's -name/-uuid;
  - histogram_quantile(0.5) lies in the bucket of the exact median latency
    (a record-mode hypertrace traces the same calls: eBPF, as /dev/hypertrace
    takes one session at a time),
    and for hcgen loop not above the bucket of hcgen's own measured time per
    call (exit->entry is part of that round trip);
  - the global counter's raw delta over the run is exact, and increase()
    over it is within Prometheus's documented extrapolation of it;
  - promtool check metrics accepts the text exposition; OpenMetrics is served
    on request and is what Prometheus scraped;
  - --max-series: one series plus the overflow series, counted exactly;
  - reliability: 48 concurrent scrapers, a stalled scraper (closed at the
    deadline while others are served), a VM that exits (its series gone
    after --series-grace), kvm_amd + kvm unloaded and reloaded while serving
    (kmod: goes on counting exactly; bpf: kvm is pinned, the unload refused),
    the exporter's RSS over all of it; SIGTERM ends it with exit 0."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htest import (HCGEN, HYPERTRACE, KMOD_PATH, WORK, Tracer, check, counts_by_nr, finish, log,  # noqa: E402
                   parse_json_lines, run_hcgen)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
PORT = 9857              # --serve's default, used as such (no port given)
CAP_PORT = 19858         # the --max-series 1 exporter
PROM_PORT = 19090
GRACE = 30               # --series-grace, seconds
SCRAPE = 1               # Prometheus scrape_interval, seconds
UUID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
SCHEDULE = ["--vcpus", "2", "--calls", "42x200,43x100", "--noise", "1"]
LOOP_N, LOOP_R = 2000, 3
# Exported bucket bounds (exporter/series_store.h): le = 2^k ns - 1, k = 8..33.
BOUNDS_NS = [(1 << k) - 1 for k in range(8, 34)]

# The testbed's init leaves the loopback interface down (no 127.0.0.1):
# Prometheus and the scrapers reach the exporter through it.
_lo = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True)
assert _lo.returncode == 0, f"ip link set lo up: {_lo.stderr}"
for tool in (PROMETHEUS, PROMTOOL):
    assert os.access(tool, os.X_OK), f"{tool} missing: install Debian's prometheus package (scripts/install-deps)"


def sh(*argv, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def wait_until(cond, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def scrape(port=PORT, accept=None, timeout=20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", "/metrics", headers={"Accept": accept} if accept else {})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def samples(body, name):
    """{labels-dict-as-tuple: value} of the samples of metric `name`."""
    out = {}
    for m in re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", body, re.M):
        labels = tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        out[labels] = float(m.group(2))
    return out


class Exporter:
    def __init__(self, *args, name="exporter"):
        self.err_path = os.path.join(WORK, f"{name}.err")
        self.err = open(self.err_path, "w")
        self.args = [HYPERTRACE, "--serve", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=dict(os.environ, HT_KMOD_PATH=KMOD_PATH))
        if not wait_until(lambda: "serving metrics on" in self.stderr() or self.proc.poll() is not None, 120):
            self.proc.kill()
            raise AssertionError(f"{' '.join(self.args)} did not start serving:\n{self.stderr()}")
        if self.proc.poll() is not None:
            raise AssertionError(f"{' '.join(self.args)} exited {self.proc.returncode}:\n{self.stderr()}")

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self):
        if self.err.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.err.close()
        assert rc == 0, f"the exporter exited {rc} on SIGTERM:\n{self.stderr()}"


class Prometheus:
    """Debian's Prometheus, scraping every SCRAPE s, its TSDB in the guest's tmpfs."""

    def __init__(self, targets):
        d = os.path.join(WORK, f"prometheus-{time.monotonic_ns()}")
        os.makedirs(d)
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: {SCRAPE}s\n  scrape_timeout: {SCRAPE}s\n"
                    f"  evaluation_interval: {SCRAPE}s\nscrape_configs:\n")
            for job, port in targets:
                f.write(f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        self.log_path = os.path.join(d, "prometheus.log")
        self.log = open(self.log_path, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
                                      f"--web.listen-address=127.0.0.1:{PROM_PORT}", "--log.level=warn"],
                                     stdout=self.log, stderr=self.log, cwd=d)
        ok = wait_until(lambda: self._ready() or self.proc.poll() is not None, 240, step=0.5)
        if not ok or self.proc.poll() is not None:
            self.proc.kill()
            with open(self.log_path) as f:
                raise AssertionError(f"prometheus did not become ready:\n{f.read()[-3000:]}")
        self.startup_s = time.monotonic() - t0

    def _ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PROM_PORT}/-/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = f"http://127.0.0.1:{PROM_PORT}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            doc = json.load(r)
        assert doc["status"] == "success", f"{url}: {doc}"
        return doc["data"]

    def query(self, expr, at=None):
        """[(labels, float)] of an instant vector."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def value(self, expr, at=None):
        r = self.query(expr, at)
        assert len(r) == 1, f"{expr}: {len(r)} results, expected one: {r}"
        return r[0][1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()


def bucket_of(ns):
    """Index of the exported bucket an exact latency falls into (len = +Inf)."""
    return next((j for j, b in enumerate(BOUNDS_NS) if ns <= b), len(BOUNDS_NS))


def median(values):
    v = sorted(values)
    return v[(len(v) - 1) // 2]  # nearest rank, as Prometheus's rank 0.5 * count


def modprobe(*args):
    return sh("modprobe", *args)


def exporter_suite(backend):
    """One exporter (-b backend) and one Prometheus, all checks in order."""
    if backend == "bpf":
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1\n")
    # /dev/hypertrace takes one session at a time: with -b kmod, the
    # record-mode run and the --max-series exporter trace with eBPF.
    helper = "bpf" if backend == "kmod" else backend
    exp = Exporter("-b", backend, "--series-grace", f"{GRACE}s", name=f"exporter-{backend}")
    cap = Exporter(f"127.0.0.1:{CAP_PORT}", "-b", helper, "-n", "42,43", "--max-series", "1",
                   name=f"exporter-cap-{backend}")
    prom = Prometheus([("hypertrace", PORT)])  # the --max-series exporter is read directly
    log(f"     prometheus ready after {prom.startup_s:.1f} s (TCG); exporter: {exp.stderr().strip()}")
    state = {}
    try:
        def scraped():
            return prom.query('up{job="hypertrace"} == 1') and prom.query("hypertrace_kernel_hypercalls_total")
        assert wait_until(scraped, 60), "Prometheus never scraped the exporter successfully"
        time.sleep(3 * SCRAPE)  # a few samples of the flat counter before the workload
        state["t0"] = time.time()
        state["base"] = prom.value("hypertrace_kernel_hypercalls_total", state["t0"])

        def counts_and_latency():
            rec = Tracer("-b", helper, "-f", "json", "-n", "42,43", name=f"records-{backend}")
            # A VM lives on after its calls (--hold) until Prometheus has
            # them all, as a real one would: it is named while it runs.
            p = subprocess.Popen([HCGEN, "schedule", "--hold", *SCHEDULE, "-name",
                                  f"guest=prom-{backend},debug-threads=on", "-uuid", UUID],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            pid = p.pid
            state["schedule_pid"] = pid
            issued = 2 * 300  # SCHEDULE: 2 vCPUs x (200 + 100)
            sel = f'pid="{pid}"'
            got = wait_until(lambda: prom.value(f"sum(hypertrace_hypercalls_total{{{sel}}}) or vector(0)")
                             == issued or p.poll() is not None, 120)
            p.send_signal(signal.SIGUSR1)
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, f"hcgen exited {p.returncode}: {err}"
            truth = json.loads(out)
            assert truth["pid"] == pid and all(v["ret_ok"] for v in truth["vcpus"]), err
            records = [r for r in parse_json_lines(rec.stop()) if r["pid"] == pid]
            want = counts_by_nr(truth)
            assert sum(want.values()) == issued, f"hcgen issued {dict(want)}, not {issued} calls"
            state["issued"] = issued
            assert got, (f"Prometheus's hypertrace_hypercalls_total for pid {pid} never reached "
                         f"{issued}: {prom.query(f'hypertrace_hypercalls_total{{{sel}}}')}")
            for nr, n in sorted(want.items()):
                series = prom.query(f'hypertrace_hypercalls_total{{{sel},nr="{nr}"}}')
                assert len(series) == 1 and series[0][1] == n, f"nr {nr}: want {n}, Prometheus has {series}"
                labels = series[0][0]  # Prometheus drops empty labels
                assert (labels.get("vm"), labels.get("uuid"), labels.get("abi")) == (f"prom-{backend}", UUID.lower(), "kvm"), \
                    f"labels {labels}"
                count = prom.value(f'hypertrace_hypercall_duration_seconds_count{{{sel},nr="{nr}"}}')
                assert count == n, f"nr {nr}: _count {count} != hcgen's {n}"
                inf = prom.value(f'hypertrace_hypercall_duration_seconds_bucket{{{sel},nr="{nr}",le="+Inf"}}')
                assert inf == n, f"nr {nr}: +Inf bucket {inf} != {n}"
            assert len(records) == sum(want.values()), \
                f"the record-mode run saw {len(records)} of {sum(want.values())} calls"
            lat = [r["latency_ns"] for r in records]
            exact = median(lat)
            q = prom.value(f"histogram_quantile(0.5, sum by (le) (hypertrace_hypercall_duration_seconds_bucket{{{sel}}}))")
            j = bucket_of(exact)
            lo = (BOUNDS_NS[j - 1] if j else 0) / 1e9
            hi = BOUNDS_NS[j] / 1e9
            # Two sessions stamp the same calls from different probes: a
            # median within 5 % of a bound may fall on the other side of it.
            near = any(abs(exact - b) <= 0.05 * b for b in BOUNDS_NS)
            ok = lo <= q <= hi or (near and (BOUNDS_NS[max(j - 2, 0)] / 1e9 <= q <= BOUNDS_NS[min(j + 1, 25)] / 1e9))
            assert ok, f"histogram_quantile(0.5) = {q} s, outside ({lo}, {hi}] s, the bucket of the exact median {exact} ns"
            s = prom.value(f"sum(hypertrace_hypercall_duration_seconds_sum{{{sel}}})")
            ratio = s / (sum(lat) / 1e9)
            assert 0.75 < ratio < 1.33, f"_sum {s} s vs the records' {sum(lat) / 1e9} s (ratio {ratio:.3f})"
            log(f"     pid {pid}: hypercalls_total/_count = {dict(want)} = hcgen's; median exact {exact} ns, "
                f"histogram_quantile(0.5) = {q * 1e9:.0f} ns in ({lo * 1e9:.0f}, {hi * 1e9:.0f}] ns; "
                f"_sum {s:.6f} s vs records {sum(lat) / 1e9:.6f} s")
            # --max-series 1 on the other exporter: one of 42/43 has the
            # series, the other went to the overflow series, both exact.
            st, _, body = scrape(CAP_PORT)
            assert st == 200
            tot = samples(body, "hypertrace_hypercalls_total")
            of = [v for k, v in tot.items() if ("vm", "_overflow_") in k]
            own = {dict(k)["nr"]: v for k, v in tot.items() if ("pid", str(pid)) in k}
            assert len(own) == 1 and len(of) == 1, f"--max-series 1: series {tot}"
            (nr_own, n_own), = own.items()
            other = 43 if nr_own == "42" else 42
            assert n_own == want[int(nr_own)] and of[0] == want[other], f"--max-series 1: {tot} vs {dict(want)}"
            assert samples(body, "hypertrace_series_overflow_hypercalls_total")[()] == want[other]
            assert samples(body, "hypertrace_series")[()] == 1
            log(f"     --max-series 1 (-b {helper}): nr {nr_own} has its series ({int(n_own)}), nr {other} in "
                f"vm=\"_overflow_\" ({int(of[0])}), counted in hypertrace_series_overflow_hypercalls_total")
            cap.stop()  # its eBPF programs would pin kvm in the reload check

        check(f"{backend}: hcgen schedule: counts, labels, quantile, --max-series", counts_and_latency)

        def loop_latency():
            p = subprocess.run([HCGEN, "loop", "-n", str(LOOP_N), "--nr", "44", "--repeat", str(LOOP_R), "--json"],
                               capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, p.stderr
            truth = json.loads(p.stdout)
            pid = truth["pid"]
            state["loop_pid"] = pid
            n = truth["warmup"] * min(LOOP_N, 100) + LOOP_R * LOOP_N
            state["issued"] = state.get("issued", 0) + n
            sel = f'pid="{pid}",nr="44"'
            assert wait_until(lambda: prom.query(f"hypertrace_hypercall_duration_seconds_count{{{sel}}} == {n}"), 60), \
                f"_count of pid {pid} never reached {n}: {prom.query(f'hypertrace_hypercall_duration_seconds_count{{{sel}}}')}"
            q = prom.value(f"histogram_quantile(0.5, sum by (le) (hypertrace_hypercall_duration_seconds_bucket{{{sel}}}))")
            per_call = truth["median_ns_per_call"]
            hi = BOUNDS_NS[bucket_of(per_call)]
            assert 0 < q * 1e9 <= hi, (f"histogram_quantile(0.5) {q * 1e9:.0f} ns is above the bucket (<= {hi} ns) "
                                       f"of hcgen's measured {per_call} ns per call")
            _, _, text = scrape()
            log("     the exposition now (README's example):")
            for ln in text.splitlines():
                log(f"     | {ln}")
            log(f"     hcgen loop: {n} calls = _count; hcgen measured {per_call:.0f} ns/call, "
                f"histogram_quantile(0.5) exit->entry = {q * 1e9:.0f} ns (<= {hi} ns)")

        check(f"{backend}: hcgen loop: _count exact, quantile within hcgen's measured time per call", loop_latency)

        def global_counter():
            time.sleep(3 * SCRAPE)
            t1 = time.time()
            d = int(t1 - state["t0"]) + 1
            delta = prom.value(f"hypertrace_kernel_hypercalls_total - hypertrace_kernel_hypercalls_total offset {d}s", t1)
            assert delta == state["issued"], f"raw delta {delta} != hcgen's {state['issued']} calls"
            inc = prom.value(f"increase(hypertrace_kernel_hypercalls_total[{d}s])", t1)
            hi = delta * d / max(d - 3 * SCRAPE, 1)
            assert delta * 0.999 <= inc <= hi * 1.001, f"increase() {inc} outside [{delta}, {hi:.1f}]"
            rc, out, err = sh(PROMTOOL, "query", "instant", f"--time={t1:.3f}", f"http://127.0.0.1:{PROM_PORT}",
                              f"hypertrace_kernel_hypercalls_total - hypertrace_kernel_hypercalls_total offset {d}s")
            assert rc == 0 and re.search(r"=> (\d+) @", out) and int(re.search(r"=> (\d+) @", out).group(1)) == delta, \
                f"promtool query instant: exit {rc}: {out} {err}"
            log(f"     over {d} s: raw delta {delta:.0f} = hcgen's {state['issued']} calls; increase() = {inc:.1f} "
                f"(extrapolated, <= {hi:.1f}); promtool query instant: {out.strip()}")

        check(f"{backend}: global counter: raw delta exact, increase() within extrapolation", global_counter)

        def formats():
            st, ctype, text = scrape()
            assert st == 200 and ctype.startswith("text/plain; version=0.0.4"), (st, ctype)
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, f"promtool check metrics: exit {p.returncode}: {p.stdout}{p.stderr}"
            st, ctype, om = scrape(accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
            assert st == 200 and ctype.startswith("application/openmetrics-text; version=1.0.0"), (st, ctype)
            assert om.endswith("# EOF\n") and "# TYPE hypertrace_hypercalls counter" in om
            targets = [t for t in prom.api("targets")["activeTargets"] if t["labels"]["job"] == "hypertrace"]
            assert len(targets) == 1, targets
            for t in targets:
                assert t["health"] == "up" and not t["lastError"], f"target {t['scrapeUrl']}: {t}"
            if backend == "bpf":
                runs = samples(text, "hypertrace_bpf_runs_total")[()]
                ns = samples(text, "hypertrace_bpf_run_time_seconds_total")[()]
                assert runs > 0 and ns > 0, "kernel.bpf_stats_enabled=1 but no BPF cost exported"
            log(f"     promtool check metrics: ok ({len(text)} bytes, {text.count(chr(10))} lines); OpenMetrics "
                f"served on request; targets up")

        check(f"{backend}: promtool check metrics, OpenMetrics, targets healthy", formats)

        def concurrent_and_slow():
            rss0 = rss_kb(exp.proc.pid)
            results = {"ok": 0, "busy": 0, "other": []}
            lock = threading.Lock()

            def worker():
                for _ in range(4):
                    try:
                        st, _, body = scrape(timeout=60)
                        with lock:
                            if st == 200 and "hypertrace_series " in body:
                                results["ok"] += 1
                            elif st == 503:
                                results["busy"] += 1
                            else:
                                results["other"].append(st)
                    except OSError as e:
                        with lock:
                            results["other"].append(repr(e))
            threads = [threading.Thread(target=worker) for _ in range(48)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert not results["other"], f"scrapes failed: {results['other'][:5]}"
            assert results["ok"] > 0 and results["ok"] + results["busy"] == 192, results
            # A stalled scraper: half a request, then nothing.
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            st, _, _ = scrape(timeout=20)
            assert st == 200, f"a scrape while another scraper stalls: {st}"
            served = time.monotonic() - t0
            s.settimeout(60)
            try:
                closed = s.recv(1024) == b""
            except ConnectionResetError:
                closed = True
            waited = time.monotonic() - t0
            s.close()
            assert closed and waited < 30, f"the stalled connection was not closed by the deadline ({waited:.1f} s)"
            # The connection limit: 16 idle connections take every slot; the
            # next scraper gets 503 at once; once they are gone, 200 again.
            idle = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(16)]
            time.sleep(1)
            st_full, _, body_full = scrape(timeout=20)
            for c in idle:
                c.close()
            assert st_full == 503, f"a 17th connection got {st_full}, not 503: {body_full[:200]}"
            assert wait_until(lambda: scrape()[0] == 200, 20), "no 200 once the idle connections closed"
            for _ in range(200):
                scrape()
            rss1 = rss_kb(exp.proc.pid)
            assert rss1 - rss0 < 8192, f"RSS grew {rss0} -> {rss1} kB over ~400 scrapes"
            assert prom.query('up{job="hypertrace"} == 1'), "Prometheus lost the target"
            log(f"     48 scrapers x 4: {results['ok']} served, {results['busy']} refused with 503; 16 idle "
                f"connections: the 17th got 503, then 200 once they closed; a "
                f"stalled scraper did not delay another ({served:.2f} s) and was closed after {waited:.1f} s; "
                f"RSS {rss0} -> {rss1} kB")

        check(f"{backend}: 48 concurrent scrapers, a stalled one, RSS", concurrent_and_slow)

        def kvm_reload():
            rc, out, err = modprobe("-r", "kvm_amd", "kvm")
            unload = f"exit {rc}: {(out + err).strip()}"
            if backend == "kmod":
                assert rc == 0, f"modprobe -r kvm_amd kvm refused while -b kmod serves: {err}"
            else:
                assert rc != 0, "kvm unloaded while eBPF programs were attached"
            st, _, _ = scrape()
            assert st == 200, f"scrape with kvm {'unloaded' if backend == 'kmod' else 'pinned'}: {st}"
            if not os.path.exists("/sys/module/kvm_amd/initstate"):
                rc, _, err = modprobe("kvm_amd")
                assert rc == 0, f"modprobe kvm_amd: {err}"
            assert wait_until(lambda: os.path.exists("/dev/kvm"), 20), "/dev/kvm did not come back"
            truth = run_hcgen("--vcpus", "1", "--calls", "42x50", "--noise", "0")
            state["reload_pid"], state["reload_exit"] = truth["pid"], time.monotonic()
            sel = f'pid="{truth["pid"]}",nr="42"'
            assert wait_until(lambda: prom.query(f"hypertrace_hypercalls_total{{{sel}}} == 50"), 60), \
                f"after the reload: {prom.query(f'hypertrace_hypercalls_total{{{sel}}}')}"
            log(f"     modprobe -r kvm_amd kvm: {'done' if backend == 'kmod' else 'refused (' + unload + ')'}; "
                f"served throughout; 50 calls after the reload counted exactly")

        check(f"{backend}: kvm_amd + kvm unloaded and reloaded while serving", kvm_reload)

        def vm_gone():
            """The last VM (the reload check's hcgen) exited at reload_exit:
            its series must stay for GRACE s, then go; so must every earlier
            one's."""
            assert "reload_pid" in state, "the reload check ran no VM"
            pids = [state[k] for k in ("schedule_pid", "loop_pid", "reload_pid") if k in state]
            last = f'pid="{state["reload_pid"]}"'

            def gone():
                _, _, b = scrape()
                return b if last not in b else None
            b = wait_until(gone, GRACE + 60, step=1)
            after = time.monotonic() - state["reload_exit"]
            assert b, f"the series of exited pid {state['reload_pid']} still served {after:.0f} s after it exited"
            # Folds run every second: dropped in [GRACE, GRACE + 2 folds + a scrape].
            assert GRACE - 1 <= after <= GRACE + 15, f"dropped {after:.1f} s after the exit, grace {GRACE} s"
            left = [p for p in pids if f'pid="{p}"' in b]
            assert not left, f"series of exited pids {left} still served"
            expired = samples(b, "hypertrace_series_expired_total")[()]
            assert expired >= 4, f"hypertrace_series_expired_total {expired}: 4 series (nr 42, 43, 44, 42) went"
            assert wait_until(lambda: not prom.query(f"hypertrace_hypercalls_total{{{last}}}"), 30), \
                "Prometheus still has the exited VM's series (not marked stale)"
            log(f"     the last VM's series dropped {after:.1f} s after it exited (grace {GRACE} s), all of "
                f"{pids} gone, hypertrace_series_expired_total {expired:.0f}; stale in Prometheus")

        check(f"{backend}: a VM that exited: its series dropped after the grace period", vm_gone)
    finally:
        prom.stop()
        cap.stop()
        exp.stop()
        log(f"     exporter stopped with SIGTERM, exit 0")


if __name__ == "__main__":
    BACKENDS = sys.argv[1:] or ["bpf", "kmod"]
    assert all(b in ("bpf", "kmod") for b in BACKENDS), f"usage: {sys.argv[0]} [bpf] [kmod]"
    for b in BACKENDS:
        exporter_suite(b)
    finish()
