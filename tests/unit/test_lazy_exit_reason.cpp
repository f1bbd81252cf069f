// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The BPF raw-tracepoint fast path records an exit with a placeholder reason
// and sets the real one (ht_sm_set_exit_reason) only when a wanted hypercall
// follows.  Its records must equal the eager path's (the module's), byte for
// byte, in every reason mode.
#include <gtest/gtest.h>

#include <cstring>

extern "C" {
#include "ht_state_machine.h"
}

namespace {

ht_filter filter(__u32 reason_mode)
{
    ht_filter f{};
    f.reason_mode = reason_mode;
    f.pid = HT_PID_ANY;
    f.vcpu = HT_VCPU_ANY;
    f.nr_range_count = 1;
    f.nr_ranges[0].lo = f.nr_ranges[0].hi = 42;
    return f;
}

struct Result {
    enum ht_outcome hc, entry;
    ht_record rec;
};

// One exit -> hypercall -> entry, the reason given at exit (eager) or placed
// lazily before the hypercall, as hypertrace.bpf.c does (only for a wanted nr).
Result run(const ht_filter& f, bool lazy, __u32 reason, __u8 isa, bool known, __u64 nr)
{
    ht_thread_state s{};
    Result r;
    std::memset(&r.rec, 0xaa, sizeof r.rec);
    if (lazy) {
        ht_sm_exit(&s, 100, 0, isa, 1);
        if (ht_nr_wanted(&f, nr))
            ht_sm_set_exit_reason(&s, reason, isa, known ? 1 : 0);
    } else {
        ht_sm_exit(&s, 100, reason, isa, known ? 1 : 0);
    }
    r.hc = ht_sm_hypercall(&s, &f, nr, 1, 2, 3, 4);
    if (r.hc == HT_OUT_ARMED)
        ht_sm_armed_by(&s, 200, 1, 0);
    r.entry = ht_sm_entry(&s, &f, 300, 0, 1, 0);
    if (r.entry == HT_OUT_EMIT)
        ht_sm_fill_record(&r.rec, &s, 10, 11, 0, 1, 300);
    return r;
}

TEST(LazyExitReason, SameOutcomesAndRecordsAsEager)
{
    const struct { __u32 reason; __u8 isa; bool known; } exits[] = {
        {0x81, HT_ISA_SVM, true}, {0x78, HT_ISA_SVM, true}, {18, HT_ISA_VMX, true},
        {18 | (1u << 27), HT_ISA_VMX, true}, {12, HT_ISA_VMX, true}, {0, HT_ISA_SVM, false}};
    for (__u32 mode : {HT_REASON_ANY, HT_REASON_HYPERCALL_ONLY}) {
        const ht_filter f = filter(mode);
        for (const auto& e : exits) {
            for (__u64 nr : {42u, 7u}) {
                const Result eager = run(f, false, e.reason, e.isa, e.known, nr);
                const Result lazy = run(f, true, e.reason, e.isa, e.known, nr);
                EXPECT_EQ(eager.hc, lazy.hc) << "mode " << mode << " reason " << e.reason << " nr " << nr;
                EXPECT_EQ(eager.entry, lazy.entry);
                if (eager.entry == HT_OUT_EMIT) {
                    EXPECT_EQ(0, std::memcmp(&eager.rec, &lazy.rec, sizeof eager.rec))
                        << "mode " << mode << " reason " << e.reason;
                }
            }
        }
    }
}

}  // namespace
