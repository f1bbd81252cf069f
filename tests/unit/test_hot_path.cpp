// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// common/ht_hot_path.h with test hooks: the same functions the BPF program
// and the module run, each hook recording what it was asked, so the tests
// prove what the hot path reads, when, and what it counts and emits.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include "ht_config.h"
#include "ht_record.h"
#include "ht_state_machine.h"

// The test environment: one event's context, with what each hook saw.
struct ht_env {
    __u64 counters[HT_CNT_MAX];
    __u64 clock;  // ht_env_now: returns it, then adds 100
    __u64 pid_tgid;
    int by_thread;
    int lazy;  // ht_env_lazy_reason
    bool reason_readable;
    __u32 vendor_reason;  // what ht_env_read_reason finds
    __u64 run;            // ht_env_vcpu_run
    __u32 vcpu_id;
    std::size_t ring_room;  // records the ring takes before it drops
    std::vector<ht_record> ring;
    int now_calls, pid_calls, reason_reads, run_reads, id_reads;
};

static inline void ht_env_count(struct ht_env* e, int counter, __u64 delta)
{
    if (counter < 0 || counter >= HT_CNT_MAX)
        std::abort();  // the hot path checks the bound
    e->counters[counter] += delta;
}
static inline __u64 ht_env_now(struct ht_env* e)
{
    e->now_calls++;
    const __u64 t = e->clock;
    e->clock += 100;
    return t;
}
static inline __u64 ht_env_pid_tgid(struct ht_env* e)
{
    e->pid_calls++;
    return e->pid_tgid;
}
static inline int ht_env_keyed_by_thread(struct ht_env* e) { return e->by_thread; }
static inline int ht_env_lazy_reason(struct ht_env* e) { return e->lazy; }
static inline int ht_env_read_reason(struct ht_env* e, __u8, __u32* reason)
{
    e->reason_reads++;
    if (!e->reason_readable)
        return 0;
    *reason = e->vendor_reason;
    return 1;
}
static inline __u64 ht_env_vcpu_run(struct ht_env* e)
{
    e->run_reads++;
    return e->run;
}
static inline __u32 ht_env_vcpu_id(struct ht_env* e)
{
    e->id_reads++;
    return e->vcpu_id;
}
static inline int ht_env_emit(struct ht_env* e, const struct ht_thread_state* s, __u32 vcpu_id, __u64 now,
                              __u64 pid_tgid)
{
    if (e->ring.size() >= e->ring_room)
        return HT_CNT_DROPPED;
    ht_record r;
    std::memset(&r, 0xaa, sizeof r);
    ht_sm_fill_record(&r, s, pid_tgid >> 32, static_cast<__u32>(pid_tgid), vcpu_id, 3, now);
    e->ring.push_back(r);
    return HT_CNT_EMITTED;
}

#include "ht_hot_path.h"
}

namespace {

constexpr __u64 kPidTgid = (1234ull << 32) | 1240;

ht_filter filter(__u32 reason_mode = HT_REASON_ANY)
{
    ht_filter f{};
    f.reason_mode = reason_mode;
    f.pid = HT_PID_ANY;
    f.vcpu = HT_VCPU_ANY;
    f.nr_range_count = 1;
    f.nr_ranges[0].lo = f.nr_ranges[0].hi = 42;
    return f;
}

ht_env env(int by_thread = 1)
{
    ht_env e{};
    e.clock = 1000;
    e.pid_tgid = kPidTgid;
    e.by_thread = by_thread;
    e.run = 5;
    e.vcpu_id = 2;
    e.ring_room = 1000;
    return e;
}

// hypercalls = emitted + dropped + filtered + unmatched_hypercall + in_flight (mod 2^64)
void expect_identity(const ht_env& e)
{
    const __u64* c = e.counters;
    EXPECT_EQ(c[HT_CNT_HYPERCALLS], c[HT_CNT_EMITTED] + c[HT_CNT_DROPPED] + c[HT_CNT_FILTERED] +
                                        c[HT_CNT_UNMATCHED_HYPERCALL] + c[HT_CNT_IN_FLIGHT]);
}

// One exit -> hypercall -> entry.
void cycle(ht_env& e, ht_thread_state& s, const ht_filter& f, __u64 nr, __u32 reason = 0x81, __u8 isa = HT_ISA_SVM)
{
    ht_hp_exit(&e, &s, 0, e.clock, e.lazy ? 0 : reason, isa, 0x77);
    e.vendor_reason = reason;
    ht_hp_hypercall(&e, &s, &f, nr, 1, 2, 3, 4);
    ht_hp_entry(&e, &s, &f);
}

TEST(HotPath, WantedHypercallBecomesOneRecord)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_thread_state s{};
    cycle(e, s, f, 42);
    ASSERT_EQ(e.ring.size(), 1u);
    const ht_record& r = e.ring[0];
    EXPECT_EQ(r.nr, 42u);
    EXPECT_EQ(r.a0, 1u);
    EXPECT_EQ(r.a3, 4u);
    EXPECT_EQ(r.pid, 1234u);
    EXPECT_EQ(r.tid, 1240u);
    EXPECT_EQ(r.vcpu_id, 2u);
    EXPECT_EQ(r.exit_reason, 0x81u);
    EXPECT_EQ(r.t_exit_ns, 1000u);       // the caller's clock at the exit
    EXPECT_EQ(r.t_hypercall_ns, 1000u);  // first hook clock read: the hypercall's
    EXPECT_EQ(r.t_entry_ns, 1100u);
    EXPECT_EQ(e.counters[HT_CNT_EMITTED], 1u);
    EXPECT_EQ(e.counters[HT_CNT_IN_FLIGHT], 0u);
    expect_identity(e);
}

TEST(HotPath, UnwantedHypercallReadsNothingAndEmitsNothing)
{
    const ht_filter f = filter();
    ht_env e = env();
    e.lazy = 1;
    e.reason_readable = true;
    ht_thread_state s{};
    cycle(e, s, f, 7);
    EXPECT_TRUE(e.ring.empty());
    EXPECT_EQ(e.reason_reads, 0);  // the vendor struct is read only for a wanted nr
    EXPECT_EQ(e.now_calls, 0);     // no clock, thread or run for a filtered one
    EXPECT_EQ(e.pid_calls, 0);
    EXPECT_EQ(e.run_reads, 0);
    EXPECT_EQ(e.id_reads, 0);  // an entry with nothing armed reads nothing
    EXPECT_EQ(e.counters[HT_CNT_FILTERED], 1u);
    expect_identity(e);
}

TEST(HotPath, ExitWithoutHypercallCostsTheEntryNothing)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 0, 500, 0x78, HT_ISA_SVM, 0x77);
    ht_hp_entry(&e, &s, &f);
    EXPECT_EQ(e.now_calls + e.pid_calls + e.run_reads + e.id_reads, 0);
    EXPECT_EQ(s.phase, HT_PHASE_IDLE);
    for (__u64 c : e.counters)
        EXPECT_EQ(c, 0u);
}

TEST(HotPath, KeyedByThreadStampsOwnerAndRunAtTheHypercall)
{
    const ht_filter f = filter();
    ht_env e = env(1);
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 0, 500, 0x81, HT_ISA_SVM, 0x77);
    EXPECT_EQ(s.exit_vcpu, 0x77u);
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);
    EXPECT_EQ(s.owner, kPidTgid);
    EXPECT_EQ(s.run, 5u);
    // Another thread's entry (a reused tid in another process) completes nothing.
    e.pid_tgid = (99ull << 32) | 1240;
    ht_hp_entry(&e, &s, &f);
    EXPECT_TRUE(e.ring.empty());
    EXPECT_EQ(e.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    expect_identity(e);
}

TEST(HotPath, KeyedByVcpuStampsNeitherAndRefusesAFirstEntry)
{
    const ht_filter f = filter();
    ht_env e = env(0);
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 0, 500, 0x81, HT_ISA_SVM, 0);
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);
    EXPECT_EQ(e.pid_calls, 0);  // saved: the slot is the vCPU's
    EXPECT_EQ(e.run_reads, 0);
    EXPECT_EQ(s.owner, 0u);
    EXPECT_EQ(s.run, 0u);
    // A new vCPU in the freed one's memory reaches the slot with its first entry: run 1.
    e.run = 1;
    ht_hp_entry(&e, &s, &f);
    EXPECT_TRUE(e.ring.empty());
    EXPECT_EQ(e.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    // The same vCPU's next cycle, any thread: emitted.
    e.run = 9;
    e.pid_tgid = (1234ull << 32) | 1300;
    cycle(e, s, f, 42);
    EXPECT_EQ(e.ring.size(), 1u);
    expect_identity(e);
}

TEST(HotPath, NoStateIsCountedNeverInvented)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_hp_exit(&e, nullptr, 0, 500, 0x81, HT_ISA_SVM, 0);
    ht_hp_hypercall(&e, nullptr, &f, 42, 0, 0, 0, 0);
    ht_hp_entry(&e, nullptr, &f);
    EXPECT_EQ(e.counters[HT_CNT_NO_STATE], 1u);
    EXPECT_EQ(e.counters[HT_CNT_HYPERCALLS], 1u);
    EXPECT_EQ(e.counters[HT_CNT_UNMATCHED_HYPERCALL], 1u);
    EXPECT_TRUE(e.ring.empty());
    expect_identity(e);
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 1, 600, 0x81, HT_ISA_SVM, 0);
    EXPECT_EQ(e.counters[HT_CNT_EVICTED], 1u);
}

TEST(HotPath, FullRingCountsDropped)
{
    const ht_filter f = filter();
    ht_env e = env();
    e.ring_room = 2;
    ht_thread_state s{};
    for (int i = 0; i < 5; ++i)
        cycle(e, s, f, 42);
    EXPECT_EQ(e.ring.size(), 2u);
    EXPECT_EQ(e.counters[HT_CNT_EMITTED], 2u);
    EXPECT_EQ(e.counters[HT_CNT_DROPPED], 3u);
    expect_identity(e);
}

TEST(HotPath, LostEntriesAndExitsAreCounted)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 0, 100, 0x81, HT_ISA_SVM, 0);
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);
    ht_hp_exit(&e, &s, 0, 200, 0x81, HT_ISA_SVM, 0);  // the armed one's entry never came
    ht_hp_exit(&e, &s, 0, 300, 0x78, HT_ISA_SVM, 0);  // an exit without entry
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);      // armed
    EXPECT_EQ(e.counters[HT_CNT_IN_FLIGHT], 1u);
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);  // a second one after one exit: both lost
    ht_hp_hypercall(&e, &s, &f, 42, 0, 0, 0, 0);  // and one with no exit at all
    EXPECT_EQ(e.counters[HT_CNT_UNMATCHED_EXIT], 1u);
    EXPECT_EQ(e.counters[HT_CNT_HYPERCALLS], 4u);
    EXPECT_EQ(e.counters[HT_CNT_UNMATCHED_HYPERCALL], 4u);
    EXPECT_EQ(e.counters[HT_CNT_IN_FLIGHT], 0u);
    EXPECT_TRUE(e.ring.empty());
    expect_identity(e);
}

// The lazy path (exit reason 0 at the exit, the vendor struct read at a
// wanted hypercall) gives the eager path's outcomes and records, byte for
// byte, in every reason mode.
TEST(LazyExitReason, SameOutcomesAndRecordsAsEager)
{
    const struct {
        __u32 reason;
        __u8 isa;
        bool known;
    } exits[] = {{0x81, HT_ISA_SVM, true}, {0x78, HT_ISA_SVM, true},
                 {18, HT_ISA_VMX, true},   {18 | (1u << 27), HT_ISA_VMX, true},
                 {12, HT_ISA_VMX, true},   {0, HT_ISA_SVM, false}};
    for (__u32 mode : {HT_REASON_ANY, HT_REASON_HYPERCALL_ONLY}) {
        const ht_filter f = filter(mode);
        for (const auto& x : exits) {
            for (__u64 nr : {42u, 7u}) {
                ht_env eager = env(), lazy = env();
                lazy.lazy = 1;
                lazy.reason_readable = x.known;
                ht_thread_state se{}, sl{};
                // Eager: the reason (or "unknown") is known at the exit.
                ht_hp_exit(&eager, &se, 0, eager.clock, x.reason, x.isa, 0);
                if (!x.known)
                    ht_sm_set_exit_reason(&se, 0, x.isa, 0);
                ht_hp_hypercall(&eager, &se, &f, nr, 1, 2, 3, 4);
                ht_hp_entry(&eager, &se, &f);
                cycle(lazy, sl, f, nr, x.reason, x.isa);
                EXPECT_EQ(lazy.reason_reads, nr == 42 ? 1 : 0);
                EXPECT_EQ(0, std::memcmp(eager.counters, lazy.counters, sizeof eager.counters))
                    << "mode " << mode << " reason " << x.reason << " nr " << nr;
                ASSERT_EQ(eager.ring.size(), lazy.ring.size());
                if (!eager.ring.empty()) {
                    EXPECT_EQ(0, std::memcmp(&eager.ring[0], &lazy.ring[0], sizeof(ht_record)))
                        << "mode " << mode << " reason " << x.reason;
                }
            }
        }
    }
}

}  // namespace

// kvm_userspace_exit: reads the clock only with a hypercall armed, and the
// record carries the VMM part; an idle thread's return to the VMM (I/O,
// nothing armed, no state) costs nothing and counts nothing.
TEST(HotPath, UserspaceExitStampsOnlyAnArmedHypercall)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_thread_state s{};
    ht_hp_userspace_exit(&e, nullptr, HT_KVM_EXIT_HYPERCALL);
    ht_hp_userspace_exit(&e, &s, HT_KVM_EXIT_HYPERCALL);
    ht_hp_exit(&e, &s, 0, 500, 0x7b, HT_ISA_SVM, 0x77);
    ht_hp_userspace_exit(&e, &s, 2 /* KVM_EXIT_IO */);
    ht_hp_entry(&e, &s, &f);
    EXPECT_EQ(e.now_calls, 0);
    for (__u64 c : e.counters)
        EXPECT_EQ(c, 0u);

    ht_hp_exit(&e, &s, 0, e.clock, 0x81, HT_ISA_SVM, 0x77);
    ht_hp_hypercall(&e, &s, &f, 42, 1, 2, 3, 4);          // clock 1000
    ht_hp_userspace_exit(&e, &s, HT_KVM_EXIT_HYPERCALL);  // clock 1100
    ht_hp_entry(&e, &s, &f);                              // clock 1200
    ASSERT_EQ(e.ring.size(), 1u);
    const ht_record& r = e.ring[0];
    EXPECT_EQ(r.flags & HT_REC_F_VMM_SERVED, HT_REC_F_VMM_SERVED);
    EXPECT_EQ(r.t_userspace_exit_ns, 1100u);
    EXPECT_EQ(r.t_entry_ns, 1200u);
    EXPECT_EQ(r.uexit_reason, static_cast<__u32>(HT_KVM_EXIT_HYPERCALL));
    EXPECT_EQ(r.abi, HT_ABI_KVM);
    expect_identity(e);
}

// A VMM-served hypercall whose vCPU never re-enters: in flight, no record.
TEST(HotPath, UserspaceExitWithoutReentryIsCountedNotEmitted)
{
    const ht_filter f = filter();
    ht_env e = env();
    ht_thread_state s{};
    ht_hp_exit(&e, &s, 0, e.clock, 0x81, HT_ISA_SVM, 0x77);
    ht_hp_hypercall(&e, &s, &f, 42, 1, 2, 3, 4);
    ht_hp_userspace_exit(&e, &s, HT_KVM_EXIT_HYPERCALL);
    EXPECT_TRUE(e.ring.empty());
    EXPECT_EQ(e.counters[HT_CNT_IN_FLIGHT], 1u);
    expect_identity(e);
}
