// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --summary: counts exact, percentiles against exact computation (and the
// documented error bound once values move to buckets), log2 histograms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "summary.h"

using namespace hypertrace;

namespace {

ht_record rec(std::uint32_t pid, std::uint64_t nr, std::uint64_t latency_ns)
{
    ht_record r{};
    r.version = HT_RECORD_VERSION;
    r.size = sizeof(r);
    r.pid = pid;
    r.tid = pid + 1;
    r.nr = nr;
    r.t_exit_ns = 1000000;
    r.t_hypercall_ns = r.t_exit_ns + latency_ns / 2;
    r.t_entry_ns = r.t_exit_ns + latency_ns;
    return r;
}

// Nearest rank: smallest v with at least permille/1000 of values <= v.
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, unsigned permille)
{
    std::sort(v.begin(), v.end());
    std::size_t rank = (permille * v.size() + 999) / 1000;
    return v[std::max<std::size_t>(rank, 1) - 1];
}

// Log-uniform values from 1 ns to ~10 ms, like real latencies.
std::vector<std::uint64_t> random_latencies(std::size_t n, std::uint32_t seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> exp10(0.0, 7.0);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = static_cast<std::uint64_t>(std::pow(10.0, exp10(rng)));
    return v;
}

}  // namespace

TEST(LatencyRecorder, SmallKnownData)
{
    LatencyRecorder r;
    for (std::uint64_t v : {1000, 300, 100, 200, 500, 400, 700, 600, 900, 800})
        r.add(v);
    EXPECT_TRUE(r.exact());
    EXPECT_EQ(r.count(), 10u);
    EXPECT_EQ(r.min(), 100u);
    EXPECT_EQ(r.max(), 1000u);
    EXPECT_EQ(r.avg(), 550u);
    EXPECT_EQ(r.percentile(500), 500u);   // rank 5
    EXPECT_EQ(r.percentile(990), 1000u);  // rank ceil(9.9) = 10
    EXPECT_EQ(r.percentile(100), 100u);   // rank 1
    EXPECT_EQ(r.percentile(101), 200u);   // rank ceil(1.01) = 2
    EXPECT_EQ(r.percentile(1000), 1000u);
}

TEST(LatencyRecorder, Empty)
{
    LatencyRecorder r;
    EXPECT_EQ(r.count(), 0u);
    EXPECT_EQ(r.min(), 0u);
    EXPECT_EQ(r.max(), 0u);
    EXPECT_EQ(r.avg(), 0u);
    EXPECT_EQ(r.percentile(500), 0u);
}

TEST(LatencyRecorder, P99OfHundredIsRank99)
{
    // 0.99 * 100 in floating point is 99.00000000000001; ceil would give 100.
    LatencyRecorder r;
    for (std::uint64_t v = 1; v <= 100; v++)
        r.add(v);
    EXPECT_EQ(r.percentile(990), 99u);
    EXPECT_EQ(r.percentile(500), 50u);
}

TEST(LatencyRecorder, ExactModeMatchesExactComputation)
{
    std::vector<std::uint64_t> vals = random_latencies(50000, 1);
    LatencyRecorder r;
    for (std::uint64_t v : vals)
        r.add(v);
    ASSERT_TRUE(r.exact());
    for (unsigned pm : {1u, 10u, 250u, 500u, 750u, 900u, 990u, 999u, 1000u})
        EXPECT_EQ(r.percentile(pm), exact_percentile(vals, pm)) << pm;
    EXPECT_EQ(r.min(), *std::min_element(vals.begin(), vals.end()));
    EXPECT_EQ(r.max(), *std::max_element(vals.begin(), vals.end()));
    unsigned __int128 sum = 0;
    for (std::uint64_t v : vals)
        sum += v;
    EXPECT_EQ(r.avg(), static_cast<std::uint64_t>(sum / vals.size()));
}

TEST(LatencyRecorder, BucketModeWithinErrorBound)
{
    std::vector<std::uint64_t> vals = random_latencies(200000, 2);
    LatencyRecorder r(1000);  // leaves exact mode after 1000 values
    for (std::uint64_t v : vals)
        r.add(v);
    ASSERT_FALSE(r.exact());
    EXPECT_EQ(r.count(), vals.size());
    EXPECT_EQ(r.min(), *std::min_element(vals.begin(), vals.end()));
    EXPECT_EQ(r.max(), *std::max_element(vals.begin(), vals.end()));
    for (unsigned pm : {1u, 10u, 250u, 500u, 750u, 900u, 990u, 999u, 1000u}) {
        std::uint64_t x = exact_percentile(vals, pm);
        std::uint64_t got = r.percentile(pm);
        // Documented bound: r <= x < r + r/128 + 1.
        EXPECT_LE(got, x) << pm;
        EXPECT_LT(x, got + got / 128 + 1) << pm;
    }
}

TEST(LatencyRecorder, BucketModeExactBelow256)
{
    LatencyRecorder r(10);
    std::vector<std::uint64_t> vals;
    for (std::uint64_t v = 0; v < 256; v++)
        for (int k = 0; k < 3; k++)
            vals.push_back(v);
    std::shuffle(vals.begin(), vals.end(), std::mt19937(3));
    for (std::uint64_t v : vals)
        r.add(v);
    ASSERT_FALSE(r.exact());
    for (unsigned pm = 1; pm <= 1000; pm++)
        ASSERT_EQ(r.percentile(pm), exact_percentile(vals, pm)) << pm;
}

TEST(LatencyRecorder, BucketIndexBounds)
{
    std::uint64_t prev_index = 0;
    std::mt19937_64 rng(4);
    std::vector<std::uint64_t> probes;
    for (std::uint64_t v = 0; v < 5000; v++)
        probes.push_back(v);
    for (int i = 0; i < 64; i++) {
        std::uint64_t p = std::uint64_t{1} << i;
        probes.insert(probes.end(), {p - 1, p, p + 1});
    }
    for (int i = 0; i < 100000; i++)
        probes.push_back(rng() >> (rng() % 64));
    probes.push_back(std::numeric_limits<std::uint64_t>::max());
    std::sort(probes.begin(), probes.end());
    for (std::uint64_t v : probes) {
        std::size_t idx = LatencyRecorder::bucket_index(v);
        std::uint64_t lo = LatencyRecorder::bucket_lower(idx);
        ASSERT_LE(lo, v) << v;
        ASSERT_LE(v - lo, lo / 128) << v;  // the width bound behind the error bound
        if (v < 256) {
            ASSERT_EQ(lo, v);
        }
        ASSERT_GE(idx, prev_index) << v;  // monotonic
        ASSERT_EQ(LatencyRecorder::bucket_index(lo), idx) << v;
        prev_index = idx;
    }
    EXPECT_LT(LatencyRecorder::bucket_index(std::numeric_limits<std::uint64_t>::max()), 58u * 128u);
}

TEST(LatencyRecorder, Log2Slots)
{
    EXPECT_EQ(LatencyRecorder::log2_slot(0), 0u);
    EXPECT_EQ(LatencyRecorder::log2_slot(1), 0u);
    EXPECT_EQ(LatencyRecorder::log2_slot(2), 1u);
    EXPECT_EQ(LatencyRecorder::log2_slot(3), 1u);
    EXPECT_EQ(LatencyRecorder::log2_slot(4), 2u);
    EXPECT_EQ(LatencyRecorder::log2_slot(7), 2u);
    EXPECT_EQ(LatencyRecorder::log2_slot(8), 3u);
    EXPECT_EQ(LatencyRecorder::log2_slot(1023), 9u);
    EXPECT_EQ(LatencyRecorder::log2_slot(1024), 10u);
    EXPECT_EQ(LatencyRecorder::log2_slot(std::numeric_limits<std::uint64_t>::max()), 63u);

    LatencyRecorder r;
    // ns -> us (floor) -> slot
    for (std::uint64_t ns : {0ull, 999ull, 1000ull, 1999ull,  // 0, 0, 1, 1 us: slot 0
                             2000ull, 3999ull,                // 2, 3 us: slot 1
                             4000ull,                         // slot 2
                             1000000ull,                      // 1000 us: slot 9
                             ~0ull})                          // slot 53 (1.8e13 us)
        r.add(ns);
    const auto& h = r.log2_usecs();
    EXPECT_EQ(h[0], 4u);
    EXPECT_EQ(h[1], 2u);
    EXPECT_EQ(h[2], 1u);
    EXPECT_EQ(h[9], 1u);
    EXPECT_EQ(h[LatencyRecorder::log2_slot(~0ull / 1000)], 1u);
    std::uint64_t total = 0;
    for (std::uint64_t c : h)
        total += c;
    EXPECT_EQ(total, r.count());
}

TEST(Summary, CountsMatchGroundTruth)
{
    Summary s;
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> truth;
    std::mt19937_64 rng(5);
    const int kN = 300000;
    for (int i = 0; i < kN; i++) {
        std::uint32_t pid = 100 + static_cast<std::uint32_t>(rng() % 3);
        std::uint64_t nr = (rng() % 4 == 0) ? rng() : rng() % 20;  // some huge nrs
        // Runs of equal keys exercise the last-key shortcut.
        int run = 1 + static_cast<int>(rng() % 5);
        for (int k = 0; k < run; k++) {
            s.add(rec(pid, nr, rng() % 100000));
            truth[{pid, nr}]++;
        }
    }
    std::uint64_t total = 0;
    for (const auto& [k, c] : truth)
        total += c;
    EXPECT_EQ(s.total(), total);
    std::vector<SummaryRow> rows = s.rows();
    ASSERT_EQ(rows.size(), truth.size());
    auto it = truth.begin();
    for (const SummaryRow& r : rows) {  // sorted by (pid, nr), like the map
        EXPECT_EQ(r.pid, it->first.first);
        EXPECT_EQ(r.nr, it->first.second);
        EXPECT_EQ(r.count, it->second);
        std::uint64_t hist_total = 0;
        for (std::uint64_t c : r.log2_usecs)
            hist_total += c;
        EXPECT_EQ(hist_total, r.count);
        ++it;
    }
}

TEST(Summary, KeysSeparateAndLatencyFromExitToEntry)
{
    Summary s;
    s.add(rec(1, 42, 100));
    s.add(rec(2, 42, 200));
    s.add(rec(1, 43, 300));
    ht_record odd = rec(1, 42, 0);
    odd.t_entry_ns = odd.t_exit_ns - 50;  // entry before exit: counts as 0
    s.add(odd);
    std::vector<SummaryRow> rows = s.rows();
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].pid, 1u);
    EXPECT_EQ(rows[0].nr, 42u);
    EXPECT_EQ(rows[0].count, 2u);
    EXPECT_EQ(rows[0].min_ns, 0u);
    EXPECT_EQ(rows[0].max_ns, 100u);
    EXPECT_EQ(rows[1].pid, 1u);
    EXPECT_EQ(rows[1].nr, 43u);
    EXPECT_EQ(rows[1].min_ns, 300u);
    EXPECT_EQ(rows[2].pid, 2u);
    EXPECT_EQ(rows[2].max_ns, 200u);
}

namespace {
Summary sample_summary()
{
    Summary s;
    for (std::uint64_t ns : {500, 1500, 2500, 3500, 10000})
        s.add(rec(1, 42, ns));
    s.add(rec(2, 7, 2000));
    return s;
}
}  // namespace

TEST(Summary, Text)
{
    std::ostringstream out;
    sample_summary().print_text(out);
    EXPECT_EQ(out.str(),
              "pid = 1, nr = 42: count 5, latency (us): min 0.500 avg 3.600 p50 2.500 p99 10.000 "
              "max 10.000\n"
              "     usecs               : count    distribution\n"
              "         0 -> 1          : 2        |****************************************|\n"
              "         2 -> 3          : 2        |****************************************|\n"
              "         4 -> 7          : 0        |                                        |\n"
              "         8 -> 15         : 1        |********************                    |\n"
              "\n"
              "pid = 2, nr = 7: count 1, latency (us): min 2.000 avg 2.000 p50 2.000 p99 2.000 "
              "max 2.000\n"
              "     usecs               : count    distribution\n"
              "         0 -> 1          : 0        |                                        |\n"
              "         2 -> 3          : 1        |****************************************|\n");
}

TEST(Summary, Json)
{
    std::ostringstream out;
    sample_summary().print_json(out);
    EXPECT_EQ(out.str(),
              "{\"pid\":1,\"nr\":42,\"count\":5,\"min_ns\":500,\"avg_ns\":3600,\"p50_ns\":2500,"
              "\"p99_ns\":10000,\"max_ns\":10000,\"hist_usecs\":[{\"lo\":0,\"hi\":1,\"count\":2},"
              "{\"lo\":2,\"hi\":3,\"count\":2},{\"lo\":4,\"hi\":7,\"count\":0},"
              "{\"lo\":8,\"hi\":15,\"count\":1}]}\n"
              "{\"pid\":2,\"nr\":7,\"count\":1,\"min_ns\":2000,\"avg_ns\":2000,\"p50_ns\":2000,"
              "\"p99_ns\":2000,\"max_ns\":2000,\"hist_usecs\":[{\"lo\":0,\"hi\":1,\"count\":0},"
              "{\"lo\":2,\"hi\":3,\"count\":1}]}\n");
}

TEST(Summary, WideHistogramUsesLibbpfWideLayout)
{
    Summary s;
    s.add(rec(1, 1, 0));
    s.add(rec(1, 1, ~0ull - 1000000));  // ~1.8e13 us: slot 53 > 32
    std::ostringstream out;
    s.print_text(out);
    std::string text = out.str();
    EXPECT_NE(text.find("               usecs                         : count    distribution\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("                   0 -> 1                    : 1        |"
                        "********************|\n"),
              std::string::npos)
        << text;
}

TEST(Summary, Empty)
{
    Summary s;
    std::ostringstream t, j;
    s.print_text(t);
    s.print_json(j);
    EXPECT_EQ(t.str(), "no hypercalls traced\n");
    EXPECT_EQ(j.str(), "");
    EXPECT_EQ(s.total(), 0u);
}

TEST(Summary, MoveKeepsCounting)
{
    Summary a;
    a.add(rec(1, 42, 100));
    Summary b = std::move(a);
    b.add(rec(1, 42, 200));  // same key: the cached entry must not be a's
    EXPECT_EQ(b.total(), 2u);
    ASSERT_EQ(b.rows().size(), 1u);
    EXPECT_EQ(b.rows()[0].count, 2u);
    Summary c;
    c.add(rec(9, 9, 9));
    c = std::move(b);
    c.add(rec(1, 42, 300));
    EXPECT_EQ(c.total(), 3u);
    ASSERT_EQ(c.rows().size(), 1u);
    EXPECT_EQ(c.rows()[0].count, 3u);
}
