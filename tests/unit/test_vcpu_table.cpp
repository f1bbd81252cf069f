// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// common/ht_vcpu_table.h: the per-vCPU slot table both backends use.  Probe
// windows with colliding keys, a full window, take-over of idle slots, wrap
// around the end of the table, and concurrent claims (compare-and-swap).
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

extern "C" {
#include "ht_vcpu_table.h"
}

namespace {

constexpr __u64 kNever = std::numeric_limits<__u64>::max();  // steal_after: never

// A zeroed table of 2^bits slots (as the BPF global array / module start).
struct Table {
    explicit Table(unsigned bits) : slots(std::size_t{1} << bits), mask((1u << bits) - 1) {}
    ht_vcpu_slot* t() { return slots.data(); }
    std::size_t index(const ht_vcpu_slot* s) const { return static_cast<std::size_t>(s - slots.data()); }
    std::vector<ht_vcpu_slot> slots;
    __u32 mask;
};

// n distinct nonzero keys whose probe window starts at `start`.  Keys look
// like vCPU addresses (kernel pointers, 64-byte aligned) to exercise the
// hash the way the BPF backend does.
std::vector<__u64> keys_starting_at(__u32 mask, __u32 start, std::size_t n)
{
    std::vector<__u64> keys;
    for (__u64 k = 1; keys.size() < n; k++) {
        __u64 key = 0xffff888000000000ull + (k << 6);
        if ((ht_vt_hash(key) & mask) == start)
            keys.push_back(key);
    }
    return keys;
}

ht_vcpu_slot* get(Table& tb, __u64 key, __u64 now, __u64 steal_after, int* evicted)
{
    return ht_vt_get(tb.t(), sizeof(ht_vcpu_slot), tb.mask, key, now, steal_after, evicted);
}

}  // namespace

TEST(VcpuTable, FindGetClaim)
{
    Table tb(6);
    const __u64 key = 0xffff888012345640ull;
    EXPECT_EQ(ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, key), nullptr);
    int evicted = -1;
    ht_vcpu_slot* s = get(tb, key, 1000, HT_VT_STEAL_AFTER_NS, &evicted);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(evicted, 0);
    EXPECT_EQ(s->key, key);
    EXPECT_EQ(s->sm.t_exit_ns, 1000u);  // fresh at once
    EXPECT_EQ(s->sm.phase, HT_PHASE_IDLE);
    EXPECT_EQ(tb.index(s), ht_vt_hash(key) & tb.mask);  // first slot of its window
    EXPECT_EQ(ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, key), s);
    // Found again: same slot, state untouched (only a claim resets it).
    s->sm.phase = HT_PHASE_ARMED;
    s->sm.t_exit_ns = 1500;
    EXPECT_EQ(get(tb, key, 2000, HT_VT_STEAL_AFTER_NS, &evicted), s);
    EXPECT_EQ(evicted, 0);
    EXPECT_EQ(s->sm.phase, HT_PHASE_ARMED);
    EXPECT_EQ(s->sm.t_exit_ns, 1500u);
}

TEST(VcpuTable, CollidingKeysFillTheWindowInOrder)
{
    Table tb(6);
    const __u32 start = 20;
    std::vector<__u64> keys = keys_starting_at(tb.mask, start, HT_VT_PROBES);
    int evicted = -1;
    for (std::size_t i = 0; i < keys.size(); i++) {
        ht_vcpu_slot* s = get(tb, keys[i], 100, HT_VT_STEAL_AFTER_NS, &evicted);
        ASSERT_NE(s, nullptr) << i;
        EXPECT_EQ(evicted, 0);
        EXPECT_EQ(tb.index(s), start + i);
    }
    // Each is found in its own slot, whatever its place in the window.
    for (std::size_t i = 0; i < keys.size(); i++) {
        ht_vcpu_slot* s = ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, keys[i]);
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(tb.index(s), start + i);
    }
    // Slots outside the window are untouched.
    for (std::size_t i = 0; i < tb.slots.size(); i++)
        if (i < start || i >= start + HT_VT_PROBES) {
            EXPECT_EQ(tb.slots[i].key, 0u) << i;
        }
}

TEST(VcpuTable, FullWindowOfFreshOwnersHasNoState)
{
    Table tb(6);
    std::vector<__u64> keys = keys_starting_at(tb.mask, 3, HT_VT_PROBES + 1);
    int evicted = -1;
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        ASSERT_NE(get(tb, keys[i], 1000, 500, &evicted), nullptr);
    // Owners exited at 1000; at 1500 they are exactly steal_after old: kept.
    EXPECT_EQ(get(tb, keys.back(), 1500, 500, &evicted), nullptr);
    EXPECT_EQ(evicted, 0);
    EXPECT_EQ(ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, keys.back()), nullptr);
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        EXPECT_EQ(tb.slots[3 + i].key, keys[i]);
}

TEST(VcpuTable, TakeOverOfIdleSlotSetsEvicted)
{
    Table tb(6);
    std::vector<__u64> keys = keys_starting_at(tb.mask, 40, HT_VT_PROBES + 1);
    int evicted = -1;
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        ASSERT_NE(get(tb, keys[i], 1000, 500, &evicted), nullptr);
    // All but the 6th owner exited recently.
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        tb.slots[40 + i].sm.t_exit_ns = i == 5 ? 1000 : 1800;
    tb.slots[45].sm.phase = HT_PHASE_ARMED;
    ht_vcpu_slot* s = get(tb, keys.back(), 1501 + 500, 500, &evicted);  // 1001 ns idle > 500
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(evicted, 1);
    EXPECT_EQ(tb.index(s), 45u);
    EXPECT_EQ(s->key, keys.back());
    EXPECT_EQ(s->sm.t_exit_ns, 2001u);  // fresh: not stolen right back
    // The old owner's armed hypercall is not the new owner's: the phase is
    // kept so that the new owner's exit counts it unmatched.
    EXPECT_EQ(s->sm.phase, HT_PHASE_ARMED);
    EXPECT_EQ(ht_sm_exit(&s->sm, 2001, 0x81, HT_ISA_SVM, 1), HT_OUT_UNMATCHED_ARMED);
    EXPECT_EQ(ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, keys[5]), nullptr);
    // The evicted owner now finds the window full of fresh owners.
    EXPECT_EQ(get(tb, keys[5], 2002, 500, &evicted), nullptr);
    EXPECT_EQ(evicted, 0);
}

TEST(VcpuTable, StealAfterIsStrict)
{
    Table tb(6);
    std::vector<__u64> keys = keys_starting_at(tb.mask, 0, HT_VT_PROBES + 1);
    int evicted = -1;
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        ASSERT_NE(get(tb, keys[i], 0, 100, &evicted), nullptr);
    EXPECT_EQ(get(tb, keys.back(), 100, 100, &evicted), nullptr);  // 100 idle: not > 100
    ht_vcpu_slot* s = get(tb, keys.back(), 101, 100, &evicted);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(evicted, 1);
    EXPECT_EQ(tb.index(s), 0u);  // the first idle slot of the window
}

TEST(VcpuTable, SlotStampedAfterOurClockIsNotIdle)
{
    // A taker reads its clock, is delayed, and meanwhile owners on other
    // CPUs stamp their slots later than that: now - t_exit is "negative".
    // Unsigned it wrapped to ages of idleness and a live slot was taken
    // over (seen in the module's 16-threads-on-8-slots test).
    Table tb(6);
    std::vector<__u64> keys = keys_starting_at(tb.mask, 8, HT_VT_PROBES + 1);
    int evicted = -1;
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        ASSERT_NE(get(tb, keys[i], 5000, 100, &evicted), nullptr);
    EXPECT_EQ(get(tb, keys.back(), 4000, 100, &evicted), nullptr);
    EXPECT_EQ(evicted, 0);
    for (std::size_t i = 0; i < HT_VT_PROBES; i++)
        EXPECT_EQ(tb.slots[8 + i].key, keys[i]);
}

TEST(VcpuTable, FreedKeyReusedContinuesInItsSlot)
{
    // A vCPU struct freed and reallocated at the same address is the same
    // key: it finds its old slot (even long idle), nothing is evicted, and
    // the caller's next exit restarts the state machine.
    Table tb(6);
    const __u64 key = 0xffff888077777700ull;
    int evicted = -1;
    ht_vcpu_slot* s = get(tb, key, 1000, 500, &evicted);
    ASSERT_NE(s, nullptr);
    s->sm.phase = HT_PHASE_EXITED;
    s->sm.nr = 7;
    ht_vcpu_slot* again = get(tb, key, 1000000, 500, &evicted);
    EXPECT_EQ(again, s);
    EXPECT_EQ(evicted, 0);
    EXPECT_EQ(again->sm.nr, 7u);  // the state stays with the slot
}

TEST(VcpuTable, WindowWrapsAroundTheEnd)
{
    Table tb(4);                      // 16 slots
    const __u32 start = tb.mask - 2;  // window 13, 14, 15, 0, 1, ...
    std::vector<__u64> keys = keys_starting_at(tb.mask, start, HT_VT_PROBES);
    int evicted = -1;
    std::vector<std::size_t> got;
    for (__u64 k : keys) {
        ht_vcpu_slot* s = get(tb, k, 10, HT_VT_STEAL_AFTER_NS, &evicted);
        ASSERT_NE(s, nullptr);
        got.push_back(tb.index(s));
    }
    EXPECT_EQ(got, (std::vector<std::size_t>{13, 14, 15, 0, 1, 2, 3, 4}));
    for (std::size_t i = 0; i < keys.size(); i++)
        EXPECT_EQ(tb.index(ht_vt_find(tb.t(), sizeof(ht_vcpu_slot), tb.mask, keys[i])), got[i]);
    // Nothing escaped the table: exactly these 8 slots are taken.
    std::size_t used = 0;
    for (const ht_vcpu_slot& s : tb.slots)
        used += s.key != 0;
    EXPECT_EQ(used, HT_VT_PROBES);
}

// Several threads claim free slots (distinct keys, a small table, one live
// key per thread): two keys must never own one slot at the same time.  Each
// thread marks the slot it got in `holder` (must have been unheld), checks
// the key is its own, then unmarks it and returns the slot to its
// never-used state (the test's doing: the table never frees) before the
// next key.
TEST(VcpuTable, ConcurrentClaimsNeverShareASlot)
{
    constexpr int kThreads = 4;
    constexpr int kIters = 100000;
    Table tb(4);  // 16 slots, windows of 8 overlap heavily
    std::unique_ptr<std::atomic<int>[]> holder(new std::atomic<int>[tb.slots.size()]);
    for (std::size_t i = 0; i < tb.slots.size(); i++)
        holder[i].store(-1);
    std::atomic<long> shared{0}, wrong_key{0}, claims{0}, no_state{0};
    std::atomic<bool> go{false};

    std::vector<std::thread> threads;
    for (int me = 0; me < kThreads; me++) {
        threads.emplace_back([&, me] {
            while (!go.load())
                ;
            for (int it = 0; it < kIters; it++) {
                const __u64 key = (static_cast<__u64>(me + 1) << 40) | static_cast<__u64>(it + 1);
                int evicted = 0;
                ht_vcpu_slot* s = ht_vt_get(tb.t(), sizeof(ht_vcpu_slot), tb.mask, key, 1, kNever, &evicted);
                if (!s) {
                    // Free slots moved while we scanned: a miss, not a bug.
                    no_state++;
                    continue;
                }
                claims++;
                std::size_t idx = tb.index(s);
                if (holder[idx].exchange(me) != -1)
                    shared++;
                if (__atomic_load_n(&s->key, __ATOMIC_ACQUIRE) != key || evicted)
                    wrong_key++;
                holder[idx].store(-1);
                // Back to a never-used slot (the table itself never frees).
                s->sm.t_exit_ns = 0;
                __atomic_store_n(&s->key, 0, __ATOMIC_RELEASE);
            }
        });
    }
    go.store(true);
    for (std::thread& t : threads)
        t.join();
    EXPECT_EQ(shared.load(), 0);
    EXPECT_EQ(wrong_key.load(), 0);
    EXPECT_GT(claims.load(), kThreads * kIters * 9L / 10);
    for (const ht_vcpu_slot& s : tb.slots)
        EXPECT_EQ(s.key, 0u);
}

// Several threads take over idle slots of one full window at once: each must
// get a slot of its own.  DISABLED: fails today (a few rounds in a thousand
// on a 2-CPU host).  ht_vt_get's take-over CASes the key first and stores
// t_exit_ns = now after it, so between the two a second taker reads the
// first taker's key with the previous owner's idle t_exit_ns and swaps the
// key again: two vCPUs use one slot for that exit.  The same window exists
// after a free-slot claim (a never-used slot's t_exit_ns is 0, i.e. idle).
// Enable it once ht_vcpu_table.h is fixed (run with
// --gtest_also_run_disabled_tests).
TEST(VcpuTable, ConcurrentTakeOversNeverShareASlot)
{
    constexpr int kThreads = 3;
    constexpr int kRounds = 20000;
    Table tb(3);  // 8 slots: one window, the whole table
    std::atomic<int> round{-1}, done{0};
    std::vector<long> got(kThreads);
    std::vector<std::thread> threads;
    for (int me = 0; me < kThreads; me++) {
        threads.emplace_back([&, me] {
            for (int r = 0; r < kRounds; r++) {
                while (round.load() != r)
                    std::this_thread::yield();
                int evicted = 0;
                const __u64 key = (static_cast<__u64>(me + 1) << 40) | static_cast<__u64>(r + 1);
                ht_vcpu_slot* s = ht_vt_get(tb.t(), sizeof(ht_vcpu_slot), tb.mask, key, 1000000, 100, &evicted);
                got[me] = s ? static_cast<long>(tb.index(s)) : -1;
                done++;
            }
        });
    }
    long shared = 0;
    for (int r = 0; r < kRounds; r++) {
        for (std::size_t i = 0; i < tb.slots.size(); i++) {
            tb.slots[i] = ht_vcpu_slot{};
            tb.slots[i].key = 0xabc00000 + i;  // full window, all idle
        }
        done = 0;
        round.store(r);
        while (done.load() != kThreads)
            std::this_thread::yield();
        for (int a = 0; a < kThreads; a++)
            for (int b = a + 1; b < kThreads; b++)
                shared += got[a] >= 0 && got[a] == got[b];
    }
    for (std::thread& t : threads)
        t.join();
    EXPECT_EQ(shared, 0) << "rounds in which two keys got one slot, of " << kRounds;
}
