// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Benchmark, not a ctest test: the reader's throughput on the ring protocol
// (run by tests/bench/run; prints RINGBENCH lines).
// A userspace producer on the kernel's layout (ring_producer.h) stands in for
// the kernel: like bpf_ringbuf_reserve(), it never waits and counts a drop
// when the ring is full.
#include <gtest/gtest.h>

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "output/output.h"
#include "output/record_format.h"
#include "ring_producer.h"
#include "session/ring_reader.h"
#include "util/unique_fd.h"

using hypertrace::RingReader;
using hypertrace::testing::make_test_record;
using hypertrace::testing::RingProducer;

namespace {

const std::uint64_t kSpan = ht_ring_record_span(sizeof(ht_record));

// ---- throughput --------------------------------------------------------

struct Result {
    std::uint64_t produced = 0, dropped = 0, consumed = 0;
    double seconds = 0;
};

std::uint64_t now_ns()
{
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Producer: `total` records at `rate` per second (0: as fast as it can,
// retrying when full, so nothing is dropped and the reader sets the pace).
// Reader: drains; when caught up it sleeps 50 us (the real one sleeps in
// epoll).  `sink` gets every record.
template <class Sink>
Result run(std::uint64_t ring_bytes, std::uint64_t total, double rate, Sink&& sink)
{
    RingProducer ring(ring_bytes);
    RingReader reader(ring.mapping());
    std::atomic<bool> done{false};
    Result res;
    const std::uint64_t t0 = now_ns();
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < total; ++i) {
            if (rate > 0) {
                const std::uint64_t due = t0 + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / rate);
                while (now_ns() < due) {
                }
                if (ring.push(make_test_record(i)))
                    ++res.produced;
                else
                    ++res.dropped;
            } else {
                while (!ring.push(make_test_record(i))) {
                }
                ++res.produced;
            }
        }
        done.store(true, std::memory_order_release);
    });
    for (;;) {
        const bool finished = done.load(std::memory_order_acquire);
        const std::uint64_t n = reader.drain([&](const ht_record& r) { sink(r); });
        res.consumed += n;
        if (finished && reader.caught_up())
            break;
        if (n == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    producer.join();
    res.seconds = static_cast<double>(now_ns() - t0) / 1e9;
    return res;
}

void report(const char* what, const Result& r)
{
    std::printf("RINGBENCH %s: produced=%llu dropped=%llu consumed=%llu seconds=%.3f rate=%.0f/s\n", what,
                static_cast<unsigned long long>(r.produced), static_cast<unsigned long long>(r.dropped),
                static_cast<unsigned long long>(r.consumed), r.seconds, static_cast<double>(r.consumed) / r.seconds);
    std::fflush(stdout);
}

struct JsonSink {
    std::ofstream devnull{"/dev/null"};
    std::unique_ptr<hypertrace::RecordWriter> w =
        hypertrace::make_record_writer(hypertrace::Format::Json, devnull, hypertrace::TimeBase::now(false));
    void operator()(const ht_record& r) { w->write(r); }
    ~JsonSink() { w->finish(); }
};

constexpr std::uint64_t kRing = 8u << 20;  // hypertrace's default --ring-size

TEST(RingThroughput, MaxRateCountOnly)
{
    std::uint64_t sum = 0;
    const Result r = run(kRing, 20'000'000, 0, [&](const ht_record& rec) { sum += rec.a0; });
    report("max-rate count-only", r);
    EXPECT_EQ(r.consumed, r.produced);
    EXPECT_GE(static_cast<double>(r.consumed) / r.seconds, 1e6);
}

TEST(RingThroughput, MaxRateJsonDevNull)
{
    JsonSink sink;
    const Result r = run(kRing, 5'000'000, 0, [&](const ht_record& rec) { sink(rec); });
    report("max-rate json>/dev/null", r);
    EXPECT_EQ(r.consumed, r.produced);
    EXPECT_GE(static_cast<double>(r.consumed) / r.seconds, 1e6);
}

// At 1 M records/s for 3 s, the reader keeps up: nothing dropped.
TEST(RingThroughput, Paced1MCountOnlyNoLoss)
{
    std::uint64_t sum = 0;
    const Result r = run(kRing, 3'000'000, 1e6, [&](const ht_record& rec) { sum += rec.a0; });
    report("paced 1M/s count-only", r);
    EXPECT_EQ(r.dropped, 0u);
    EXPECT_EQ(r.consumed, 3'000'000u);
}

TEST(RingThroughput, Paced1MJsonDevNullNoLoss)
{
    JsonSink sink;
    const Result r = run(kRing, 3'000'000, 1e6, [&](const ht_record& rec) { sink(rec); });
    report("paced 1M/s json>/dev/null", r);
    EXPECT_EQ(r.dropped, 0u);
    EXPECT_EQ(r.consumed, 3'000'000u);
}

// ---- cost per record -----------------------------------------------------
//
// What the reader spends per record on the path the binary takes (main.cpp,
// trace_session.cpp): RingReader::drain in passes of at most 1024 records,
// each record handed to a std::function sink that formats it with the
// RecordWriter and checks the Output, the writer flushed after each pass,
// the bytes written with write(2) to /dev/null.  The ring is filled first
// (not timed), so only the reader is measured.  Instructions come from a
// hardware counter (perf_event_open; user and kernel if allowed, else user
// only) when the machine has one; a VM often has none: then "n/a", and ns per
// record (wall and CPU) are the measure.  For exact user-space instruction
// counts without counters run under callgrind and read the inclusive cost
// of reader_pass (see tests/bench/README.md).

// A record as the testbed produces them: real CLOCK_MONOTONIC magnitudes.
ht_record realistic_record(std::uint64_t seq)
{
    ht_record r{};
    r.version = HT_RECORD_VERSION;
    r.size = sizeof r;
    r.isa = HT_ISA_SVM;
    r.pid = 4242;
    r.tid = 4244;
    r.vcpu_id = 1;
    r.cpu = 1;
    r.exit_reason = 0x81;
    r.nr = 42;
    r.a0 = (1u << 24) | (seq & 0xffffff);
    r.a1 = 0xa1;
    r.a2 = 0xa2;
    r.a3 = 0xa3;
    r.t_exit_ns = 412'345'678'901ull + seq * 3'977;
    r.t_hypercall_ns = r.t_exit_ns + 2'290;
    r.t_entry_ns = r.t_hypercall_ns + 10'450;
    return r;
}

class InsnCounter {
public:
    InsnCounter()
    {
        for (const bool user_only : {false, true}) {
            perf_event_attr a{};
            a.size = sizeof a;
            a.type = PERF_TYPE_HARDWARE;
            a.config = PERF_COUNT_HW_INSTRUCTIONS;
            a.exclude_kernel = user_only;
            a.exclude_hv = 1;
            fd_.reset(static_cast<int>(::syscall(SYS_perf_event_open, &a, 0, -1, -1, 0)));
            if (fd_) {
                what_ = user_only ? "user" : "user+kernel";
                return;
            }
        }
    }
    bool ok() const { return static_cast<bool>(fd_); }
    const char* what() const { return what_; }
    std::uint64_t read() const
    {
        std::uint64_t v = 0;
        if (fd_ && ::read(fd_.get(), &v, sizeof v) != sizeof v)
            v = 0;
        return v;
    }

private:
    hypertrace::UniqueFd fd_;
    const char* what_ = "n/a";
};

std::uint64_t cpu_ns()
{
    timespec ts;
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// One pass as the session makes it (kDrainBatch in trace_session.cpp).
__attribute__((noinline)) std::uint64_t reader_pass(RingReader& reader,
                                                    const std::function<void(const ht_record&)>& sink,
                                                    const std::function<void()>& drained)
{
    const std::uint64_t n = reader.drain(
        [&](const ht_record& r) {
            sink(r);
            return true;
        },
        1024);
    if (n && drained)
        drained();
    return n;
}

struct Cost {
    std::uint64_t records = 0, wall_ns = 0, cpu_ns = 0, insns = 0;
};

// `format` empty: count only (the sink sums a field, nothing is written).
Cost measure_cost(const std::string& format, std::uint64_t rounds, std::uint64_t per_round)
{
    using namespace hypertrace;
    RingProducer ring(kRing);
    RingReader reader(ring.mapping());
    Output out("/dev/null");
    EXPECT_TRUE(out.claim());
    std::unique_ptr<RecordWriter> writer;
    std::uint64_t sum = 0;
    std::function<void(const ht_record&)> sink;
    std::function<void()> drained;
    if (format.empty()) {
        sink = [&](const ht_record& r) { sum += r.a0; };
    } else {
        const Format f = format == "json" ? Format::Json : format == "csv" ? Format::Csv : Format::Text;
        writer = make_record_writer(f, out.stream(), TimeBase::now(false));
        sink = [&](const ht_record& r) {
            writer->write(r);
            if (out.failed())
                ADD_FAILURE() << out.error_message();
        };
        drained = [&] {
            writer->flush();
            if (out.failed())
                ADD_FAILURE() << out.error_message();
        };
    }
    InsnCounter insn;
    Cost c;
    std::uint64_t seq = 0;
    for (std::uint64_t round = 0; round < rounds; ++round) {
        for (std::uint64_t i = 0; i < per_round; ++i)
            EXPECT_TRUE(ring.push(realistic_record(seq++)));
        const std::uint64_t t0 = now_ns(), c0 = cpu_ns(), i0 = insn.read();
        std::uint64_t n;
        while ((n = reader_pass(reader, sink, drained)) != 0)
            c.records += n;
        c.insns += insn.read() - i0;
        c.cpu_ns += cpu_ns() - c0;
        c.wall_ns += now_ns() - t0;
    }
    if (writer)
        writer->finish();
    EXPECT_TRUE(out.flush());
    EXPECT_EQ(c.records, rounds * per_round);
    if (!insn.ok())
        c.insns = 0;
    std::printf("RINGBENCH cost %-10s records=%llu ns/record=%.1f cpu-ns/record=%.1f instructions/record=%s (%s)\n",
                format.empty() ? "count-only" : format.c_str(), static_cast<unsigned long long>(c.records),
                static_cast<double>(c.wall_ns) / static_cast<double>(c.records),
                static_cast<double>(c.cpu_ns) / static_cast<double>(c.records),
                insn.ok() ? std::to_string(c.insns / c.records).c_str() : "n/a", insn.what());
    std::fflush(stdout);
    return c;
}

// HT_RINGBENCH_ROUNDS=N: fewer rounds, e.g. under callgrind.
std::uint64_t cost_rounds()
{
    const char* e = std::getenv("HT_RINGBENCH_ROUNDS");
    return e ? std::strtoull(e, nullptr, 10) : 50;
}

// 40,000 records (7 MB) per round: the ring's 8 MiB never fills.  One test
// per format, so that each can be run alone (callgrind).
constexpr std::uint64_t kPerRound = 40'000;
TEST(RingThroughput, CostPerRecordCountOnly) { measure_cost("", cost_rounds(), kPerRound); }
TEST(RingThroughput, CostPerRecordJson) { measure_cost("json", cost_rounds(), kPerRound); }
TEST(RingThroughput, CostPerRecordText) { measure_cost("text", cost_rounds(), kPerRound); }
TEST(RingThroughput, CostPerRecordCsv) { measure_cost("csv", cost_rounds(), kPerRound); }

// A reader that does not read: exactly the records beyond capacity drop.
TEST(RingThroughput, OverloadDropsCountedExactly)
{
    RingProducer ring(kRing);
    const std::uint64_t capacity = kRing / kSpan, total = capacity + 123'456;
    std::uint64_t produced = 0, dropped = 0;
    for (std::uint64_t i = 0; i < total; ++i)
        (ring.push(make_test_record(i)) ? produced : dropped)++;
    RingReader reader(ring.mapping());
    std::uint64_t consumed = reader.drain([](const ht_record&) {});
    std::printf("RINGBENCH overload: capacity=%llu offered=%llu dropped=%llu consumed=%llu\n",
                static_cast<unsigned long long>(capacity), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(consumed));
    EXPECT_EQ(dropped, 123'456u);
    EXPECT_EQ(consumed, capacity);
}

}  // namespace
