// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// In-guest test client for hypertrace.ko (tests/vm/kmod/).
//
//   kmod_client record OUT [--pid-any] [--ring BYTES] [--nr LO-HI]... -- CMD...
//       Starts tracing through open_kmod_backend(), runs CMD (its stdout goes
//       to OUT.truth), reads the ring with the ht_ring.h protocol while CMD
//       runs, stops, drains, and writes one JSON record per line to OUT, then
//       a summary line {"counters":..,"status":..,"detection":..}.  Unless
//       --pid-any, the filter is CMD's pid (CMD is held until tracing runs).
//       --aggregate: summary mode (no records expected); the statistics are
//       taken every --take-every MS (default: only after stop) and written as
//       {"agg":{...}} lines, one per key per take.
//   kmod_client badioctl
//       Bad ioctls, mmaps and opens get errors, not crashes.
//   kmod_client detect
//       Prints the kernel facts the module backend starts from
//       (userspace/kernel/kernel_facts.h): prototypes and exit-reason offsets,
//       and, if the module is loaded, its compile-time guess of the
//       prototypes (HT_IOC_INFO; -1 if /dev/hypertrace cannot be opened).
//   kmod_client locktest SECONDS -- CMD...
//       Summary mode, tracing every process while CMD (a workload) runs:
//       one thread takes the statistics (HT_IOC_AGG_TAKE) into freshly
//       mmapped, never touched memory (the copy faults), another mmaps and
//       munmaps the ring, for SECONDS.  Before the lock-order fix the first
//       held the device mutex while faulting (wanting mmap_lock) and the
//       second held mmap_lock while wanting the mutex: a deadlock.  Fails if
//       either thread makes no progress for 20 s, or no take copied entries
//       (the faulting path was not exercised).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend/kmod_backend.h"
#include "kernel/kernel_facts.h"
#include "util/unique_fd.h"

extern "C" {
#include "ht_hist.h"
#include "ht_record.h"
#include "ht_ring.h"
}

using namespace hypertrace;

namespace {

// HT_IOC_GET_STATUS (attached tracepoints, prototypes in use...); zeros if
// the ioctl fails.
ht_ioc_status status(int fd)
{
    ht_ioc_status st{};
    if (ioctl(fd, HT_IOC_GET_STATUS, &st) < 0)
        st = ht_ioc_status{};
    return st;
}

std::size_t drain(const RingMapping& m, FILE* out)
{
    std::size_t n = 0;
    std::uint64_t cons = *m.consumer_pos;
    for (;;) {
        std::uint64_t prod = __atomic_load_n(m.producer_pos, __ATOMIC_ACQUIRE);
        if (cons >= prod)
            break;
        const std::uint8_t* p = m.data + (cons & (m.size - 1));
        std::uint32_t len = __atomic_load_n(reinterpret_cast<const std::uint32_t*>(p), __ATOMIC_ACQUIRE);
        if (len & HT_RING_BUSY_BIT)
            break;
        std::uint32_t plen = len & ~(HT_RING_BUSY_BIT | HT_RING_DISCARD_BIT);
        if (!(len & HT_RING_DISCARD_BIT)) {
            ht_record r;
            std::memcpy(&r, p + HT_RING_HDR_SZ, sizeof(r));
            std::fprintf(out,
                         "{\"len\":%u,\"version\":%u,\"size\":%u,\"isa\":%u,\"flags\":%u,"
                         "\"reserved0\":%u,\"abi\":%u,\"uexit_reason\":%u,"
                         "\"pid\":%u,\"tid\":%u,\"vcpu_id\":%u,\"cpu\":%u,\"exit_reason\":%u,"
                         "\"nr\":%" PRIu64 ",\"a\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"t\":[%" PRIu64
                         ",%" PRIu64 ",%" PRIu64 "]}\n",
                         plen, r.version, r.size, r.isa, r.flags, r.reserved0, r.abi, r.uexit_reason, r.pid, r.tid,
                         r.vcpu_id, r.cpu, r.exit_reason, static_cast<std::uint64_t>(r.nr),
                         static_cast<std::uint64_t>(r.a0), static_cast<std::uint64_t>(r.a1),
                         static_cast<std::uint64_t>(r.a2), static_cast<std::uint64_t>(r.a3),
                         static_cast<std::uint64_t>(r.t_exit_ns), static_cast<std::uint64_t>(r.t_hypercall_ns),
                         static_cast<std::uint64_t>(r.t_entry_ns));
            n++;
        }
        cons += ht_ring_record_span(plen);
        __atomic_store_n(m.consumer_pos, cons, __ATOMIC_RELEASE);
    }
    return n;
}

// One line per key; hist_ok: the buckets sum to count and the first and last
// non-empty ones are min's and max's.
std::size_t write_aggs(const std::vector<AggregateEntry>& v, int take, FILE* out)
{
    for (const auto& e : v) {
        const ht_agg_value& a = e.value;
        std::uint64_t total = 0;
        int first = -1, last = -1;
        for (std::uint32_t i = 0; i < HT_HIST_BUCKETS; i++) {
            if (!a.buckets[i])
                continue;
            total += a.buckets[i];
            if (first < 0)
                first = static_cast<int>(i);
            last = static_cast<int>(i);
        }
        bool hist_ok = total == a.count && a.count > 0 && first == static_cast<int>(ht_hist_index(a.min_ns)) &&
                       last == static_cast<int>(ht_hist_index(a.max_ns));
        std::fprintf(out,
                     "{\"agg\":{\"take\":%d,\"pid\":%u,\"parity\":%u,\"nr\":%" PRIu64 ",\"count\":%" PRIu64
                     ",\"sum_ns\":%" PRIu64 ",\"min_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64 ",\"sum_exit_hc_ns\":%" PRIu64
                     ",\"sum_hc_entry_ns\":%" PRIu64 ",\"hist_ok\":%s}}\n",
                     take, e.key.pid, e.key.parity, static_cast<std::uint64_t>(e.key.nr),
                     static_cast<std::uint64_t>(a.count), static_cast<std::uint64_t>(a.sum_ns),
                     static_cast<std::uint64_t>(a.min_ns), static_cast<std::uint64_t>(a.max_ns),
                     static_cast<std::uint64_t>(a.sum_exit_hc_ns), static_cast<std::uint64_t>(a.sum_hc_entry_ns),
                     hist_ok ? "true" : "false");
    }
    return v.size();
}

int cmd_record(int argc, char** argv)
{
    if (argc < 3)
        return 2;
    std::string out_path = argv[2];
    bool pid_any = false, no_read = false, no_reason = false;
    long take_every_ms = 0;
    BackendConfig cfg;
    cfg.env = read_env_settings();  // HT_KMOD_PATH: insmod of the build under test
    cfg.filter.vcpu = HT_VCPU_ANY;
    int i = 3;
    for (; i < argc && std::strcmp(argv[i], "--"); i++) {
        if (!std::strcmp(argv[i], "--pid-any")) {
            pid_any = true;
        } else if (!std::strcmp(argv[i], "--ring") && i + 1 < argc) {
            cfg.ring_bytes = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 0));
        } else if (!std::strcmp(argv[i], "--nr") && i + 1 < argc) {
            const char* s = argv[++i];
            char* end;
            ht_nr_range r{};
            r.lo = std::strtoull(s, &end, 0);
            r.hi = *end == '-' ? std::strtoull(end + 1, nullptr, 0) : r.lo;
            cfg.filter.nr_ranges[cfg.filter.nr_range_count++] = r;
        } else if (!std::strcmp(argv[i], "--no-read")) {
            no_read = true;
        } else if (!std::strcmp(argv[i], "--no-reason")) {
            no_reason = true;
        } else if (!std::strcmp(argv[i], "--vcpu") && i + 1 < argc) {
            cfg.filter.vcpu = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 0));
        } else if (!std::strcmp(argv[i], "--min-latency") && i + 1 < argc) {
            cfg.filter.min_latency_ns = std::strtoull(argv[++i], nullptr, 0);
        } else if (!std::strcmp(argv[i], "--aggregate")) {
            cfg.aggregate = true;
        } else if (!std::strcmp(argv[i], "--take-every") && i + 1 < argc) {
            take_every_ms = std::strtol(argv[++i], nullptr, 0);
        } else if (!std::strcmp(argv[i], "--hypercall-only")) {
            cfg.filter.reason_mode = HT_REASON_HYPERCALL_ONLY;
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc - 1) {
        std::fprintf(stderr, "record: no command\n");
        return 2;
    }
    char** cmd = argv + i + 1;

    int go[2];
    if (pipe(go) < 0)
        return 1;
    std::string truth = out_path + ".truth";
    pid_t child = fork();
    if (child == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(125);
        int fd = open(truth.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(126);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    close(go[0]);
    if (!pid_any)
        cfg.filter.pid = static_cast<std::uint32_t>(child);

    std::unique_ptr<Backend> be;
    try {
        be = open_kmod_backend(cfg);
    } catch (const BackendError& e) {
        std::fprintf(stderr, "kmod_client: %s\n", e.what());
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
        return 1;
    }
    if (no_reason) {
        // Restart without exit-reason offsets: records must say "unknown".
        ht_ioc_status s0 = status(be->ring().fd);
        ht_ioc_reason none{};
        ht_ioc_start st{};
        st.exit_proto = s0.exit_proto;
        st.entry_proto = s0.entry_proto;
        int fd = be->ring().fd;
        if (ioctl(fd, HT_IOC_STOP) || ioctl(fd, HT_IOC_SET_REASON, &none) || ioctl(fd, HT_IOC_START, &st)) {
            std::perror("kmod_client: restart without reason");
            return 1;
        }
    }
    std::fprintf(stderr, "kmod_client: tracing (%s); attached 0x%x\n", be->detail().c_str(),
                 status(be->ring().fd).attached);
    FILE* out = std::fopen(out_path.c_str(), "w");
    if (!out)
        return 1;
    if (write(go[1], "g", 1) != 1)
        return 1;
    close(go[1]);

    RingMapping m = be->ring();
    std::size_t n = 0;
    int st = 0;
    int takes = 0, nonempty_takes = 0;
    auto take = [&]() {
        std::vector<AggregateEntry> v = be->take_aggregates();
        if (!v.empty())
            nonempty_takes++;
        write_aggs(v, takes++, out);
    };
    auto last_take = std::chrono::steady_clock::now();
    for (;;) {
        if (!no_read)
            n += drain(m, out);
        pid_t w = waitpid(child, &st, WNOHANG);
        if (w == child)
            break;
        struct pollfd pfd = {m.fd, POLLIN, 0};
        int wait_ms = take_every_ms > 0 ? static_cast<int>(std::min(take_every_ms, 100L)) : 100;
        poll(&pfd, 1, wait_ms);
        auto now = std::chrono::steady_clock::now();
        if (cfg.aggregate && take_every_ms > 0 && now - last_take >= std::chrono::milliseconds(take_every_ms)) {
            take();
            last_take = now;
        }
    }
    be->stop();
    n += drain(m, out);
    if (cfg.aggregate)
        take();  // the rest, after stop
    Counters c = be->counters();
    ht_ioc_status s = status(m.fd);
    std::fprintf(out, "{\"counters\":[");
    for (std::size_t k = 0; k < c.size(); k++)
        std::fprintf(out, "%s%" PRIu64, k ? "," : "", static_cast<std::uint64_t>(c[k]));
    std::fprintf(out,
                 "],\"status\":{\"running\":%u,\"attached\":%u,\"attach_count\":%u,"
                 "\"attach_errors\":%u,\"exit_proto\":%u,\"entry_proto\":%u,"
                 "\"reason_isa\":%u,\"ring_bytes\":%u},\"child_status\":%d,"
                 "\"takes\":%d,\"nonempty_takes\":%d,\"detection\":\"%s\"}\n",
                 s.running, s.attached, s.attach_count, s.attach_errors, s.exit_proto, s.entry_proto, s.reason_isa,
                 s.ring_bytes, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), takes, nonempty_takes,
                 be->detail().c_str());
    std::fclose(out);
    std::fprintf(stderr, "kmod_client: %zu records, command exit %d\n", n, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// ---- bad ioctls -----------------------------------------------------------

int passed, failed;

void expect(const char* what, int rc, int want_errno)
{
    int e = errno;
    bool ok = want_errno ? (rc < 0 && e == want_errno) : rc == 0;
    if (ok) {
        passed++;
        std::printf("ok   %s\n", what);
    } else {
        failed++;
        std::printf("FAIL %s: rc %d errno %d (%s), wanted %s\n", what, rc, rc < 0 ? e : 0,
                    rc < 0 ? std::strerror(e) : "-", want_errno ? std::strerror(want_errno) : "success");
    }
}

ht_ioc_config good_config()
{
    ht_ioc_config c{};
    c.ring_bytes = 1u << 16;
    c.filter.vcpu = HT_VCPU_ANY;
    c.filter.nr_range_count = 2;
    c.filter.nr_ranges[0] = {1, 10};
    c.filter.nr_ranges[1] = {42, 42};
    return c;
}

// Summary mode's ioctl (HT_IOC_AGG_TAKE) on a fresh open.
void agg_ioctls(int fd)
{
    ht_ioc_info info{};
    expect("INFO", ioctl(fd, HT_IOC_INFO, &info), 0);
    expect("INFO agg_keys a power of two, reserved 0",
           info.agg_keys && !(info.agg_keys & (info.agg_keys - 1)) && !info.reserved ? 0 : -1, 0);
    std::vector<ht_ioc_agg_entry> buf(4);
    ht_ioc_agg_take t{};
    t.entries = reinterpret_cast<std::uintptr_t>(buf.data());
    t.capacity = 4;
    ht_ioc_agg_take t0 = t;
    expect("AGG_TAKE before SET_CONFIG", ioctl(fd, HT_IOC_AGG_TAKE, &t), EINVAL);
    ht_ioc_config c = good_config();
    expect("SET_CONFIG records mode", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    expect("AGG_TAKE in records mode", ioctl(fd, HT_IOC_AGG_TAKE, &t), EINVAL);
    c.flags = HT_CONFIG_F_AGGREGATE;
    expect("SET_CONFIG summary mode", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    expect("AGG_TAKE from NULL", ioctl(fd, HT_IOC_AGG_TAKE, nullptr), EFAULT);
    expect("AGG_TAKE wrong size", ioctl(fd, _IOWR(HT_IOCTL_MAGIC, 0x08, __u64), &t), EINVAL);
    expect("AGG_TAKE wrong direction", ioctl(fd, _IOR(HT_IOCTL_MAGIC, 0x08, struct ht_ioc_agg_take), &t), EINVAL);
    t = t0;
    t.capacity = 0;
    expect("AGG_TAKE capacity 0", ioctl(fd, HT_IOC_AGG_TAKE, &t), EINVAL);
    t = t0;
    t.flags = 1;
    expect("AGG_TAKE flags set", ioctl(fd, HT_IOC_AGG_TAKE, &t), EINVAL);
    t = t0;
    t.reserved = 1;
    expect("AGG_TAKE reserved set", ioctl(fd, HT_IOC_AGG_TAKE, &t), EINVAL);
    t = t0;
    t.entries = 0xffffffff81000000ull;
    expect("AGG_TAKE entries at a kernel address", ioctl(fd, HT_IOC_AGG_TAKE, &t), EFAULT);
    t = t0;
    t.entries = 0x7ffffffff000ull - 64;  // the last user page: runs past it
    expect("AGG_TAKE entries running past the user address space", ioctl(fd, HT_IOC_AGG_TAKE, &t), EFAULT);
    t = t0;
    t.count = t.remaining = 77;
    expect("AGG_TAKE before START", ioctl(fd, HT_IOC_AGG_TAKE, &t), 0);
    expect("AGG_TAKE before START: empty", t.count == 0 && t.remaining == 0 ? 0 : -1, 0);
    ht_ioc_start start{};
    expect("START summary mode", ioctl(fd, HT_IOC_START, &start), 0);
    c.flags = 0;
    expect("SET_CONFIG leaving summary mode while running", ioctl(fd, HT_IOC_SET_CONFIG, &c), EBUSY);
    t = t0;
    expect("AGG_TAKE while running", ioctl(fd, HT_IOC_AGG_TAKE, &t), 0);
    t = t0;
    expect("AGG_TAKE while running, again", ioctl(fd, HT_IOC_AGG_TAKE, &t), 0);
    expect("STOP summary mode", ioctl(fd, HT_IOC_STOP), 0);
    t = t0;
    expect("AGG_TAKE after STOP", ioctl(fd, HT_IOC_AGG_TAKE, &t), 0);
    ht_ioc_counters cn{};
    expect("GET_COUNTERS summary mode", ioctl(fd, HT_IOC_GET_COUNTERS, &cn), 0);
}

int cmd_badioctl()
{
    int fd = open(HT_DEVICE_PATH, O_RDWR);
    if (fd < 0) {
        std::printf("FAIL open: %s\n", std::strerror(errno));
        return 1;
    }
    errno = 0;
    expect("second open gets EBUSY", open(HT_DEVICE_PATH, O_RDWR), EBUSY);

    __u32 ver = 0;
    expect("VERSION", ioctl(fd, HT_IOC_VERSION, &ver), 0);
    expect("VERSION value", ver == HT_IOCTL_VERSION ? 0 : -1, 0);
    expect("unknown command nr", ioctl(fd, _IOR(HT_IOCTL_MAGIC, 0x7f, __u32), &ver), ENOTTY);
    expect("foreign magic", ioctl(fd, _IOR('T', 0x00, __u32), &ver), ENOTTY);
    expect("plain TCGETS", ioctl(fd, 0x5401, &ver), ENOTTY);
    expect("known nr, wrong size", ioctl(fd, _IOR(HT_IOCTL_MAGIC, 0x00, __u64), &ver), EINVAL);
    expect("known nr, wrong direction", ioctl(fd, _IOW(HT_IOCTL_MAGIC, 0x01, struct ht_ioc_info), &ver), EINVAL);
    expect("VERSION to NULL", ioctl(fd, HT_IOC_VERSION, nullptr), EFAULT);
    expect("INFO to NULL", ioctl(fd, HT_IOC_INFO, nullptr), EFAULT);
    expect("SET_CONFIG from NULL", ioctl(fd, HT_IOC_SET_CONFIG, nullptr), EFAULT);
    expect("SET_CONFIG from bad pointer", ioctl(fd, HT_IOC_SET_CONFIG, (void*)8), EFAULT);
    expect("GET_COUNTERS to kernel address", ioctl(fd, HT_IOC_GET_COUNTERS, (void*)0xffffffff81000000ul), EFAULT);
    expect("mmap before SET_CONFIG", mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EINVAL);

    ht_ioc_start start{};
    expect("START before SET_CONFIG", ioctl(fd, HT_IOC_START, &start), EINVAL);

    struct {
        const char* what;
        void (*mut)(ht_ioc_config&);
    } bad[] = {
        {"ring 0", [](ht_ioc_config& c) { c.ring_bytes = 0; }},
        {"ring not power of two", [](ht_ioc_config& c) { c.ring_bytes = 3u << 16; }},
        {"ring too small", [](ht_ioc_config& c) { c.ring_bytes = 2048; }},
        {"ring too large", [](ht_ioc_config& c) { c.ring_bytes = 1u << 31; }},
        {"unknown flag", [](ht_ioc_config& c) { c.flags = 2; }},
        {"flags huge", [](ht_ioc_config& c) { c.flags = 0x80000001u; }},
        {"range count > max", [](ht_ioc_config& c) { c.filter.nr_range_count = HT_MAX_NR_RANGES + 1; }},
        {"range count huge", [](ht_ioc_config& c) { c.filter.nr_range_count = 0xffffffffu; }},
        {"range lo > hi",
         [](ht_ioc_config& c) {
             c.filter.nr_ranges[0] = {10, 1};
         }},
        {"ranges unsorted",
         [](ht_ioc_config& c) {
             c.filter.nr_ranges[0] = {42, 42};
             c.filter.nr_ranges[1] = {1, 10};
         }},
        {"ranges overlap",
         [](ht_ioc_config& c) {
             c.filter.nr_ranges[1] = {10, 42};
         }},
        {"reason_mode 2", [](ht_ioc_config& c) { c.filter.reason_mode = 2; }},
        {"reason_mode huge", [](ht_ioc_config& c) { c.filter.reason_mode = 0x80000000u; }},
        // Per-ABI ranges (filter of ioctl version 4): checked as KVM's.
        {"hv range count > max", [](ht_ioc_config& c) { c.filter.hv_range_count = HT_MAX_NR_RANGES + 1; }},
        {"hv range lo > hi",
         [](ht_ioc_config& c) {
             c.filter.hv_range_count = 1;
             c.filter.hv_ranges[0] = {0x8003, 2};
         }},
        {"xen range count huge", [](ht_ioc_config& c) { c.filter.xen_range_count = 0xffffffffu; }},
        {"xen ranges overlap",
         [](ht_ioc_config& c) {
             c.filter.xen_range_count = 2;
             c.filter.xen_ranges[0] = {17, 34};
             c.filter.xen_ranges[1] = {34, 40};
         }},
        {"abi_none unknown ABI", [](ht_ioc_config& c) { c.filter.abi_none = 1u << HT_ABI_COUNT; }},
        {"abi_none huge", [](ht_ioc_config& c) { c.filter.abi_none = 0x80000000u; }},
        {"filter reserved", [](ht_ioc_config& c) { c.filter.reserved = 1; }},
    };
    for (auto& b : bad) {
        ht_ioc_config c = good_config();
        b.mut(c);
        std::string w = std::string("SET_CONFIG ") + b.what;
        expect(w.c_str(), ioctl(fd, HT_IOC_SET_CONFIG, &c), EINVAL);
    }
    ht_ioc_config c = good_config();
    expect("SET_CONFIG good", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    c.filter.nr_range_count = HT_MAX_NR_RANGES;
    for (unsigned k = 0; k < HT_MAX_NR_RANGES; k++)
        c.filter.nr_ranges[k] = {k * 10ull, k * 10ull + 5};
    c.filter.nr_ranges[HT_MAX_NR_RANGES - 1].hi = ~0ull;
    expect("SET_CONFIG 128 ranges up to U64_MAX", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    c = good_config();
    c.filter.abi_none = 1u << HT_ABI_KVM;
    c.filter.hv_range_count = 2;
    c.filter.hv_ranges[0] = {2, 3};
    c.filter.hv_ranges[1] = {0x5c, 0x5d};
    c.filter.xen_range_count = HT_MAX_NR_RANGES;
    for (unsigned k = 0; k < HT_MAX_NR_RANGES; k++)
        c.filter.xen_ranges[k] = {k * 10ull, k * 10ull + 5};
    expect("SET_CONFIG per-ABI ranges, KVM none", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    c = good_config();
    c.ring_bytes = 1u << 17;
    expect("SET_CONFIG other ring size once allocated", ioctl(fd, HT_IOC_SET_CONFIG, &c), EBUSY);

    struct {
        const char* what;
        ht_ioc_reason r;
        int err;
    } reasons[] = {
        {"isa 7", {7, 0, 8, 0, 8, 0}, EINVAL},
        {"size 3", {HT_ISA_SVM, 0, 8, 0, 3, 0}, EINVAL},
        {"size 16", {HT_ISA_SVM, 0, 8, 0, 16, 0}, EINVAL},
        {"vcpu_off huge", {HT_ISA_SVM, 1u << 20, 8, 0, 8, 0}, EINVAL},
        {"ptr_off huge", {HT_ISA_SVM, 0, 1u << 20, 0, 8, 0}, EINVAL},
        {"reason_off huge", {HT_ISA_VMX, 0, HT_REASON_NO_PTR, 1u << 30, 4, 0}, EINVAL},
        {"misaligned", {HT_ISA_SVM, 0, 9, 0, 8, 0}, EINVAL},
        {"reserved", {HT_ISA_SVM, 0, 8, 0, 8, 1}, EINVAL},
        {"clear (isa 0)", {0, 0, 0, 0, 0, 0}, 0},
    };
    for (auto& r : reasons) {
        std::string w = std::string("SET_REASON ") + r.what;
        expect(w.c_str(), ioctl(fd, HT_IOC_SET_REASON, &r.r), r.err);
    }

    long page = sysconf(_SC_PAGESIZE);
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("mmap consumer page rw", p == MAP_FAILED ? -1 : 0, 0);
    if (p != MAP_FAILED)
        munmap(p, page);
    p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("mmap consumer+producer rw", p == MAP_FAILED ? -1 : 0, EPERM);
    p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
    expect("mmap producer page rw", p == MAP_FAILED ? -1 : 0, EPERM);
    std::size_t len = page + 2 * (1u << 16);
    p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, page);
    expect("mmap producer+data ro", p == MAP_FAILED ? -1 : 0, 0);
    if (p != MAP_FAILED) {
        expect("mprotect ro mapping to rw", mprotect(p, page, PROT_READ | PROT_WRITE), EACCES);
        munmap(p, len);
    }
    p = mmap(nullptr, len + page, PROT_READ, MAP_SHARED, fd, page);
    expect("mmap past the end", p == MAP_FAILED ? -1 : 0, EINVAL);
    p = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 1l << 40);
    expect("mmap huge offset", p == MAP_FAILED ? -1 : 0, EINVAL);

    start = {};
    start.exit_proto = 9;
    expect("START exit proto 9", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.entry_proto = 9;
    expect("START entry proto 9", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.flags = 1;
    expect("START flags", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.hv_proto = HT_HV_PROTO_MAX;
    expect("START hv_proto out of range", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.hv_proto = 0xffffffffu;
    expect("START hv_proto huge", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.xen_proto = HT_XEN_PROTO_MAX;
    expect("START xen_proto out of range", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    start.reserved = 1;
    expect("START reserved", ioctl(fd, HT_IOC_START, &start), EINVAL);
    start = {};
    expect("START auto protos", ioctl(fd, HT_IOC_START, &start), 0);
    expect("START again", ioctl(fd, HT_IOC_START, &start), EBUSY);
    c = good_config();
    expect("SET_CONFIG while running", ioctl(fd, HT_IOC_SET_CONFIG, &c), EBUSY);
    ht_ioc_reason r{};
    expect("SET_REASON while running", ioctl(fd, HT_IOC_SET_REASON, &r), EBUSY);
    ht_ioc_status s{};
    expect("GET_STATUS", ioctl(fd, HT_IOC_GET_STATUS, &s), 0);
    expect("status running, attached to all three",
           s.running == 1 && (s.attached & HT_ATTACHED_ALL) == HT_ATTACHED_ALL ? 0 : -1, 0);
    // Every testbed kernel has kvm_userspace_exit (tests/workload/README.md).
    expect("status: kvm_userspace_exit attached too", s.attached & HT_ATTACHED_USERSPACE_EXIT ? 0 : -1, 0);
    expect("STOP", ioctl(fd, HT_IOC_STOP), 0);
    expect("STOP again", ioctl(fd, HT_IOC_STOP), 0);
    expect("GET_STATUS after stop", ioctl(fd, HT_IOC_GET_STATUS, &s), 0);
    expect("status detached", s.running == 0 && s.attached == 0 ? 0 : -1, 0);
    expect("SET_CONFIG after stop", ioctl(fd, HT_IOC_SET_CONFIG, &c), 0);
    close(fd);
    fd = open(HT_DEVICE_PATH, O_RDWR);
    expect("reopen after close", fd < 0 ? -1 : 0, 0);
    if (fd >= 0) {
        agg_ioctls(fd);
        close(fd);
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int cmd_detect()
{
    const KernelFacts k = probe_kernel_facts();
    const TracepointPrototypes& p = k.prototypes.value;
    const ht_ioc_reason& r = k.exit_reason.value.offsets;
    long long guess_exit = -1, guess_entry = -1, guess_source = -1;
    const hypertrace::UniqueFd dev(open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC));
    ht_ioc_info info{};
    if (dev.get() >= 0 && ioctl(dev.get(), HT_IOC_INFO, &info) == 0) {
        guess_exit = info.guess_exit_proto;
        guess_entry = info.guess_entry_proto;
        guess_source = info.guess_source;
    }
    std::printf(
        "{\"exit_proto\":%u,\"entry_proto\":%u,\"reason_isa\":%u,"
        "\"vcpu_off\":%u,\"ptr_off\":%u,\"reason_off\":%u,\"reason_size\":%u,"
        "\"running_vcpu\":%d,\"guess_exit\":%lld,\"guess_entry\":%lld,\"guess_source\":%lld}\n",
        p.exit, p.entry, r.isa, r.vcpu_off, r.ptr_off, r.reason_off, r.reason_size, k.running_vcpu.value, guess_exit,
        guess_entry, guess_source);
    std::fprintf(stderr, "%s\n%s\n%s\n%s\n", k.prototypes.how.c_str(), k.exit_reason.how.c_str(),
                 k.running_vcpu.how.c_str(), k.kvm_events_dir.how.c_str());
    return 0;
}

int cmd_locktest(int argc, char** argv)
{
    if (argc < 5 || std::strcmp(argv[3], "--"))
        return 2;
    double seconds = std::strtod(argv[2], nullptr);
    char** cmd = argv + 4;
    BackendConfig cfg;
    cfg.env = read_env_settings();  // HT_KMOD_PATH: insmod of the build under test
    cfg.filter.vcpu = HT_VCPU_ANY;
    cfg.filter.pid = HT_PID_ANY;
    cfg.ring_bytes = 1u << 16;
    cfg.aggregate = true;
    std::unique_ptr<Backend> be;
    try {
        be = open_kmod_backend(cfg);
    } catch (const BackendError& e) {
        std::printf("FAIL locktest: %s\n", e.what());
        return 1;
    }
    const int fd = be->ring().fd;
    const long page = sysconf(_SC_PAGESIZE);
    pid_t child = fork();
    if (child == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execvp(cmd[0], cmd);
        _exit(127);
    }

    // Touched now: once deadlocked, a page fault of this process blocks.
    char msg[512];
    std::memset(msg, 0, sizeof msg);
    std::atomic<bool> done{false};
    std::atomic<bool> taker_done{false}, mapper_done{false};
    std::atomic<std::uint64_t> takes{0}, copied{0}, take_errors{0}, maps{0}, map_errors{0};
    std::thread taker([&] {
        const std::uint32_t cap = 64;
        const std::size_t len = cap * sizeof(ht_ioc_agg_entry);
        while (!done) {
            // Fresh anonymous memory: its pages are not there until the
            // module's copy_to_user() faults them in.
            void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                take_errors++;
                continue;
            }
            ht_ioc_agg_take t{};
            t.entries = reinterpret_cast<std::uintptr_t>(p);
            t.capacity = cap;
            if (ioctl(fd, HT_IOC_AGG_TAKE, &t) == 0)
                copied += t.count;
            else
                take_errors++;
            munmap(p, len);
            takes++;
        }
        taker_done = true;
    });
    std::thread mapper([&] {
        const std::size_t len = static_cast<std::size_t>(page) + 2 * cfg.ring_bytes;
        while (!done) {
            void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, page);
            if (p == MAP_FAILED)
                map_errors++;
            else
                munmap(p, len);
            maps++;
        }
        mapper_done = true;
    });

    // The watchdog must not fault or allocate: in the deadlock the mm's
    // mmap_lock is held for writing by the mapper, so any page fault of this
    // process blocks.  So: atomics, a stack buffer and write(2) only.
    auto t0 = std::chrono::steady_clock::now();
    auto t_take = t0, t_map = t0;  // when each thread last made progress
    std::uint64_t last_takes = 0, last_maps = 0;
    bool hung = false;
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto now = std::chrono::steady_clock::now();
        if (now - t0 > std::chrono::duration<double>(seconds))
            done = true;
        if (takes != last_takes) {
            last_takes = takes;
            t_take = now;
        }
        if (maps != last_maps) {
            last_maps = maps;
            t_map = now;
        }
        if (taker_done && mapper_done)
            break;
        if ((!taker_done && now - t_take > std::chrono::seconds(20)) ||
            (!mapper_done && now - t_map > std::chrono::seconds(20))) {
            hung = true;
            break;
        }
    }
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int len = std::snprintf(msg, sizeof msg,
                            "locktest: %.1f s: %llu takes (%llu entries copied, %llu errors), "
                            "%llu ring mmaps (%llu errors)\n",
                            took, (unsigned long long)takes.load(), (unsigned long long)copied.load(),
                            (unsigned long long)take_errors.load(), (unsigned long long)maps.load(),
                            (unsigned long long)map_errors.load());
    if (write(1, msg, static_cast<std::size_t>(len)) < 0)
        return 1;
    if (hung) {
        // Exiting kills the threads (their waits are killable on 6.1).
        len = std::snprintf(msg, sizeof msg,
                            "FAIL locktest: a thread made no progress for 20 s: AGG_TAKE and "
                            "mmap deadlocked (device mutex vs mmap_lock)\n0 passed, 1 failed\n");
        if (write(1, msg, static_cast<std::size_t>(len)) < 0)
            _exit(1);
        kill(child, SIGKILL);
        _exit(1);
    }
    taker.join();
    mapper.join();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    be->stop();
    int ok_ = 0, bad_ = 0;
    auto chk = [&](bool c, const char* what) {
        std::printf("%s locktest: %s\n", c ? "ok  " : "FAIL", what);
        (c ? ok_ : bad_)++;
    };
    chk(true, "no hang");
    chk(copied > 0, "takes copied entries into untouched memory (the faulting path ran)");
    chk(take_errors == 0 && map_errors == 0, "no take or mmap failed");
    std::printf("%d passed, %d failed\n", ok_, bad_);
    return bad_ ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc >= 2 && !std::strcmp(argv[1], "record"))
        return cmd_record(argc, argv);
    if (argc >= 2 && !std::strcmp(argv[1], "badioctl"))
        return cmd_badioctl();
    if (argc >= 2 && !std::strcmp(argv[1], "detect"))
        return cmd_detect();
    if (argc >= 2 && !std::strcmp(argv[1], "locktest"))
        return cmd_locktest(argc, argv);
    std::fprintf(stderr,
                 "usage: kmod_client record OUT [opts] -- CMD... | badioctl | detect | "
                 "locktest SECONDS -- CMD...\n");
    return 2;
}
