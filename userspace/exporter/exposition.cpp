// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "exporter/exposition.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "util/strings.h"

namespace hypertrace {
namespace {

std::string lower(std::string_view s)
{
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
    return r;
}

// One media range of an Accept header: its format (if supported) and q.
struct Range {
    std::optional<ExpositionFormat> format;
    double q = 1.0;
};

Range parse_range(std::string_view item)
{
    Range r;
    std::string type;
    std::string version;
    std::size_t i = 0;
    bool first = true;
    while (i <= item.size()) {
        std::size_t semi = item.find(';', i);
        if (semi == std::string_view::npos)
            semi = item.size();
        const std::string_view part = trim(item.substr(i, semi - i));
        if (first) {
            type = lower(part);
            first = false;
        } else if (const std::size_t eq = part.find('='); eq != std::string_view::npos) {
            const std::string key = lower(trim(part.substr(0, eq)));
            const std::string_view value = trim(part.substr(eq + 1));
            if (key == "q")
                r.q = std::strtod(std::string(value).c_str(), nullptr);
            else if (key == "version")
                version = std::string(value);
        }
        i = semi + 1;
    }
    if (type == "application/openmetrics-text" && (version.empty() || version == "1.0.0" || version == "0.0.1"))
        r.format = ExpositionFormat::OpenMetrics100;
    else if (type == "text/plain" && (version.empty() || version == "0.0.4"))
        r.format = ExpositionFormat::Text004;
    else if (type == "*/*" || type == "text/*")
        r.format = ExpositionFormat::Text004;
    return r;
}

// Decimal digits without a temporary string (a scrape writes thousands).
void append_u128(std::string& out, unsigned __int128 v)
{
    char buf[48];
    char* p = buf + sizeof buf;
    do {
        *--p = static_cast<char>('0' + static_cast<int>(v % 10));
        v /= 10;
    } while (v);
    out.append(p, buf + sizeof buf);
}

void append_u64(std::string& out, std::uint64_t v) { append_u128(out, v); }

// Writes one family's header.  Counters: 0.0.4 names the family with
// _total, OpenMetrics without.
void family(std::string& out, ExpositionFormat f, std::string_view name, std::string_view type, std::string_view help,
            std::string_view unit = {})
{
    std::string_view fam = name;
    if (f == ExpositionFormat::OpenMetrics100 && type == "counter" && fam.size() > 6 &&
        fam.substr(fam.size() - 6) == "_total")
        fam.remove_suffix(6);
    out += "# HELP ";
    out += fam;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += fam;
    out += ' ';
    out += type;
    out += '\n';
    if (f == ExpositionFormat::OpenMetrics100 && !unit.empty()) {
        out += "# UNIT ";
        out += fam;
        out += ' ';
        out += unit;
        out += '\n';
    }
}

void sample(std::string& out, std::string_view name, std::uint64_t v)
{
    out += name;
    out += ' ';
    append_u64(out, v);
    out += '\n';
}

// {pid="..",vm="..",uuid="..",abi="..",nr="..",name=".."  (no closing brace)
void open_labels(std::string& out, const SeriesLabels& l)
{
    const std::pair<const char*, const std::string*> labels[] = {{"{pid=\"", &l.pid},     {"\",vm=\"", &l.vm},
                                                                 {"\",uuid=\"", &l.uuid}, {"\",abi=\"", &l.abi},
                                                                 {"\",nr=\"", &l.nr},     {"\",name=\"", &l.name}};
    for (const auto& [prefix, value] : labels) {
        out += prefix;
        out += escape_label_value(*value);
    }
    out += '"';
}

void histogram(std::string& out, const SeriesLabels& l, const SeriesData& d)
{
    std::string labels;
    open_labels(labels, l);
    std::uint64_t cumulative = 0;
    for (std::size_t j = 0; j < kBounds; j++) {
        // The kernel may be read while a CPU is between its count and its
        // bucket increments: never let a bucket exceed the count.
        cumulative = std::min(cumulative + d.le[j], d.count);
        out += "hypertrace_hypercall_duration_seconds_bucket";
        out += labels;
        out += ",le=\"";
        out += ns_to_seconds(bucket_le_ns(j));
        out += "\"} ";
        append_u64(out, cumulative);
        out += '\n';
    }
    out += "hypertrace_hypercall_duration_seconds_bucket";
    out += labels;
    out += ",le=\"+Inf\"} ";
    append_u64(out, d.count);
    out += "\nhypertrace_hypercall_duration_seconds_sum";
    out += labels;
    out += "} ";
    out += ns_to_seconds(d.sum_ns);
    out += "\nhypertrace_hypercall_duration_seconds_count";
    out += labels;
    out += "} ";
    append_u64(out, d.count);
    out += '\n';
}

void per_series_counter(std::string& out, const SeriesLabels& l, std::uint64_t v)
{
    out += "hypertrace_hypercalls_total";
    open_labels(out, l);
    out += "} ";
    append_u64(out, v);
    out += '\n';
}

}  // namespace

ExpositionFormat negotiate(std::string_view accept)
{
    std::optional<ExpositionFormat> best;
    double best_q = 0;
    std::size_t i = 0;
    while (i <= accept.size()) {
        std::size_t comma = accept.find(',', i);
        if (comma == std::string_view::npos)
            comma = accept.size();
        const Range r = parse_range(accept.substr(i, comma - i));
        if (r.format && r.q > 0 && r.q > best_q) {
            best = r.format;
            best_q = r.q;
        }
        i = comma + 1;
    }
    return best.value_or(ExpositionFormat::Text004);
}

const char* content_type(ExpositionFormat f)
{
    return f == ExpositionFormat::OpenMetrics100 ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                                 : "text/plain; version=0.0.4; charset=utf-8";
}

std::string escape_label_value(std::string_view v)
{
    std::string r;
    r.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            r += "\\\\";
        else if (c == '"')
            r += "\\\"";
        else if (c == '\n')
            r += "\\n";
        else
            r += c;
    }
    return r;
}

std::string ns_to_seconds(unsigned __int128 ns)
{
    std::string s;
    append_u128(s, ns / 1000000000u);
    unsigned frac = static_cast<unsigned>(ns % 1000000000u);
    if (frac) {
        char buf[10];
        for (int i = 8; i >= 0; i--) {
            buf[i] = static_cast<char>('0' + frac % 10);
            frac /= 10;
        }
        int len = 9;
        while (buf[len - 1] == '0')
            len--;
        s += '.';
        s.append(buf, static_cast<std::size_t>(len));
    }
    return s;
}

void render_metrics(const ExporterState& s, ExpositionFormat f, std::string& out)
{
    out.clear();
    const SeriesStore& store = *s.store;
    const StoredSeries& overflow = store.overflow();
    const bool has_overflow = overflow.data.count > 0;

    family(out, f, "hypertrace_hypercall_duration_seconds", "histogram",
           "Hypercall latency (guest exit to guest entry) per VM process and hypercall; bucket bounds are the "
           "in-kernel histogram's powers of two (le = 2^k ns - 1, exact counts).",
           "seconds");
    for (const auto& [key, ser] : store.series())
        histogram(out, ser.labels, ser.data);
    if (has_overflow)
        histogram(out, overflow.labels, overflow.data);

    family(out, f, "hypertrace_hypercalls_total", "counter",
           "Hypercalls traced to completion per VM process and hypercall (equals the histogram's _count).");
    for (const auto& [key, ser] : store.series())
        per_series_counter(out, ser.labels, ser.data.count);
    if (has_overflow)
        per_series_counter(out, overflow.labels, overflow.data.count);

    const Counters& c = s.counters;
    family(out, f, "hypertrace_kernel_hypercalls_total", "counter",
           "Hypercall events the kernel saw for the traced VMs (traced, filtered, unmatched or dropped).");
    sample(out, "hypertrace_kernel_hypercalls_total", c[HT_CNT_HYPERCALLS]);
    family(out, f, "hypertrace_dropped_total", "counter",
           "Hypercalls that found no room in the kernel (statistics table and ring full): not in any series.");
    sample(out, "hypertrace_dropped_total", c[HT_CNT_DROPPED]);
    family(out, f, "hypertrace_unmatched_total", "counter",
           "Hypercalls without an exit before them or with another exit or thread before their entry.");
    sample(out, "hypertrace_unmatched_total", c[HT_CNT_UNMATCHED_HYPERCALL]);
    family(out, f, "hypertrace_in_flight", "gauge", "Hypercalls waiting for their guest entry now.");
    sample(out, "hypertrace_in_flight", c[HT_CNT_IN_FLIGHT]);
    family(out, f, "hypertrace_state_lost_total", "counter",
           "Events whose per-thread state was evicted or could not be allocated.");
    sample(out, "hypertrace_state_lost_total", c[HT_CNT_EVICTED] + c[HT_CNT_NO_STATE]);

    family(out, f, "hypertrace_series", "gauge", "Series (VM process, ABI, hypercall) exported now.");
    sample(out, "hypertrace_series", store.series().size());
    family(out, f, "hypertrace_series_limit", "gauge", "The --max-series limit.");
    sample(out, "hypertrace_series_limit", store.max_series());
    family(out, f, "hypertrace_series_overflow_hypercalls_total", "counter",
           "Hypercalls counted in the vm=_overflow_ series because --max-series was reached.");
    sample(out, "hypertrace_series_overflow_hypercalls_total", store.overflow_hypercalls());
    family(out, f, "hypertrace_series_expired_total", "counter",
           "Series dropped because their VM process had exited longer than the grace period ago.");
    sample(out, "hypertrace_series_expired_total", store.expired());

    if (s.bpf_cost) {
        family(out, f, "hypertrace_bpf_run_time_seconds_total", "counter",
               "Time the kernel spent in hypertrace's BPF programs (kernel.bpf_stats_enabled=1 only).", "seconds");
        out += "hypertrace_bpf_run_time_seconds_total ";
        out += ns_to_seconds(s.bpf_cost->run_time_ns);
        out += '\n';
        family(out, f, "hypertrace_bpf_runs_total", "counter",
               "Runs of hypertrace's BPF programs (kernel.bpf_stats_enabled=1 only).");
        sample(out, "hypertrace_bpf_runs_total", s.bpf_cost->run_cnt);
    }
    family(out, f, "hypertrace_backend_info", "gauge", "The tracing backend in use (value 1).");
    out += "hypertrace_backend_info{backend=\"";
    out += escape_label_value(s.backend);
    out += "\"} 1\n";
    if (f == ExpositionFormat::OpenMetrics100)
        out += "# EOF\n";
}

}  // namespace hypertrace
