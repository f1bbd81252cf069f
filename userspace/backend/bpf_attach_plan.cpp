// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/bpf_attach_plan.h"

#include "backend/backend.h"

namespace hypertrace {

AttachPlan plan_for(const KernelFacts& k, Attach raw)
{
    AttachPlan plan;
    const TracepointPrototypes& p = k.prototypes.value;
    if (p.hypercall)
        plan.hypercall = raw;
    if (p.entry == HT_ENTRY_PROTO_VCPU || p.entry == HT_ENTRY_PROTO_VCPU_FORCE) {
        plan.entry = raw;
        plan.entry_args = HT_RAW_ENTRY_VCPU;
    } else if (p.entry == HT_ENTRY_PROTO_VCPU_ID) {
        plan.entry = raw;
        plan.entry_args = HT_RAW_ENTRY_VCPU_ID;
    }
    if (p.exit == HT_EXIT_PROTO_REASON_VCPU_ISA) {
        plan.exit = raw;
        plan.exit_args = HT_RAW_EXIT_REASON_VCPU_ISA;
        plan.exit_how = "reason from the arguments";
    } else if (p.exit == HT_EXIT_PROTO_VCPU_ISA) {
        const ExitReasonLocation& r = k.exit_reason.value;
        if (r.offsets.isa != HT_ISA_UNKNOWN) {
            plan.exit = raw;
            plan.exit_args = HT_RAW_EXIT_VCPU_ISA;
            plan.exit_how = "reason read from " + r.vendor_struct + " in " + r.btf_source + " at a wanted hypercall";
        } else {
            plan.exit_how = "no vcpu_svm/vcpu_vmx BTF, so the reason comes from the classic record";
        }
    } else {
        plan.exit_how = p.exit_params.empty() ? "no btf_trace_kvm_exit" : "unknown kvm_exit prototype " + p.exit_params;
    }
    return plan;
}

std::vector<AttachChoice> attach_choices(const KernelFacts& k, const std::string& forced)
{
    auto choice = [&k](Attach raw, const char* label) { return AttachChoice{plan_for(k, raw), label, ""}; };
    const AttachChoice classic{AttachPlan{}, "classic", "classic tracepoints"};
    if (forced == "classic")
        return {{AttachPlan{}, "classic", "classic tracepoints (HYPERTRACE_BPF_ATTACH=classic)"}};
    if (forced == "raw")
        return {choice(Attach::Raw, "raw")};
    if (forced == "btf")
        return {choice(Attach::Btf, "tp_btf")};
    if (!forced.empty())
        throw BackendError("eBPF backend: HYPERTRACE_BPF_ATTACH='" + forced +
                           "' is not one of classic, raw, btf: unset it or pick one");
    if (!k.vmlinux_btf)
        return {{AttachPlan{}, "classic", "classic tracepoints (no vmlinux BTF for raw ones)"}};
    AttachChoice btf = choice(Attach::Btf, "tp_btf");
    if (btf.plan.all_classic())
        return {btf};  // nothing raw-usable: says why per tracepoint
    return {btf, choice(Attach::Raw, "raw"), classic};
}

}  // namespace hypertrace
