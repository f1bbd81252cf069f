"""What the testbed's self-test scripts share (test_testbed.py, testbed_abis.py):
their checks, a private tracefs instance (the global tracefs state is never
touched), the line format of its `trace` file, and where hcgen is.
"""
import os
import re
import sys

TRACEFS = "/sys/kernel/tracing"

# One line of a `trace` file: "comm-TID (TGID) [CPU] flags TS: event: fields"
# (the TGID column only where the instance's options ask for it).
LINE = re.compile(r"^\s*(?P<comm>.*)-(?P<tid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
                  r"(?P<flags>\S+)\s+(?P<ts>[\d.]+):\s+(?P<event>\w+):\s?(?P<rest>.*)$")


class Checks:
    """check(cond, msg): a failed check is printed and kept in .failures, and
    the run goes on, so one run shows every difference; returns cond."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, msg):
        if not cond:
            self.failures.append(msg)
            print("FAIL: " + msg, file=sys.stderr)
        return cond


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


def read(path):
    with open(path) as f:
        return f.read()


def have_kvm_event(event):
    return os.path.isdir(os.path.join(TRACEFS, "events", "kvm", event))


def find_hcgen():
    """hcgen's path: HT_HCGEN, else HT_BUILD_DIR's; None when neither is set."""
    if os.environ.get("HT_HCGEN"):
        return os.environ["HT_HCGEN"]
    build = os.environ.get("HT_BUILD_DIR")
    return os.path.join(build, "tests", "workload", "hcgen") if build else None


class Instance:
    """`with Instance(tag, buffer_kb, clock) as inst:` a private instance,
    stopped, with its own buffer size and trace clock; the events enabled
    through it are disabled (and their filters cleared) and the instance is
    removed on the way out."""

    def __init__(self, tag, buffer_kb, clock):
        self.path = os.path.join(TRACEFS, "instances", "ht_%s_%d" % (tag, os.getpid()))
        self.buffer_kb = buffer_kb
        self.clock = clock
        self.enabled = []

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def __enter__(self):
        os.mkdir(self.path)
        try:
            write(self.file("tracing_on"), "0")
            write(self.file("buffer_size_kb"), str(self.buffer_kb))
            write(self.file("trace_clock"), self.clock)
        except BaseException:
            os.rmdir(self.path)
            raise
        return self

    def enable(self, event, event_filter=None):
        """Records kvm:<event> (only those matching event_filter, if given)."""
        d = self.file("events", "kvm", event)
        self.enabled.append((d, event_filter))
        if event_filter:
            write(os.path.join(d, "filter"), event_filter)
        write(os.path.join(d, "enable"), "1")

    def tracing(self, on):
        write(self.file("tracing_on"), "1" if on else "0")

    def lost(self):
        """What the buffer lost, one complaint per CPU with an overrun or
        dropped events, and the trace's LOST EVENTS marker; [] for nothing."""
        lost = []
        for cpu in sorted(os.listdir(self.file("per_cpu"))):
            stats = read(self.file("per_cpu", cpu, "stats"))
            m = re.search(r"^overrun: (\d+)", stats, re.M)
            if not m or int(m.group(1)):
                lost.append("%s: overrun %s" % (cpu, m.group(1) if m else "?"))
            m = re.search(r"^dropped events: (\d+)", stats, re.M)
            if m and int(m.group(1)):
                lost.append("%s: dropped events %s" % (cpu, m.group(1)))
        if "LOST" in self.trace():
            lost.append("a LOST EVENTS marker")
        return lost

    def trace(self):
        return read(self.file("trace"))

    def __exit__(self, *exc):
        self.tracing(False)
        for d, event_filter in self.enabled:
            write(os.path.join(d, "enable"), "0")
            if event_filter:
                write(os.path.join(d, "filter"), "0")
        os.rmdir(self.path)
        return False
