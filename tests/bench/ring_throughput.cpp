// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Benchmark, not a ctest test: the reader's throughput on the ring protocol
// (run by tests/bench/run; prints RINGBENCH lines).
// A userspace producer on the kernel's layout (ring_producer.h) stands in for
// the kernel: like bpf_ringbuf_reserve(), it never waits and counts a drop
// when the ring is full.
#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "output/record_format.h"
#include "ring_producer.h"
#include "session/ring_reader.h"

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

std::uint64_t now_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Producer: `total` records at `rate` per second (0: as fast as it can,
// retrying when full, so nothing is dropped and the reader sets the pace).
// Reader: drains; when caught up it sleeps 50 us (the real one sleeps in
// epoll).  `sink` gets every record.
template <class Sink>
Result run(std::uint64_t ring_bytes, std::uint64_t total, double rate, Sink&& sink) {
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
                if (ring.push(make_test_record(i))) ++res.produced; else ++res.dropped;
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
        if (finished && reader.caught_up()) break;
        if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    producer.join();
    res.seconds = static_cast<double>(now_ns() - t0) / 1e9;
    return res;
}

void report(const char* what, const Result& r) {
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

TEST(RingThroughput, MaxRateCountOnly) {
    std::uint64_t sum = 0;
    const Result r = run(kRing, 20'000'000, 0, [&](const ht_record& rec) { sum += rec.a0; });
    report("max-rate count-only", r);
    EXPECT_EQ(r.consumed, r.produced);
    EXPECT_GE(static_cast<double>(r.consumed) / r.seconds, 1e6);
}

TEST(RingThroughput, MaxRateJsonDevNull) {
    JsonSink sink;
    const Result r = run(kRing, 5'000'000, 0, [&](const ht_record& rec) { sink(rec); });
    report("max-rate json>/dev/null", r);
    EXPECT_EQ(r.consumed, r.produced);
    EXPECT_GE(static_cast<double>(r.consumed) / r.seconds, 1e6);
}

// At 1 M records/s for 3 s, the reader keeps up: nothing dropped.
TEST(RingThroughput, Paced1MCountOnlyNoLoss) {
    std::uint64_t sum = 0;
    const Result r = run(kRing, 3'000'000, 1e6, [&](const ht_record& rec) { sum += rec.a0; });
    report("paced 1M/s count-only", r);
    EXPECT_EQ(r.dropped, 0u);
    EXPECT_EQ(r.consumed, 3'000'000u);
}

TEST(RingThroughput, Paced1MJsonDevNullNoLoss) {
    JsonSink sink;
    const Result r = run(kRing, 3'000'000, 1e6, [&](const ht_record& rec) { sink(rec); });
    report("paced 1M/s json>/dev/null", r);
    EXPECT_EQ(r.dropped, 0u);
    EXPECT_EQ(r.consumed, 3'000'000u);
}

// A reader that does not read: exactly the records beyond capacity drop.
TEST(RingThroughput, OverloadDropsCountedExactly) {
    RingProducer ring(kRing);
    const std::uint64_t capacity = kRing / kSpan, total = capacity + 123'456;
    std::uint64_t produced = 0, dropped = 0;
    for (std::uint64_t i = 0; i < total; ++i) (ring.push(make_test_record(i)) ? produced : dropped)++;
    RingReader reader(ring.mapping());
    std::uint64_t consumed = reader.drain([](const ht_record&) {});
    std::printf("RINGBENCH overload: capacity=%llu offered=%llu dropped=%llu consumed=%llu\n",
                static_cast<unsigned long long>(capacity), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(consumed));
    EXPECT_EQ(dropped, 123'456u);
    EXPECT_EQ(consumed, capacity);
}

}  // namespace
