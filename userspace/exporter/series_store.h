// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve: the cumulative per (pid, abi, nr) statistics the exporter serves.
//
// The backends hand over their in-kernel statistics with take_aggregates()
// (backend/backend.h): each call returns what the kernel gathered since the
// previous one, and a hypercall is in exactly one call's result.  Adding
// every batch here therefore gives the cumulative totals Prometheus expects
// (never reset by a scrape, nothing counted twice or lost between scrapes).
//
// Buckets: the kernel's histogram is log-linear (common/ht_hist.h).  Its
// bucket boundaries include every power of two 2^e ns (e >= 5), and no other
// round number, so the exported bounds are powers of two: bucket j counts
// the latencies below 2^(kFirstLog2 + j) ns, i.e. (latencies being whole
// nanoseconds) those <= 2^(kFirstLog2 + j) - 1 ns, which is the `le` value
// printed (exposition.h).  These counts are exact, not interpolated.
//
// Cardinality: at most max_series series.  A key that would need one more
// goes into the overflow series (labels vm="_overflow_", the others empty)
// and is counted.  A series whose process has gone is dropped once it has
// been gone for the grace period.  Labels are fixed when a series is made
// (Prometheus would see a renamed series as a new one starting from its
// whole count, and increase() over it would lose that count).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

// Exported bounds: 2^8 ns (256 ns) .. 2^33 ns (8.6 s), every power of two.
constexpr unsigned kFirstLog2 = 8;
constexpr unsigned kLastLog2 = 33;
constexpr std::size_t kBounds = kLastLog2 - kFirstLog2 + 1;

// The inclusive upper bound of exported bucket j, in nanoseconds.
constexpr std::uint64_t bucket_le_ns(std::size_t j) { return (1ull << (kFirstLog2 + j)) - 1; }

struct SeriesLabels {
    std::string pid;   // decimal; empty for the overflow series
    std::string vm;    // the VM's name, "" if it has none (vm/vm_resolver.h)
    std::string uuid;  // lowercase, or ""
    std::string abi;   // "kvm", "hyperv", "xen"
    std::string nr;    // decimal
    std::string name;  // the hypercall's name, "" if unknown
};

struct SeriesData {
    std::uint64_t count = 0;
    unsigned __int128 sum_ns = 0;             // exact
    std::array<std::uint64_t, kBounds> le{};  // per bucket, NOT cumulative; the rest are above the last bound
};

struct StoredSeries {
    SeriesLabels labels;
    SeriesData data;
    std::optional<std::chrono::steady_clock::time_point> gone_since;  // its process has exited
};

// How the store names a new series: called once per new (pid, abi, nr).
using LabelSource = std::function<SeriesLabels(std::uint32_t pid, std::uint8_t abi, std::uint64_t nr)>;

class SeriesStore {
public:
    SeriesStore(std::size_t max_series, std::chrono::nanoseconds grace, LabelSource labels);

    // One take_aggregates() entry, or a hypercall that travelled as a record
    // (its key found no room in the kernel's table).
    void add(const AggregateEntry& e);
    void add(const ht_record& r);

    // Marks series whose process is gone (alive(pid) false) and drops those
    // gone for at least the grace period.
    void expire(std::chrono::steady_clock::time_point now, const std::function<bool(std::uint32_t)>& alive);

    using Key = std::tuple<std::uint32_t, std::uint8_t, std::uint64_t>;  // (pid, abi, nr)
    const std::map<Key, StoredSeries>& series() const { return series_; }
    const StoredSeries& overflow() const { return overflow_; }
    std::uint64_t overflow_hypercalls() const { return overflow_.data.count; }
    std::uint64_t overflow_keys() const { return overflow_keys_; }  // takes folded there (per batch entry)
    std::uint64_t expired() const { return expired_; }
    std::size_t max_series() const { return max_series_; }

private:
    std::size_t max_series_;
    std::chrono::nanoseconds grace_;
    LabelSource labels_;
    std::map<Key, StoredSeries> series_;
    StoredSeries overflow_;
    std::uint64_t overflow_keys_ = 0;
    std::uint64_t expired_ = 0;
};

// Adds one kernel statistics value (log-linear buckets) to exported data.
void fold_value(SeriesData& into, const ht_agg_value& v);

}  // namespace hypertrace
