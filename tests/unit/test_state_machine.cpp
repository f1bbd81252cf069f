// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// common/ht_state_machine.h on synthetic event sequences: the matching logic
// the BPF program and the kernel module share, tested once here.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" {
#include "ht_state_machine.h"
}

namespace {

constexpr __u8 VMX = HT_ISA_VMX;
constexpr __u8 SVM = HT_ISA_SVM;
constexpr __u32 kVmcall = 18;
constexpr __u32 kVmxHlt = 12;
constexpr __u32 kVmmcall = 0x81;
constexpr __u32 kSvmHlt = 0x78;
constexpr __u32 kVmxEnclaveBit = 1u << 27;  // VMX_EXIT_REASONS_SGX_ENCLAVE_MODE

ht_filter any_filter()
{
    ht_filter f{};
    f.nr_range_count = 0;
    f.reason_mode = HT_REASON_ANY;
    f.pid = HT_PID_ANY;
    f.vcpu = HT_VCPU_ANY;
    f.min_latency_ns = 0;
    return f;
}

// One vCPU thread: its state plus counters, as a backend keeps them.
// owner is the thread (pid_tgid), run the vCPU's exit count + 1 (0: not
// known), as the backends pass them.
struct Thread {
    ht_thread_state s{};
    __u64 counters[HT_CNT_MAX] = {};
    __u64 owner = (4242ull << 32) | 4250;
    __u64 run = 7;
    bool ring_full = false;

    // As a backend does: add the outcome (what the three ht_outcome_*
    // functions say), then emit (or drop) on EMIT.
    ht_outcome count(ht_outcome out)
    {
        const int c = ht_outcome_counter(out);
        if (c >= 0)
            counters[c] += ht_outcome_weight(out);
        counters[HT_CNT_IN_FLIGHT] += ht_outcome_in_flight(out);
        if (out == HT_OUT_EMIT)
            counters[ring_full ? HT_CNT_DROPPED : HT_CNT_EMITTED]++;
        return out;
    }
    ht_outcome exit(__u64 t, __u32 reason, __u8 isa, bool known = true)
    {
        return count(ht_sm_exit(&s, t, reason, isa, known ? 1 : 0));
    }
    // Any ABI's hypercall at time t, whose transition gave `out`: counted,
    // and stamped when armed, as the hot path does.
    ht_outcome took(__u64 t, ht_outcome out)
    {
        counters[HT_CNT_HYPERCALLS]++;
        if (out == HT_OUT_ARMED)
            ht_sm_armed_by(&s, t, owner, run);
        return count(out);
    }
    ht_outcome hypercall(const ht_filter& f, __u64 t, __u64 nr, __u64 a0 = 0, __u64 a1 = 0, __u64 a2 = 0, __u64 a3 = 0)
    {
        return took(t, ht_sm_hypercall(&s, &f, nr, a0, a1, a2, a3));
    }
    ht_outcome userspace_exit(__u64 t, __u32 reason) { return count(ht_sm_userspace_exit(&s, t, reason)); }
    ht_outcome entry(const ht_filter& f, __u64 t, __u32 vcpu = 0)
    {
        return count(ht_sm_entry(&s, &f, t, vcpu, owner, run));
    }
    // hypercalls = emitted + dropped + filtered + unmatched + in flight
    bool identity() const
    {
        return counters[HT_CNT_HYPERCALLS] == counters[HT_CNT_EMITTED] + counters[HT_CNT_DROPPED] +
                                                  counters[HT_CNT_FILTERED] + counters[HT_CNT_UNMATCHED_HYPERCALL] +
                                                  counters[HT_CNT_IN_FLIGHT];
    }
};

ht_record fill(const Thread& th, __u32 pid, __u32 tid, __u32 vcpu, __u32 cpu, __u64 t_entry)
{
    ht_record r;
    std::memset(&r, 0xaa, sizeof(r));  // every byte must be overwritten
    ht_sm_fill_record(&r, &th.s, pid, tid, vcpu, cpu, t_entry);
    return r;
}

}  // namespace

TEST(StateMachine, VmxVmcallEmits)
{
    ht_filter f = any_filter();
    Thread th;
    EXPECT_EQ(th.exit(1000, kVmcall, VMX), HT_OUT_NONE);
    EXPECT_EQ(th.s.phase, HT_PHASE_EXITED);
    EXPECT_EQ(th.hypercall(f, 1100, 42, 1, 2, 3, 4), HT_OUT_ARMED);
    EXPECT_EQ(th.s.phase, HT_PHASE_ARMED);
    EXPECT_EQ(th.entry(f, 1500, 0), HT_OUT_EMIT);
    EXPECT_EQ(th.s.phase, HT_PHASE_IDLE);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 1u);
}

TEST(StateMachine, FillRecordSetsEveryField)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall | kVmxEnclaveBit, VMX);
    th.hypercall(f, 1100, 42, 0x11, 0x22, 0x33, ~0ull);
    ASSERT_EQ(th.entry(f, 1500, 3), HT_OUT_EMIT);
    ht_record r = fill(th, 4242, 4250, 3, 7, 1500);
    EXPECT_EQ(r.version, HT_RECORD_VERSION);
    EXPECT_EQ(r.size, sizeof(ht_record));
    EXPECT_EQ(r.isa, VMX);
    EXPECT_EQ(r.flags, 0u);
    EXPECT_EQ(r.abi, HT_ABI_KVM);
    EXPECT_EQ(r.hv_fast, 0u);
    EXPECT_EQ(r.pid, 4242u);
    EXPECT_EQ(r.tid, 4250u);
    EXPECT_EQ(r.vcpu_id, 3u);
    EXPECT_EQ(r.cpu, 7u);
    EXPECT_EQ(r.exit_reason, kVmcall | kVmxEnclaveBit);  // raw, flag bits kept
    EXPECT_EQ(r.uexit_reason, 0u);
    EXPECT_EQ(r.nr, 42u);
    EXPECT_EQ(r.a0, 0x11u);
    EXPECT_EQ(r.a1, 0x22u);
    EXPECT_EQ(r.a2, 0x33u);
    EXPECT_EQ(r.a3, ~0ull);
    EXPECT_EQ(r.t_exit_ns, 1000u);
    EXPECT_EQ(r.t_hypercall_ns, 1100u);
    EXPECT_EQ(r.t_entry_ns, 1500u);
    EXPECT_EQ(r.a4, 0u);
    EXPECT_EQ(r.a5, 0u);
    EXPECT_EQ(r.t_userspace_exit_ns, 0u);
    EXPECT_EQ(r.hv_ingpa, 0u);
    EXPECT_EQ(r.hv_outgpa, 0u);
    EXPECT_EQ(r.hv_result, 0u);
    EXPECT_EQ(r.hv_rep_cnt, 0u);
    EXPECT_EQ(r.hv_rep_idx, 0u);
    EXPECT_EQ(r.hv_var_cnt, 0u);
    EXPECT_EQ(r.reserved0, 0u);
}

TEST(StateMachine, FillRecordUnknownVcpuAndReason)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, 12345, VMX, /*known=*/false);
    th.hypercall(f, 1100, 1);
    ASSERT_EQ(th.entry(f, 1200, HT_VCPU_UNKNOWN), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, HT_VCPU_UNKNOWN, 0, 1200);
    EXPECT_EQ(r.flags, HT_REC_F_REASON_UNKNOWN | HT_REC_F_VCPU_UNKNOWN);
    EXPECT_EQ(r.isa, HT_ISA_UNKNOWN);
    EXPECT_EQ(r.exit_reason, 0u);  // never the stale/raw value
    EXPECT_EQ(r.vcpu_id, HT_VCPU_UNKNOWN);
}

TEST(StateMachine, HypercallOnlyAcceptsVmcallWithFlagBits)
{
    ht_filter f = any_filter();
    f.reason_mode = HT_REASON_HYPERCALL_ONLY;
    Thread th;
    th.exit(1000, kVmcall | kVmxEnclaveBit, VMX);
    EXPECT_EQ(th.hypercall(f, 1100, 42), HT_OUT_ARMED);
    EXPECT_EQ(th.entry(f, 1200), HT_OUT_EMIT);
    EXPECT_TRUE(ht_reason_is_hypercall(VMX, kVmcall));
    EXPECT_TRUE(ht_reason_is_hypercall(VMX, kVmcall | kVmxEnclaveBit));
    EXPECT_FALSE(ht_reason_is_hypercall(VMX, kVmxHlt));
    EXPECT_FALSE(ht_reason_is_hypercall(VMX, kVmmcall));  // 0x81 is no VMX vmcall
}

TEST(StateMachine, SvmVmmcall)
{
    ht_filter f = any_filter();
    f.reason_mode = HT_REASON_HYPERCALL_ONLY;
    Thread th;
    th.exit(1000, kVmmcall, SVM);
    EXPECT_EQ(th.hypercall(f, 1100, 5), HT_OUT_ARMED);
    EXPECT_EQ(th.entry(f, 1300), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 1300);
    EXPECT_EQ(r.isa, SVM);
    EXPECT_EQ(r.exit_reason, kVmmcall);
    EXPECT_TRUE(ht_reason_is_hypercall(SVM, kVmmcall));
    EXPECT_FALSE(ht_reason_is_hypercall(SVM, kVmcall));
    EXPECT_FALSE(ht_reason_is_hypercall(SVM, kVmmcall | kVmxEnclaveBit));
    EXPECT_FALSE(ht_reason_is_hypercall(HT_ISA_UNKNOWN, kVmcall));
}

TEST(StateMachine, OtherExitThenHypercallDependsOnReasonMode)
{
    for (auto [isa, hlt] : {std::pair<__u8, __u32>{VMX, kVmxHlt}, {SVM, kSvmHlt}}) {
        ht_filter any = any_filter();
        ht_filter only = any_filter();
        only.reason_mode = HT_REASON_HYPERCALL_ONLY;

        Thread a;  // reason mode any: a hypercall KVM runs from a HLT exit counts
        a.exit(1000, hlt, isa);
        EXPECT_EQ(a.hypercall(any, 1100, 9), HT_OUT_ARMED);
        EXPECT_EQ(a.entry(any, 1200), HT_OUT_EMIT);

        Thread b;  // hypercall-only: filtered, and nothing emitted at entry
        b.exit(1000, hlt, isa);
        EXPECT_EQ(b.hypercall(only, 1100, 9), HT_OUT_FILTERED);
        EXPECT_EQ(b.s.phase, HT_PHASE_IDLE);
        EXPECT_EQ(b.entry(only, 1200), HT_OUT_NONE);
        EXPECT_EQ(b.counters[HT_CNT_FILTERED], 1u);
        EXPECT_EQ(b.counters[HT_CNT_EMITTED], 0u);
    }
}

TEST(StateMachine, UnknownReasonIsFilteredInHypercallOnlyMode)
{
    ht_filter only = any_filter();
    only.reason_mode = HT_REASON_HYPERCALL_ONLY;
    Thread th;
    th.exit(1000, kVmcall, VMX, /*known=*/false);  // even if the raw value says 18
    EXPECT_EQ(th.hypercall(only, 1100, 1), HT_OUT_FILTERED);
}

TEST(StateMachine, ExitWithoutHypercallIsQuiet)
{
    ht_filter f = any_filter();
    Thread th;
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(th.exit(1000 + i * 100, kVmxHlt, VMX), HT_OUT_NONE);
        EXPECT_EQ(th.entry(f, 1050 + i * 100), HT_OUT_NONE);
    }
    for (__u64 c : th.counters)
        EXPECT_EQ(c, 0u);
}

TEST(StateMachine, InterleavedVcpusKeepSeparateState)
{
    ht_filter f = any_filter();
    Thread a, b;
    a.exit(1000, kVmcall, VMX);
    b.exit(1010, kVmcall, VMX);
    EXPECT_EQ(a.hypercall(f, 1100, 1, 0xa), HT_OUT_ARMED);
    EXPECT_EQ(b.hypercall(f, 1110, 2, 0xb), HT_OUT_ARMED);
    EXPECT_EQ(b.entry(f, 1200, 1), HT_OUT_EMIT);
    ht_record rb = fill(b, 10, 12, 1, 5, 1200);
    EXPECT_EQ(a.entry(f, 1300, 0), HT_OUT_EMIT);
    ht_record ra = fill(a, 10, 11, 0, 4, 1300);
    EXPECT_EQ(ra.nr, 1u);
    EXPECT_EQ(ra.a0, 0xau);
    EXPECT_EQ(ra.t_exit_ns, 1000u);
    EXPECT_EQ(ra.t_entry_ns, 1300u);
    EXPECT_EQ(rb.nr, 2u);
    EXPECT_EQ(rb.a0, 0xbu);
    EXPECT_EQ(rb.t_exit_ns, 1010u);
    EXPECT_EQ(rb.t_entry_ns, 1200u);
}

TEST(StateMachine, MigrationBetweenExitAndEntryDoesNotMatter)
{
    // The state is the thread's; the CPUs of exit/hypercall never enter it.
    // The record's cpu is whatever the caller passes for the entry CPU.
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmmcall, SVM);                  // on CPU 2
    th.hypercall(f, 1100, 7);                      // on CPU 2
    ASSERT_EQ(th.entry(f, 1400, 0), HT_OUT_EMIT);  // on CPU 5 after migration
    ht_record r = fill(th, 1, 2, 0, 5, 1400);
    EXPECT_EQ(r.cpu, 5u);
    EXPECT_EQ(r.t_exit_ns, 1000u);
}

TEST(StateMachine, MissingExit)
{
    ht_filter f = any_filter();
    Thread th;
    EXPECT_EQ(th.hypercall(f, 1000, 42), HT_OUT_UNMATCHED_HYPERCALL);
    EXPECT_EQ(th.s.phase, HT_PHASE_IDLE);
    EXPECT_EQ(th.entry(f, 1100), HT_OUT_NONE);  // no emit
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
    // and the thread recovers
    th.exit(2000, kVmcall, VMX);
    th.hypercall(f, 2100, 42);
    EXPECT_EQ(th.entry(f, 2200), HT_OUT_EMIT);
}

TEST(StateMachine, MissingEntry)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    EXPECT_EQ(th.hypercall(f, 1100, 42), HT_OUT_ARMED);
    // entry lost; the next exit finds the thread ARMED
    EXPECT_EQ(th.exit(5000, kVmcall, VMX), HT_OUT_UNMATCHED_ARMED);
    EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    EXPECT_EQ(th.s.phase, HT_PHASE_EXITED);
    // the new exit works normally, with its own time (none invented)
    EXPECT_EQ(th.hypercall(f, 5100, 43), HT_OUT_ARMED);
    EXPECT_EQ(th.entry(f, 5300), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 5300);
    EXPECT_EQ(r.nr, 43u);
    EXPECT_EQ(r.t_exit_ns, 5000u);
    EXPECT_EQ(r.t_hypercall_ns, 5100u);
}

TEST(StateMachine, ExitAfterExit)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmxHlt, VMX);
    EXPECT_EQ(th.exit(2000, kVmcall, VMX), HT_OUT_UNMATCHED_EXIT);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_EXIT], 1u);
    EXPECT_EQ(th.hypercall(f, 2100, 1), HT_OUT_ARMED);
    EXPECT_EQ(th.entry(f, 2200), HT_OUT_EMIT);
    EXPECT_EQ(fill(th, 1, 2, 0, 0, 2200).t_exit_ns, 2000u);
}

TEST(StateMachine, SecondHypercallAfterOneExit)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    EXPECT_EQ(th.hypercall(f, 1100, 1), HT_OUT_ARMED);
    // Both are lost: the armed one and the one with no exit of its own.
    EXPECT_EQ(th.hypercall(f, 1200, 2), HT_OUT_UNMATCHED_BOTH);
    EXPECT_EQ(th.entry(f, 1300), HT_OUT_NONE);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 2u);
    EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
    EXPECT_TRUE(th.identity());
}

TEST(StateMachine, NrFilterRanges)
{
    ht_filter f = any_filter();
    f.nr_range_count = 3;
    f.nr_ranges[0] = {1, 3};
    f.nr_ranges[1] = {10, 10};
    f.nr_ranges[2] = {100, std::numeric_limits<__u64>::max()};
    struct {
        __u64 nr;
        bool wanted;
    } cases[] = {{0, false}, {1, true},   {2, true},   {3, true},   {4, false},    {9, false},
                 {10, true}, {11, false}, {99, false}, {100, true}, {12345, true}, {~0ull, true}};
    for (auto c : cases) {
        EXPECT_EQ(ht_nr_wanted(&f, c.nr), c.wanted ? 1 : 0) << c.nr;
        Thread th;
        th.exit(1000, kVmcall, VMX);
        EXPECT_EQ(th.hypercall(f, 1100, c.nr), c.wanted ? HT_OUT_ARMED : HT_OUT_FILTERED) << c.nr;
        EXPECT_EQ(th.entry(f, 1200), c.wanted ? HT_OUT_EMIT : HT_OUT_NONE) << c.nr;
    }
    // No ranges: everything.
    ht_filter all = any_filter();
    EXPECT_EQ(ht_nr_wanted(&all, 0), 1);
    EXPECT_EQ(ht_nr_wanted(&all, ~0ull), 1);
    // All HT_MAX_NR_RANGES slots used.
    ht_filter full = any_filter();
    full.nr_range_count = HT_MAX_NR_RANGES;
    for (int i = 0; i < HT_MAX_NR_RANGES; i++)
        full.nr_ranges[i] = {static_cast<__u64>(i) * 10, static_cast<__u64>(i) * 10};
    EXPECT_EQ(ht_nr_wanted(&full, 0), 1);
    EXPECT_EQ(ht_nr_wanted(&full, (HT_MAX_NR_RANGES - 1) * 10), 1);
    EXPECT_EQ(ht_nr_wanted(&full, (HT_MAX_NR_RANGES - 1) * 10 + 1), 0);
    EXPECT_EQ(ht_nr_wanted(&full, 5), 0);
}

TEST(StateMachine, VcpuFilter)
{
    ht_filter f = any_filter();
    f.vcpu = 2;
    for (auto [vcpu, want] : {std::pair<__u32, ht_outcome>{2, HT_OUT_EMIT},
                              {3, HT_OUT_FILTERED_ARMED},
                              {0, HT_OUT_FILTERED_ARMED},
                              {HT_VCPU_UNKNOWN, HT_OUT_FILTERED_ARMED}}) {
        Thread th;
        th.exit(1000, kVmcall, VMX);
        th.hypercall(f, 1100, 1);
        EXPECT_EQ(th.entry(f, 1200, vcpu), want) << vcpu;
        EXPECT_EQ(th.s.phase, HT_PHASE_IDLE);
    }
    ht_filter any = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    th.hypercall(any, 1100, 1);
    EXPECT_EQ(th.entry(any, 1200, HT_VCPU_UNKNOWN), HT_OUT_EMIT);
}

TEST(StateMachine, MinLatencyBoundary)
{
    ht_filter f = any_filter();
    f.min_latency_ns = 1000;
    for (auto [lat, want] : {std::pair<__u64, ht_outcome>{0, HT_OUT_FILTERED_ARMED},
                             {999, HT_OUT_FILTERED_ARMED},
                             {1000, HT_OUT_EMIT},  // equal emits
                             {1001, HT_OUT_EMIT}}) {
        Thread th;
        th.exit(5000, kVmcall, VMX);
        th.hypercall(f, 5000, 1);
        EXPECT_EQ(th.entry(f, 5000 + lat), want) << lat;
        EXPECT_EQ(th.counters[HT_CNT_FILTERED], want == HT_OUT_FILTERED_ARMED ? 1u : 0u);
        EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
        EXPECT_TRUE(th.identity());
    }
}

TEST(StateMachine, OutcomeCounterMapping)
{
    EXPECT_EQ(ht_outcome_counter(HT_OUT_NONE), -1);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_ARMED), -1);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_EMIT), -1);  // the emit counts emitted or dropped
    EXPECT_EQ(ht_outcome_counter(HT_OUT_FILTERED), HT_CNT_FILTERED);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_FILTERED_ARMED), HT_CNT_FILTERED);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_UNMATCHED_HYPERCALL), HT_CNT_UNMATCHED_HYPERCALL);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_UNMATCHED_ARMED), HT_CNT_UNMATCHED_HYPERCALL);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_UNMATCHED_BOTH), HT_CNT_UNMATCHED_HYPERCALL);
    EXPECT_EQ(ht_outcome_counter(HT_OUT_UNMATCHED_EXIT), HT_CNT_UNMATCHED_EXIT);
}

TEST(StateMachine, LongSequenceCounts)
{
    // A mixed stream on one thread; counters must add up per outcome.
    ht_filter f = any_filter();
    f.nr_range_count = 1;
    f.nr_ranges[0] = {0, 9};
    Thread th;
    __u64 t = 0;
    unsigned emitted = 0, filtered = 0, unmatched_hc = 0, unmatched_exit = 0;
    for (int i = 0; i < 1000; i++) {
        t += 100;
        switch (i % 5) {
        case 0:  // normal wanted hypercall
            th.exit(t, kVmcall, VMX);
            th.hypercall(f, t + 10, 5);
            th.entry(f, t + 20);
            emitted++;
            break;
        case 1:  // unwanted nr
            th.exit(t, kVmcall, VMX);
            th.hypercall(f, t + 10, 50);
            th.entry(f, t + 20);
            filtered++;
            break;
        case 2:  // lost entry: next exit counts it
            th.exit(t, kVmcall, VMX);
            th.hypercall(f, t + 10, 5);
            unmatched_hc++;
            break;
        case 3:  // exit after exit (the one from case 2 left ARMED, so: exit, exit)
            th.exit(t, kVmxHlt, VMX);
            th.exit(t + 10, kVmxHlt, VMX);
            unmatched_exit++;
            th.entry(f, t + 20);
            break;
        case 4:  // hypercall without exit
            th.hypercall(f, t, 5);
            unmatched_hc++;
            th.entry(f, t + 10);
            break;
        }
    }
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], emitted);
    EXPECT_EQ(th.counters[HT_CNT_FILTERED], filtered);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], unmatched_hc);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_EXIT], unmatched_exit);
    EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
    EXPECT_TRUE(th.identity());
}

// A vCPU whose hypercall KVM forwarded to the VMM (KVM_EXIT_HYPERCALL) never
// re-enters: its VM is destroyed.  The next owner of the same key (here: a
// new VM's vCPU in the freed struct kvm_vcpu, another process) starts with
// kvm_entry and must not complete the old hypercall.
TEST(StateMachine, ArmedStateIsNotCompletedByAnotherVm)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    ASSERT_EQ(th.hypercall(f, 1100, 12, 0x1000, 1, 0), HT_OUT_ARMED);
    EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 1u);
    EXPECT_TRUE(th.identity());         // in flight until resolved
    th.owner = (5000ull << 32) | 5001;  // the new VM's vCPU thread
    th.run = 1;                         // a new vCPU's first entry
    EXPECT_EQ(th.entry(f, 9000000000ull), HT_OUT_UNMATCHED_ARMED);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
    EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
    EXPECT_TRUE(th.identity());
    // The new owner's own hypercalls are traced normally.
    th.run = 2;  // its first exit counted
    th.exit(9000001000ull, kVmcall, VMX);
    th.hypercall(f, 9000001100ull, 42);
    EXPECT_EQ(th.entry(f, 9000001200ull), HT_OUT_EMIT);
    EXPECT_EQ(fill(th, 5000, 5001, 0, 0, 9000001200ull).t_exit_ns, 9000001000ull);
}

// The same, on the same thread: a VMM that destroys the VM and creates the
// next one on the vCPU thread it had (same pid and tid, likely the same
// struct kvm_vcpu memory).  Only the vCPU's run tells them apart.
TEST(StateMachine, ArmedStateIsNotCompletedByANewVcpuOnTheSameThread)
{
    ht_filter f = any_filter();
    Thread th;
    th.run = 5;  // 4 exits so far
    th.exit(1000, kVmmcall, SVM);
    ASSERT_EQ(th.hypercall(f, 1100, 12), HT_OUT_ARMED);
    th.run = 1;  // the new vCPU, never exited yet
    EXPECT_EQ(th.entry(f, 2000), HT_OUT_UNMATCHED_ARMED);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
    EXPECT_TRUE(th.identity());
}

// Keyed by the vCPU itself (the eBPF slot table) nothing is stamped at the
// hypercall (no thread, run 0): the new vCPU in the old one's memory is
// recognised at its first entry (run 1) all the same, and the old vCPU's
// own entry completes.
TEST(StateMachine, KeyedByTheVcpuTheFirstEntryOfANewVcpuIsRefused)
{
    ht_filter f = any_filter();
    Thread th;
    th.owner = 0;
    th.run = 0;  // stamped at the hypercall: nothing
    th.exit(1000, kVmmcall, SVM);
    ASSERT_EQ(th.hypercall(f, 1100, 12), HT_OUT_ARMED);
    th.run = 1;  // the entry: a vCPU that never exited
    EXPECT_EQ(th.entry(f, 5000000), HT_OUT_UNMATCHED_ARMED);
    th.run = 0;
    th.exit(6000000, kVmmcall, SVM);
    ASSERT_EQ(th.hypercall(f, 6000100, 42), HT_OUT_ARMED);
    th.run = 2;  // the entry of the vCPU that armed it
    EXPECT_EQ(th.entry(f, 6000200), HT_OUT_EMIT);
    EXPECT_TRUE(th.identity());
}

// The VMM served the forwarded hypercall and re-entered: same thread, same
// run (no exit in between): a match, its latency the VMM's.
TEST(StateMachine, ForwardedHypercallReenteredByTheVmmMatches)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmmcall, SVM);
    ASSERT_EQ(th.hypercall(f, 1100, 12), HT_OUT_ARMED);
    EXPECT_EQ(th.entry(f, 500000), HT_OUT_EMIT);
    // Where the run is not known (classic tracepoints), the thread decides.
    Thread unknown;
    unknown.run = 0;
    unknown.exit(1000, kVmmcall, SVM);
    unknown.hypercall(f, 1100, 12);
    EXPECT_EQ(unknown.entry(f, 2000), HT_OUT_EMIT);
}

// Random event streams over a few states shared by several threads and
// vCPU runs, with a ring that is sometimes full: after every event the
// identity holds, and what is in flight is exactly what is ARMED.
TEST(StateMachine, IdentityHoldsOnRandomStreams)
{
    std::mt19937_64 rng(20261202);
    ht_filter f = any_filter();
    f.nr_range_count = 1;
    f.nr_ranges[0] = {0, 5};
    f.min_latency_ns = 50;
    f.vcpu = HT_VCPU_ANY;
    std::vector<Thread> states(4);
    __u64 total[HT_CNT_MAX] = {};
    __u64 t = 0;
    for (int i = 0; i < 200000; i++) {
        Thread& th = states[rng() % states.size()];
        th.owner = 100 + rng() % 3;
        th.run = rng() % 4;  // 0: not known
        th.ring_full = rng() % 10 == 0;
        t += rng() % 100;
        switch (rng() % 3) {
        case 0: th.exit(t, rng() % 2 ? kVmcall : kVmxHlt, VMX); break;
        case 1: th.hypercall(f, t, rng() % 10); break;
        default: th.entry(f, t, static_cast<__u32>(rng() % 2)); break;
        }
        __u64 armed = 0;
        for (int c = 0; c < HT_CNT_MAX; c++)
            total[c] = 0;
        for (const Thread& s : states) {
            ASSERT_TRUE(s.identity());
            armed += s.s.phase == HT_PHASE_ARMED;
            for (int c = 0; c < HT_CNT_MAX; c++)
                total[c] += s.counters[c];
        }
        ASSERT_EQ(total[HT_CNT_IN_FLIGHT], armed) << "after event " << i;
    }
    EXPECT_GT(total[HT_CNT_EMITTED], 500u);
    EXPECT_GT(total[HT_CNT_DROPPED], 30u);
    EXPECT_GT(total[HT_CNT_UNMATCHED_HYPERCALL], 1000u);
    EXPECT_GT(total[HT_CNT_FILTERED], 1000u);
}

// ---- the VMM-served split (kvm_userspace_exit) ----------------------------

// A forwarded KVM hypercall (KVM_HC_MAP_GPA_RANGE with KVM_CAP_EXIT_HYPERCALL):
// exit, hypercall, back to the VMM with KVM_EXIT_HYPERCALL, entry.  Both ISAs.
TEST(StateMachine, ForwardedHypercallIsVmmServed)
{
    for (auto [isa, reason] : {std::pair<__u8, __u32>{VMX, kVmcall}, {SVM, kVmmcall}}) {
        ht_filter f = any_filter();
        Thread th;
        th.exit(1000, reason, isa);
        ASSERT_EQ(th.hypercall(f, 1100, 12, 0x1000, 1, 0, 0), HT_OUT_ARMED);
        EXPECT_EQ(th.userspace_exit(1200, HT_KVM_EXIT_HYPERCALL), HT_OUT_NONE);
        EXPECT_EQ(th.s.phase, HT_PHASE_ARMED);
        // A signal brings the VMM back once more before the entry: the VMM
        // part still starts at the first return.
        th.userspace_exit(1300, 10 /* KVM_EXIT_INTR */);
        ASSERT_EQ(th.entry(f, 5000, 0), HT_OUT_EMIT);
        ht_record r = fill(th, 1, 2, 0, 0, 5000);
        EXPECT_EQ(r.abi, HT_ABI_KVM);
        EXPECT_EQ(r.flags & HT_REC_F_VMM_SERVED, HT_REC_F_VMM_SERVED);
        EXPECT_EQ(r.t_userspace_exit_ns, 1200u);
        EXPECT_EQ(r.uexit_reason, (__u32)HT_KVM_EXIT_HYPERCALL);
        EXPECT_EQ(r.isa, isa);
        EXPECT_TRUE(th.identity());
        EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
    }
}

// A return to userspace for another reason (a signal) between a kernel-served
// hypercall and its entry: the time is kept, the call is not VMM-served.
TEST(StateMachine, UserspaceExitForAnotherReasonIsNotVmmServed)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmmcall, SVM);
    th.hypercall(f, 1100, 5);
    th.userspace_exit(1200, 10 /* KVM_EXIT_INTR */);
    ASSERT_EQ(th.entry(f, 2000), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 2000);
    EXPECT_EQ(r.flags & HT_REC_F_VMM_SERVED, 0u);
    EXPECT_EQ(r.t_userspace_exit_ns, 1200u);
    EXPECT_EQ(r.uexit_reason, 10u);
}

// The next hypercall starts clean: nothing of a forwarded one leaks into it.
TEST(StateMachine, VmmSplitDoesNotLeakIntoNextHypercall)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    th.hypercall(f, 1100, 12);
    th.userspace_exit(1200, HT_KVM_EXIT_HYPERCALL);
    ASSERT_EQ(th.entry(f, 2000), HT_OUT_EMIT);
    th.exit(3000, kVmcall, VMX);
    th.hypercall(f, 3100, 5);
    ASSERT_EQ(th.entry(f, 3500), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 3500);
    EXPECT_EQ(r.flags & HT_REC_F_VMM_SERVED, 0u);
    EXPECT_EQ(r.t_userspace_exit_ns, 0u);
    EXPECT_EQ(r.uexit_reason, 0u);
}

// Userspace exits while not armed (an I/O exit served by the VMM, or after
// a filtered hypercall) change nothing.
TEST(StateMachine, UserspaceExitWithoutArmedHypercallIsIgnored)
{
    ht_filter f = any_filter();
    f.nr_range_count = 1;
    f.nr_ranges[0] = {5, 5};
    Thread th;
    EXPECT_EQ(th.userspace_exit(10, HT_KVM_EXIT_HYPERCALL), HT_OUT_NONE);
    EXPECT_EQ(th.s.phase, HT_PHASE_IDLE);
    th.exit(1000, 30 /* I/O */, VMX);
    EXPECT_EQ(th.userspace_exit(1100, 2 /* KVM_EXIT_IO */), HT_OUT_NONE);
    EXPECT_EQ(th.s.phase, HT_PHASE_EXITED);
    EXPECT_EQ(th.entry(f, 1500), HT_OUT_NONE);
    th.exit(2000, kVmcall, VMX);
    EXPECT_EQ(th.hypercall(f, 2100, 12), HT_OUT_FILTERED);
    EXPECT_EQ(th.userspace_exit(2200, HT_KVM_EXIT_HYPERCALL), HT_OUT_NONE);
    EXPECT_EQ(th.entry(f, 3000), HT_OUT_NONE);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
    EXPECT_EQ(th.counters[HT_CNT_FILTERED], 1u);
    EXPECT_TRUE(th.identity());
}

// A forwarded hypercall whose vCPU never re-enters (the VMM destroys the VM):
// in flight, never emitted; userspace counts it unmatched at stop.  Both ISAs.
TEST(StateMachine, UserspaceExitWithoutReentryStaysInFlight)
{
    for (auto [isa, reason] : {std::pair<__u8, __u32>{VMX, kVmcall}, {SVM, kVmmcall}}) {
        ht_filter f = any_filter();
        Thread th;
        th.exit(1000, reason, isa);
        th.hypercall(f, 1100, 12);
        th.userspace_exit(1200, HT_KVM_EXIT_HYPERCALL);
        EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
        EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 1u);
        EXPECT_TRUE(th.identity());
        // A new vCPU thread reusing the key starts with an entry of its own
        // (run 1): the abandoned state is lost, not completed.
        th.run = 1;
        EXPECT_EQ(th.entry(f, 9000), HT_OUT_UNMATCHED_ARMED);
        EXPECT_EQ(th.counters[HT_CNT_EMITTED], 0u);
        EXPECT_EQ(th.counters[HT_CNT_IN_FLIGHT], 0u);
        EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
        EXPECT_TRUE(th.identity());
    }
}

// ---- Hyper-V (kvm_hv_hypercall, kvm_hv_hypercall_done) --------------------

namespace {

ht_outcome hv_call(Thread& th, const ht_filter& f, __u64 t, __u16 code, __u8 fast, __u16 rep_cnt, __u64 ingpa)
{
    return th.took(t, ht_sm_hv_hypercall(&th.s, &f, ht_hv_code_wanted(&f, code), code, fast, 1, rep_cnt, 2, ingpa,
                                         ingpa + 0x1000));
}

}  // namespace

// exit -> kvm_hv_hypercall -> kvm_hv_hypercall_done -> entry, VMX and SVM.
TEST(StateMachine, HyperVCallWithResult)
{
    for (auto [isa, reason] : {std::pair<__u8, __u32>{VMX, kVmcall}, {SVM, kVmmcall}}) {
        ht_filter f = any_filter();
        Thread th;
        th.exit(1000, reason, isa);
        ASSERT_EQ(hv_call(th, f, 1100, 0x3, 0, 3, 0xa0000), HT_OUT_ARMED);
        EXPECT_EQ(ht_sm_hv_done(&th.s, 0x300000000ull), HT_OUT_NONE);
        EXPECT_EQ(ht_sm_hv_done(&th.s, 7), HT_OUT_NONE);  // only the first counts
        ASSERT_EQ(th.entry(f, 1500), HT_OUT_EMIT);
        ht_record r = fill(th, 1, 2, 0, 0, 1500);
        EXPECT_EQ(r.abi, HT_ABI_HYPERV);
        EXPECT_EQ(r.nr, 3u);
        EXPECT_EQ(r.hv_fast, 0u);
        EXPECT_EQ(r.hv_var_cnt, 1u);
        EXPECT_EQ(r.hv_rep_cnt, 3u);
        EXPECT_EQ(r.hv_rep_idx, 2u);
        EXPECT_EQ(r.hv_ingpa, 0xa0000u);
        EXPECT_EQ(r.hv_outgpa, 0xa1000u);
        EXPECT_EQ(r.hv_result, 0x300000000ull);
        EXPECT_EQ(r.flags, HT_REC_F_HV_RESULT);
        EXPECT_EQ(r.a0 | r.a1 | r.a2 | r.a3 | r.a4 | r.a5, 0u);
        EXPECT_EQ(r.isa, isa);
        EXPECT_EQ(r.exit_reason, reason);
        EXPECT_TRUE(th.identity());
    }
}

// A kernel without kvm_hv_hypercall_done (5.10): the record says the
// result is not known, never 0 as if it were.
TEST(StateMachine, HyperVCallWithoutDone)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmmcall, SVM);
    hv_call(th, f, 1100, 0x8, 1, 0, 0x42);
    ASSERT_EQ(th.entry(f, 1500), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 1500);
    EXPECT_EQ(r.flags & HT_REC_F_HV_RESULT, 0u);
    EXPECT_EQ(r.hv_result, 0u);
    EXPECT_EQ(r.hv_fast, 1u);
    EXPECT_TRUE(th.identity());
}

// A Hyper-V call KVM hands to the VMM (KVM_EXIT_HYPERV): done fires at the
// next KVM_RUN with the VMM's result, then the entry; KVM_EXIT_HYPERCALL
// (the KVM ABI's reason) would not make it VMM-served.
TEST(StateMachine, HyperVCallServedByTheVmm)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmcall, VMX);
    hv_call(th, f, 1100, 0x5c, 0, 0, 0xa0020);
    th.userspace_exit(1200, HT_KVM_EXIT_HYPERCALL);
    EXPECT_EQ(th.s.hc_flags & HT_REC_F_VMM_SERVED, 0u);
    th.userspace_exit(1300, HT_KVM_EXIT_HYPERV);
    ht_sm_hv_done(&th.s, 0x12);
    ASSERT_EQ(th.entry(f, 9000), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 9000);
    EXPECT_EQ(r.flags, HT_REC_F_HV_RESULT | HT_REC_F_VMM_SERVED);
    EXPECT_EQ(r.hv_result, 0x12u);
    EXPECT_EQ(r.t_userspace_exit_ns, 1200u);
}

// done without an armed Hyper-V call (a filtered code, a KVM call armed, no
// state) changes nothing.
TEST(StateMachine, HyperVDoneWithoutArmedHyperVCall)
{
    ht_filter f = any_filter();
    f.abi_none = 1u << HT_ABI_HYPERV;
    Thread th;
    EXPECT_EQ(ht_sm_hv_done(&th.s, 1), HT_OUT_NONE);
    th.exit(1000, kVmcall, VMX);
    EXPECT_EQ(hv_call(th, f, 1100, 0x3, 0, 0, 0), HT_OUT_FILTERED);
    ht_sm_hv_done(&th.s, 1);
    EXPECT_EQ(th.s.phase, HT_PHASE_IDLE);
    f = any_filter();
    th.exit(2000, kVmcall, VMX);
    th.hypercall(f, 2100, 42);
    ht_sm_hv_done(&th.s, 5);
    ASSERT_EQ(th.entry(f, 2500), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 2500);
    EXPECT_EQ(r.abi, HT_ABI_KVM);
    EXPECT_EQ(r.flags & HT_REC_F_HV_RESULT, 0u);
    EXPECT_EQ(r.hv_result, 0u);
    EXPECT_TRUE(th.identity());
}

// One exit, two hypercall events of different ABIs (cannot happen in one
// kvm_emulate_hypercall, but a lost entry can make it look so): the second
// finds the first armed, both are lost, nothing is invented.  Then the same
// thread's next exit serves a Hyper-V call after a KVM one: no field of the
// KVM call survives into it.  Both ISAs.
TEST(StateMachine, ExitReusedAcrossAbis)
{
    for (auto [isa, reason] : {std::pair<__u8, __u32>{VMX, kVmcall}, {SVM, kVmmcall}}) {
        ht_filter f = any_filter();
        Thread th;
        th.exit(1000, reason, isa);
        th.hypercall(f, 1100, 42, 1, 2, 3, 4);
        EXPECT_EQ(hv_call(th, f, 1150, 0x2, 0, 0, 0xa0000), HT_OUT_UNMATCHED_BOTH);
        EXPECT_EQ(th.entry(f, 1500), HT_OUT_NONE);
        EXPECT_EQ(th.counters[HT_CNT_UNMATCHED_HYPERCALL], 2u);
        th.exit(2000, reason, isa);
        th.hypercall(f, 2100, 42, 1, 2, 3, 4);
        th.userspace_exit(2150, HT_KVM_EXIT_HYPERCALL);
        ASSERT_EQ(th.entry(f, 2500), HT_OUT_EMIT);
        th.exit(3000, reason, isa);
        hv_call(th, f, 3100, 0x2, 0, 0, 0xa0000);
        ASSERT_EQ(th.entry(f, 3500), HT_OUT_EMIT);
        ht_record r = fill(th, 1, 2, 0, 0, 3500);
        EXPECT_EQ(r.abi, HT_ABI_HYPERV);
        EXPECT_EQ(r.nr, 2u);
        EXPECT_EQ(r.a0 | r.a1 | r.a2 | r.a3, 0u);
        EXPECT_EQ(r.t_userspace_exit_ns, 0u);
        EXPECT_EQ(r.flags, 0u);
        EXPECT_EQ(th.counters[HT_CNT_EMITTED], 2u);
        EXPECT_TRUE(th.identity());
    }
}

// ---- Xen (kvm_xen_hypercall) ----------------------------------------------

namespace {

ht_outcome xen_call(Thread& th, const ht_filter& f, __u64 t, __u64 nr, __u64 a1)
{
    return th.took(t, ht_sm_xen_hypercall(&th.s, &f, nr, 0, a1, 0xa2, 0xa3, 0xa4, 0xa5));
}

}  // namespace

// exit -> kvm_xen_hypercall -> entry, VMX and SVM: abi xen, Xen's nr and
// all six arguments in a0..a5, no Hyper-V field; a call KVM answers itself
// (xen_version) is not VMM-served.
TEST(StateMachine, XenCallServedByTheKernel)
{
    for (auto [isa, reason] : {std::pair<__u8, __u32>{VMX, kVmcall}, {SVM, kVmmcall}}) {
        ht_filter f = any_filter();
        Thread th;
        th.exit(1000, reason, isa);
        ASSERT_EQ(xen_call(th, f, 1100, 17 /* __HYPERVISOR_xen_version */, 0x1000003), HT_OUT_ARMED);
        ASSERT_EQ(th.entry(f, 1500, 1), HT_OUT_EMIT);
        ht_record r = fill(th, 1, 2, 1, 0, 1500);
        EXPECT_EQ(r.abi, HT_ABI_XEN);
        EXPECT_EQ(r.nr, 17u);
        EXPECT_EQ(r.a0, 0u);
        EXPECT_EQ(r.a1, 0x1000003u);
        EXPECT_EQ(r.a2, 0xa2u);
        EXPECT_EQ(r.a3, 0xa3u);
        EXPECT_EQ(r.a4, 0xa4u);
        EXPECT_EQ(r.a5, 0xa5u);
        EXPECT_EQ(r.hv_ingpa | r.hv_outgpa | r.hv_result | r.hv_fast | r.hv_rep_cnt, 0u);
        EXPECT_EQ(r.flags, 0u);
        EXPECT_EQ(r.t_userspace_exit_ns, 0u);
        EXPECT_EQ(r.isa, isa);
        EXPECT_EQ(r.exit_reason, reason);
        EXPECT_EQ(r.t_hypercall_ns, 1100u);
        EXPECT_TRUE(th.identity());
    }
}

// A Xen call KVM hands to the VMM (KVM_EXIT_XEN): VMM-served from the first
// return; another ABI's forwarding reason (KVM_EXIT_HYPERV, _HYPERCALL)
// would not make it so.
TEST(StateMachine, XenCallServedByTheVmm)
{
    ht_filter f = any_filter();
    Thread th;
    th.exit(1000, kVmmcall, SVM);
    xen_call(th, f, 1100, 34 /* __HYPERVISOR_hvm_op */, 5);
    th.userspace_exit(1200, HT_KVM_EXIT_HYPERV);
    th.userspace_exit(1250, HT_KVM_EXIT_HYPERCALL);
    EXPECT_EQ(th.s.hc_flags & HT_REC_F_VMM_SERVED, 0u);
    th.userspace_exit(1300, HT_KVM_EXIT_XEN);
    ASSERT_EQ(th.entry(f, 9000), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 9000);
    EXPECT_EQ(r.abi, HT_ABI_XEN);
    EXPECT_EQ(r.flags, HT_REC_F_VMM_SERVED);
    EXPECT_EQ(r.t_userspace_exit_ns, 1200u);
    EXPECT_EQ(r.uexit_reason, (__u32)HT_KVM_EXIT_HYPERV);
    EXPECT_TRUE(th.identity());
}

// Xen's numbers are selected in Xen's ranges only: -n 17 (a KVM number)
// does not keep Xen's 17, xen:17 does not keep KVM's 17, and a Xen call
// after a KVM one carries nothing of it (a4, a5 cleared for KVM).
TEST(StateMachine, XenFilterAndNoLeakBetweenAbis)
{
    ht_filter kvm17 = any_filter();
    kvm17.nr_range_count = 1;
    kvm17.nr_ranges[0] = {17, 17};
    kvm17.abi_none = (1u << HT_ABI_HYPERV) | (1u << HT_ABI_XEN);
    ht_filter xen17 = any_filter();
    xen17.xen_range_count = 1;
    xen17.xen_ranges[0] = {17, 17};
    xen17.abi_none = (1u << HT_ABI_KVM) | (1u << HT_ABI_HYPERV);
    Thread th;
    th.exit(1000, kVmcall, VMX);
    EXPECT_EQ(xen_call(th, kvm17, 1100, 17, 1), HT_OUT_FILTERED);
    th.exit(2000, kVmcall, VMX);
    EXPECT_EQ(th.hypercall(xen17, 2100, 17), HT_OUT_FILTERED);
    th.exit(3000, kVmcall, VMX);
    EXPECT_EQ(xen_call(th, xen17, 3100, 18, 1), HT_OUT_FILTERED);
    th.exit(4000, kVmcall, VMX);
    ASSERT_EQ(xen_call(th, xen17, 4100, 17, 7), HT_OUT_ARMED);
    ASSERT_EQ(th.entry(xen17, 4500), HT_OUT_EMIT);
    ht_filter f = any_filter();
    th.exit(5000, kVmcall, VMX);
    th.hypercall(f, 5100, 42, 1, 2, 3, 4);
    ASSERT_EQ(th.entry(f, 5500), HT_OUT_EMIT);
    ht_record r = fill(th, 1, 2, 0, 0, 5500);
    EXPECT_EQ(r.abi, HT_ABI_KVM);
    EXPECT_EQ(r.a4 | r.a5, 0u);
    EXPECT_EQ(th.counters[HT_CNT_FILTERED], 3u);
    EXPECT_EQ(th.counters[HT_CNT_EMITTED], 2u);
    EXPECT_TRUE(th.identity());
}
