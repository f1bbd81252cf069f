// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The one ring reader against a userspace producer of the same protocol.
#include <gtest/gtest.h>

#include <vector>

#include "ring_producer.h"
#include "ring_reader.h"

using hypertrace::RingReader;
using hypertrace::testing::make_test_record;
using hypertrace::testing::RingProducer;

namespace {

std::vector<std::uint64_t> drain_seqs(RingReader& reader) {
    std::vector<std::uint64_t> seqs;
    reader.drain([&](const ht_record& r) { seqs.push_back(r.a0); });
    return seqs;
}

TEST(RingReader, ReadsRecordsInOrderAndCatchesUp) {
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    EXPECT_TRUE(reader.caught_up());
    for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(ring.push(make_test_record(i)));
    EXPECT_FALSE(reader.caught_up());
    const auto seqs = drain_seqs(reader);
    ASSERT_EQ(seqs.size(), 100u);
    for (std::uint64_t i = 0; i < 100; ++i) EXPECT_EQ(seqs[i], i);
    EXPECT_TRUE(reader.caught_up());
    EXPECT_EQ(*ring.mapping().consumer_pos, *ring.mapping().producer_pos);
}

TEST(RingReader, WrapsAroundTheDataAreaManyTimes) {
    RingProducer ring(4096);  // 39 records of 104 bytes fit
    RingReader reader(ring.mapping());
    std::uint64_t next = 0, read = 0;
    for (int round = 0; round < 200; ++round) {
        while (ring.push(make_test_record(next))) ++next;
        reader.drain([&](const ht_record& r) {
            ASSERT_EQ(r.a0, read);
            ASSERT_EQ(r.t_entry_ns, 3000 + read);  // a wrapped record reads whole
            ++read;
        });
        ASSERT_EQ(read, next);
    }
    EXPECT_GT(next, 4096u / 104u * 200u - 1);
}

TEST(RingReader, FullRingRefusesAndCountsNothingTwice) {
    RingProducer ring(4096);
    RingReader reader(ring.mapping());
    std::uint64_t pushed = 0, refused = 0;
    for (int i = 0; i < 100; ++i) (ring.push(make_test_record(i)) ? pushed : refused)++;
    EXPECT_EQ(pushed, 4096u / 104u);
    EXPECT_EQ(refused, 100u - pushed);
    EXPECT_EQ(drain_seqs(reader).size(), pushed);
}

TEST(RingReader, StopsAtBusyRecordAndResumesAfterCommit) {
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    ASSERT_TRUE(ring.push(make_test_record(0)));
    std::uint8_t* busy = ring.reserve(sizeof(ht_record));
    const ht_record r1 = make_test_record(1);
    std::memcpy(busy, &r1, sizeof r1);
    ASSERT_TRUE(ring.push(make_test_record(2)));
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{0}));
    EXPECT_FALSE(reader.caught_up());
    RingProducer::commit(busy);
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{1, 2}));
}

TEST(RingReader, SkipsDiscardedRecords) {
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    ASSERT_TRUE(ring.push(make_test_record(0)));
    std::uint8_t* p = ring.reserve(sizeof(ht_record));
    RingProducer::commit(p, /*discard=*/true);
    ASSERT_TRUE(ring.push(make_test_record(2)));
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{0, 2}));
    EXPECT_EQ(reader.malformed(), 0u);
}

TEST(RingReader, CountsAndSkipsMalformedRecords) {
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    std::uint8_t* shortrec = ring.reserve(40);  // wrong length
    std::memset(shortrec, 0, 40);
    RingProducer::commit(shortrec);
    ht_record future = make_test_record(1);
    future.version = HT_RECORD_VERSION + 1;  // a version this reader does not know
    ASSERT_TRUE(ring.push(future));
    ASSERT_TRUE(ring.push(make_test_record(2)));
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{2}));
    EXPECT_EQ(reader.malformed(), 2u);
    EXPECT_TRUE(reader.caught_up());
}

}  // namespace
