// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// common/ht_hist.h, the in-kernel --summary statistics: bucket index/lower
// bound round trips and monotonicity, ht_agg_add, and the percentile error
// bound documented there and in aggregate_summary.h, checked against exact
// nearest-rank over random data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "output/aggregate_summary.h"

extern "C" {
#include "ht_hist.h"
}

using namespace hypertrace;

namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kLastLower = (std::uint64_t{1} << 41) - (std::uint64_t{1} << 35);

// Every power of two +-1, 0..100, 2^40, 2^41, UINT64_MAX, random values of
// every magnitude; sorted.
std::vector<std::uint64_t> probe_values()
{
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 0; i <= 100; i++)
        v.push_back(i);
    for (int i = 0; i < 64; i++) {
        std::uint64_t p = std::uint64_t{1} << i;
        v.insert(v.end(), {p - 1, p, p + 1});
    }
    v.insert(v.end(),
             {std::uint64_t{1} << 40, std::uint64_t{1} << 41, kLastLower - 1, kLastLower, kU64Max - 1, kU64Max});
    std::mt19937_64 rng(11);
    for (int i = 0; i < 200000; i++)
        v.push_back(rng() >> (rng() % 64));
    std::sort(v.begin(), v.end());
    return v;
}

std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, unsigned permille)
{
    std::size_t rank = (permille * sorted.size() + 999) / 1000;
    return sorted[std::max<std::size_t>(rank, 1) - 1];
}

// An ht_agg_value on the heap (9 KiB) fed with latencies; exit->hypercall
// gets a third of each latency.
std::unique_ptr<ht_agg_value> aggregate(const std::vector<std::uint64_t>& lats)
{
    auto v = std::make_unique<ht_agg_value>();
    for (std::uint64_t lat : lats)
        ht_agg_add(v.get(), 0, lat / 3, lat, 0);  // t_exit 0: no overflow at UINT64_MAX
    return v;
}

// The bound of aggregate_summary.h between reported r and exact x.
void expect_within_bound(std::uint64_t r, std::uint64_t x, std::uint64_t max, const char* what, unsigned permille)
{
    if (x < 64) {
        EXPECT_EQ(r, x) << what << " p" << permille;
    } else if (x < kLastLower) {
        EXPECT_LE(r, x) << what << " p" << permille;
        EXPECT_LT(x, r + r / 32) << what << " p" << permille;
    } else {
        EXPECT_GE(r, kLastLower) << what << " p" << permille;
        EXPECT_LE(r, x) << what << " p" << permille;
        EXPECT_LE(x, max) << what << " p" << permille;
    }
}

}  // namespace

TEST(Hist, Msb64)
{
    for (unsigned i = 0; i < 64; i++) {
        std::uint64_t p = std::uint64_t{1} << i;
        EXPECT_EQ(ht_msb64(p), i);
        EXPECT_EQ(ht_msb64(p | (p - 1)), i);  // all lower bits set
        if (i > 0) {
            EXPECT_EQ(ht_msb64(p - 1), i - 1);  // 2^i - 1 has i bits: top one is i - 1
        }
        if (i < 63) {
            EXPECT_EQ(ht_msb64(p + 1), i == 0 ? 1u : i);
        }
    }
    EXPECT_EQ(ht_msb64(kU64Max), 63u);
    std::mt19937_64 rng(12);
    for (int i = 0; i < 100000; i++) {
        std::uint64_t v = rng() >> (rng() % 64);
        if (v == 0)
            continue;
        ASSERT_EQ(ht_msb64(v), 63u - static_cast<unsigned>(__builtin_clzll(v))) << v;
    }
}

TEST(Hist, Layout)
{
    // 32 exact values, then 32 buckets for each of 2^5 .. 2^40.
    EXPECT_EQ(HT_HIST_BUCKETS, 32u + 36u * 32u);
    EXPECT_EQ(ht_hist_lower(HT_HIST_BUCKETS - 1), kLastLower);
    EXPECT_EQ(ht_hist_index(std::uint64_t{1} << 40), HT_HIST_BUCKETS - 32u);
}

TEST(Hist, ExactBelow64)
{
    for (std::uint64_t v = 0; v < 64; v++) {
        EXPECT_EQ(ht_hist_index(v), v);
        EXPECT_EQ(ht_hist_lower(static_cast<__u32>(v)), v);
    }
    EXPECT_EQ(ht_hist_index(64), 64u);  // [64, 66): width 2 from here
    EXPECT_EQ(ht_hist_index(65), 64u);
    EXPECT_EQ(ht_hist_index(66), 65u);
}

TEST(Hist, EveryBucketRoundTripsAndIsContiguous)
{
    for (__u32 i = 0; i < HT_HIST_BUCKETS; i++) {
        std::uint64_t lo = ht_hist_lower(i);
        ASSERT_EQ(ht_hist_index(lo), i) << i;
        if (i + 1 < HT_HIST_BUCKETS) {
            std::uint64_t next = ht_hist_lower(i + 1);
            ASSERT_GT(next, lo) << i;
            // The bucket's last value is still this bucket: no gaps, no overlap.
            ASSERT_EQ(ht_hist_index(next - 1), i) << i;
            // Width bound behind the error bound: next - lo <= max(1, lo/32).
            ASSERT_LE(next - lo, std::max<std::uint64_t>(1, lo / 32)) << i;
        }
    }
}

TEST(Hist, IndexMonotonicAndLowerBoundsValue)
{
    __u32 prev = 0;
    for (std::uint64_t v : probe_values()) {
        __u32 idx = ht_hist_index(v);
        ASSERT_LT(idx, HT_HIST_BUCKETS) << v;
        ASSERT_GE(idx, prev) << v;
        prev = idx;
        std::uint64_t lo = ht_hist_lower(idx);
        ASSERT_LE(lo, v) << v;
        if (v < 64) {
            ASSERT_EQ(lo, v);
        } else if (v < (std::uint64_t{1} << 41)) {
            ASSERT_LT(v, lo + lo / 32) << v;
        } else {
            ASSERT_EQ(idx, HT_HIST_BUCKETS - 1) << v;  // everything larger shares it
        }
    }
    EXPECT_EQ(ht_hist_index(kU64Max), HT_HIST_BUCKETS - 1);
    EXPECT_EQ(ht_hist_index((std::uint64_t{1} << 41) - 1), HT_HIST_BUCKETS - 1);
    EXPECT_EQ(ht_hist_index(kLastLower - 1), HT_HIST_BUCKETS - 2);
}

TEST(Hist, AggAddSumsMinMax)
{
    auto v = std::make_unique<ht_agg_value>();
    ht_agg_add(v.get(), 1000, 1100, 1500, 0);  // 500: 100 + 400
    ht_agg_add(v.get(), 2000, 2010, 2020, 0);  // 20: 10 + 10
    ht_agg_add(v.get(), 3000, 3700, 4000, 0);  // 1000: 700 + 300
    EXPECT_EQ(v->count, 3u);
    EXPECT_EQ(v->sum_ns, 1520u);
    EXPECT_EQ(v->min_ns, 20u);
    EXPECT_EQ(v->max_ns, 1000u);
    EXPECT_EQ(v->sum_exit_hc_ns, 810u);
    EXPECT_EQ(v->sum_hc_entry_ns, 710u);
    EXPECT_EQ(v->buckets[ht_hist_index(500)], 1u);
    EXPECT_EQ(v->buckets[20], 1u);
    EXPECT_EQ(v->buckets[ht_hist_index(1000)], 1u);
    std::uint64_t total = 0;
    for (std::uint64_t c : v->buckets)
        total += c;
    EXPECT_EQ(total, 3u);
}

TEST(Hist, AggMergeEqualsAddingEverythingToOne)
{
    // Per-CPU values folded together give what one value of every add gives;
    // an empty value (a CPU that saw nothing) leaves min alone.
    auto cpu0 = std::make_unique<ht_agg_value>();
    auto cpu1 = std::make_unique<ht_agg_value>();
    auto idle = std::make_unique<ht_agg_value>();
    auto one = std::make_unique<ht_agg_value>();
    // exit, hypercall, entry, userspace exit (0: none)
    const std::uint64_t adds[][4] = {
        {1000, 1100, 1500, 1200}, {2000, 2010, 2020, 0}, {3000, 3700, 4000, 3800}, {0, 5, 90000, 0}};
    for (std::size_t i = 0; i < 4; i++) {
        ht_agg_add(i % 2 ? cpu1.get() : cpu0.get(), adds[i][0], adds[i][1], adds[i][2], adds[i][3]);
        ht_agg_add(one.get(), adds[i][0], adds[i][1], adds[i][2], adds[i][3]);
    }
    auto sum = std::make_unique<ht_agg_value>();
    ht_agg_merge(sum.get(), idle.get());
    ht_agg_merge(sum.get(), cpu1.get());
    ht_agg_merge(sum.get(), idle.get());
    ht_agg_merge(sum.get(), cpu0.get());
    EXPECT_EQ(std::memcmp(sum.get(), one.get(), sizeof(ht_agg_value)), 0);
    EXPECT_EQ(sum->min_ns, 20u);
    EXPECT_EQ(sum->count, 4u);
}

TEST(Hist, AggAddFirstValueSetsMinEvenIfLarger)
{
    // A zeroed value has min_ns 0; the first add must replace it.
    auto v = std::make_unique<ht_agg_value>();
    ht_agg_add(v.get(), 0, 50, 100, 0);
    EXPECT_EQ(v->min_ns, 100u);
    EXPECT_EQ(v->max_ns, 100u);
}

TEST(Hist, AggAddClockBackwardsCountsZero)
{
    auto v = std::make_unique<ht_agg_value>();
    ht_agg_add(v.get(), 5000, 6000, 4000, 0);  // entry before exit: latency 0
    EXPECT_EQ(v->count, 1u);
    EXPECT_EQ(v->sum_ns, 0u);
    EXPECT_EQ(v->min_ns, 0u);
    EXPECT_EQ(v->max_ns, 0u);
    EXPECT_EQ(v->buckets[0], 1u);
    EXPECT_EQ(v->sum_exit_hc_ns, 1000u);  // each part on its own
    EXPECT_EQ(v->sum_hc_entry_ns, 0u);
    ht_agg_add(v.get(), 5000, 4000, 7000, 0);  // hypercall before exit
    EXPECT_EQ(v->sum_ns, 2000u);
    EXPECT_EQ(v->sum_exit_hc_ns, 1000u);
    EXPECT_EQ(v->sum_hc_entry_ns, 3000u);
    EXPECT_EQ(v->min_ns, 0u);
    EXPECT_EQ(v->max_ns, 2000u);
}

TEST(Hist, AggAddHugeLatencyInLastBucket)
{
    auto v = std::make_unique<ht_agg_value>();
    ht_agg_add(v.get(), 0, 0, kU64Max, 0);
    EXPECT_EQ(v->max_ns, kU64Max);
    EXPECT_EQ(v->buckets[HT_HIST_BUCKETS - 1], 1u);
}

// The percentile error bound, against exact nearest rank.
TEST(Hist, PercentileErrorBound)
{
    std::mt19937_64 rng(13);
    struct Case {
        const char* name;
        std::vector<std::uint64_t> vals;
    };
    std::vector<Case> cases;
    auto gen = [&](const char* name, std::size_t n, auto f) {
        Case c{name, {}};
        for (std::size_t i = 0; i < n; i++)
            c.vals.push_back(f());
        cases.push_back(std::move(c));
    };
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    gen("log-uniform 1ns..2^45ns", 100000, [&] { return static_cast<std::uint64_t>(std::exp2(u01(rng) * 45.0)); });
    gen("uniform 0..100us", 100000, [&] { return rng() % 100000; });
    gen("small 0..200ns", 20000, [&] { return rng() % 200; });
    std::lognormal_distribution<double> lognorm(std::log(3000.0), 0.6);
    gen("lognormal around 3us", 100000, [&] { return static_cast<std::uint64_t>(lognorm(rng)); });
    gen("bimodal 1us/5ms", 50000, [&] { return rng() % 10 ? 1000 + rng() % 50 : 5000000 + rng() % 1000; });
    gen("single value", 1, [&] { return std::uint64_t{123456789}; });
    gen("all equal", 5000, [&] { return std::uint64_t{2000}; });
    gen("all equal zero", 100, [&] { return std::uint64_t{0}; });
    gen("last bucket only", 10000, [&] { return (std::uint64_t{1} << 41) + (rng() >> (rng() % 64)); });
    gen("mixed with last bucket", 20000,
        [&] { return rng() % 4 ? 1000 + rng() % 1000000 : (std::uint64_t{1} << 41) + rng() % (1ull << 50); });
    gen("powers of two +-1", 3 * 62, [&, i = 0]() mutable {
        std::uint64_t p = std::uint64_t{1} << (1 + i / 3);
        return p - 1 + static_cast<std::uint64_t>(i++ % 3);
    });

    std::vector<unsigned> permilles = {1, 10, 100, 250, 500, 750, 900, 990, 999, 1000};
    for (unsigned pm = 1; pm <= 1000; pm += 37)
        permilles.push_back(pm);
    for (Case& c : cases) {
        auto v = aggregate(c.vals);
        std::sort(c.vals.begin(), c.vals.end());
        ASSERT_EQ(v->count, c.vals.size()) << c.name;
        ASSERT_EQ(v->min_ns, c.vals.front()) << c.name;
        ASSERT_EQ(v->max_ns, c.vals.back()) << c.name;
        for (unsigned pm : permilles) {
            std::uint64_t r = hist_percentile(v->buckets, HT_HIST_BUCKETS, v->min_ns, v->max_ns, pm);
            std::uint64_t x = exact_percentile(c.vals, pm);
            expect_within_bound(r, x, v->max_ns, c.name, pm);
        }
    }
}

TEST(Hist, PercentileSingleAndEqualValuesAreExact)
{
    // Clamping to [min, max] makes one-bucket keys exact.
    for (std::uint64_t val : {0ull, 1ull, 63ull, 2000ull, 1999999ull, 123456789ull, (1ull << 41) + 5, ~0ull}) {
        auto v = aggregate(std::vector<std::uint64_t>(7, val));
        for (unsigned pm : {1u, 500u, 990u, 999u, 1000u})
            EXPECT_EQ(hist_percentile(v->buckets, HT_HIST_BUCKETS, v->min_ns, v->max_ns, pm), val) << val << " p" << pm;
    }
}

TEST(Hist, PercentileRankIsExactInteger)
{
    // 1000 values 1..1000 ns would need exact buckets; use 0..63 (exact) x16.
    std::vector<std::uint64_t> vals;
    for (int k = 0; k < 16; k++)
        for (std::uint64_t x = 0; x < 64; x++)
            vals.push_back(x);
    auto v = aggregate(vals);
    std::sort(vals.begin(), vals.end());
    for (unsigned pm = 1; pm <= 1000; pm++)
        ASSERT_EQ(hist_percentile(v->buckets, HT_HIST_BUCKETS, v->min_ns, v->max_ns, pm), exact_percentile(vals, pm))
            << pm;
    // Empty buckets: 0.
    auto empty = std::make_unique<ht_agg_value>();
    EXPECT_EQ(hist_percentile(empty->buckets, HT_HIST_BUCKETS, 0, 0, 500), 0u);
}

// The VMM part: counted and summed only for calls that went back to the VMM.
TEST(Hist, AggAddVmmPart)
{
    auto v = std::make_unique<ht_agg_value>();
    ht_agg_add(v.get(), 1000, 1100, 1500, 0);
    ht_agg_add(v.get(), 2000, 2100, 9000, 2200);  // VMM part 6800
    ht_agg_add(v.get(), 3000, 3100, 4000, 5000);  // clock backwards: 0, still counted
    EXPECT_EQ(v->count, 3u);
    EXPECT_EQ(v->vmm_count, 2u);
    EXPECT_EQ(v->sum_vmm_ns, 6800u);
    auto w = std::make_unique<ht_agg_value>();
    ht_agg_merge(w.get(), v.get());
    ht_agg_merge(w.get(), v.get());
    EXPECT_EQ(w->vmm_count, 4u);
    EXPECT_EQ(w->sum_vmm_ns, 13600u);
}
