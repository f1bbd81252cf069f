// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --summary: latency statistics per (pid, hypercall nr), and the one printer
// for them (text, bcc style, and JSON lines).
//
// Rows come from two sources and are printed by the same code:
//   - Summary (here): built from ht_records in userspace;
//   - AggregateSummary (aggregate_summary.h): built from the backends'
//     in-kernel statistics (common/ht_hist.h).
//
// Latency is t_entry_ns - t_exit_ns (0 if a record has entry before exit).
// Per key: count (exactly the records added), min, avg (floor of the exact
// mean), p50, p99, p99.9, max, the average exit->hypercall and
// hypercall->entry times (each floor of the exact mean, each part 0 when its
// timestamps are out of order, exactly as ht_agg_add computes them), and a
// log2 histogram of microseconds printed like libbpf-tools' print_log2_hist.
//
// Record path percentiles are nearest-rank: pX is the smallest recorded value
// v with at least X% of the values <= v (rank = ceil(X/100 * count)).  They
// are exact while a key has at most LatencyRecorder's exact_limit values
// (65536 by default; all values kept).  Past that the values move to
// log-linear buckets: exact below 256 ns, above it 128 buckets per power of
// two, and a percentile reports its bucket's lower bound (clamped to
// [min, max]).  So the reported value r and the exact nearest-rank value x
// satisfy
//     r <= x < r + r/128 + 1     (relative error below 0.79%, never above x).
// min, max, avg and count are always exact.  (The aggregate path's bound is
// coarser, see aggregate_summary.h.)
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

// Latency values of one key (see above for exactness).
class LatencyRecorder {
public:
    static constexpr std::size_t kDefaultExactLimit = 65536;
    static constexpr unsigned kSubBits = 7;  // 128 buckets per power of two
    static constexpr std::size_t kLog2Slots = 64;

    explicit LatencyRecorder(std::size_t exact_limit = kDefaultExactLimit);

    void add(std::uint64_t ns);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    std::uint64_t avg() const;  // floor of the exact mean; 0 if empty
    // Nearest-rank percentile, permille in [1, 1000] (500 = p50, 990 = p99).
    // 0 if empty.  Not thread-safe (sorts the kept values lazily).
    std::uint64_t percentile(unsigned permille) const;
    bool exact() const { return !buckets_mode_; }

    // log2 histogram of latency in microseconds: slot 0 holds 0..1 us,
    // slot i >= 1 holds [2^i, 2^(i+1) - 1] us.
    const std::array<std::uint64_t, kLog2Slots>& log2_usecs() const { return log2_; }
    static unsigned log2_slot(std::uint64_t usecs);

    // Log-linear bucket of a value and a bucket's lower bound (for tests).
    static std::size_t bucket_index(std::uint64_t ns);
    static std::uint64_t bucket_lower(std::size_t index);

private:
    static constexpr std::size_t kChunk = std::size_t{1} << kSubBits;
    void to_buckets();
    void bucket_add(std::uint64_t ns, std::uint64_t n);

    std::size_t exact_limit_;
    std::uint64_t count_ = 0, min_ = 0, max_ = 0;
    unsigned __int128 sum_ = 0;
    mutable std::vector<std::uint64_t> values_;  // exact mode
    mutable bool sorted_ = true;
    bool buckets_mode_ = false;
    // Bucket mode: chunk c holds 128 counters, allocated on first use
    // (latencies span few powers of two, so few chunks ever exist).
    std::vector<std::unique_ptr<std::array<std::uint64_t, kChunk>>> chunks_;
    std::array<std::uint64_t, kLog2Slots> log2_{};
};

// One line of the summary, whichever source it came from.
struct SummaryRow {
    std::uint32_t pid = 0;
    std::uint64_t nr = 0;
    std::uint64_t count = 0;
    std::uint64_t min_ns = 0, avg_ns = 0, p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
    std::uint64_t avg_exit_hc_ns = 0;   // kvm_exit -> kvm_hypercall
    std::uint64_t avg_hc_entry_ns = 0;  // kvm_hypercall -> kvm_entry
    std::vector<std::uint64_t> log2_usecs;  // slots 0..last non-empty

    bool operator==(const SummaryRow& o) const
    {
        return pid == o.pid && nr == o.nr && count == o.count && min_ns == o.min_ns &&
               avg_ns == o.avg_ns && p50_ns == o.p50_ns && p99_ns == o.p99_ns &&
               p999_ns == o.p999_ns && max_ns == o.max_ns &&
               avg_exit_hc_ns == o.avg_exit_hc_ns && avg_hc_entry_ns == o.avg_hc_entry_ns &&
               log2_usecs == o.log2_usecs;
    }
};

// Slots 0..last non-empty of a log2 histogram (what rows keep and print).
std::vector<std::uint64_t> trim_log2(
    const std::array<std::uint64_t, LatencyRecorder::kLog2Slots>& slots);

// Rows (sorted by (pid, nr)), per key: a stats line, an exit/hypercall/entry
// split line and the histogram, bcc style.  A non-empty `header` is printed
// first on a line of its own (the -i/--interval timestamp, see
// interval_header()).  Prints "no hypercalls traced" when rows is empty.
void print_summary_text(std::ostream& out, const std::vector<SummaryRow>& rows,
                        const std::string& header = {});
// One JSON object per row and line: pid, nr, count, min_ns, avg_ns, p50_ns,
// p99_ns, p999_ns, max_ns, avg_exit_hc_ns, avg_hc_entry_ns,
// hist_usecs: [{"lo":0,"hi":1,"count":N}, ...] (slots 0..last non-empty,
// like the text histogram).  A non-empty `interval` adds "interval":"<it>"
// as the first key of every object, so interval batches stay apart in one
// stream; empty rows print nothing.
void print_summary_json(std::ostream& out, const std::vector<SummaryRow>& rows,
                        const std::string& interval = {});
// "HH:MM:SS" of t in local time, as bcc tools head each interval.
std::string interval_header(std::time_t t);

class Summary {
public:
    Summary() = default;
    // Movable (the cached key pointer is dropped), not copyable.
    Summary(Summary&& o) noexcept
        : stats_(std::move(o.stats_)), total_(o.total_)
    {
        o.total_ = 0;
        o.reset_cache();
    }
    Summary& operator=(Summary&& o) noexcept
    {
        stats_ = std::move(o.stats_);
        total_ = o.total_;
        o.total_ = 0;
        reset_cache();
        o.reset_cache();
        return *this;
    }

    void add(const ht_record& r);

    std::uint64_t total() const { return total_; }   // records added
    std::vector<SummaryRow> rows() const;            // sorted by (pid, nr)

    // See print_summary_text.
    void print_text(std::ostream& out) const { print_summary_text(out, rows()); }
    // See print_summary_json.
    void print_json(std::ostream& out) const { print_summary_json(out, rows()); }

private:
    struct Key {
        std::uint32_t pid;
        std::uint64_t nr;
        bool operator==(const Key& o) const { return pid == o.pid && nr == o.nr; }
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const
        {
            return static_cast<std::size_t>((k.nr * 0x9e3779b97f4a7c15ull) ^ k.pid);
        }
    };

    // A key's latencies and the sums behind the two split averages.
    struct KeyStats {
        LatencyRecorder latency;
        unsigned __int128 sum_exit_hc = 0, sum_hc_entry = 0;
    };

    void reset_cache() { last_ = nullptr; }

    std::unordered_map<Key, KeyStats, KeyHash> stats_;
    // Hypercall streams repeat keys; skip the hash lookup then (unordered_map
    // references stay valid across rehashing).
    Key last_key_{};
    KeyStats* last_ = nullptr;
    std::uint64_t total_ = 0;
};

}  // namespace hypertrace
