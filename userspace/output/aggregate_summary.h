// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --summary rows from the backends' in-kernel statistics (common/ht_hist.h,
// Backend::take_aggregates()) and from the records of hypercalls that found
// no room there, printed by print_summary_text/_json (summary_print.h).
//
// Merging: entries with the same (pid, abi, nr) are summed (count, sums, buckets),
// min is the min of mins, max the max of maxes; entries with count 0 carry no
// data (their min is meaningless) and are skipped.  Sums are kept in 128 bits
// so merging many batches cannot overflow.  count, min, max, avg (floor of
// sum/count) and the two split averages are therefore exact.
//
// Percentiles: nearest-rank on the bucket counts (rank = ceil(X/100 * N),
// N = the buckets' total, which equals count unless the kernel was read in
// the middle of an update), reporting the rank's bucket's lower bound r
// clamped to [min, max].  For the exact nearest-rank value x:
//     x < 64 ns:                 r == x (one bucket per value);
//     64 ns <= x < 2^41 ns:      r <= x < r + r/32  (integer division;
//                                under 3.2 % low, never high);
//     x in the last bucket (>= 2^41 - 2^35 ns, about 36 minutes):
//                                2^41 - 2^35 <= r <= x <= max (values of
//                                2^41 ns and more share that bucket, so
//                                only min/max bound them).
// (Clamping only helps: min <= x <= max, so max(lower, min) is still <= x.)
//
// log2 µs histogram: a log-linear bucket is not always inside one log2 µs
// slot.  Slot boundaries are 1000 * 2^i ns = 125 * 2^(i+3) ns; 125 is odd and
// the bucket width there is 2^(i+4) ns, so every boundary falls strictly
// inside a bucket.  Each bucket's count goes to the slot of its lower bound
// clamped to [min, max], i.e. the slot of the value a percentile would
// report for it.  So a value is counted in its own slot or, if it lies less
// than 1/32 above a slot boundary (in the straddling bucket), in the slot
// below; never above.  Keys whose values all sit in one bucket (a single
// value, all equal) are exact because of the clamp.  Values in the last
// bucket all count in the slot of max(2^41 - 2^35, min) ns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "output/summary_print.h"

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

// The log2 µs histogram the rows print: slot 0 holds 0..1 us, slot i >= 1
// holds [2^i, 2^(i+1) - 1] us.
constexpr std::size_t kLog2Slots = 64;
unsigned log2_slot(std::uint64_t usecs);
// Slots 0..last non-empty (what rows keep and print).
std::vector<std::uint64_t> trim_log2(const std::array<std::uint64_t, kLog2Slots>& slots);

// Nearest-rank percentile (permille in [1, 1000]; 999 = p99.9) over n
// log-linear buckets (ht_hist_index), reported as described above.  0 if
// the buckets are empty.
std::uint64_t hist_percentile(const __u64* buckets, std::size_t n, std::uint64_t min_ns, std::uint64_t max_ns,
                              unsigned permille);

// The log2 µs slots (log2_slot) of n log-linear buckets, each bucket
// assigned as described above.
std::array<std::uint64_t, kLog2Slots> hist_log2_usecs(const __u64* buckets, std::size_t n, std::uint64_t min_ns,
                                                      std::uint64_t max_ns);

// Merged aggregates of any number of batches.  With -i/--interval, use one
// per batch (or aggregate_rows()); at the end, feed it every batch not yet
// printed.
class AggregateSummary {
public:
    void add(const AggregateEntry& e);
    void add(const std::vector<AggregateEntry>& batch);
    // A hypercall that travelled as a record (its key found no room in the
    // kernel's table): added exactly as ht_agg_add adds it there.
    void add(const ht_record& r);

    std::uint64_t total() const { return total_; }  // hypercalls merged
    bool empty() const { return keys_.empty(); }
    void clear();

    std::vector<SummaryRow> rows() const;  // sorted by (pid, abi, nr)

private:
    struct Merged {
        std::uint64_t count = 0, min_ns = 0, max_ns = 0, vmm_count = 0;
        unsigned __int128 sum_ns = 0, sum_exit_hc_ns = 0, sum_hc_entry_ns = 0, sum_vmm_ns = 0;
        std::vector<__u64> buckets;  // HT_HIST_BUCKETS once used (ht_agg_value's type)
    };

    std::map<std::tuple<std::uint32_t, std::uint8_t, std::uint64_t>, Merged> keys_;  // (pid, abi, nr)
    std::uint64_t total_ = 0;
};

// One batch's rows: AggregateSummary of just that batch.
std::vector<SummaryRow> aggregate_rows(const std::vector<AggregateEntry>& batch);

}  // namespace hypertrace
