// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/aggregate_summary.h"

#include <algorithm>

namespace hypertrace {

namespace {

unsigned floor_log2(std::uint64_t v)  // v > 0
{
    return 63u - static_cast<unsigned>(__builtin_clzll(v));
}

std::uint64_t clamp_lower(std::size_t idx, std::uint64_t min_ns, std::uint64_t max_ns)
{
    return std::clamp<std::uint64_t>(ht_hist_lower(static_cast<__u32>(idx)), min_ns, std::max(min_ns, max_ns));
}

}  // namespace

unsigned log2_slot(std::uint64_t us) { return us < 2 ? 0 : floor_log2(us); }

std::vector<std::uint64_t> trim_log2(const std::array<std::uint64_t, kLog2Slots>& slots)
{
    std::size_t last = 0;
    for (std::size_t i = 0; i < slots.size(); i++)
        if (slots[i])
            last = i;
    return std::vector<std::uint64_t>(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(last) + 1);
}

std::uint64_t hist_percentile(const __u64* buckets, std::size_t n, std::uint64_t min_ns, std::uint64_t max_ns,
                              unsigned permille)
{
    unsigned __int128 total = 0;
    for (std::size_t i = 0; i < n; i++)
        total += buckets[i];
    if (total == 0)
        return 0;
    permille = std::clamp(permille, 1u, 1000u);
    // rank = ceil(permille * total / 1000) in integers: 0.999 * 1000 must be
    // 999, not 1000.
    unsigned __int128 rank = (permille * total + 999) / 1000;
    unsigned __int128 seen = 0;
    for (std::size_t i = 0; i < n; i++) {
        seen += buckets[i];
        if (buckets[i] && seen >= rank)
            return clamp_lower(i, min_ns, max_ns);
    }
    return max_ns;  // not reached: rank <= total
}

std::array<std::uint64_t, kLog2Slots> hist_log2_usecs(const __u64* buckets, std::size_t n, std::uint64_t min_ns,
                                                      std::uint64_t max_ns)
{
    std::array<std::uint64_t, kLog2Slots> slots{};
    for (std::size_t i = 0; i < n; i++)
        if (buckets[i])
            slots[log2_slot(clamp_lower(i, min_ns, max_ns) / 1000)] += buckets[i];
    return slots;
}

void AggregateSummary::add(const AggregateEntry& e)
{
    const ht_agg_value& v = e.value;
    if (v.count == 0)
        return;
    Merged& m = keys_[{e.key.pid, e.key.abi, e.key.nr}];
    if (m.count == 0 || v.min_ns < m.min_ns)
        m.min_ns = v.min_ns;
    m.max_ns = std::max<std::uint64_t>(m.max_ns, v.max_ns);
    m.count += v.count;
    m.sum_ns += v.sum_ns;
    m.sum_exit_hc_ns += v.sum_exit_hc_ns;
    m.sum_hc_entry_ns += v.sum_hc_entry_ns;
    m.vmm_count += v.vmm_count;
    m.sum_vmm_ns += v.sum_vmm_ns;
    m.buckets.resize(HT_HIST_BUCKETS);
    for (std::size_t i = 0; i < HT_HIST_BUCKETS; i++)
        m.buckets[i] += v.buckets[i];
    total_ += v.count;
}

void AggregateSummary::add(const ht_record& r) { add(aggregate_entry(r)); }

void AggregateSummary::add(const std::vector<AggregateEntry>& batch)
{
    for (const AggregateEntry& e : batch)
        add(e);
}

void AggregateSummary::clear()
{
    keys_.clear();
    total_ = 0;
}

std::vector<SummaryRow> AggregateSummary::rows() const
{
    std::vector<SummaryRow> rows;
    rows.reserve(keys_.size());
    for (const auto& [k, m] : keys_) {  // std::map: already in (pid, abi, nr) order
        const __u64* b = m.buckets.data();
        const std::size_t n = m.buckets.size();
        SummaryRow row;
        row.pid = std::get<0>(k);
        row.abi = std::get<1>(k);
        row.nr = std::get<2>(k);
        row.vmm_count = m.vmm_count;
        row.avg_vmm_ns = m.vmm_count ? static_cast<std::uint64_t>(m.sum_vmm_ns / m.vmm_count) : 0;
        row.count = m.count;
        row.min_ns = m.min_ns;
        row.max_ns = m.max_ns;
        row.avg_ns = static_cast<std::uint64_t>(m.sum_ns / m.count);  // count > 0 (add)
        row.avg_exit_hc_ns = static_cast<std::uint64_t>(m.sum_exit_hc_ns / m.count);
        row.avg_hc_entry_ns = static_cast<std::uint64_t>(m.sum_hc_entry_ns / m.count);
        row.p50_ns = hist_percentile(b, n, m.min_ns, m.max_ns, 500);
        row.p99_ns = hist_percentile(b, n, m.min_ns, m.max_ns, 990);
        row.p999_ns = hist_percentile(b, n, m.min_ns, m.max_ns, 999);
        row.log2_usecs = trim_log2(hist_log2_usecs(b, n, m.min_ns, m.max_ns));
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<SummaryRow> aggregate_rows(const std::vector<AggregateEntry>& batch)
{
    AggregateSummary s;
    s.add(batch);
    return s.rows();
}

}  // namespace hypertrace
