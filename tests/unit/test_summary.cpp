// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --summary: rows from in-kernel aggregates and from records that found no
// room there (AggregateSummary), against exact statistics of the same data
// and aggregate_summary.h's documented error bound; log2 histograms; the
// text/JSON printer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "output/aggregate_summary.h"
#include "output/summary_print.h"

extern "C" {
#include "ht_hist.h"
}

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

TEST(AggregateSummary, Log2Slots)
{
    EXPECT_EQ(log2_slot(0), 0u);
    EXPECT_EQ(log2_slot(1), 0u);
    EXPECT_EQ(log2_slot(2), 1u);
    EXPECT_EQ(log2_slot(3), 1u);
    EXPECT_EQ(log2_slot(4), 2u);
    EXPECT_EQ(log2_slot(7), 2u);
    EXPECT_EQ(log2_slot(8), 3u);
    EXPECT_EQ(log2_slot(1023), 9u);
    EXPECT_EQ(log2_slot(1024), 10u);
    EXPECT_EQ(log2_slot(std::numeric_limits<std::uint64_t>::max()), 63u);

    std::array<std::uint64_t, kLog2Slots> slots{};
    EXPECT_EQ(trim_log2(slots), std::vector<std::uint64_t>{0});
    slots[3] = 7;
    EXPECT_EQ(trim_log2(slots), (std::vector<std::uint64_t>{0, 0, 0, 7}));
}

TEST(Summary, CountsMatchGroundTruth)
{
    AggregateSummary s;  // records added one by one, as main.cpp's sink does
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> truth;
    std::mt19937_64 rng(5);
    const int kN = 20000;
    for (int i = 0; i < kN; i++) {
        std::uint32_t pid = 100 + static_cast<std::uint32_t>(rng() % 3);
        std::uint64_t nr = (rng() % 4 == 0) ? rng() : rng() % 20;  // some huge nrs
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
    AggregateSummary s;
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

TEST(Summary, WideHistogramUsesLibbpfWideLayout)
{
    // More than 32 slots (only hand-made rows get there: the kernel's last
    // bucket starts near 2^41 ns, slot 31).
    SummaryRow row;
    row.pid = row.nr = row.count = 2;
    row.log2_usecs.assign(54, 0);
    row.log2_usecs[0] = row.log2_usecs[53] = 1;
    std::ostringstream out;
    print_summary_text(out, {row});
    std::string text = out.str();
    EXPECT_NE(text.find("               usecs                         : count    distribution\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("                   0 -> 1                    : 1        |"
                        "********************|\n"),
              std::string::npos)
        << text;
}

TEST(Summary, Empty)
{
    AggregateSummary s;
    std::ostringstream t, j;
    print_summary_text(t, s.rows());
    print_summary_json(j, s.rows());
    EXPECT_EQ(t.str(), "no hypercalls traced\n");
    EXPECT_EQ(j.str(), "");
    EXPECT_EQ(s.total(), 0u);
}

// --- p99.9 and the exit/hypercall/entry split -----------------------------------

TEST(Summary, P999AndSplitAverages)
{
    AggregateSummary s;
    for (std::uint64_t v = 1; v <= 1000; v++)
        s.add(rec(1, 1, v * 10));
    std::vector<SummaryRow> rows = s.rows();
    ASSERT_EQ(rows.size(), 1u);
    // Ranks 999 and 990 of 1000, reported as their buckets' lower bounds.
    EXPECT_EQ(rows[0].p999_ns, ht_hist_lower(ht_hist_index(9990)));
    EXPECT_EQ(rows[0].p99_ns, ht_hist_lower(ht_hist_index(9900)));
    // rec(): hypercall halfway; sum of v*5 = 5 * 500500.
    EXPECT_EQ(rows[0].avg_exit_hc_ns, 2502u);  // floor(2502500 / 1000)
    EXPECT_EQ(rows[0].avg_hc_entry_ns, 2502u);

    // Each part is 0 on its own when its timestamps are out of order, as in
    // ht_agg_add.
    AggregateSummary t;
    ht_record r = rec(2, 2, 0);
    r.t_exit_ns = 1000;
    r.t_hypercall_ns = 900;  // before the exit
    r.t_entry_ns = 1500;
    t.add(r);
    rows = t.rows();
    EXPECT_EQ(rows[0].avg_ns, 500u);
    EXPECT_EQ(rows[0].avg_exit_hc_ns, 0u);
    EXPECT_EQ(rows[0].avg_hc_entry_ns, 600u);
}

// --- the aggregate path --------------------------------------------------------

namespace {

ht_record rec3(std::uint32_t pid, std::uint64_t nr, std::uint64_t exit, std::uint64_t hc, std::uint64_t entry)
{
    ht_record r = rec(pid, nr, 0);
    r.t_exit_ns = exit;
    r.t_hypercall_ns = hc;
    r.t_entry_ns = entry;
    return r;
}

// What the kernel would hand over for these records: one entry per key, or
// `copies` entries per key (like per-CPU values the backend did not sum),
// records dealt round-robin.
std::vector<AggregateEntry> to_batch(const std::vector<ht_record>& recs, unsigned copies = 1)
{
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::vector<AggregateEntry>> m;
    std::map<std::pair<std::uint32_t, std::uint64_t>, unsigned> next;
    for (const ht_record& r : recs) {
        auto& v = m[{r.pid, r.nr}];
        if (v.empty()) {
            v.resize(copies);
            for (AggregateEntry& e : v) {
                e.key.pid = r.pid;
                e.key.nr = r.nr;
            }
        }
        unsigned& i = next[{r.pid, r.nr}];
        ht_agg_add(&v[i].value, r.t_exit_ns, r.t_hypercall_ns, r.t_entry_ns, r.t_userspace_exit_ns);
        i = (i + 1) % copies;
    }
    std::vector<AggregateEntry> batch;
    for (auto& [k, v] : m)
        for (AggregateEntry& e : v)
            batch.push_back(e);
    return batch;
}

std::vector<ht_record> random_records(std::size_t n, std::uint32_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<std::uint64_t> lats = random_latencies(n, seed);
    std::vector<ht_record> recs;
    for (std::size_t i = 0; i < n; i++) {
        std::uint32_t pid = 100 + static_cast<std::uint32_t>(rng() % 3);
        std::uint64_t nr = rng() % 5;
        std::uint64_t exit = 1000000000 + rng() % 1000000;
        std::uint64_t lat = lats[i];
        std::uint64_t hc = exit + (lat ? rng() % (lat + 1) : 0);
        std::uint64_t entry = exit + lat;
        if (rng() % 500 == 0)
            entry = exit - 1 - rng() % 100;  // clock went backwards
        if (rng() % 500 == 0)
            hc = exit - 1;  // hypercall stamped before the exit
        recs.push_back(rec3(pid, nr, exit, hc, entry));
    }
    return recs;
}

// The bound of aggregate_summary.h between reported r and exact x (x < 2^41).
::testing::AssertionResult within_bound(std::uint64_t r, std::uint64_t x)
{
    if (x < 64 ? r == x : (r <= x && x < r + r / 32))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "reported " << r << ", exact " << x;
}

}  // namespace

TEST(AggregateSummary, MatchesExactStatistics)
{
    std::vector<ht_record> recs = random_records(100000, 21);
    struct Exact {
        std::vector<std::uint64_t> lat;
        unsigned __int128 sum = 0, sum_exit_hc = 0, sum_hc_entry = 0;
    };
    std::map<std::pair<std::uint32_t, std::uint64_t>, Exact> exact;
    for (const ht_record& r : recs) {
        Exact& e = exact[{r.pid, r.nr}];
        const std::uint64_t lat = r.t_entry_ns > r.t_exit_ns ? r.t_entry_ns - r.t_exit_ns : 0;
        e.lat.push_back(lat);
        e.sum += lat;
        e.sum_exit_hc += r.t_hypercall_ns > r.t_exit_ns ? r.t_hypercall_ns - r.t_exit_ns : 0;
        e.sum_hc_entry += r.t_entry_ns > r.t_hypercall_ns ? r.t_entry_ns - r.t_hypercall_ns : 0;
    }
    AggregateSummary a;
    a.add(to_batch(recs));
    EXPECT_EQ(a.total(), recs.size());
    std::vector<SummaryRow> got = a.rows();
    ASSERT_EQ(got.size(), exact.size());
    auto it = exact.begin();
    for (const SummaryRow& g : got) {
        const Exact& w = (it++)->second;
        SCOPED_TRACE(testing::Message() << "pid " << g.pid << " nr " << g.nr);
        const std::uint64_t n = w.lat.size();
        // Exact.
        EXPECT_EQ(g.count, n);
        EXPECT_EQ(g.min_ns, *std::min_element(w.lat.begin(), w.lat.end()));
        EXPECT_EQ(g.max_ns, *std::max_element(w.lat.begin(), w.lat.end()));
        EXPECT_EQ(g.avg_ns, static_cast<std::uint64_t>(w.sum / n));
        EXPECT_EQ(g.avg_exit_hc_ns, static_cast<std::uint64_t>(w.sum_exit_hc / n));
        EXPECT_EQ(g.avg_hc_entry_ns, static_cast<std::uint64_t>(w.sum_hc_entry / n));
        // Within the documented bound.
        EXPECT_TRUE(within_bound(g.p50_ns, exact_percentile(w.lat, 500)));
        EXPECT_TRUE(within_bound(g.p99_ns, exact_percentile(w.lat, 990)));
        EXPECT_TRUE(within_bound(g.p999_ns, exact_percentile(w.lat, 999)));
        // Histogram: same total; a value moves at most one slot down, so the
        // aggregate's cumulative counts are never behind the exact ones and
        // never ahead of the exact ones one slot further.
        std::array<std::uint64_t, kLog2Slots> slots{};
        for (std::uint64_t x : w.lat)
            slots[log2_slot(x / 1000)]++;
        const std::vector<std::uint64_t> ws = trim_log2(slots);
        std::uint64_t gt = 0;
        for (std::uint64_t c : g.log2_usecs)
            gt += c;
        EXPECT_EQ(gt, n);
        std::uint64_t gc = 0, wc = 0;
        for (std::size_t k = 0; k < 64; k++) {
            gc += k < g.log2_usecs.size() ? g.log2_usecs[k] : 0;
            std::uint64_t wnext = wc + (k < ws.size() ? ws[k] : 0);
            EXPECT_GE(gc, wnext) << "slot " << k;
            wc = wnext;
            std::uint64_t wahead = wc + (k + 1 < ws.size() ? ws[k + 1] : 0);
            EXPECT_LE(gc, wahead) << "slot " << k;
        }
    }
}

TEST(AggregateSummary, RecordsJoinLikeKernelEntries)
{
    // main.cpp's sink adds a record that found no room in the kernel with
    // add(ht_record): the same rows as the kernel's entry for it.
    std::vector<ht_record> recs = random_records(5000, 25);
    AggregateSummary one_by_one;
    for (const ht_record& r : recs)
        one_by_one.add(r);
    EXPECT_EQ(one_by_one.rows(), aggregate_rows(to_batch(recs)));
    EXPECT_EQ(one_by_one.total(), recs.size());
}

TEST(AggregateSummary, HistogramAssignsEachBucketToItsClampedLowerBound)
{
    // Exactly the documented rule, value by value: the slot of
    // clamp(lower(bucket(x)), min, max).
    std::vector<ht_record> recs = random_records(50000, 22);
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::vector<std::uint64_t>> lats;
    for (const ht_record& r : recs)
        lats[{r.pid, r.nr}].push_back(r.t_entry_ns > r.t_exit_ns ? r.t_entry_ns - r.t_exit_ns : 0);
    std::vector<SummaryRow> rows = aggregate_rows(to_batch(recs));
    ASSERT_EQ(rows.size(), lats.size());
    auto it = lats.begin();
    for (const SummaryRow& row : rows) {
        const std::vector<std::uint64_t>& v = (it++)->second;
        std::uint64_t mn = *std::min_element(v.begin(), v.end());
        std::uint64_t mx = *std::max_element(v.begin(), v.end());
        std::array<std::uint64_t, kLog2Slots> want{};
        for (std::uint64_t x : v) {
            std::uint64_t r = std::clamp<std::uint64_t>(ht_hist_lower(ht_hist_index(x)), mn, mx);
            unsigned slot = log2_slot(r / 1000);
            unsigned exact = log2_slot(x / 1000);
            ASSERT_TRUE(slot == exact || slot + 1 == exact) << x;
            want[slot]++;
        }
        EXPECT_EQ(row.log2_usecs, trim_log2(want));
    }
}

TEST(AggregateSummary, BucketStraddlingAMicrosecondBoundary)
{
    // [1984, 2016) ns is one bucket and holds the 2 us boundary (slot 0 | 1).
    ASSERT_EQ(ht_hist_index(1990), ht_hist_index(2010));
    ASSERT_EQ(ht_hist_lower(ht_hist_index(2010)), 1984u);
    auto hist = [](std::initializer_list<std::uint64_t> lats) {
        std::vector<ht_record> recs;
        for (std::uint64_t l : lats)
            recs.push_back(rec(1, 1, l));
        return aggregate_rows(to_batch(recs)).at(0).log2_usecs;
    };
    using V = std::vector<std::uint64_t>;
    // 2010 ns (slot 1) shares 1990's bucket, whose clamped lower bound 1990
    // is in slot 0: counted one slot low, as documented.
    EXPECT_EQ(hist({1990, 2010, 5000}), (V{2, 0, 1}));
    // All values in the bucket at or above the boundary: the clamp to min
    // puts them in slot 1, exactly.
    EXPECT_EQ(hist({2000, 2010}), (V{0, 2}));
    // Single value and all-equal values just above the boundary: exact.
    EXPECT_EQ(hist({2000}), (V{0, 1}));
    EXPECT_EQ(hist({2015, 2015, 2015}), (V{0, 3}));
    // Just below it: slot 0.
    EXPECT_EQ(hist({1999}), (V{1}));
}

TEST(AggregateSummary, MergingBatchesEqualsOneBatchOfTheUnion)
{
    std::vector<ht_record> recs = random_records(60000, 23);
    std::mt19937 rng(24);
    std::vector<ht_record> first, second;
    for (const ht_record& r : recs)
        (rng() % 3 ? first : second).push_back(r);
    AggregateSummary merged;
    merged.add(to_batch(first));
    merged.add(to_batch(second));
    std::vector<SummaryRow> whole = aggregate_rows(to_batch(recs));
    EXPECT_EQ(merged.rows(), whole);
    EXPECT_EQ(merged.total(), recs.size());
    // Several entries per key in one batch (per-CPU values) merge the same way.
    EXPECT_EQ(aggregate_rows(to_batch(recs, 4)), whole);
    // A key only in the second batch, and min coming from the second batch.
    AggregateSummary b;
    b.add(to_batch({rec(1, 1, 500)}));
    b.add(to_batch({rec(1, 1, 100), rec(9, 9, 7)}));
    std::vector<SummaryRow> rows = b.rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].min_ns, 100u);
    EXPECT_EQ(rows[0].max_ns, 500u);
    EXPECT_EQ(rows[0].count, 2u);
    EXPECT_EQ(rows[1].pid, 9u);
    EXPECT_EQ(rows[1].p999_ns, 7u);
    b.clear();
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.total(), 0u);
    EXPECT_TRUE(b.rows().empty());
}

TEST(AggregateSummary, EmptyEntriesAreSkipped)
{
    std::vector<AggregateEntry> batch(2);
    batch[0].key.pid = 5;  // count 0: min_ns is meaningless
    batch[0].value.min_ns = 0;
    batch[1] = to_batch({rec(5, 0, 300)}).at(0);
    batch[1].key.nr = 0;
    AggregateSummary a;
    a.add(batch);
    std::vector<SummaryRow> rows = a.rows();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].min_ns, 300u);
    EXPECT_EQ(aggregate_rows({}).size(), 0u);
}

TEST(AggregateSummary, SumsDoNotOverflowAcrossBatches)
{
    // Each batch's u64 sum fits; their total does not.
    std::vector<AggregateEntry> batch = to_batch({rec(1, 1, 0)});
    batch[0].value.count = 2;
    batch[0].value.sum_ns = (~0ull / 4) * 3;  // avg 0.375 * 2^64
    batch[0].value.max_ns = batch[0].value.sum_ns;
    AggregateSummary a;
    a.add(batch);
    a.add(batch);
    EXPECT_EQ(a.rows().at(0).avg_ns, (~0ull / 4) * 3 / 2);
}

namespace {
std::vector<SummaryRow> sample_aggregate_rows()
{
    std::vector<ht_record> recs;
    for (std::uint64_t ns : {500, 1500, 2500, 3500, 10000})
        recs.push_back(rec(1, 42, ns));
    recs.push_back(rec(2, 7, 2000));
    return aggregate_rows(to_batch(recs));
}
}  // namespace

TEST(AggregateSummary, TextThroughTheSharedPrinter)
{
    // Percentiles are bucket lower bounds: 2500 -> 2496, 10000 -> 9984.
    std::ostringstream out;
    print_summary_text(out, sample_aggregate_rows());
    EXPECT_EQ(out.str(),
              "pid = 1, abi = kvm, nr = 42: count 5, latency (us): min 0.500 avg 3.600 p50 2.496 p99 9.984 "
              "p99.9 9.984 max 10.000\n"
              "  avg (us): exit->hypercall 1.800 hypercall->entry 1.800\n"
              "     usecs               : count    distribution\n"
              "         0 -> 1          : 2        |****************************************|\n"
              "         2 -> 3          : 2        |****************************************|\n"
              "         4 -> 7          : 0        |                                        |\n"
              "         8 -> 15         : 1        |********************                    |\n"
              "\n"
              "pid = 2, abi = kvm, nr = 7 (KVM_HC_MIPS_EXIT_VM): count 1, latency (us): min 2.000 avg 2.000 p50 "
              "2.000 p99 2.000 "
              "p99.9 2.000 max 2.000\n"
              "  avg (us): exit->hypercall 1.000 hypercall->entry 1.000\n"
              "     usecs               : count    distribution\n"
              "         0 -> 1          : 0        |                                        |\n"
              "         2 -> 3          : 1        |****************************************|\n");
}

TEST(AggregateSummary, JsonThroughTheSharedPrinter)
{
    std::ostringstream out;
    print_summary_json(out, sample_aggregate_rows());
    EXPECT_EQ(out.str(),
              "{\"pid\":1,\"nr\":42,\"count\":5,\"min_ns\":500,\"avg_ns\":3600,\"p50_ns\":2496,"
              "\"p99_ns\":9984,\"p999_ns\":9984,\"max_ns\":10000,\"avg_exit_hc_ns\":1800,"
              "\"avg_hc_entry_ns\":1800,\"hist_usecs\":[{\"lo\":0,\"hi\":1,\"count\":2},"
              "{\"lo\":2,\"hi\":3,\"count\":2},{\"lo\":4,\"hi\":7,\"count\":0},"
              "{\"lo\":8,\"hi\":15,\"count\":1}],\"name\":null,\"abi\":\"kvm\",\"vmm_count\":0,\"avg_vmm_ns\":0,\"vm\":"
              "null,\"vm_uuid\":null,\"vm_source\":\"none\"}\n"
              "{\"pid\":2,\"nr\":7,\"count\":1,\"min_ns\":2000,\"avg_ns\":2000,\"p50_ns\":2000,"
              "\"p99_ns\":2000,\"p999_ns\":2000,\"max_ns\":2000,\"avg_exit_hc_ns\":1000,"
              "\"avg_hc_entry_ns\":1000,\"hist_usecs\":[{\"lo\":0,\"hi\":1,\"count\":0},"
              "{\"lo\":2,\"hi\":3,\"count\":1}],\"name\":\"KVM_HC_MIPS_EXIT_VM\",\"abi\":\"kvm\",\"vmm_count\":0,"
              "\"avg_vmm_ns\":0,\"vm\":null,\"vm_uuid\":null,\"vm_source\":\"none\"}\n");
}

// Rows are labelled with their hypercall's name in the row's ABI (text: in
// brackets after the nr; JSON: "name", after the fields of the first
// format, before the ABI's and the VM fields), or not at all when the nr has none.  The same
// nr names a different call in each ABI.
TEST(SummaryPrint, RowsLabelledWithTheName)
{
    std::vector<SummaryRow> rows(6);
    for (SummaryRow& r : rows)
        r.pid = 9;
    rows[0].nr = 10;
    rows[1].nr = 11;
    rows[2].nr = 0x1000;
    rows[3].abi = HT_ABI_HYPERV;
    rows[3].nr = 0x5c;
    rows[4].abi = HT_ABI_HYPERV;
    rows[4].nr = 0x1000;  // unnamed in Hyper-V's table too
    rows[5].abi = HT_ABI_HYPERV;
    rows[5].nr = 8;
    std::ostringstream text, json;
    print_summary_text(text, rows);
    print_summary_json(json, rows);
    const std::string t = text.str(), j = json.str();
    EXPECT_NE(t.find("pid = 9, abi = kvm, nr = 10 (KVM_HC_SEND_IPI): count 0,"), std::string::npos) << t;
    EXPECT_NE(t.find("\npid = 9, abi = kvm, nr = 11 (KVM_HC_SCHED_YIELD): count 0,"), std::string::npos) << t;
    EXPECT_NE(t.find("\npid = 9, abi = kvm, nr = 4096: count 0,"), std::string::npos) << t;
    EXPECT_NE(t.find("\npid = 9, abi = hyperv, nr = 92 (HvCallPostMessage): count 0,"), std::string::npos) << t;
    EXPECT_NE(t.find("\npid = 9, abi = hyperv, nr = 4096: count 0,"), std::string::npos) << t;
    EXPECT_NE(t.find("\npid = 9, abi = hyperv, nr = 8 (HvCallNotifyLongSpinWait): count 0,"), std::string::npos) << t;
    EXPECT_NE(j.find("{\"pid\":9,\"nr\":10,"), std::string::npos) << j;
    EXPECT_NE(j.find("\"hist_usecs\":[],\"name\":\"KVM_HC_SEND_IPI\",\"abi\":\"kvm\","), std::string::npos) << j;
    EXPECT_NE(j.find("\"name\":\"KVM_HC_SCHED_YIELD\",\"abi\":\"kvm\","), std::string::npos) << j;
    EXPECT_NE(j.find("\"nr\":4096,"), std::string::npos) << j;
    EXPECT_NE(j.find("{\"pid\":9,\"nr\":92,"), std::string::npos) << j;
    EXPECT_NE(j.find("\"name\":\"HvCallPostMessage\",\"abi\":\"hyperv\","), std::string::npos) << j;
    EXPECT_NE(j.find("\"name\":null,\"abi\":\"hyperv\","), std::string::npos) << j;
    EXPECT_NE(j.find("\"name\":\"HvCallNotifyLongSpinWait\",\"abi\":\"hyperv\","), std::string::npos) << j;
    EXPECT_EQ(j.find("\"name\":null,\"abi\":\"kvm\""), j.rfind("\"name\":null,\"abi\":\"kvm\"")) << j;  // 4096 only
    const std::string last = ",\"vm\":null,\"vm_uuid\":null,\"vm_source\":\"none\"}\n";
    EXPECT_EQ(j.substr(j.size() - last.size()), last) << j;
}

TEST(AggregateSummary, RowsLabelledWithTheVm)
{
    std::vector<SummaryRow> rows = sample_aggregate_rows();
    rows[0].vm.source = VmSource::Libvirt;
    rows[0].vm.name = "web \"1\"";
    rows[0].vm.uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809";
    rows[1].vm.source = VmSource::Cgroup;
    rows[1].vm.name = "cg";
    std::ostringstream text, json;
    print_summary_text(text, rows);
    print_summary_json(json, rows);
    EXPECT_EQ(text.str().rfind("vm = web \"1\", pid = 1, abi = kvm, nr = 42: count 5,", 0), 0u) << text.str();
    EXPECT_NE(text.str().find("\nvm = cg (cgroup), pid = 2, abi = kvm, nr = 7 (KVM_HC_MIPS_EXIT_VM): count 1,"),
              std::string::npos)
        << text.str();
    EXPECT_NE(json.str().find("{\"lo\":8,\"hi\":15,\"count\":1}],\"name\":null,\"abi\":\"kvm\",\"vmm_count\":0,\"avg_"
                              "vmm_ns\":0,\"vm\":\"web \\\"1\\\"\",\"vm_uuid\":"
                              "\"c7a5fdbd-edaf-9455-926a-d65c16db1809\",\"vm_source\":\"libvirt\"}\n"),
              std::string::npos)
        << json.str();
    EXPECT_NE(json.str().find("\"name\":\"KVM_HC_MIPS_EXIT_VM\",\"abi\":\"kvm\",\"vmm_count\":0,\"avg_vmm_ns\":0,"
                              "\"vm\":\"cg\",\"vm_uuid\":null,\"vm_source\":\"cgroup\"}\n"),
              std::string::npos)
        << json.str();
}

// A Hyper-V row of a named VM: the VM first, then pid, ABI and the name from
// Hyper-V's table; JSON: the ABI's fields, then the VM's.
TEST(AggregateSummary, HypervRowOfANamedVm)
{
    std::vector<SummaryRow> rows = sample_aggregate_rows();
    rows.resize(1);
    rows[0].abi = HT_ABI_HYPERV;
    rows[0].nr = 0x5c;
    rows[0].vmm_count = 2;
    rows[0].avg_vmm_ns = 700;
    rows[0].vm.source = VmSource::Cmdline;
    rows[0].vm.name = "lab vm";
    std::ostringstream text, json;
    print_summary_text(text, rows);
    print_summary_json(json, rows);
    EXPECT_EQ(text.str().rfind("vm = lab vm, pid = 1, abi = hyperv, nr = 92 (HvCallPostMessage): count 5,", 0), 0u)
        << text.str();
    EXPECT_NE(json.str().find("\"name\":\"HvCallPostMessage\",\"abi\":\"hyperv\",\"vmm_count\":2,\"avg_vmm_ns\":700,"
                              "\"vm\":\"lab vm\",\"vm_uuid\":null,\"vm_source\":\"cmdline\"}\n"),
              std::string::npos)
        << json.str();
}

// --- interval batches ------------------------------------------------------------

TEST(SummaryPrint, IntervalHeader)
{
    std::vector<SummaryRow> rows = sample_aggregate_rows();
    rows.resize(1);
    rows[0].log2_usecs = {1};
    std::ostringstream out;
    print_summary_text(out, rows, "12:34:56");
    EXPECT_EQ(out.str().rfind("12:34:56\npid = 1, abi = kvm, nr = 42: count 5,", 0), 0u) << out.str();

    std::ostringstream empty;
    print_summary_text(empty, {}, "12:34:57");
    EXPECT_EQ(empty.str(), "12:34:57\nno hypercalls traced\n");

    std::ostringstream json;
    print_summary_json(json, rows, "12:34:56");
    EXPECT_EQ(json.str().rfind("{\"interval\":\"12:34:56\",\"pid\":1,\"nr\":42,", 0), 0u) << json.str();
    std::ostringstream json_empty;
    print_summary_json(json_empty, {}, "12:34:56");
    EXPECT_EQ(json_empty.str(), "");
}

TEST(SummaryPrint, IntervalHeaderIsLocalHhMmSs)
{
    std::string old_tz = getenv("TZ") ? getenv("TZ") : "";
    bool had_tz = getenv("TZ") != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
    EXPECT_EQ(interval_header(13 * 3600 + 4 * 60 + 5), "13:04:05");
    EXPECT_EQ(interval_header(0), "00:00:00");
    if (had_tz)
        setenv("TZ", old_tz.c_str(), 1);
    else
        unsetenv("TZ");
    tzset();
}

// Keys are (pid, abi, nr): a Hyper-V code equal to a KVM nr is another row;
// the VMM part is averaged over the calls that went back to the VMM.
TEST(AggregateSummary, KeyedByAbiWithTheVmmPart)
{
    AggregateSummary s;
    ht_record kvm = rec3(1, 12, 1000, 1100, 2000);
    ht_record fwd = rec3(1, 12, 3000, 3100, 9000);
    fwd.t_userspace_exit_ns = 3200;  // VMM part 5800
    fwd.flags |= HT_REC_F_VMM_SERVED;
    ht_record hv = rec3(1, 12, 5000, 5100, 5600);
    hv.abi = HT_ABI_HYPERV;
    for (const ht_record& r : {kvm, fwd, hv})
        s.add(r);
    const std::vector<SummaryRow> rows = s.rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].abi, HT_ABI_KVM);
    EXPECT_EQ(rows[0].count, 2u);
    EXPECT_EQ(rows[0].vmm_count, 1u);
    EXPECT_EQ(rows[0].avg_vmm_ns, 5800u);
    EXPECT_EQ(rows[1].abi, HT_ABI_HYPERV);
    EXPECT_EQ(rows[1].nr, 12u);
    EXPECT_EQ(rows[1].count, 1u);
    EXPECT_EQ(rows[1].vmm_count, 0u);
    std::ostringstream text, json;
    print_summary_text(text, rows);
    print_summary_json(json, rows);
    // The same nr, named in KVM's table only.
    EXPECT_NE(text.str().find("pid = 1, abi = kvm, nr = 12 (KVM_HC_MAP_GPA_RANGE): count 2,"), std::string::npos)
        << text.str();
    EXPECT_NE(text.str().find("hypercall->entry 3.400 vmm (1 calls) 5.800\n"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("pid = 1, abi = hyperv, nr = 12: count 1,"), std::string::npos) << text.str();
    EXPECT_NE(json.str().find(
                  "\"name\":\"KVM_HC_MAP_GPA_RANGE\",\"abi\":\"kvm\",\"vmm_count\":1,\"avg_vmm_ns\":5800,\"vm\":null,"),
              std::string::npos);
    EXPECT_NE(json.str().find("\"name\":null,\"abi\":\"hyperv\",\"vmm_count\":0,\"avg_vmm_ns\":0,\"vm\":null,"),
              std::string::npos);
}
