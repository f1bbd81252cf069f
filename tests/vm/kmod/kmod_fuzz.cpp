// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Seeded ioctl/mmap fuzzer for /dev/hypertrace (in-guest, as root).
//
//   kmod_fuzz [--seed N] [--calls N] [--seconds S]
//
// Issues random operations on the device: ioctls with valid, wrong-size,
// wrong-direction, foreign and random command numbers; arguments that are
// valid-looking (configs with real filters, reason offsets, starts, stops,
// takes in random order), random bytes, NULL, unmapped, kernel and
// end-of-address-space pointers; mmaps of random lengths, offsets and
// protections, writes of random consumer positions into mapped consumer
// pages, polls, closes and reopens.  Every call must succeed or fail with an
// errno common/ht_ioctl.h documents for that operation; anything else is
// printed and the exit status is 1.  The kernel must not complain: the
// testbed fails the run on Oops/BUG/WARNING in the guest's log.
//
// The same seed gives the same sequence of operations (the stop after
// --seconds only cuts it short).  Prints the seed, the number of calls and
// the histogram of results per operation.
//
// What it does not do: START with a valid but wrong tracepoint prototype
// for the running kernel.  The prototype is the caller's (root's) word, read
// from BTF by hypertrace; a wrong one is documented as unsafe (common/
// ht_ioctl.h).  START uses AUTO (the module's guess), the prototypes the
// module guessed (HT_IOC_INFO), or out-of-range values.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "ht_ioctl.h"
}

namespace {

std::mt19937_64 rng;

std::uint64_t rnd() { return rng(); }
std::uint64_t below(std::uint64_t n) { return n ? rnd() % n : 0; }
bool chance(unsigned pct) { return below(100) < pct; }

// The errnos common/ht_ioctl.h documents, per operation.
const std::set<int> kIoctlErrnos = {ENOTTY, EINVAL, EFAULT, EBUSY, ENOPKG, ENOMEM};
const std::set<int> kMmapErrnos = {EINVAL, EPERM, EACCES, ENOMEM, EOVERFLOW};
const std::set<int> kOpenErrnos = {EBUSY};

std::map<std::string, std::uint64_t> hist;
std::map<std::string, double> op_seconds;  // time spent in the kernel, per operation
std::chrono::steady_clock::time_point call_start;
void begin() { call_start = std::chrono::steady_clock::now(); }
std::uint64_t calls, unexpected;
long page;
std::uint32_t guess_exit = HT_EXIT_PROTO_AUTO, guess_entry = HT_ENTRY_PROTO_AUTO;

void note(const std::string& op, int rc, int err, const std::set<int>& allowed, const std::string& detail)
{
    op_seconds[op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - call_start).count();
    calls++;
    const char* name = rc == 0 ? "ok" : strerrorname_np(err);
    std::string key = op + " " + (name ? name : std::to_string(err));
    hist[key]++;
    if (rc != 0 && !allowed.count(err)) {
        unexpected++;
        if (unexpected <= 20)
            std::printf("UNEXPECTED call %" PRIu64 ": %s -> errno %d (%s) [%s]\n", calls, op.c_str(), err,
                        std::strerror(err), detail.c_str());
    }
}

// Memory the fuzzer points arguments at: valid, or bad in several ways.
struct Arena {
    std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(1u << 20);
    void* unmapped = nullptr;  // a page we mapped and unmapped again
    void* readonly = nullptr;  // a read-only page (ioctls that write fail)
};
Arena arena;

void* bad_pointer()
{
    switch (below(6)) {
    case 0: return nullptr;
    case 1: return reinterpret_cast<void*>(8);
    case 2: return reinterpret_cast<void*>(0xffffffff81000000ull);   // kernel text
    case 3: return reinterpret_cast<void*>(0x7ffffffff000ull - 16);  // runs off user space
    case 4: return arena.unmapped;
    default: return reinterpret_cast<void*>(rnd());
    }
}

// An argument pointer: mostly valid memory, sometimes bad; valid memory is
// filled by the caller or randomized here.
void* arg_pointer(std::size_t size, bool randomize)
{
    if (chance(12))
        return chance(30) ? arena.readonly : bad_pointer();
    std::size_t off = below(4) == 0 ? arena.buf.size() - size : below(64) * 8;  // also flush at the end
    if (off + size > arena.buf.size())
        off = 0;
    if (randomize)
        for (std::size_t i = 0; i < size; i++)
            arena.buf[off + i] = static_cast<std::uint8_t>(rnd());
    return arena.buf.data() + off;
}

std::uint32_t ring_size()
{
    if (chance(2))
        return static_cast<std::uint32_t>(rnd());  // anything
    if (chance(1) && below(20) == 0)
        return HT_KRING_MAX_BYTES;  // the largest, rarely
    return 1u << (10 + below(15));  // 1 KiB .. 16 MiB
}

ht_filter random_filter()
{
    ht_filter f{};
    f.pid = chance(50)   ? HT_PID_ANY
            : chance(50) ? static_cast<std::uint32_t>(getpid())
                         : static_cast<std::uint32_t>(rnd());
    f.vcpu = chance(70) ? HT_VCPU_ANY : static_cast<std::uint32_t>(below(4));
    f.reason_mode = chance(90) ? static_cast<std::uint32_t>(below(2)) : static_cast<std::uint32_t>(rnd());
    f.min_latency_ns = chance(80) ? 0 : rnd() >> below(64);
    std::uint32_t n = static_cast<std::uint32_t>(below(HT_MAX_NR_RANGES + 1));
    if (chance(50))
        n = static_cast<std::uint32_t>(below(4));
    std::uint64_t lo = below(64);
    for (std::uint32_t i = 0; i < n && i < HT_MAX_NR_RANGES; i++) {
        std::uint64_t hi = lo + below(8);
        f.nr_ranges[i] = {lo, hi};
        lo = hi + 1 + below(1000);
    }
    f.nr_range_count = n;
    if (chance(10)) {  // break it: unsorted, overlapping, lo > hi, count too big
        switch (below(4)) {
        case 0: f.nr_range_count = static_cast<std::uint32_t>(rnd()); break;
        case 1:
            if (n)
                f.nr_ranges[below(n)].lo = ~0ull;
            break;
        case 2:
            if (n > 1)
                std::swap(f.nr_ranges[0], f.nr_ranges[n - 1]);
            break;
        default: f.nr_range_count = HT_MAX_NR_RANGES + 1 + static_cast<std::uint32_t>(below(8));
        }
    }
    // Per-ABI selection: mostly known ABIs, sometimes any bits.
    f.abi_none = chance(90) ? static_cast<std::uint32_t>(below(1u << HT_ABI_COUNT)) : static_cast<std::uint32_t>(rnd());
    return f;
}

ht_ioc_reason random_reason()
{
    ht_ioc_reason r{};
    r.isa = static_cast<std::uint32_t>(chance(90) ? below(3) : rnd());
    r.vcpu_off = static_cast<std::uint32_t>(chance(80) ? below(HT_REASON_MAX_OFF / 8) * 8 : rnd());
    r.ptr_off = chance(40) ? HT_REASON_NO_PTR
                           : static_cast<std::uint32_t>(chance(80) ? below(HT_REASON_MAX_OFF / 8) * 8 : rnd());
    r.reason_size = chance(80) ? (chance(50) ? 4u : 8u) : static_cast<std::uint32_t>(below(17));
    r.reason_off = static_cast<std::uint32_t>(chance(80) ? below(HT_REASON_MAX_OFF / 8) * 8 : rnd());
    r.reserved = chance(95) ? 0 : static_cast<std::uint32_t>(rnd());
    return r;
}

struct Mapping {
    void* p;
    std::size_t len;
    bool consumer_rw;
};

int fd = -1;
std::vector<Mapping> maps;
std::vector<ht_ioc_agg_entry> take_buf(64);

void unmap_all()
{
    for (auto& m : maps)
        munmap(m.p, m.len);
    maps.clear();
}

void do_open()
{
    begin();
    int f = open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    note("open", f < 0 ? -1 : 0, errno, kOpenErrnos, "");
    if (f >= 0)
        fd = f;
}

// A valid command with a generated argument.
void valid_ioctl()
{
    static const char* names[] = {"VERSION", "INFO",         "SET_CONFIG", "SET_REASON", "START",
                                  "STOP",    "GET_COUNTERS", "GET_STATUS", "AGG_TAKE"};
    // START and STOP cost an RCU grace period or more each (tens of ms
    // under the testbed's TCG): rarer, so that one run issues thousands of
    // calls; they still come dozens of times per run.
    static const unsigned weight[9] = {10, 10, 12, 12, 4, 4, 10, 10, 14};
    unsigned which = 0;
    for (std::uint64_t w = below(86); w >= weight[which]; which++)
        w -= weight[which];
    void* p = nullptr;
    unsigned long cmd = 0;
    std::string detail;
    switch (which) {
    case 0:
        cmd = HT_IOC_VERSION;
        p = arg_pointer(4, true);
        break;
    case 1:
        cmd = HT_IOC_INFO;
        p = arg_pointer(sizeof(ht_ioc_info), true);
        break;
    case 2: {
        cmd = HT_IOC_SET_CONFIG;
        ht_ioc_config c{};
        c.ring_bytes = ring_size();
        c.flags = chance(90) ? (chance(50) ? HT_CONFIG_F_AGGREGATE : 0) : static_cast<std::uint32_t>(rnd());
        c.filter = random_filter();
        p = arg_pointer(sizeof(c), false);
        if (p >= arena.buf.data() && p < arena.buf.data() + arena.buf.size())
            std::memcpy(p, &c, sizeof(c));
        detail = "ring " + std::to_string(c.ring_bytes) + " flags " + std::to_string(c.flags);
        break;
    }
    case 3: {
        cmd = HT_IOC_SET_REASON;
        ht_ioc_reason r = random_reason();
        p = arg_pointer(sizeof(r), false);
        if (p >= arena.buf.data() && p < arena.buf.data() + arena.buf.size())
            std::memcpy(p, &r, sizeof(r));
        break;
    }
    case 4: {
        cmd = HT_IOC_START;
        ht_ioc_start s{};
        auto proto = [](std::uint32_t guess, std::uint32_t max) -> std::uint32_t {
            switch (below(4)) {
            case 0: return 0;  // AUTO
            case 1:
            case 2: return guess;                                           // the right one here
            default: return max + static_cast<std::uint32_t>(below(1000));  // out of range
            }
        };
        s.exit_proto = proto(guess_exit, HT_EXIT_PROTO_MAX);
        s.entry_proto = proto(guess_entry, HT_ENTRY_PROTO_MAX);
        s.flags = chance(95) ? 0 : static_cast<std::uint32_t>(rnd());
        s.hv_proto =
            chance(90) ? static_cast<std::uint32_t>(below(HT_HV_PROTO_MAX)) : static_cast<std::uint32_t>(rnd());
        s.xen_proto =
            chance(90) ? static_cast<std::uint32_t>(below(HT_XEN_PROTO_MAX)) : static_cast<std::uint32_t>(rnd());
        s.reserved = chance(95) ? 0 : static_cast<std::uint32_t>(rnd());
        p = arg_pointer(sizeof(s), false);
        if (p >= arena.buf.data() && p < arena.buf.data() + arena.buf.size())
            std::memcpy(p, &s, sizeof(s));
        break;
    }
    case 5:
        cmd = HT_IOC_STOP;
        p = chance(50) ? nullptr : bad_pointer();
        break;
    case 6:
        cmd = HT_IOC_GET_COUNTERS;
        p = arg_pointer(sizeof(ht_ioc_counters), true);
        break;
    case 7:
        cmd = HT_IOC_GET_STATUS;
        p = arg_pointer(sizeof(ht_ioc_status), true);
        break;
    default: {
        cmd = HT_IOC_AGG_TAKE;
        ht_ioc_agg_take t{};
        switch (below(6)) {
        case 0: t.entries = reinterpret_cast<std::uintptr_t>(bad_pointer()); break;
        case 1: t.entries = reinterpret_cast<std::uintptr_t>(arena.readonly); break;
        default: t.entries = reinterpret_cast<std::uintptr_t>(take_buf.data());
        }
        // Mostly within the buffer; sometimes more than it holds (EFAULT
        // once an entry lands past it, or fine while few keys exist).
        t.capacity = static_cast<std::uint32_t>(chance(85)   ? below(take_buf.size() + 1)
                                                : chance(50) ? rnd()
                                                             : 1u << 20);
        t.flags = chance(95) ? 0 : static_cast<std::uint32_t>(rnd());
        t.reserved = chance(95) ? 0 : rnd();
        t.count = static_cast<std::uint32_t>(rnd());
        t.remaining = static_cast<std::uint32_t>(rnd());
        p = arg_pointer(sizeof(t), false);
        if (p >= arena.buf.data() && p < arena.buf.data() + arena.buf.size())
            std::memcpy(p, &t, sizeof(t));
        detail = "capacity " + std::to_string(t.capacity);
        break;
    }
    }
    begin();
    int rc = ioctl(fd, cmd, p);
    note(std::string("ioctl ") + names[which], rc < 0 ? -1 : 0, errno, kIoctlErrnos, detail);
}

// A command number that is not one of ours, or ours with the wrong size or
// direction.
void random_ioctl()
{
    unsigned long cmd;
    const char* kind;
    switch (below(4)) {
    case 0:  // our type, any nr, any size and direction
        cmd = _IOC(below(4), HT_IOCTL_MAGIC, below(256), below(1u << 14));
        kind = "ioctl random-ours";
        break;
    case 1:  // a known nr with another size
        cmd = _IOC(below(4), HT_IOCTL_MAGIC, below(9), below(1u << 14));
        kind = "ioctl known-nr";
        break;
    case 2:  // another type
        cmd = _IOC(below(4), below(256), below(256), below(1u << 14));
        kind = "ioctl foreign";
        break;
    default: cmd = static_cast<std::uint32_t>(rnd()); kind = "ioctl random";
    }
    void* p = chance(50) ? arg_pointer(1u << 14, true) : bad_pointer();
    begin();
    int rc = ioctl(fd, cmd, p);
    char d[32];
    std::snprintf(d, sizeof d, "cmd 0x%lx", cmd);
    note(kind, rc < 0 ? -1 : 0, errno, kIoctlErrnos, d);
}

void random_mmap()
{
    std::size_t len;
    off_t off;
    switch (below(5)) {
    case 0:
        len = static_cast<std::size_t>(page);
        off = 0;
        break;  // consumer page
    case 1:
        len = static_cast<std::size_t>(page) * (1 + below(64));
        off = page;
        break;
    case 2:
        len = static_cast<std::size_t>(page) * below(8200);
        off = page * static_cast<off_t>(below(4200));
        break;
    case 3:
        len = static_cast<std::size_t>(rnd() >> below(64));
        off = static_cast<off_t>(below(1ull << 40)) * page;
        break;
    default:
        len = static_cast<std::size_t>(below(3 * page));
        off = static_cast<off_t>(below(3 * page));
        break;
    }
    int prot = static_cast<int>(below(8));  // READ | WRITE | EXEC
    int flags = chance(85) ? MAP_SHARED : MAP_PRIVATE;
    begin();
    void* p = mmap(nullptr, len, prot, flags, fd, off);
    int err = errno;
    char d[96];
    std::snprintf(d, sizeof d, "len %zu off %lld prot %d flags %d", len, (long long)off, prot, flags);
    note("mmap", p == MAP_FAILED ? -1 : 0, err, kMmapErrnos, d);
    if (p == MAP_FAILED)
        return;
    // Touch it as a reader would: read each page, write consumer positions.
    volatile std::uint8_t sink = 0;
    if (prot & PROT_READ)
        for (std::size_t o = 0; o < len; o += static_cast<std::size_t>(page))
            sink = sink + static_cast<const volatile std::uint8_t*>(p)[o];
    bool consumer_rw = off == 0 && (prot & PROT_WRITE) && flags == MAP_SHARED;
    maps.push_back({p, len, consumer_rw});
    if (maps.size() > 16) {
        std::size_t i = below(maps.size());
        munmap(maps[i].p, maps[i].len);
        maps.erase(maps.begin() + static_cast<long>(i));
    }
}

void scribble_consumer()
{
    for (auto& m : maps)
        if (m.consumer_rw) {
            // The module must cope with any consumer position the reader
            // writes (ahead of the producer, behind, huge).
            std::uint64_t v = chance(50) ? rnd() : rnd() >> below(64);
            __atomic_store_n(static_cast<std::uint64_t*>(m.p), v, __ATOMIC_RELEASE);
            calls++;
            hist["consumer write"]++;
            return;
        }
}

}  // namespace

int main(int argc, char** argv)
{
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                         (std::uint64_t)getpid() << 32;
    std::uint64_t max_calls = 20000;
    double seconds = 40;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = std::strtoull(argv[++i], nullptr, 0);
        else if (!std::strcmp(argv[i], "--calls") && i + 1 < argc)
            max_calls = std::strtoull(argv[++i], nullptr, 0);
        else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = std::strtod(argv[++i], nullptr);
        else {
            std::fprintf(stderr, "usage: kmod_fuzz [--seed N] [--calls N] [--seconds S]\n");
            return 2;
        }
    }
    std::printf("kmod_fuzz: seed %" PRIu64 " (rerun: kmod_fuzz --seed %" PRIu64 ")\n", seed, seed);
    std::fflush(stdout);
    rng.seed(seed);
    page = sysconf(_SC_PAGESIZE);
    arena.unmapped = mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(arena.unmapped, page);
    arena.readonly = mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    do_open();
    if (fd < 0) {
        std::printf("FAIL cannot open " HT_DEVICE_PATH ": %s\n", std::strerror(errno));
        return 1;
    }
    ht_ioc_info info{};
    if (ioctl(fd, HT_IOC_INFO, &info) == 0) {
        guess_exit = info.guess_exit_proto;
        guess_entry = info.guess_entry_proto;
    }

    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::duration<double>(seconds);
    bool timed_out = false;
    while (calls < max_calls) {
        if ((calls & 63) == 0 && std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            break;
        }
        if (fd < 0) {
            if (!maps.empty() && chance(50))
                unmap_all();
            do_open();  // EBUSY while a mapping still holds the old file
            if (fd < 0)
                unmap_all();
            continue;
        }
        unsigned r = static_cast<unsigned>(below(1000));
        if (r < 550) {
            valid_ioctl();
        } else if (r < 800) {
            random_ioctl();
        } else if (r < 920) {
            random_mmap();
        } else if (r < 960) {
            scribble_consumer();
        } else if (r < 975) {
            if (!maps.empty()) {
                std::size_t i = below(maps.size());
                munmap(maps[i].p, maps[i].len);
                maps.erase(maps.begin() + static_cast<long>(i));
            }
        } else if (r < 990) {
            struct pollfd pfd = {fd, POLLIN, 0};
            begin();
            int rc = poll(&pfd, 1, 0);
            note("poll", rc < 0 ? -1 : 0, errno, {}, "");
        } else {
            // Close (release detaches and frees once no mapping is left) and
            // reopen; a second open while this one is held must be EBUSY.
            begin();
            int f2 = open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
            note("second open", f2 < 0 ? -1 : 0, errno, kOpenErrnos, "");
            if (f2 >= 0) {
                unexpected++;
                std::printf("UNEXPECTED: a second open succeeded\n");
                close(f2);
            }
            auto t = std::chrono::steady_clock::now();
            close(fd);  // release: detach, free (once no mapping is left)
            op_seconds["close"] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
            fd = -1;
        }
    }
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    unmap_all();
    if (fd >= 0)
        close(fd);

    std::printf("kmod_fuzz: seed %" PRIu64 ": %" PRIu64 " calls in %.1f s%s, %" PRIu64 " unexpected\n", seed, calls,
                took, timed_out ? " (stopped by --seconds)" : "", unexpected);
    for (const auto& h : hist)
        std::printf("  %-28s %" PRIu64 "\n", h.first.c_str(), h.second);
    std::printf("kmod_fuzz: seconds per operation:");
    for (const auto& t : op_seconds)
        std::printf(" %s %.2f;", t.first.c_str(), t.second);
    std::printf("\n");
    bool ok = unexpected == 0 && calls >= 1000;
    std::printf("%s kmod_fuzz: every call returned success or a documented errno\n", ok ? "ok  " : "FAIL");
    std::printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
