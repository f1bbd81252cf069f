// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/summary_print.h"

#include <time.h>
#include <algorithm>
#include <cstdio>
#include <string>

#include "names/hypercall_lookup.h"
#include "output/record_format.h"  // abi_name, hypercall_name_of
#include "output/vm_columns.h"

namespace hypertrace {

namespace {

// The name a row is labelled with, from its ABI's table (a Hyper-V row's nr
// is the call code).
std::string_view row_name(const SummaryRow& r) { return hypercall_name_of(r.abi, r.nr); }

// "1234.567" from ns, exact.
std::string usecs(std::uint64_t ns)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%llu.%03llu", static_cast<unsigned long long>(ns / 1000),
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
std::uint64_t slot_lo(std::size_t i) { return i == 0 ? 0 : std::uint64_t{1} << i; }
std::uint64_t slot_hi(std::size_t i) { return i >= 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (i + 1)) - 1; }

// libbpf-tools' print_log2_hist (trace_helpers.c), with 64-bit counts.
void print_log2_hist(std::ostream& out, const std::vector<std::uint64_t>& vals, const char* val_type)
{
    if (vals.empty())
        return;
    const std::size_t idx_max = vals.size() - 1;
    const std::uint64_t val_max = *std::max_element(vals.begin(), vals.end());
    const bool wide = idx_max > 32;
    const int stars = wide ? 20 : 40;
    const int width = wide ? 20 : 10;
    char line[128];
    std::snprintf(line, sizeof(line), "%*s%-*s : count    distribution\n", wide ? 15 : 5, "", wide ? 29 : 19, val_type);
    out << line;
    for (std::size_t i = 0; i <= idx_max; i++) {
        std::snprintf(line, sizeof(line), "%*llu -> %-*llu : %-8llu |", width,
                      static_cast<unsigned long long>(slot_lo(i)), width, static_cast<unsigned long long>(slot_hi(i)),
                      static_cast<unsigned long long>(vals[i]));
        out << line;
        print_stars(out, vals[i], val_max, stars);
        out << "|\n";
    }
}

}  // namespace

void print_summary_text(std::ostream& out, const std::vector<SummaryRow>& rows, const std::string& header)
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
        // "pid = 1, abi = hyperv, nr = 92 (HvCallPostMessage): ...": nr in
        // decimal as the records' NR column, the name from the row's ABI.
        const std::string_view name = row_name(r);
        if (r.vm.source != VmSource::None)
            out << "vm = " << VmColumns::text_name(r.vm) << ", ";
        out << "pid = " << r.pid << ", abi = " << abi_name(r.abi) << ", nr = " << r.nr;
        if (!name.empty())
            out << " (" << name << ')';
        out << ": count " << r.count << ", latency (us): min " << usecs(r.min_ns) << " avg " << usecs(r.avg_ns)
            << " p50 " << usecs(r.p50_ns) << " p99 " << usecs(r.p99_ns) << " p99.9 " << usecs(r.p999_ns) << " max "
            << usecs(r.max_ns) << '\n'
            << "  avg (us): exit->hypercall " << usecs(r.avg_exit_hc_ns) << " hypercall->entry "
            << usecs(r.avg_hc_entry_ns);
        // The VMM's part of the calls KVM handed to it; the kernel's part
        // is the rest of their latency.
        if (r.vmm_count)
            out << " vmm (" << r.vmm_count << " calls) " << usecs(r.avg_vmm_ns);
        out << '\n';
        print_log2_hist(out, r.log2_usecs, "usecs");
    }
}

void print_summary_json(std::ostream& out, const std::vector<SummaryRow>& rows, const std::string& interval)
{
    for (const SummaryRow& r : rows) {
        out << '{';
        // interval_header() output needs no escaping; anything else the
        // caller passes must not contain '"' or '\\'.
        if (!interval.empty())
            out << "\"interval\":\"" << interval << "\",";
        out << "\"pid\":" << r.pid << ",\"nr\":" << r.nr << ",\"count\":" << r.count << ",\"min_ns\":" << r.min_ns
            << ",\"avg_ns\":" << r.avg_ns << ",\"p50_ns\":" << r.p50_ns << ",\"p99_ns\":" << r.p99_ns
            << ",\"p999_ns\":" << r.p999_ns << ",\"max_ns\":" << r.max_ns << ",\"avg_exit_hc_ns\":" << r.avg_exit_hc_ns
            << ",\"avg_hc_entry_ns\":" << r.avg_hc_entry_ns << ",\"hist_usecs\":[";
        for (std::size_t i = 0; i < r.log2_usecs.size(); i++) {
            out << (i ? "," : "") << "{\"lo\":" << slot_lo(i) << ",\"hi\":" << slot_hi(i)
                << ",\"count\":" << r.log2_usecs[i] << '}';
        }
        // Appended, as in the records' JSON (record_format.h): the name,
        // then the ABI and its VMM part, then the VM fields.
        const std::string_view name = row_name(r);
        out << "],\"name\":";
        if (name.empty())
            out << "null";
        else
            out << '"' << name << '"';
        out << ",\"abi\":\"" << abi_name(r.abi) << "\",\"vmm_count\":" << r.vmm_count
            << ",\"avg_vmm_ns\":" << r.avg_vmm_ns;
        out << ",\"vm\":" << (r.vm.source == VmSource::None ? std::string("null") : VmColumns::json_string(r.vm.name))
            << ",\"vm_uuid\":" << (r.vm.uuid.empty() ? std::string("null") : VmColumns::json_string(r.vm.uuid))
            << ",\"vm_source\":\"" << vm_source_name(r.vm.source) << "\"}\n";
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
