// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A failed load's message (userspace/backend/libbpf_log.h): the verifier's
// log cut to its end, where the reason is, never to its start.
#include <gtest/gtest.h>

#include <string>

#include "backend/libbpf_log.h"

using namespace hypertrace;

namespace {

// What libbpf 1.1 passes its print callback when the kernel refuses a program:
// a listing of `listing` instructions, then the reason and the statistics.
std::string refused(const std::string& prog, int listing, const std::string& reason)
{
    std::string log = "libbpf: prog '" + prog + "': BPF program load failed: Invalid argument\n";
    log += "libbpf: prog '" + prog + "': -- BEGIN PROG LOAD LOG --\n";
    for (int i = 0; i < listing; ++i)
        log += std::to_string(i) + ": (bf) r6 = r1\n";
    log += reason + "\n";
    log += "processed " + std::to_string(listing) + " insns (limit 1000000) max_states_per_insn 0 total_states 1\n";
    log += "-- END PROG LOAD LOG --\n";
    log += "libbpf: prog '" + prog + "': failed to load: -22\n";
    log += "libbpf: failed to load object 'hypertrace_bpf'\n";
    return log;
}

int count_lines(const std::string& s)
{
    int n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

}  // namespace

TEST(LibbpfLog, KeepsTheEndOfALongVerifierLog)
{
    const std::string reason = "invalid access to map value, value_size=8 off=8 size=8";
    const std::string log = refused("ht_exit_tp_lru", 5000, reason);
    const std::string out = libbpf_log_for_user(log, 10);
    EXPECT_NE(out.find(reason), std::string::npos) << out;
    EXPECT_NE(out.find("4999: (bf) r6 = r1"), std::string::npos) << out;  // the instructions just before
    EXPECT_EQ(out.find("\n0: (bf) r6 = r1"), std::string::npos) << out;   // not the listing's start
    EXPECT_NE(out.find("[the first 4992 of its 5002 lines left out; the verifier says why at the end]"),
              std::string::npos)
        << out;
    // libbpf's own lines, before and after the log, stay whole.
    EXPECT_NE(out.find("libbpf: prog 'ht_exit_tp_lru': BPF program load failed: Invalid argument\n"),
              std::string::npos);
    EXPECT_NE(out.find("-- END PROG LOAD LOG --\nlibbpf: prog 'ht_exit_tp_lru': failed to load: -22\n"),
              std::string::npos);
    EXPECT_LT(count_lines(out), 20);
}

TEST(LibbpfLog, ShortLogUnchanged)
{
    const std::string log = refused("ht_hc_raw_vcpu", 3, "R1 invalid mem access 'inv'");
    EXPECT_EQ(libbpf_log_for_user(log, 24), log);
}

TEST(LibbpfLog, ReasonIsTheLastLineBeforeTheStatistics)
{
    const std::string log = refused("ht_exit_tp_lru", 400, "invalid func unknown#195896080");
    EXPECT_EQ(verifier_reason(log), "ht_exit_tp_lru: invalid func unknown#195896080");
}

TEST(LibbpfLog, ReasonOfTheLastRefusedProgram)
{
    const std::string log = refused("ht_entry_btf_vcpu", 10, "first reason") + refused("ht_exit_tp_lru", 10, "second");
    EXPECT_EQ(verifier_reason(log), "ht_exit_tp_lru: second");
    const std::string out = libbpf_log_for_user(log, 2);
    EXPECT_NE(out.find("first reason"), std::string::npos);
    EXPECT_NE(out.find("second"), std::string::npos);
}

TEST(LibbpfLog, ReasonWithNewerStatisticsLines)
{
    // Kernels since 5.16 also print the verification time and stack depth.
    std::string log = "libbpf: prog 'p': -- BEGIN PROG LOAD LOG --\n0: (b7) r0 = 0\nR0 !read_ok\n";
    log += "verification time 12 usec\nstack depth 0\nprocessed 1 insns (limit 1000000)\n";
    log += "-- END PROG LOAD LOG --\n";
    EXPECT_EQ(verifier_reason(log), "p: R0 !read_ok");
}

TEST(LibbpfLog, LogCutShortStillKeepsItsEnd)
{
    // No end marker (a log cut off mid-way): the rest is the log.
    std::string log = "libbpf: prog 'p': -- BEGIN PROG LOAD LOG --\n";
    for (int i = 0; i < 100; ++i)
        log += "line " + std::to_string(i) + "\n";
    const std::string out = libbpf_log_for_user(log, 5);
    EXPECT_NE(out.find("line 99\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("line 0\n"), std::string::npos) << out;
    EXPECT_EQ(verifier_reason(log), "p: line 99");
}

TEST(LibbpfLog, NoVerifierLog)
{
    const std::string log = "libbpf: failed to find BTF for extern 'kvm_running_vcpu'\n";
    EXPECT_EQ(libbpf_log_for_user(log), log);
    EXPECT_EQ(verifier_reason(log), "");
}
