// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --summary: the rows hypertrace prints (one per (pid, ABI, hypercall nr)) and
// the one printer for them: text, bcc style, and JSON lines.
//
// The rows come from AggregateSummary (aggregate_summary.h): the backends'
// in-kernel statistics (common/ht_hist.h), plus the hypercalls that found no
// room there and travelled as records, added to the same log-linear buckets
// with ht_agg_add.  Latency is t_entry_ns - t_exit_ns (0 if entry is before
// exit).  Per key: count, min, avg (floor of the exact mean), p50, p99,
// p99.9, max, the average exit->hypercall and hypercall->entry times (each
// floor of the exact mean, each part 0 when its timestamps are out of order),
// and a log2 histogram of microseconds printed like libbpf-tools'
// print_log2_hist.  count, min, max and the averages are exact; how far a
// percentile or a histogram slot can be off is in aggregate_summary.h.
#pragma once

#include <cstdint>
#include <ctime>
#include <ostream>
#include <string>
#include <vector>

#include "vm/vm_identity.h"

namespace hypertrace {

// One line of the summary: one (pid, abi, nr).
struct SummaryRow {
    std::uint32_t pid = 0;
    std::uint8_t abi = 0;  // enum ht_abi
    std::uint64_t nr = 0;
    std::uint64_t count = 0;
    std::uint64_t min_ns = 0, avg_ns = 0, p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
    std::uint64_t avg_exit_hc_ns = 0;       // kvm_exit -> kvm_hypercall
    std::uint64_t avg_hc_entry_ns = 0;      // kvm_hypercall -> kvm_entry
    std::uint64_t vmm_count = 0;            // calls that went back to the VMM
    std::uint64_t avg_vmm_ns = 0;           // their VMM part (entry - userspace exit); 0 if none
    std::vector<std::uint64_t> log2_usecs;  // slots 0..last non-empty
    VmIdentity vm;                          // the VM of pid (vm/vm_resolver.h), or none

    bool operator==(const SummaryRow& o) const
    {
        return pid == o.pid && abi == o.abi && nr == o.nr && count == o.count && vmm_count == o.vmm_count &&
               avg_vmm_ns == o.avg_vmm_ns && min_ns == o.min_ns && avg_ns == o.avg_ns && p50_ns == o.p50_ns &&
               p99_ns == o.p99_ns && p999_ns == o.p999_ns && max_ns == o.max_ns && avg_exit_hc_ns == o.avg_exit_hc_ns &&
               avg_hc_entry_ns == o.avg_hc_entry_ns && log2_usecs == o.log2_usecs;
    }
};

// Rows (sorted by (pid, abi, nr)), per key: a stats line ("pid = 1, abi =
// kvm, nr = 10 (KVM_HC_SEND_IPI): count ...", the name from the row's ABI's
// table in brackets when the nr has one), an exit/hypercall/entry split line
// and the histogram, bcc style.  A row of a named VM starts "vm = NAME, pid =
// ..." (output/vm_columns.h's text name).  A non-empty `header` is printed
// first on a line of its own (the -i/--interval timestamp, see
// interval_header()).  Prints "no hypercalls traced" when rows is empty.
void print_summary_text(std::ostream& out, const std::vector<SummaryRow>& rows, const std::string& header = {});
// One JSON object per row and line: pid, nr, count, min_ns, avg_ns, p50_ns,
// p99_ns, p999_ns, max_ns, avg_exit_hc_ns, avg_hc_entry_ns,
// hist_usecs: [{"lo":0,"hi":1,"count":N}, ...] (slots 0..last non-empty,
// like the text histogram), name (the hypercall's in the row's ABI, or
// null; appended, as in the records' JSON), then abi ("kvm", "hyperv",
// "xen"), vmm_count (calls that went back to the VMM) and avg_vmm_ns (their
// VMM part), then vm, vm_uuid (null when unknown), vm_source.  A non-empty
// `interval` adds "interval":"<it>"
// as the first key of every object, so interval batches stay apart in one
// stream; empty rows print nothing.
void print_summary_json(std::ostream& out, const std::vector<SummaryRow>& rows, const std::string& interval = {});
// "HH:MM:SS" of t in local time, as bcc tools head each interval.
std::string interval_header(std::time_t t);

}  // namespace hypertrace
