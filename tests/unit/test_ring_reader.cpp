// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The one ring reader against a userspace producer of the same protocol.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "ring_producer.h"
#include "session/ring_reader.h"

using hypertrace::RingReader;
using hypertrace::testing::make_test_record;
using hypertrace::testing::RingProducer;

namespace {

// A reader that loops forever must fail the suite, not hang it: if the scope
// is not left within `limit`, report and end the test binary.
class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds limit)
        : thread_([this, limit] {
              std::unique_lock<std::mutex> lock(mutex_);
              if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
                  std::fprintf(stderr, "FAIL: RingReader::drain did not return within %lld s\n",
                               static_cast<long long>(limit.count()));
                  std::fflush(stderr);
                  std::_Exit(1);
              }
          })
    {
    }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;  // last: starts once the members above exist
};

std::vector<std::uint64_t> drain_seqs(RingReader& reader)
{
    std::vector<std::uint64_t> seqs;
    reader.drain([&](const ht_record& r) { seqs.push_back(r.a0); });
    return seqs;
}

TEST(RingReader, ReadsRecordsInOrderAndCatchesUp)
{
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    EXPECT_TRUE(reader.caught_up());
    for (std::uint64_t i = 0; i < 100; ++i)
        ASSERT_TRUE(ring.push(make_test_record(i)));
    EXPECT_FALSE(reader.caught_up());
    const auto seqs = drain_seqs(reader);
    ASSERT_EQ(seqs.size(), 100u);
    for (std::uint64_t i = 0; i < 100; ++i)
        EXPECT_EQ(seqs[i], i);
    EXPECT_TRUE(reader.caught_up());
    EXPECT_EQ(*ring.mapping().consumer_pos, *ring.mapping().producer_pos);
}

TEST(RingReader, WrapsAroundTheDataAreaManyTimes)
{
    RingProducer ring(4096);  // 25 records of 160 bytes (header + ht_record) fit
    RingReader reader(ring.mapping());
    std::uint64_t next = 0, read = 0;
    for (int round = 0; round < 200; ++round) {
        while (ring.push(make_test_record(next)))
            ++next;
        reader.drain([&](const ht_record& r) {
            ASSERT_EQ(r.a0, read);
            ASSERT_EQ(r.t_entry_ns, 3000 + read);  // a wrapped record reads whole
            ++read;
        });
        ASSERT_EQ(read, next);
    }
    EXPECT_GT(next, 4096u / 160u * 200u - 1);
}

TEST(RingReader, FullRingRefusesAndCountsNothingTwice)
{
    RingProducer ring(4096);
    RingReader reader(ring.mapping());
    std::uint64_t pushed = 0, refused = 0;
    for (int i = 0; i < 100; ++i)
        (ring.push(make_test_record(i)) ? pushed : refused)++;
    EXPECT_EQ(pushed, 4096u / 160u);
    EXPECT_EQ(refused, 100u - pushed);
    EXPECT_EQ(drain_seqs(reader).size(), pushed);
}

TEST(RingReader, StopsAtBusyRecordAndResumesAfterCommit)
{
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

TEST(RingReader, SkipsDiscardedRecords)
{
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    ASSERT_TRUE(ring.push(make_test_record(0)));
    std::uint8_t* p = ring.reserve(sizeof(ht_record));
    RingProducer::commit(p, /*discard=*/true);
    ASSERT_TRUE(ring.push(make_test_record(2)));
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{0, 2}));
    EXPECT_EQ(reader.malformed(), 0u);
}

TEST(RingReader, CountsAndSkipsMalformedRecords)
{
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

// A sink that can no longer take records (its output failed) stops the
// drain: the record it refused is consumed, the rest stay for later.
TEST(RingReader, SinkReturningFalseStopsTheDrain)
{
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    for (std::uint64_t i = 0; i < 5; ++i)
        ASSERT_TRUE(ring.push(make_test_record(i)));
    std::vector<std::uint64_t> seqs;
    EXPECT_EQ(reader.drain([&](const ht_record& r) {
        seqs.push_back(r.a0);
        return r.a0 != 1;
    }),
              2u);
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{0, 1}));
    EXPECT_FALSE(reader.caught_up());
    EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{2, 3, 4}));
}

// Lengths no legit producer writes for a record that ends at the producer
// position: each must be counted, the ring resynchronised (consumer_pos =
// producer_pos, so producers see room again), and later records read.
TEST(RingReader, CorruptedLengthsAreCountedAndTheReaderResynchronises)
{
    constexpr std::uint64_t kRing = 1 << 16;
    const std::uint32_t lengths[] = {
        0x3fffffffu,                        // largest length without BUSY/DISCARD: far past the ring
        1u << 20,                           // larger than the ring
        HT_RING_DISCARD_BIT | 0x3fffffffu,  // a "discarded" record larger than the ring
        sizeof(ht_record) + 1,              // one record: 8 bytes past the producer position
        2 * sizeof(ht_record),              // past the producer, within the ring
        static_cast<std::uint32_t>(kRing),  // exactly the ring
    };
    for (std::uint32_t len : lengths) {
        SCOPED_TRACE(testing::Message() << "corrupted len 0x" << std::hex << len);
        RingProducer ring(kRing);
        RingReader reader(ring.mapping());
        ASSERT_TRUE(ring.push(make_test_record(0)));
        std::uint8_t* p = ring.reserve(sizeof(ht_record));
        ASSERT_NE(p, nullptr);
        const ht_record r1 = make_test_record(1);
        std::memcpy(p, &r1, sizeof r1);
        RingProducer::commit(p);
        RingProducer::overwrite_len(p, len);
        {
            Watchdog watchdog(std::chrono::seconds(10));
            EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{0}));
        }
        EXPECT_EQ(reader.malformed(), 1u);
        EXPECT_TRUE(reader.caught_up());
        EXPECT_EQ(*ring.mapping().consumer_pos, *ring.mapping().producer_pos);

        // The producer sees an empty ring again and the reader is back on a
        // record boundary: a full ring's worth is read whole.
        std::uint64_t pushed = 0;
        while (ring.push(make_test_record(2 + pushed)))
            ++pushed;
        EXPECT_EQ(pushed, kRing / ht_ring_record_span(sizeof(ht_record)));
        std::vector<std::uint64_t> seqs;
        {
            Watchdog watchdog(std::chrono::seconds(10));
            seqs = drain_seqs(reader);
        }
        ASSERT_EQ(seqs.size(), pushed);
        for (std::uint64_t i = 0; i < pushed; ++i)
            EXPECT_EQ(seqs[i], 2 + i);
        EXPECT_EQ(reader.malformed(), 1u);
        EXPECT_TRUE(reader.caught_up());
    }
}

// Lengths that are not a record's but that the producer reserved (so the
// positions agree): each is skipped alone, nothing after it is lost.
TEST(RingReader, NonRecordSizesAreSkippedOneByOne)
{
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    for (std::uint32_t len : {0u, 1u, 7u, 9u, static_cast<std::uint32_t>(sizeof(ht_record)) - 1,
                              static_cast<std::uint32_t>(sizeof(ht_record)) + 1, 4096u}) {
        std::uint8_t* p = ring.reserve(len);
        ASSERT_NE(p, nullptr);
        std::memset(p, 0xa5, len);
        RingProducer::commit(p);
        ASSERT_TRUE(ring.push(make_test_record(len)));
    }
    Watchdog watchdog(std::chrono::seconds(10));
    EXPECT_EQ(drain_seqs(reader),
              (std::vector<std::uint64_t>{0, 1, 7, 9, sizeof(ht_record) - 1, sizeof(ht_record) + 1, 4096}));
    EXPECT_EQ(reader.malformed(), 7u);
    EXPECT_TRUE(reader.caught_up());
}

// A producer position behind the consumer's, or more than a ring ahead of
// it, cannot come from a legit producer either.
TEST(RingReader, ImpossibleProducerPositionsResynchronise)
{
    constexpr std::uint64_t kRing = 1 << 16;
    const std::uint64_t span = ht_ring_record_span(sizeof(ht_record));
    for (bool behind : {true, false}) {
        SCOPED_TRACE(behind ? "producer_pos behind consumer_pos" : "producer_pos a ring ahead");
        RingProducer ring(kRing);
        RingReader reader(ring.mapping());
        for (std::uint64_t i = 0; i < 3; ++i)
            ASSERT_TRUE(ring.push(make_test_record(i)));
        EXPECT_EQ(drain_seqs(reader).size(), 3u);
        const std::uint64_t bad = behind ? span : 3 * span + kRing + 8;
        ring.overwrite_producer_pos(bad);
        {
            Watchdog watchdog(std::chrono::seconds(10));
            EXPECT_TRUE(drain_seqs(reader).empty());
        }
        EXPECT_EQ(reader.malformed(), 1u);
        EXPECT_EQ(*ring.mapping().consumer_pos, bad);
        EXPECT_TRUE(reader.caught_up());
        ASSERT_TRUE(ring.push(make_test_record(7)));
        EXPECT_EQ(drain_seqs(reader), (std::vector<std::uint64_t>{7}));
        EXPECT_EQ(reader.malformed(), 1u);
    }
}

}  // namespace

// A pass hands over at most `max` records and the next one goes on from
// there: the session bounds each handler's work so signals are served.
TEST(RingReader, DrainStopsAfterMaxAndResumes)
{
    RingProducer ring(1 << 16);
    RingReader reader(ring.mapping());
    for (std::uint64_t i = 0; i < 100; ++i)
        ASSERT_TRUE(ring.push(make_test_record(i)));
    std::vector<std::uint64_t> seqs;
    EXPECT_EQ(reader.drain([&](const ht_record& r) { seqs.push_back(r.a0); }, 30), 30u);
    EXPECT_FALSE(reader.caught_up());
    EXPECT_EQ(reader.drain([&](const ht_record& r) { seqs.push_back(r.a0); }, 1000), 70u);
    EXPECT_TRUE(reader.caught_up());
    ASSERT_EQ(seqs.size(), 100u);
    for (std::uint64_t i = 0; i < 100; ++i)
        EXPECT_EQ(seqs[i], i);
}
