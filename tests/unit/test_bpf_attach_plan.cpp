// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The eBPF attach plan (userspace/backend/bpf_attach_plan.h): from kernel
// facts like those of Debian 6.1 / 6.12 and of older or stripped kernels, the
// attach modes tried in order (tp_btf, raw_tp, classic), what each tracepoint
// gets, the arguments the raw programs are told to read, and the overrides.
#include <gtest/gtest.h>

#include <string>

#include "backend/backend.h"
#include "backend/bpf_attach_plan.h"
#include "kernel/record_format.h"

using namespace hypertrace;

namespace {

// The records' layouts as Debian 5.10's and 6.1's format files give them
// (the fields hypertrace reads, and the rest of kvm_entry's).
RecordFormat exit_format()
{
    return {{"common_type", {0, 2}}, {"exit_reason", {8, 4}}, {"guest_rip", {16, 8}}, {"isa", {24, 4}},
            {"info1", {32, 8}},      {"info2", {40, 8}},      {"vcpu_id", {56, 4}}};
}
RecordFormat hypercall_format()
{
    return {{"nr", {8, 8}}, {"a0", {16, 8}}, {"a1", {24, 8}}, {"a2", {32, 8}}, {"a3", {40, 8}}};
}
RecordFormat entry_format() { return {{"vcpu_id", {8, 4}}, {"rip", {16, 8}}}; }

void with_tracefs(KernelFacts& k, const std::string& btf_source)
{
    k.kvm_events_dir.value = "/sys/kernel/tracing/events/kvm";
    k.classic_records.value = {btf_source, exit_format(), hypercall_format(), entry_format(), {}, {}, {}, {}};
    k.classic_records.how = btf_source.empty() ? "kvm's records (trace_event_raw_kvm_*) are in no BTF"
                                               : "kvm's records (trace_event_raw_kvm_*) in " + btf_source;
}

// Debian 11's 5.10: vmlinux BTF, no module BTF, so nothing of kvm in BTF.
KernelFacts facts_5_10()
{
    KernelFacts k;
    k.vmlinux_btf = true;
    k.prototypes.how = "no BTF for kvm (kvm not loaded, or a kernel without module BTF)";
    with_tracefs(k, "");
    return k;
}

// Debian 6.1 on AMD: kvm_exit(vcpu, isa), kvm_entry(vcpu), vcpu_svm in kvm_amd.
KernelFacts facts_6_1()
{
    KernelFacts k;
    k.vmlinux_btf = true;
    k.prototypes.value.exit = HT_EXIT_PROTO_VCPU_ISA;
    k.prototypes.value.entry = HT_ENTRY_PROTO_VCPU;
    k.prototypes.value.hypercall = true;
    k.prototypes.value.exit_params = "ppi";
    k.prototypes.value.entry_params = "pp";
    k.prototypes.value.hypercall_params = "piiiii";
    k.exit_reason.value.offsets.isa = HT_ISA_SVM;
    k.exit_reason.value.vendor_struct = "vcpu_svm";
    k.exit_reason.value.btf_source = "kvm_amd";
    with_tracefs(k, "kvm module BTF");
    return k;
}

}  // namespace

TEST(BpfAttachPlan, BtfThenRawThenClassic)
{
    const std::vector<AttachChoice> c = attach_choices(facts_6_1(), "");
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].label, "tp_btf");
    EXPECT_EQ(c[1].label, "raw");
    EXPECT_EQ(c[2].label, "classic");
    const AttachPlan& btf = c[0].plan;
    EXPECT_EQ(btf.exit, Attach::Btf);
    EXPECT_EQ(btf.hypercall, Attach::Btf);
    EXPECT_EQ(btf.entry, Attach::Btf);
    EXPECT_EQ(btf.exit_args, static_cast<unsigned>(HT_RAW_EXIT_VCPU_ISA));  // reason read lazily
    EXPECT_EQ(btf.entry_args, static_cast<unsigned>(HT_RAW_ENTRY_VCPU));
    EXPECT_EQ(btf.describe(),
              "kvm_exit btf (reason read from vcpu_svm in kvm_amd at a wanted hypercall), kvm_hypercall btf, "
              "kvm_entry btf tracepoint");
    EXPECT_TRUE(c[0].why.empty());  // the plan as attached describes itself
    const AttachPlan& raw = c[1].plan;
    EXPECT_EQ(raw.exit, Attach::Raw);
    EXPECT_EQ(raw.hypercall, Attach::Raw);
    EXPECT_EQ(raw.entry, Attach::Raw);
    EXPECT_EQ(raw.describe(),
              "kvm_exit raw (reason read from vcpu_svm in kvm_amd at a wanted hypercall), kvm_hypercall raw, "
              "kvm_entry raw tracepoint");
    EXPECT_TRUE(c[2].plan.all_classic());
    EXPECT_FALSE(c[2].plan.fields_from_format);  // CO-RE reads the records
    EXPECT_EQ(c[2].why, "classic tracepoints; classic records read by CO-RE (kvm module BTF)");
    EXPECT_TRUE(c[2].no_classic.empty());
}

TEST(BpfAttachPlan, EntryWithForceImmediateExitIsRawUsable)
{
    KernelFacts k = facts_6_1();  // 6.12: kvm_entry(vcpu, bool force_immediate_exit)
    k.prototypes.value.entry = HT_ENTRY_PROTO_VCPU_FORCE;
    const AttachPlan p = plan_for(k, Attach::Btf);
    EXPECT_EQ(p.entry, Attach::Btf);
    EXPECT_EQ(p.entry_args, static_cast<unsigned>(HT_RAW_ENTRY_VCPU));
}

TEST(BpfAttachPlan, OldPrototypesReadTheirArguments)
{
    KernelFacts k = facts_6_1();  // <= 5.9: kvm_exit(reason, vcpu, isa), kvm_entry(vcpu_id)
    k.prototypes.value.exit = HT_EXIT_PROTO_REASON_VCPU_ISA;
    k.prototypes.value.entry = HT_ENTRY_PROTO_VCPU_ID;
    k.exit_reason = {};  // not needed: the reason is an argument
    const AttachPlan p = plan_for(k, Attach::Raw);
    EXPECT_EQ(p.exit, Attach::Raw);
    EXPECT_EQ(p.exit_args, static_cast<unsigned>(HT_RAW_EXIT_REASON_VCPU_ISA));
    EXPECT_EQ(p.entry, Attach::Raw);
    EXPECT_EQ(p.entry_args, static_cast<unsigned>(HT_RAW_ENTRY_VCPU_ID));
    EXPECT_NE(p.describe().find("kvm_exit raw (reason from the arguments)"), std::string::npos) << p.describe();
}

TEST(BpfAttachPlan, NoVendorBtfKeepsKvmExitClassic)
{
    KernelFacts k = facts_6_1();  // KVM built in, no vcpu_svm/vcpu_vmx in BTF
    k.exit_reason = {};
    const std::vector<AttachChoice> c = attach_choices(k, "");
    ASSERT_EQ(c.size(), 3u);
    const AttachPlan& p = c[0].plan;
    EXPECT_EQ(p.exit, Attach::Classic);
    EXPECT_EQ(p.hypercall, Attach::Btf);
    EXPECT_EQ(p.entry, Attach::Btf);
    EXPECT_TRUE(p.any_classic());  // the loader then needs tracefs
    EXPECT_EQ(p.describe(),
              "kvm_exit classic (no vcpu_svm/vcpu_vmx BTF, so the reason comes from the classic record), "
              "kvm_hypercall btf, kvm_entry btf tracepoint; classic records read by CO-RE (kvm module BTF)");
}

TEST(BpfAttachPlan, UnknownPrototypesStayClassic)
{
    KernelFacts k;
    k.vmlinux_btf = true;  // but kvm's BTF has no btf_trace_kvm_* we know
    k.prototypes.value.exit_params = "pp?";
    const std::vector<AttachChoice> c = attach_choices(k, "");
    ASSERT_EQ(c.size(), 1u);  // nothing to fall back from
    EXPECT_TRUE(c[0].plan.all_classic());
    EXPECT_NE(c[0].plan.describe().find("unknown kvm_exit prototype pp?"), std::string::npos);
    k.prototypes.value.exit_params.clear();
    EXPECT_NE(plan_for(k, Attach::Raw).describe().find("no btf_trace_kvm_exit"), std::string::npos);
}

TEST(BpfAttachPlan, NoVmlinuxBtfCannotLoadAtAll)
{
    // libbpf relocates the programs against vmlinux BTF, classic ones too.
    KernelFacts k = facts_6_1();
    k.vmlinux_btf = false;
    k.prototypes.how = "no kernel BTF (/sys/kernel/btf/vmlinux)";
    try {
        attach_choices(k, "");
        FAIL() << "no error without vmlinux BTF";
    } catch (const BackendError& e) {
        EXPECT_STREQ(e.what(),
                     "eBPF backend: no kernel BTF (/sys/kernel/btf/vmlinux): the eBPF backend needs it "
                     "(CONFIG_DEBUG_INFO_BTF, Linux 5.4+ with pahole)");
    }
}

TEST(BpfAttachPlan, NoKvmBtfAllClassicAtTheFormatOffsets)
{
    const std::vector<AttachChoice> c = attach_choices(facts_5_10(), "");
    ASSERT_EQ(c.size(), 1u);  // nothing raw: nothing to fall back from
    const AttachPlan& p = c[0].plan;
    EXPECT_TRUE(p.all_classic());
    EXPECT_TRUE(p.fields_from_format);
    EXPECT_EQ(p.describe(),
              "kvm_exit classic (reason from the record; no btf_trace_kvm_exit: no BTF for kvm (kvm not loaded, or a "
              "kernel without module BTF)), kvm_hypercall classic, kvm_entry classic tracepoint; classic records "
              "read at their tracefs format offsets (kvm's records are in no BTF)");
    // kvm_exit: exit_reason @8 and isa @24, one 20-byte copy from 8.
    EXPECT_EQ(p.layout.exit_start, 8u);
    EXPECT_EQ(p.layout.exit_len, 20u);
    EXPECT_EQ(p.layout.exit_reason, 0u);
    EXPECT_EQ(p.layout.exit_isa, 16u);
    // kvm_hypercall: nr, a0..a3 @8..40, one 40-byte copy.
    EXPECT_EQ(p.layout.hc_start, 8u);
    EXPECT_EQ(p.layout.hc_len, 40u);
    EXPECT_EQ(p.layout.hc_nr, 0u);
    EXPECT_EQ(p.layout.hc_a0, 8u);
    EXPECT_EQ(p.layout.hc_a3, 32u);
    EXPECT_EQ(p.layout.entry_vcpu_id, 8u);  // from the record's start
}

TEST(BpfAttachPlan, NoKvmBtfRefusesForcedRaw)
{
    for (const char* mode : {"raw", "btf"}) {
        try {
            attach_choices(facts_5_10(), mode);
            ADD_FAILURE() << mode << " forced without prototypes";
        } catch (const BackendError& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("HYPERTRACE_BPF_ATTACH=") + mode +
                                                 ", but no kvm tracepoint can be attached so here"),
                      std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find("a kernel without module BTF"), std::string::npos) << e.what();
        }
    }
    const std::vector<AttachChoice> c = attach_choices(facts_5_10(), "classic");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_TRUE(c[0].plan.fields_from_format);
    EXPECT_EQ(
        c[0].why,
        "classic tracepoints (HYPERTRACE_BPF_ATTACH=classic); classic records read at their tracefs format offsets "
        "(kvm's records are in no BTF)");
}

TEST(BpfAttachPlan, FieldsOverride)
{
    // format on a kernel whose BTF has the records: the 5.10 path, proven on 6.x.
    std::vector<AttachChoice> c = attach_choices(facts_6_1(), "classic", "format");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_TRUE(c[0].plan.fields_from_format);
    EXPECT_EQ(c[0].plan.layout.exit_isa, 16u);
    EXPECT_NE(c[0].why.find("at their tracefs format offsets (forced, HYPERTRACE_BPF_FIELDS=format)"),
              std::string::npos)
        << c[0].why;
    // Only the classic choice changes.
    c = attach_choices(facts_6_1(), "", "format");
    ASSERT_EQ(c.size(), 3u);
    EXPECT_FALSE(c[0].plan.any_classic());
    EXPECT_TRUE(c[2].plan.fields_from_format);
    // btf where there is none: no classic; 5.10 has nothing else.
    try {
        attach_choices(facts_5_10(), "", "btf");
        FAIL() << "no error for HYPERTRACE_BPF_FIELDS=btf without the records' BTF";
    } catch (const BackendError& e) {
        EXPECT_STREQ(e.what(),
                     "eBPF backend: classic tracepoints are needed here, and their records cannot be read: "
                     "HYPERTRACE_BPF_FIELDS=btf, but kvm's records (trace_event_raw_kvm_*) are in no BTF");
    }
    try {
        attach_choices(facts_6_1(), "", "offsets");
        FAIL() << "no error for an unknown fields mode";
    } catch (const BackendError& e) {
        EXPECT_NE(std::string(e.what()).find("HYPERTRACE_BPF_FIELDS='offsets' is not one of btf, format"),
                  std::string::npos)
            << e.what();
    }
}

TEST(BpfAttachPlan, UnreadableRecordsDropTheClassicFallback)
{
    KernelFacts k = facts_6_1();
    k.classic_records.value.btf_source.clear();  // and a format the programs cannot read:
    k.classic_records.value.exit["isa"] = {24, 8};
    const std::vector<AttachChoice> c = attach_choices(k, "");
    ASSERT_EQ(c.size(), 2u);  // tp_btf, raw
    EXPECT_EQ(c[1].no_classic,
              "no classic fallback: its records cannot be read: kvm's records are in no BTF, and kvm_exit's isa is 8 "
              "bytes in its format file, hypertrace reads 4");
}

TEST(BpfAttachPlan, LayoutRefusals)
{
    ClassicRecords r{"", exit_format(), hypercall_format(), entry_format(), {}, {}, {}, {}};
    ht_tp_layout l{};
    EXPECT_EQ(tp_layout_from(r, &l), "");
    ClassicRecords bad = r;
    bad.hypercall.erase("a2");
    EXPECT_EQ(tp_layout_from(bad, &l), "kvm_hypercall's format file has no field a2");
    bad = r;
    bad.hypercall["a3"] = {80, 8};
    EXPECT_EQ(tp_layout_from(bad, &l),
              "kvm_hypercall's fields span 80 bytes of its record, more than the 64 a "
              "program copies");
    bad = r;
    bad.exit["isa"] = {26, 4};
    EXPECT_EQ(tp_layout_from(bad, &l), "kvm_exit's isa is not 4-byte aligned in its record");
    bad = r;
    bad.entry.clear();
    EXPECT_EQ(tp_layout_from(bad, &l), "kvm_entry has no format file");
    bad = r;
    bad.entry["vcpu_id"] = {9, 4};  // read alone: any offset
    EXPECT_EQ(tp_layout_from(bad, &l), "");
    EXPECT_EQ(l.entry_vcpu_id, 9u);
}

TEST(BpfAttachPlan, PreemptibleTracepointsKeepKvmHypercallClassic)
{
    // 7.x: tracepoints leave preemption on; kvm_hypercall fires preemptible.
    KernelFacts k = facts_6_1();
    k.preemptible_tracepoints = {true, "a raw tracepoint program on sched_process_fork saw preempt_count 0x0"};
    const std::vector<AttachChoice> c = attach_choices(k, "");
    ASSERT_EQ(c.size(), 3u);
    const AttachPlan& p = c[0].plan;
    EXPECT_EQ(p.exit, Attach::Btf);  // kvm_exit and kvm_entry fire with interrupts off
    EXPECT_EQ(p.hypercall, Attach::Classic);
    EXPECT_EQ(p.entry, Attach::Btf);
    EXPECT_EQ(p.describe(),
              "kvm_exit btf (reason read from vcpu_svm in kvm_amd at a wanted hypercall), kvm_hypercall classic (a "
              "raw program would run preemptible here and lose the runs the kernel skips: a raw tracepoint program "
              "on sched_process_fork saw preempt_count 0x0), kvm_entry btf tracepoint; classic records read by "
              "CO-RE (kvm module BTF)");
    // Forced raw keeps it classic too: raw is not exact there.
    EXPECT_EQ(attach_choices(k, "raw")[0].plan.hypercall, Attach::Classic);
}

TEST(BpfAttachPlan, FormatHypercallMakesKvmExitClassic)
{
    // kvm_hypercall's *_fmt program cannot take the raw exit's vCPU.
    KernelFacts k = facts_6_1();
    k.preemptible_tracepoints.value = true;
    const std::vector<AttachChoice> c = attach_choices(k, "", "format");
    EXPECT_EQ(c[0].plan.exit, Attach::Classic);
    EXPECT_EQ(c[0].plan.hypercall, Attach::Classic);
    EXPECT_EQ(c[0].plan.entry, Attach::Btf);
    EXPECT_EQ(c[0].plan.exit_how, "reason from the record, as kvm_hypercall is classic at the format offsets");
    // With CO-RE records a raw kvm_exit stays raw (the classic kvm_hypercall reads its vCPU).
    EXPECT_EQ(attach_choices(k, "")[0].plan.exit, Attach::Btf);
}

// kvm_userspace_exit and kvm_hv_hypercall(_done): attached classic where their
// format files say where the fields are, with or without var_cnt (5.17+)
// and done (5.15+), as the testbed's 5.10 and 6.1 lay them out
// (tests/workload/README.md); not attached (and saying so) where absent.
TEST(BpfAttachPlan, UserspaceExitAndHyperV)
{
    ClassicRecords r{"", exit_format(), hypercall_format(), entry_format(), {}, {}, {}, {}};
    AttachPlan p;
    EXPECT_NE(userspace_exit_from(r, &p.layout), "");
    hv_hypercall_from(r, &p);
    EXPECT_FALSE(p.hv_hypercall);
    EXPECT_FALSE(p.hv_done);
    EXPECT_NE(p.hv_how.find("no format file"), std::string::npos) << p.hv_how;

    r.userspace_exit = {{"reason", {8, 4}}, {"errno", {12, 4}}};
    EXPECT_EQ(userspace_exit_from(r, &p.layout), "");
    EXPECT_EQ(p.layout.uexit_reason, 8u);

    // 5.10: no var_cnt, fast @34, no done.
    r.hv_hypercall = {{"rep_cnt", {8, 2}}, {"rep_idx", {10, 2}}, {"ingpa", {16, 8}},
                      {"outgpa", {24, 8}}, {"code", {32, 2}},    {"fast", {34, 1}}};
    hv_hypercall_from(r, &p);
    EXPECT_TRUE(p.hv_hypercall);
    EXPECT_FALSE(p.hv_done);
    EXPECT_EQ(p.layout.hv_has_var_cnt, 0u);
    EXPECT_EQ(p.layout.hv_start, 8u);
    EXPECT_EQ(p.layout.hv_len, 27u);
    EXPECT_EQ(p.layout.hv_code, 24u);
    EXPECT_EQ(p.layout.hv_fast, 26u);
    EXPECT_EQ(p.layout.hv_ingpa, 8u);
    EXPECT_NE(p.hv_how.find("without var_cnt, no kvm_hv_hypercall_done"), std::string::npos) << p.hv_how;

    // 6.1+: var_cnt @34, fast @36, done's result @8.
    r.hv_hypercall["var_cnt"] = {34, 2};
    r.hv_hypercall["fast"] = {36, 1};
    r.hv_hypercall_done = {{"result", {8, 8}}};
    hv_hypercall_from(r, &p);
    EXPECT_TRUE(p.hv_hypercall);
    EXPECT_TRUE(p.hv_done);
    EXPECT_EQ(p.layout.hv_has_var_cnt, 1u);
    EXPECT_EQ(p.layout.hv_var_cnt, 26u);
    EXPECT_EQ(p.layout.hv_fast, 28u);
    EXPECT_EQ(p.layout.hv_done_result, 8u);

    // A field of another size: not attached, and why.
    r.hv_hypercall["code"] = {32, 4};
    hv_hypercall_from(r, &p);
    EXPECT_FALSE(p.hv_hypercall);
    EXPECT_FALSE(p.hv_done);
    EXPECT_NE(p.hv_how.find("kvm_hv_hypercall's code is 4 bytes"), std::string::npos) << p.hv_how;
}

// kvm_xen_hypercall: attached classic (nr and a0..a5 copied at once) where
// its format file has them one after the other, as the testbed's 6.1
// (no cpl: nr @8) and 6.12+ (cpl u8 @8, nr @16) lay them out
// (tests/workload/README.md), and KVM can fire it; else not, saying why
// and what to do.
TEST(BpfAttachPlan, XenHypercall)
{
    KernelFacts k = facts_6_1();
    AttachPlan p;
    xen_hypercall_from(k, &p);
    EXPECT_FALSE(p.xen_hypercall);
    EXPECT_NE(p.xen_how.find("kvm_xen_hypercall: no format file"), std::string::npos) << p.xen_how;
    EXPECT_NE(p.xen_how.find("CONFIG_KVM_XEN"), std::string::npos) << p.xen_how;

    RecordFormat& r = k.classic_records.value.xen_hypercall;
    r = {{"nr", {8, 8}},  {"a0", {16, 8}}, {"a1", {24, 8}}, {"a2", {32, 8}},
         {"a3", {40, 8}}, {"a4", {48, 8}}, {"a5", {56, 8}}};
    // Debian's 6.1: the event is there, but KVM cannot send it a hypercall.
    k.xen_intercept = {XenIntercept::No, "KVM_CAP_XEN_HVM is 0, without KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL"};
    xen_hypercall_from(k, &p);
    EXPECT_FALSE(p.xen_hypercall);
    EXPECT_EQ(p.xen_how,
              "kvm_xen_hypercall cannot fire here (KVM_CAP_XEN_HVM is 0, without KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL): "
              "this KVM cannot intercept Xen hypercalls, its kernel is built without CONFIG_KVM_XEN; Xen hypercalls "
              "are traced on kernels built with CONFIG_KVM_XEN (Linux 5.12+)");

    k.xen_intercept = {XenIntercept::Yes, "KVM_CAP_XEN_HVM is 0x1ff, with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL"};
    xen_hypercall_from(k, &p);
    EXPECT_TRUE(p.xen_hypercall);
    EXPECT_EQ(p.layout.xen_nr, 8u);
    EXPECT_EQ(p.xen_how, "kvm_xen_hypercall without cpl (classic, format offsets)");
    std::string how;
    EXPECT_EQ(xen_hypercall_proto(k, &how), static_cast<std::uint32_t>(HT_XEN_PROTO_NR));

    // 6.12 and 7.x: cpl first.
    r = {{"cpl", {8, 1}}, {"nr", {16, 8}}, {"a0", {24, 8}}, {"a1", {32, 8}},
         {"a2", {40, 8}}, {"a3", {48, 8}}, {"a4", {56, 8}}, {"a5", {64, 8}}};
    xen_hypercall_from(k, &p);
    EXPECT_TRUE(p.xen_hypercall);
    EXPECT_EQ(p.layout.xen_nr, 16u);
    EXPECT_EQ(p.xen_how, "kvm_xen_hypercall with cpl (classic, format offsets)");
    EXPECT_EQ(xen_hypercall_proto(k, &how), static_cast<std::uint32_t>(HT_XEN_PROTO_CPL));
    // /dev/kvm not asked (kvm not loaded yet): attached, and said.
    k.xen_intercept = {XenIntercept::Unknown, "/dev/kvm cannot be opened (No such file or directory)"};
    xen_hypercall_from(k, &p);
    EXPECT_TRUE(p.xen_hypercall);
    EXPECT_NE(p.xen_how.find("attached anyway"), std::string::npos) << p.xen_how;

    // The one copy needs them one after the other, 8 bytes each.
    RecordFormat good = r;
    r["a3"] = {72, 8};
    xen_hypercall_from(k, &p);
    EXPECT_FALSE(p.xen_hypercall);
    EXPECT_EQ(p.xen_how, "kvm_xen_hypercall not attached: kvm_xen_hypercall's a3 does not follow a2 in its record");
    r = good;
    r["a0"] = {24, 4};
    xen_hypercall_from(k, &p);
    EXPECT_FALSE(p.xen_hypercall);
    EXPECT_NE(p.xen_how.find("kvm_xen_hypercall's a0 is 4 bytes"), std::string::npos) << p.xen_how;
    r = good;
    r.erase("a5");
    EXPECT_EQ(xen_hypercall_proto(k, &how), static_cast<std::uint32_t>(HT_XEN_PROTO_NONE));
    EXPECT_NE(how.find("no field a5"), std::string::npos) << how;

    // attach_choices gives every choice the Xen plan.
    r = good;
    for (const AttachChoice& c : attach_choices(k, "")) {
        EXPECT_TRUE(c.plan.xen_hypercall) << c.label;
        EXPECT_EQ(c.plan.layout.xen_nr, 16u) << c.label;
    }
}
