// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The eBPF attach plan (userspace/backend/bpf_attach_plan.h): from kernel
// facts like those of Debian 6.1 / 6.12 and of older or stripped kernels, the
// attach modes tried in order (tp_btf, raw_tp, classic), what each tracepoint
// gets, the arguments the raw programs are told to read, and the overrides.
#include <gtest/gtest.h>

#include <string>

#include "backend/backend.h"
#include "backend/bpf_attach_plan.h"

using namespace hypertrace;

namespace {

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
    EXPECT_EQ(c[2].why, "classic tracepoints");
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
              "kvm_hypercall btf, kvm_entry btf tracepoint");
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

TEST(BpfAttachPlan, NoVmlinuxBtf)
{
    KernelFacts k = facts_6_1();
    k.vmlinux_btf = false;
    const std::vector<AttachChoice> c = attach_choices(k, "");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_TRUE(c[0].plan.all_classic());
    EXPECT_EQ(c[0].why, "classic tracepoints (no vmlinux BTF for raw ones)");
}

TEST(BpfAttachPlan, OverridesForceOneModeWithoutFallback)
{
    const KernelFacts k = facts_6_1();
    std::vector<AttachChoice> c = attach_choices(k, "raw");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].plan.exit, Attach::Raw);
    EXPECT_EQ(c[0].plan.entry, Attach::Raw);
    c = attach_choices(k, "btf");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].plan.hypercall, Attach::Btf);
    c = attach_choices(k, "classic");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_TRUE(c[0].plan.all_classic());
    EXPECT_EQ(c[0].why, "classic tracepoints (HYPERTRACE_BPF_ATTACH=classic)");
    try {
        attach_choices(k, "fentry");
        FAIL() << "no error for an unknown mode";
    } catch (const BackendError& e) {
        EXPECT_NE(std::string(e.what()).find("HYPERTRACE_BPF_ATTACH='fentry' is not one of classic, raw, btf"),
                  std::string::npos)
            << e.what();
    }
}
