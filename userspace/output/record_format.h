// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Per-record output: text (bcc-style aligned columns), JSON lines, CSV.
//
// Built for the hot path (>= 1M records/s): each record is formatted with
// std::to_chars into one reusable buffer; the buffer goes to the stream in
// large writes.  So the caller must call flush() whenever it is about to
// block waiting for more records (ring drained), or a live terminal would see
// nothing, and finish() at the end.
//
// JSON and CSV carry the raw record: fields pid, tid, vcpu, cpu, nr, a0..a3,
// isa, exit_reason, t_exit_ns, t_hypercall_ns, t_entry_ns, latency_ns, name,
// then record version 2's fields (below), then the VM fields vm, vm_uuid,
// vm_source, vcpu_index (vm_columns.h), in that order; integers printed
// exactly (no doubles); timestamps are
// CLOCK_MONOTONIC ns; latency_ns = t_entry_ns - t_exit_ns; vcpu / exit_reason
// are null (JSON) or empty (CSV) when the record flags say unknown.  name
// (names/hypercall_lookup.h) came later, so it is appended: null (JSON) or
// empty (CSV) when the nr has none.
//
// Record version 2 appends, in JSON and CSV, after name: abi, a4, a5, hv_fast,
// hv_rep_cnt, hv_rep_idx, hv_var_cnt, hv_ingpa, hv_outgpa, hv_result (null /
// empty without kvm_hv_hypercall_done), t_userspace_exit_ns and uexit_reason
// (null / empty when the call never went back to the VMM), vmm_ns
// (t_entry_ns - t_userspace_exit_ns: the VMM's part of latency_ns; the
// kernel's part is the rest), served_by ("vmm" when KVM handed the call to
// the VMM, HT_REC_F_VMM_SERVED; else "kernel").
//
// Text: one header line, then per record
//   TIME(s) PID TID VCPU NR NAME A0 A1 A2 A3 REASON EXIT>HC(us) HC>ENT(us) LAT(us)
//   ABI VMM(us) VIDX VM
// (VMM(us): the VMM's part of LAT, "-" when the call never went back to it;
// VM last: a VM's name may hold spaces).
// TIME is when the vCPU re-entered the guest (t_entry_ns, the hypercall's
// completion, like biosnoop), as seconds since TimeBase::start_mono_ns or,
// with TimeBase::wall_clock (-T), local wall-clock time HH:MM:SS.uuuuuu.
// NR is decimal, NAME the hypercall's name or "-", A0..A3 hex, REASON a name from exit_reasons.h ("?" when
// the record has no reason, 0x-hex when the code is not in the tables),
// latencies microseconds with 3 decimals (exact ns).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string_view>

#include "cli/options.h"
#include "output/vm_columns.h"

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

struct TimeBase {
    std::uint64_t start_mono_ns = 0;  // CLOCK_MONOTONIC at trace start
    std::int64_t wall_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
    bool wall_clock = false;          // -T: print wall-clock time (text)

    // Sample both clocks now (the offset is taken between two monotonic
    // reads, so it is off by at most half their distance).
    static TimeBase now(bool wall_clock);
};

// The hypercall ABI's name (enum ht_abi) as every output says it: "kvm",
// "hyperv", "xen"; "?" for a value this build does not know.
const char* abi_name(std::uint8_t abi);
// The name of hypercall `nr` in ABI `abi`'s table (enum ht_abi; Hyper-V:
// the call code, "HvCallPostMessage"), empty when it has none or the ABI is
// not one this build knows.
std::string_view hypercall_name_of(std::uint8_t abi, std::uint64_t nr);

class RecordWriter {
public:
    virtual ~RecordWriter() = default;
    // Format one record into the internal buffer (written out when large).
    virtual void write(const ht_record& r) = 0;
    // Hand everything buffered to the stream and flush the stream.
    virtual void flush() = 0;
    // End of output: flush; the writer must not be used afterwards.
    virtual void finish() = 0;
};

// Text and CSV writers emit their header line at construction (so an empty
// trace still has one); JSON has none; Chrome (chrome_trace.h) opens its
// array at construction and closes it at finish().  `out` must outlive the writer, and
// `vms` (made for the same format) too; without it every record gets the
// "unknown VM" columns.
std::unique_ptr<RecordWriter> make_record_writer(Format f, std::ostream& out, const TimeBase& tb,
                                                 VmColumns* vms = nullptr);

}  // namespace hypertrace
