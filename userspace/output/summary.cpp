// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/summary.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <time.h>

namespace hypertrace {

namespace {

unsigned floor_log2(std::uint64_t v)  // v > 0
{
    return 63u - static_cast<unsigned>(__builtin_clzll(v));
}

// "1234.567" from ns, exact.
std::string usecs(std::uint64_t ns)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%llu.%03llu",
                  static_cast<unsigned long long>(ns / 1000),
                  static_cast<unsigned long long>(ns % 1000));
    return buf;
}

// libbpf-tools' print_stars: `width` columns, '+' when val exceeds val_max.
void print_stars(std::ostream& out, std::uint64_t val, std::uint64_t val_max, int width)
{
    std::uint64_t stars = std::min(val, val_max) * static_cast<std::uint64_t>(width) / val_max;
    out << std::string(stars, '*') << std::string(static_cast<std::size_t>(width) - stars, ' ');
    if (val > val_max)
        out << '+';
}

// Slot bounds in microseconds, as libbpf-tools prints them (slot 0: 0..1).
std::uint64_t slot_lo(std::size_t i)
{
    return i == 0 ? 0 : std::uint64_t{1} << i;
}
std::uint64_t slot_hi(std::size_t i)
{
    return i >= 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (i + 1)) - 1;
}

// libbpf-tools' print_log2_hist (trace_helpers.c), with 64-bit counts.
void print_log2_hist(std::ostream& out, const std::vector<std::uint64_t>& vals,
                     const char* val_type)
{
    if (vals.empty())
        return;
    const std::size_t idx_max = vals.size() - 1;
    const std::uint64_t val_max = *std::max_element(vals.begin(), vals.end());
    const bool wide = idx_max > 32;
    const int stars = wide ? 20 : 40;
    const int width = wide ? 20 : 10;
    char line[128];
    std::snprintf(line, sizeof(line), "%*s%-*s : count    distribution\n",
                  wide ? 15 : 5, "", wide ? 29 : 19, val_type);
    out << line;
    for (std::size_t i = 0; i <= idx_max; i++) {
        std::snprintf(line, sizeof(line), "%*llu -> %-*llu : %-8llu |", width,
                      static_cast<unsigned long long>(slot_lo(i)), width,
                      static_cast<unsigned long long>(slot_hi(i)),
                      static_cast<unsigned long long>(vals[i]));
        out << line;
        print_stars(out, vals[i], val_max, stars);
        out << "|\n";
    }
}

}  // namespace

// --- LatencyRecorder --------------------------------------------------------

LatencyRecorder::LatencyRecorder(std::size_t exact_limit) : exact_limit_(exact_limit) {}

unsigned LatencyRecorder::log2_slot(std::uint64_t us)
{
    return us < 2 ? 0 : floor_log2(us);
}

std::size_t LatencyRecorder::bucket_index(std::uint64_t ns)
{
    // Below 2 * 128 every value has its own bucket; above, keep the top 8
    // significant bits (1 implicit + 7 sub-bucket bits).
    if (ns < 2 * kChunk)
        return static_cast<std::size_t>(ns);
    unsigned shift = floor_log2(ns) - kSubBits;
    return (shift + 1) * kChunk + static_cast<std::size_t>((ns >> shift) - kChunk);
}

std::uint64_t LatencyRecorder::bucket_lower(std::size_t index)
{
    std::size_t chunk = index / kChunk, sub = index % kChunk;
    if (chunk == 0)
        return sub;
    return static_cast<std::uint64_t>(kChunk + sub) << (chunk - 1);
}

void LatencyRecorder::bucket_add(std::uint64_t ns, std::uint64_t n)
{
    std::size_t idx = bucket_index(ns);
    std::size_t chunk = idx / kChunk;
    if (chunk >= chunks_.size())
        chunks_.resize(chunk + 1);
    if (!chunks_[chunk])
        chunks_[chunk] = std::make_unique<std::array<std::uint64_t, kChunk>>();
    (*chunks_[chunk])[idx % kChunk] += n;
}

void LatencyRecorder::to_buckets()
{
    for (std::uint64_t v : values_)
        bucket_add(v, 1);
    std::vector<std::uint64_t>().swap(values_);  // release the memory
    buckets_mode_ = true;
}

void LatencyRecorder::add(std::uint64_t ns)
{
    if (count_ == 0 || ns < min_)
        min_ = ns;
    if (ns > max_)
        max_ = ns;
    count_++;
    sum_ += ns;
    log2_[log2_slot(ns / 1000)]++;
    if (buckets_mode_) {
        bucket_add(ns, 1);
        return;
    }
    if (!values_.empty() && ns < values_.back())
        sorted_ = false;
    values_.push_back(ns);
    if (values_.size() > exact_limit_)
        to_buckets();
}

std::uint64_t LatencyRecorder::avg() const
{
    return count_ ? static_cast<std::uint64_t>(sum_ / count_) : 0;
}

std::uint64_t LatencyRecorder::percentile(unsigned permille) const
{
    if (count_ == 0)
        return 0;
    permille = std::clamp(permille, 1u, 1000u);
    // rank = ceil(permille * count / 1000), in 128 bits: no overflow, no
    // floating-point rounding (0.99 * 100 must be 99, not 100).
    auto rank = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(permille) * count_ + 999) / 1000);
    if (rank == 0)
        rank = 1;
    if (!buckets_mode_) {
        if (!sorted_) {
            std::sort(values_.begin(), values_.end());
            sorted_ = true;
        }
        return values_[rank - 1];
    }
    std::uint64_t seen = 0;
    for (std::size_t c = 0; c < chunks_.size(); c++) {
        if (!chunks_[c])
            continue;
        for (std::size_t s = 0; s < kChunk; s++) {
            seen += (*chunks_[c])[s];
            if (seen >= rank)
                return std::clamp(bucket_lower(c * kChunk + s), min_, max_);
        }
    }
    return max_;  // not reached: the buckets hold count_ values
}

// --- Summary ----------------------------------------------------------------

void Summary::add(const ht_record& r)
{
    Key k{r.pid, r.nr};
    if (!last_ || !(k == last_key_)) {
        last_ = &stats_[k];
        last_key_ = k;
    }
    // The same arithmetic as ht_agg_add, so both paths print the same numbers.
    last_->latency.add(r.t_entry_ns > r.t_exit_ns ? r.t_entry_ns - r.t_exit_ns : 0);
    last_->sum_exit_hc += r.t_hypercall_ns > r.t_exit_ns ? r.t_hypercall_ns - r.t_exit_ns : 0;
    last_->sum_hc_entry += r.t_entry_ns > r.t_hypercall_ns ? r.t_entry_ns - r.t_hypercall_ns : 0;
    total_++;
}

std::vector<SummaryRow> Summary::rows() const
{
    std::vector<SummaryRow> rows;
    rows.reserve(stats_.size());
    for (const auto& [k, st] : stats_) {
        const LatencyRecorder& s = st.latency;
        SummaryRow row;
        row.pid = k.pid;
        row.nr = k.nr;
        row.count = s.count();
        row.min_ns = s.min();
        row.avg_ns = s.avg();
        row.p50_ns = s.percentile(500);
        row.p99_ns = s.percentile(990);
        row.p999_ns = s.percentile(999);
        row.max_ns = s.max();
        if (row.count) {
            row.avg_exit_hc_ns = static_cast<std::uint64_t>(st.sum_exit_hc / row.count);
            row.avg_hc_entry_ns = static_cast<std::uint64_t>(st.sum_hc_entry / row.count);
        }
        row.log2_usecs = trim_log2(s.log2_usecs());
        rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end(), [](const SummaryRow& a, const SummaryRow& b) {
        return a.pid < b.pid || (a.pid == b.pid && a.nr < b.nr);
    });
    return rows;
}

// --- Printing (both sources) ------------------------------------------------

std::vector<std::uint64_t> trim_log2(
    const std::array<std::uint64_t, LatencyRecorder::kLog2Slots>& slots)
{
    std::size_t last = 0;
    for (std::size_t i = 0; i < slots.size(); i++)
        if (slots[i])
            last = i;
    return std::vector<std::uint64_t>(slots.begin(),
                                      slots.begin() + static_cast<std::ptrdiff_t>(last) + 1);
}

void print_summary_text(std::ostream& out, const std::vector<SummaryRow>& rows,
                        const std::string& header)
{
    if (!header.empty())
        out << header << '\n';
    if (rows.empty()) {
        out << "no hypercalls traced\n";
        return;
    }
    bool first = true;
    for (const SummaryRow& r : rows) {
        if (!first)
            out << '\n';
        first = false;
        out << "pid = " << r.pid << ", nr = " << r.nr << ": count " << r.count
            << ", latency (us): min " << usecs(r.min_ns) << " avg " << usecs(r.avg_ns)
            << " p50 " << usecs(r.p50_ns) << " p99 " << usecs(r.p99_ns) << " p99.9 "
            << usecs(r.p999_ns) << " max " << usecs(r.max_ns) << '\n'
            << "  avg (us): exit->hypercall " << usecs(r.avg_exit_hc_ns)
            << " hypercall->entry " << usecs(r.avg_hc_entry_ns) << '\n';
        print_log2_hist(out, r.log2_usecs, "usecs");
    }
}

void print_summary_json(std::ostream& out, const std::vector<SummaryRow>& rows,
                        const std::string& interval)
{
    for (const SummaryRow& r : rows) {
        out << '{';
        // interval_header() output needs no escaping; anything else the
        // caller passes must not contain '"' or '\\'.
        if (!interval.empty())
            out << "\"interval\":\"" << interval << "\",";
        out << "\"pid\":" << r.pid << ",\"nr\":" << r.nr << ",\"count\":" << r.count
            << ",\"min_ns\":" << r.min_ns << ",\"avg_ns\":" << r.avg_ns
            << ",\"p50_ns\":" << r.p50_ns << ",\"p99_ns\":" << r.p99_ns
            << ",\"p999_ns\":" << r.p999_ns << ",\"max_ns\":" << r.max_ns
            << ",\"avg_exit_hc_ns\":" << r.avg_exit_hc_ns
            << ",\"avg_hc_entry_ns\":" << r.avg_hc_entry_ns << ",\"hist_usecs\":[";
        for (std::size_t i = 0; i < r.log2_usecs.size(); i++) {
            out << (i ? "," : "") << "{\"lo\":" << slot_lo(i) << ",\"hi\":" << slot_hi(i)
                << ",\"count\":" << r.log2_usecs[i] << '}';
        }
        out << "]}\n";
    }
}

std::string interval_header(std::time_t t)
{
    struct tm tm {};
    char buf[16];
    if (!localtime_r(&t, &tm) || std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm) == 0)
        return "??:??:??";
    return buf;
}

}  // namespace hypertrace
