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

enum class Attach { Classic, Raw, Btf };

struct AttachPlan {
    Attach exit = Attach::Classic, hypercall = Attach::Classic, entry = Attach::Classic;
    unsigned exit_args = HT_RAW_EXIT_VCPU_ISA;
    unsigned entry_args = HT_RAW_ENTRY_VCPU;
    std::string exit_how;  // how kvm_exit finds the reason, for detail()

    bool any_classic() const
    {
        return exit == Attach::Classic || hypercall == Attach::Classic || entry == Attach::Classic;
    }
    bool all_classic() const
    {
        return exit == Attach::Classic && hypercall == Attach::Classic && entry == Attach::Classic;
    }
    // For detail(): "kvm_exit btf (reason ...), kvm_hypercall btf, kvm_entry btf tracepoint".
    std::string describe() const
    {
        auto mode = [](Attach a) { return a == Attach::Btf ? "btf" : a == Attach::Raw ? "raw" : "classic"; };
        return std::string("kvm_exit ") + mode(exit) + " (" + exit_how + "), kvm_hypercall " + mode(hypercall) +
               ", kvm_entry " + mode(entry) + " tracepoint";
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
};

// The choices to try, best first.  Throws BackendError for a bad override.
std::vector<AttachChoice> attach_choices(const KernelFacts& k, const std::string& forced);

}  // namespace hypertrace
