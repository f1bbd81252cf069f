// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/bpf_attach_plan.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace hypertrace {
namespace {

// The offset of `name` in an event's record, which hypertrace reads as
// `size` bytes; "" or why not.
std::string field_at(const std::string& event, const RecordFormat& format, const char* name, std::uint32_t size,
                     std::uint32_t* offset)
{
    if (format.empty())
        return event + " has no format file";
    const auto it = format.find(name);
    if (it == format.end())
        return event + "'s format file has no field " + name;
    if (it->second.size != size)
        return event + "'s " + name + " is " + std::to_string(it->second.size) +
               " bytes in its format file, hypertrace reads " + std::to_string(size);
    *offset = it->second.offset;
    return "";
}

// One field the classic programs read: its name in the record, the size
// they read it with, and where its offset goes in struct ht_tp_layout.
struct Wanted {
    const char* name;
    std::uint32_t size;
    std::uint32_t ht_tp_layout::*offset;
};

// Lays out one record's span (the fields' smallest offset to their largest
// end), the fields' offsets counted from the span's start; "" or why not.
std::string span_of(const std::string& event, const RecordFormat& format, const std::vector<Wanted>& fields,
                    ht_tp_layout* out, std::uint32_t ht_tp_layout::*start, std::uint32_t ht_tp_layout::*len)
{
    std::uint32_t lo = UINT32_MAX, hi = 0;
    for (const Wanted& w : fields) {
        std::uint32_t off = 0;
        if (std::string why = field_at(event, format, w.name, w.size, &off); !why.empty())
            return why;
        out->*w.offset = off;
        lo = std::min(lo, off);
        hi = std::max(hi, off + w.size);
    }
    if (hi - lo > HT_TP_SPAN_MAX)
        return event + "'s fields span " + std::to_string(hi - lo) + " bytes of its record, more than the " +
               std::to_string(HT_TP_SPAN_MAX) + " a program copies";
    for (const Wanted& w : fields) {
        out->*w.offset -= lo;
        // The copy is 8-byte aligned on the BPF stack, where the verifier
        // wants every load aligned to its size.
        if (out->*w.offset % w.size)
            return event + "'s " + w.name + " is not " + std::to_string(w.size) + "-byte aligned in its record";
    }
    out->*start = lo;
    out->*len = hi - lo;
    return "";
}

}  // namespace

AttachPlan plan_for(const KernelFacts& k, Attach raw)
{
    AttachPlan plan;
    const TracepointPrototypes& p = k.prototypes.value;
    // kvm_hypercall fires preemptible (kvm_emulate_hypercall()): a raw
    // program on it runs preemptible where tracepoints leave preemption on,
    // and the kernel skips its runs that start while another is preempted.
    // The classic path disables preemption (include/trace/perf.h).
    if (p.hypercall && !k.preemptible_tracepoints.value)
        plan.hypercall = raw;
    else if (p.hypercall)
        plan.hypercall_how = "a raw program would run preemptible here and lose the runs the kernel skips: " +
                             k.preemptible_tracepoints.how;
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
    } else if (p.exit_params.empty()) {
        plan.exit_how = "reason from the record; no btf_trace_kvm_exit" +
                        (k.prototypes.how.empty() ? std::string() : ": " + k.prototypes.how);
    } else {
        plan.exit_how = "reason from the record; unknown kvm_exit prototype " + p.exit_params;
    }
    return plan;
}

std::string tp_layout_from(const ClassicRecords& r, ht_tp_layout* out)
{
    ht_tp_layout l{};
    using L = ht_tp_layout;
    std::string why = span_of("kvm_exit", r.exit, {{"exit_reason", 4, &L::exit_reason}, {"isa", 4, &L::exit_isa}}, &l,
                              &L::exit_start, &L::exit_len);
    if (why.empty())
        why = span_of("kvm_hypercall", r.hypercall,
                      {{"nr", 8, &L::hc_nr},
                       {"a0", 8, &L::hc_a0},
                       {"a1", 8, &L::hc_a1},
                       {"a2", 8, &L::hc_a2},
                       {"a3", 8, &L::hc_a3}},
                      &l, &L::hc_start, &L::hc_len);
    // Read alone, straight into its destination: any offset will do.
    if (why.empty())
        why = field_at("kvm_entry", r.entry, "vcpu_id", 4, &l.entry_vcpu_id);
    if (why.empty())
        *out = l;
    return why;
}

std::string userspace_exit_from(const ClassicRecords& r, ht_tp_layout* layout)
{
    return field_at("kvm_userspace_exit", r.userspace_exit, "reason", 4, &layout->uexit_reason);
}

void hv_hypercall_from(const ClassicRecords& r, AttachPlan* plan)
{
    using L = ht_tp_layout;
    ht_tp_layout& l = plan->layout;
    std::string how;
    const std::uint32_t proto = hv_hypercall_proto(r, &how);
    plan->hv_hypercall = plan->hv_done = false;
    if (proto == HT_HV_PROTO_NONE) {
        plan->hv_how = how + ": Hyper-V hypercalls not traced";
        return;
    }
    std::vector<Wanted> fields = {{"code", 2, &L::hv_code},       {"fast", 1, &L::hv_fast},
                                  {"rep_cnt", 2, &L::hv_rep_cnt}, {"rep_idx", 2, &L::hv_rep_idx},
                                  {"ingpa", 8, &L::hv_ingpa},     {"outgpa", 8, &L::hv_outgpa}};
    if (proto == HT_HV_PROTO_VAR_CNT)
        fields.push_back({"var_cnt", 2, &L::hv_var_cnt});
    const std::string why = span_of("kvm_hv_hypercall", r.hv_hypercall, fields, &l, &L::hv_start, &L::hv_len);
    if (!why.empty()) {
        plan->hv_how = "kvm_hv_hypercall not attached: " + why;
        return;
    }
    l.hv_has_var_cnt = proto == HT_HV_PROTO_VAR_CNT;
    plan->hv_hypercall = true;
    plan->hv_done = !r.hv_hypercall_done.empty() &&
                    field_at("kvm_hv_hypercall_done", r.hv_hypercall_done, "result", 8, &l.hv_done_result).empty();
    plan->hv_how = how + " (classic, format offsets)";
}

void xen_hypercall_from(const KernelFacts& k, AttachPlan* plan)
{
    std::string how;
    plan->xen_hypercall = false;
    if (xen_hypercall_proto(k, &how) == HT_XEN_PROTO_NONE) {
        plan->xen_how = how;
        return;
    }
    // One copy of nr and a0..a5 (bpf/hypertrace.bpf.c: tp_xen_fields), so
    // they must follow each other in the record, 8 bytes each, as every
    // kernel with the event lays them out.
    const RecordFormat& r = k.classic_records.value.xen_hypercall;
    std::uint32_t nr = 0;
    std::string why = field_at("kvm_xen_hypercall", r, "nr", 8, &nr);
    const char* const args[] = {"a0", "a1", "a2", "a3", "a4", "a5"};
    for (std::uint32_t i = 0; why.empty() && i < 6; i++) {
        std::uint32_t off = 0;
        why = field_at("kvm_xen_hypercall", r, args[i], 8, &off);
        if (why.empty() && off != nr + 8 * (i + 1))
            why = std::string("kvm_xen_hypercall's ") + args[i] + " does not follow " + (i ? args[i - 1] : "nr") +
                  " in its record";
    }
    if (!why.empty()) {
        plan->xen_how = "kvm_xen_hypercall not attached: " + why;
        return;
    }
    plan->layout.xen_nr = nr;
    plan->xen_hypercall = true;
    plan->xen_how = how + " (classic, format offsets)";
}

ClassicFields classic_fields(const KernelFacts& k, const std::string& forced)
{
    if (!forced.empty() && forced != "btf" && forced != "format")
        throw BackendError("eBPF backend: HYPERTRACE_BPF_FIELDS='" + forced +
                           "' is not one of btf, format: unset it or pick one");
    ClassicFields f;
    const ClassicRecords& r = k.classic_records.value;
    if (k.kvm_events_dir.value.empty()) {
        f.how = k.kvm_events_dir.how;
        return f;
    }
    const std::string note = forced.empty() ? "" : ", HYPERTRACE_BPF_FIELDS=" + forced;
    if (forced != "format" && !r.btf_source.empty()) {
        f.usable = true;
        f.how = "by CO-RE (" + r.btf_source + note + ")";
        return f;
    }
    if (forced == "btf") {
        f.how = "HYPERTRACE_BPF_FIELDS=btf, but " + k.classic_records.how;
        return f;
    }
    const std::string why = tp_layout_from(r, &f.layout);
    if (!why.empty()) {
        f.how = (r.btf_source.empty() ? "kvm's records are in no BTF, and " : "") + why;
        return f;
    }
    f.usable = true;
    f.from_format = true;
    f.how = "at their tracefs format offsets (" +
            (r.btf_source.empty() ? std::string("kvm's records are in no BTF") : "forced") + note + ")";
    return f;
}

std::vector<AttachChoice> attach_choices(const KernelFacts& k, const std::string& forced,
                                         const std::string& forced_fields)
{
    auto choice = [&k](Attach raw, const char* label) { return AttachChoice{plan_for(k, raw), label, "", ""}; };
    if (!forced.empty() && forced != "classic" && forced != "raw" && forced != "btf")
        throw BackendError("eBPF backend: HYPERTRACE_BPF_ATTACH='" + forced +
                           "' is not one of classic, raw, btf: unset it or pick one");
    // libbpf relocates the programs (CO-RE) against vmlinux BTF, whichever
    // way they attach: without it nothing loads.
    if (!k.vmlinux_btf)
        throw BackendError("eBPF backend: " + k.prototypes.how +
                           ": the eBPF backend needs it (CONFIG_DEBUG_INFO_BTF, Linux 5.4+ with pahole)");
    std::vector<AttachChoice> choices;
    if (forced == "classic") {
        choices = {{AttachPlan{}, "classic", "classic tracepoints (HYPERTRACE_BPF_ATTACH=classic)", ""}};
    } else if (forced == "raw" || forced == "btf") {
        AttachChoice c = choice(forced == "raw" ? Attach::Raw : Attach::Btf, forced == "raw" ? "raw" : "tp_btf");
        if (c.plan.all_classic())
            throw BackendError("eBPF backend: HYPERTRACE_BPF_ATTACH=" + forced +
                               ", but no kvm tracepoint can be attached so here (kvm_exit: " + c.plan.exit_how + ")");
        choices = {c};
    } else {
        AttachChoice btf = choice(Attach::Btf, "tp_btf");
        if (btf.plan.all_classic())
            choices = {btf};  // nothing raw-usable: says why per tracepoint
        else
            choices = {btf, choice(Attach::Raw, "raw"), {AttachPlan{}, "classic", "classic tracepoints", ""}};
    }

    const ClassicFields fields = classic_fields(k, forced_fields);
    std::vector<AttachChoice> usable;
    for (AttachChoice& c : choices) {
        if (c.plan.any_classic()) {
            c.plan.fields_from_format = fields.from_format;
            c.plan.layout = fields.layout;
            c.plan.fields_how = fields.how;
            // kvm_hypercall's *_fmt program sees nothing of the exit's vCPU
            // (bpf/hypertrace.bpf.c: on_hypercall_tp), which a raw kvm_exit
            // leaves for it (the lazy reason, the vCPU's run).
            if (fields.from_format && c.plan.hypercall == Attach::Classic && c.plan.exit != Attach::Classic) {
                c.plan.exit = Attach::Classic;
                c.plan.exit_how = "reason from the record, as kvm_hypercall is classic at the format offsets";
            }
            if (!c.why.empty())
                c.why += "; classic records read " + fields.how;
            // Without kvm's tracepoints the loader says so (and how to fix
            // it) when it gets there.
            if (!fields.usable && !k.kvm_events_dir.value.empty())
                continue;
        }
        const std::string why = userspace_exit_from(k.classic_records.value, &c.plan.layout);
        c.plan.userspace_exit = why.empty();
        hv_hypercall_from(k.classic_records.value, &c.plan);
        xen_hypercall_from(k, &c.plan);
        c.plan.userspace_exit_how = why.empty() ? "kvm_userspace_exit classic (reason at its format offset)"
                                                : "kvm_userspace_exit not attached: " + why;
        usable.push_back(std::move(c));
    }
    if (usable.empty())
        throw BackendError("eBPF backend: classic tracepoints are needed here, and their records cannot be read: " +
                           fields.how);
    if (usable.size() < choices.size())
        usable.back().no_classic = "no classic fallback: its records cannot be read: " + fields.how;
    return usable;
}

}  // namespace hypertrace
