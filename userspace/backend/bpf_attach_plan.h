// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// How the eBPF backend attaches to the three kvm tracepoints, decided from
// the kernel facts before anything is loaded.
#pragma once

#include <string>
#include <vector>

#include "hypertrace.h"  // HT_RAW_*: what the raw programs read
#include "kernel/kernel_facts.h"

namespace hypertrace {

// Raw tracepoints hand the program the probe arguments; classic tracepoints
// first make the kernel format the whole record (kvm_exit's calls the vendor's
// get_exit_info), which is most of a classic program's cost.  Two kinds of
// raw attach read the same arguments: tp_btf (BTF-typed, BPF_PROG_TYPE_TRACING:
// the verifier knows the argument types, and the program is called without the
// raw_tp context copy) and raw_tp.  Both need the prototypes (btf_trace_kvm_*)
// and, for kvm_exit since 5.16, the vendor vCPU struct's BTF to read the exit
// reason from.  Whatever cannot be raw stays classic.  The loader tries tp_btf,
// then raw_tp, then classic; HYPERTRACE_BPF_ATTACH=classic|raw|btf forces one
// (tests, benchmark) and refuses to fall back.  A tracepoint the BPF object
// has no tp_btf program for is attached raw_tp in a tp_btf plan (bpf/ decides
// where tp_btf pays; the loader reports the plan as attached).
//
// A classic program reads its record's fields by CO-RE where BTF describes
// kvm's records, else at the offsets the events' tracefs format files give
// (struct ht_tp_layout, bpf/hypertrace.h): kvm a module on a kernel without
// module BTF (5.10) has neither prototypes nor records in BTF, and traces
// with all three classic.  HYPERTRACE_BPF_FIELDS=btf|format forces one
// (tests prove the format path on kernels that have the BTF).

enum class Attach { Classic, Raw, Btf };

struct AttachPlan {
    Attach exit = Attach::Classic, hypercall = Attach::Classic, entry = Attach::Classic;
    unsigned exit_args = HT_RAW_EXIT_VCPU_ISA;
    unsigned entry_args = HT_RAW_ENTRY_VCPU;
    std::string exit_how;       // how kvm_exit finds the reason, for detail()
    std::string hypercall_how;  // why kvm_hypercall is classic where it could be raw
    // How the classic programs read their records (when any is classic).
    bool fields_from_format = false;  // else CO-RE
    ht_tp_layout layout{};            // with fields_from_format
    std::string fields_how;           // for detail()
    // kvm_userspace_exit: attached classic where its format file gives the
    // reason's offset (layout.uexit_reason), on every kernel, whatever the
    // others: it fires once per return to the VMM.  Else left unattached,
    // and no record says "served by the VMM".
    bool userspace_exit = false;
    std::string userspace_exit_how;  // for detail()
    // kvm_hv_hypercall (and kvm_hv_hypercall_done where it exists): classic
    // at their format offsets (layout.hv_*), on every kernel that has them.
    bool hv_hypercall = false, hv_done = false;
    std::string hv_how;  // for detail()
    // kvm_xen_hypercall: classic at its format offsets (layout.xen_nr), on
    // every kernel where it can fire (xen_hypercall_proto()).
    bool xen_hypercall = false;
    std::string xen_how;  // for detail()

    bool any_classic() const
    {
        return exit == Attach::Classic || hypercall == Attach::Classic || entry == Attach::Classic;
    }
    bool all_classic() const
    {
        return exit == Attach::Classic && hypercall == Attach::Classic && entry == Attach::Classic;
    }
    // For detail(): "kvm_exit btf (reason ...), kvm_hypercall btf, kvm_entry btf tracepoint", and with
    // a classic one "; classic records read by CO-RE (...)" or "... at their tracefs format offsets (...)".
    std::string describe() const
    {
        auto mode = [](Attach a) { return a == Attach::Btf ? "btf" : a == Attach::Raw ? "raw" : "classic"; };
        std::string d = std::string("kvm_exit ") + mode(exit) + " (" + exit_how + "), kvm_hypercall " +
                        mode(hypercall) + (hypercall_how.empty() ? "" : " (" + hypercall_how + ")") + ", kvm_entry " +
                        mode(entry) + " tracepoint";
        if (any_classic() && !fields_how.empty())
            d += "; classic records read " + fields_how;
        return d;
    }
};

// The plan that attaches every tracepoint the kernel facts allow with `raw`
// (Raw or Btf), the others classic.
AttachPlan plan_for(const KernelFacts& k, Attach raw);

// One way to attach, and how detail() names it.
struct AttachChoice {
    AttachPlan plan;
    std::string label;  // "tp_btf", "raw", "classic": for fallback notes
    std::string why;    // detail()'s attach part; empty: the plan as attached describes itself
    // On the last choice: why no classic fallback follows it (its records
    // cannot be read), for the error when it fails too.
    std::string no_classic;
};

// kvm's classic records laid out as their format files say, for the
// programs; empty on success, else why they cannot be read that way (a field
// missing, of another size, misaligned, or a span too long to copy).
std::string tp_layout_from(const ClassicRecords& records, ht_tp_layout* out);

// How classic programs would read kvm's records here.  `forced`:
// HYPERTRACE_BPF_FIELDS (btf, format or empty); throws BackendError for
// another value.
struct ClassicFields {
    bool usable = false;
    bool from_format = false;
    ht_tp_layout layout{};
    std::string how;  // "by CO-RE (...)", "at their tracefs format offsets (...)", or why not usable
};
ClassicFields classic_fields(const KernelFacts& k, const std::string& forced);

// Where kvm_userspace_exit's reason is, into layout->uexit_reason; "" or
// why it cannot be attached.
std::string userspace_exit_from(const ClassicRecords& records, ht_tp_layout* layout);

// Where kvm_hv_hypercall's fields (and kvm_hv_hypercall_done's result) are,
// into layout->hv_*; sets plan->hv_hypercall, hv_done and hv_how.
void hv_hypercall_from(const ClassicRecords& records, AttachPlan* plan);

// Where kvm_xen_hypercall's nr and a0..a5 are (layout->xen_nr); sets
// plan->xen_hypercall and xen_how.
void xen_hypercall_from(const KernelFacts& k, AttachPlan* plan);

// The choices to try, best first.  `forced`: HYPERTRACE_BPF_ATTACH,
// `forced_fields`: HYPERTRACE_BPF_FIELDS.  Throws BackendError for a bad
// override, a forced mode the kernel cannot give, a kernel without BTF, and
// when nothing is left to try.
std::vector<AttachChoice> attach_choices(const KernelFacts& k, const std::string& forced,
                                         const std::string& forced_fields = "");

}  // namespace hypertrace
