// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The ring protocol's capacity guarantees: fast and deterministic.  The
// reader's throughput is a benchmark (tests/bench/ring_throughput.cpp).
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

TEST(RingCapacity, ZeroLossBelowCapacityExactDropsBeyond)
{
    const std::uint64_t size = 1 << 16;
    const std::uint64_t capacity = size / kSpan;
    RingProducer ring(size);
    RingReader reader(ring.mapping());
    std::uint64_t next = 0, read = 0, dropped = 0;
    auto drain = [&] {
        reader.drain([&](const ht_record& r) {
            ASSERT_EQ(r.a0, read);
            ++read;
        });
    };
    // Bursts of every size up to the capacity, wrapping many times: nothing lost.
    for (std::uint64_t burst = 1; burst <= capacity; burst += 7) {
        for (std::uint64_t i = 0; i < burst; ++i) {
            if (ring.push(make_test_record(next)))
                ++next;
            else
                ++dropped;
        }
        drain();
    }
    EXPECT_EQ(dropped, 0u);
    EXPECT_EQ(read, next);
    // Beyond capacity: exactly the excess is refused, the rest reads whole.
    for (std::uint64_t extra : {1u, 17u, 1000u}) {
        std::uint64_t accepted = 0, refused = 0;
        const std::uint64_t first = next;
        for (std::uint64_t i = 0; i < capacity + extra; ++i) {
            if (ring.push(make_test_record(next))) {
                ++next;
                ++accepted;
            } else
                ++refused;
        }
        EXPECT_EQ(accepted, capacity);
        EXPECT_EQ(refused, extra);
        read = first;
        drain();
        EXPECT_EQ(read, next);
    }
}

}  // namespace
