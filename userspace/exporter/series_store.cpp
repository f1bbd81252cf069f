// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "exporter/series_store.h"

#include <utility>

extern "C" {
#include "ht_hist.h"
}

namespace hypertrace {

void fold_value(SeriesData& into, const ht_agg_value& v)
{
    if (v.count == 0)
        return;
    into.count += v.count;
    into.sum_ns += v.sum_ns;
    // Kernel bucket idx holds values in [lower(idx), lower(idx + 1)); every
    // exported bound 2^e is some kernel bucket's lower bound, so the whole
    // bucket lies below 2^e exactly when its lower bound does.
    std::size_t j = 0;
    for (__u32 idx = 0; idx < HT_HIST_BUCKETS; idx++) {
        if (!v.buckets[idx])
            continue;
        const std::uint64_t lower = ht_hist_lower(idx);
        while (j < kBounds && lower > bucket_le_ns(j))
            j++;
        if (j == kBounds)
            break;  // this and the later buckets are above the last bound: +Inf only
        into.le[j] += v.buckets[idx];
    }
}

SeriesStore::SeriesStore(std::size_t max_series, std::chrono::nanoseconds grace, LabelSource labels)
    : max_series_(max_series), grace_(grace), labels_(std::move(labels))
{
    overflow_.labels.vm = "_overflow_";
}

void SeriesStore::add(const AggregateEntry& e)
{
    if (e.value.count == 0)
        return;
    const Key key{e.key.pid, e.key.abi, e.key.nr};
    auto it = series_.find(key);
    if (it == series_.end()) {
        if (series_.size() >= max_series_) {
            overflow_keys_++;
            fold_value(overflow_.data, e.value);
            return;
        }
        StoredSeries s;
        s.labels = labels_(e.key.pid, e.key.abi, e.key.nr);
        it = series_.emplace(key, std::move(s)).first;
    }
    fold_value(it->second.data, e.value);
}

void SeriesStore::add(const ht_record& r) { add(aggregate_entry(r)); }

void SeriesStore::expire(std::chrono::steady_clock::time_point now, const std::function<bool(std::uint32_t)>& alive)
{
    for (auto it = series_.begin(); it != series_.end();) {
        StoredSeries& s = it->second;
        if (alive(std::get<0>(it->first))) {
            s.gone_since.reset();
        } else if (!s.gone_since) {
            s.gone_since = now;
        } else if (now - *s.gone_since >= grace_) {
            expired_++;
            it = series_.erase(it);
            continue;
        }
        ++it;
    }
}

}  // namespace hypertrace
