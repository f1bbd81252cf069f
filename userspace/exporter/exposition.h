// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve: /metrics in the Prometheus text format 0.0.4 or OpenMetrics 1.0.0,
// chosen by the scraper's Accept header (negotiate()).
//
// Both formats print the same samples; they differ in the counter family
// line (0.0.4: "# TYPE x_total counter"; OpenMetrics: "# TYPE x counter"),
// the # UNIT line and the closing "# EOF" (OpenMetrics only).  Numbers in
// seconds are exact decimals of whole nanoseconds (sum_ns / 1e9 printed
// digit by digit), never rounded through a double.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "backend/backend.h"
#include "exporter/series_store.h"

namespace hypertrace {

enum class ExpositionFormat { Text004, OpenMetrics100 };

// The format for an Accept header: the supported media range with the
// highest q (OpenMetrics 1.0.0 / 0.0.1, text/plain 0.0.4, */*, text/*);
// ties go to the first listed; text 0.0.4 when nothing is supported or no
// header was sent (what Prometheus's own client libraries do).
ExpositionFormat negotiate(std::string_view accept);
const char* content_type(ExpositionFormat f);

// "a\"b\\c\nd" as a label value: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view v);
// Whole nanoseconds as seconds, exact: 1500 -> "0.0000015", 2000000000 -> "2".
std::string ns_to_seconds(unsigned __int128 ns);

// The tool's own BPF programs' cost (bpf_prog_info, exporter/bpf_stats.h),
// when the kernel counts it (kernel.bpf_stats_enabled=1).
struct BpfCost {
    std::uint64_t run_time_ns = 0;
    std::uint64_t run_cnt = 0;
    std::uint32_t programs = 0;
};

struct ExporterState {
    const SeriesStore* store = nullptr;
    Counters counters{};              // the backend's, cumulative since start
    std::optional<BpfCost> bpf_cost;  // absent: kmod backend, or bpf_stats off
    std::string backend;              // "bpf" or "kmod"
};

// The whole /metrics body, appended to out (cleared first; its capacity is
// kept, so a scrape loop does not reallocate).
void render_metrics(const ExporterState& s, ExpositionFormat f, std::string& out);

}  // namespace hypertrace
