// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Exit reason names and the text / JSON / CSV record writers: exact strings.
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include "output/exit_reasons.h"
#include "output/record_format.h"

using namespace hypertrace;

namespace {

constexpr std::uint64_t kStart = 1000000000000ull;  // TimeBase start: 1000 s

ht_record known_record()
{
    ht_record r{};
    r.version = HT_RECORD_VERSION;
    r.size = sizeof(r);
    r.isa = HT_ISA_VMX;
    r.flags = 0;
    r.pid = 4242;
    r.tid = 4250;
    r.vcpu_id = 1;
    r.cpu = 3;
    r.exit_reason = 18;
    r.nr = 42;
    r.a0 = 1;
    r.a1 = 0xdeadbeef;
    r.a2 = 0;
    r.a3 = ~0ull;
    r.t_exit_ns = 1012345676000ull;
    r.t_hypercall_ns = 1012345677234ull;  // +1.234 us
    r.t_entry_ns = 1012345681678ull;      // +4.444 us, total 5.678 us
    return r;
}

ht_record unknown_record()
{
    ht_record r = known_record();
    r.flags = HT_REC_F_REASON_UNKNOWN | HT_REC_F_VCPU_UNKNOWN;
    r.isa = HT_ISA_UNKNOWN;
    r.exit_reason = 0;
    r.vcpu_id = HT_VCPU_UNKNOWN;
    return r;
}

std::string render(Format f, std::initializer_list<ht_record> recs, TimeBase tb = {kStart, 0, false})
{
    std::ostringstream out;
    auto w = make_record_writer(f, out, tb);
    for (const ht_record& r : recs)
        w->write(r);
    w->finish();
    return out.str();
}

const std::string kTextHeader =
    "TIME(s)         PID     TID     VCPU NR     A0                 A1                 "
    "A2                 A3                 REASON         EXIT>HC(us) HC>ENT(us)    LAT(us)\n";
const std::string kTextLine =
    "12.345681       4242    4250    1    42     0x1                0xdeadbeef         "
    "0x0                0xffffffffffffffff vmcall               1.234      4.444      5.678\n";

}  // namespace

TEST(ExitReasons, Vmx)
{
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 0), "exception_nmi");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 12), "hlt");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 18), "vmcall");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 18 | (1u << 27)), "vmcall");  // enclave-mode flag
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 0x80000021), "invalid_state");  // failed entry
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 30), "io_instruction");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 48), "ept_violation");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 75), "notify");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 77), "tdcall");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 85), "msr_write_imm");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 5), "unknown");   // hole in the table
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 86), "unknown");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 0xffff), "unknown");
}

TEST(ExitReasons, Svm)
{
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x0), "read_cr0");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x4e), "excp_pf");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x60), "intr");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x78), "hlt");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x7b), "ioio");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x7c), "msr");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x81), "vmmcall");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x400), "npf");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x403), "vmgexit");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0xffffffff), "err");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x1), "unknown");
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x12345), "unknown");
    // SVM codes have no flag bits: 0x81 with bit 27 is not VMMCALL.
    EXPECT_STREQ(exit_reason_name(HT_ISA_SVM, 0x81 | (1u << 27)), "unknown");
}

TEST(ExitReasons, OtherIsa)
{
    EXPECT_STREQ(exit_reason_name(HT_ISA_UNKNOWN, 18), "unknown");
    EXPECT_STREQ(exit_reason_name(7, 18), "unknown");
}

TEST(TextFormat, KnownRecord)
{
    EXPECT_EQ(render(Format::Text, {known_record()}), kTextHeader + kTextLine);
}

TEST(TextFormat, HeaderOnlyWhenEmpty)
{
    EXPECT_EQ(render(Format::Text, {}), kTextHeader);
}

TEST(TextFormat, UnknownReasonAndVcpu)
{
    std::string out = render(Format::Text, {unknown_record()});
    EXPECT_EQ(out, kTextHeader +
                       "12.345681       4242    4250    ?    42     0x1                0xdeadbeef"
                       "         0x0                0xffffffffffffffff ?                    1.234"
                       "      4.444      5.678\n");
}

TEST(TextFormat, ReasonNotInTablesIsHex)
{
    ht_record r = known_record();
    r.exit_reason = 999;
    std::string out = render(Format::Text, {r});
    EXPECT_NE(out.find(" 0x3e7 "), std::string::npos) << out;
    r.isa = HT_ISA_SVM;
    r.exit_reason = 0x81;
    out = render(Format::Text, {r});
    EXPECT_NE(out.find(" vmmcall "), std::string::npos) << out;
}

TEST(TextFormat, TimeBeforeStartAndNegativeLatency)
{
    ht_record r = known_record();
    r.t_entry_ns = kStart - 100000;  // 100 us before start
    r.t_exit_ns = r.t_entry_ns + 5;  // entry before exit: shown, not hidden
    r.t_hypercall_ns = r.t_entry_ns + 2;
    std::string out = render(Format::Text, {r});
    std::string line = out.substr(kTextHeader.size());
    EXPECT_EQ(line.rfind("-0.000100 ", 0), 0u) << line;
    EXPECT_NE(line.find("-0.003     -0.002     -0.005\n"), std::string::npos) << line;
}

TEST(TextFormat, WallClock)
{
    const char* old_tz = std::getenv("TZ");
    std::string saved = old_tz ? old_tz : "";
    setenv("TZ", "UTC", 1);
    tzset();
    ht_record r = known_record();
    // t_entry_ns maps to 1700000000.123456789 s since the epoch: 22:13:20 UTC.
    TimeBase tb{kStart, static_cast<std::int64_t>(1700000000123456789ull - r.t_entry_ns), true};
    std::string out = render(Format::Text, {r}, tb);
    if (old_tz)
        setenv("TZ", saved.c_str(), 1);
    else
        unsetenv("TZ");
    tzset();
    EXPECT_EQ(out.rfind("TIME            PID ", 0), 0u) << out;
    std::string line = out.substr(out.find('\n') + 1);
    EXPECT_EQ(line.rfind("22:13:20.123456 4242    4250 ", 0), 0u) << line;
}

TEST(TextFormat, TimeBaseNow)
{
    TimeBase tb = TimeBase::now(true);
    EXPECT_TRUE(tb.wall_clock);
    timespec m, rt;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &rt);
    std::int64_t off = (rt.tv_sec * 1000000000ll + rt.tv_nsec) - (m.tv_sec * 1000000000ll + m.tv_nsec);
    EXPECT_LE(tb.start_mono_ns, static_cast<std::uint64_t>(m.tv_sec * 1000000000ll + m.tv_nsec));
    EXPECT_NEAR(static_cast<double>(tb.wall_offset_ns), static_cast<double>(off), 5e6);
}

TEST(JsonFormat, KnownRecord)
{
    EXPECT_EQ(render(Format::Json, {known_record()}),
              "{\"pid\":4242,\"tid\":4250,\"vcpu\":1,\"cpu\":3,\"nr\":42,\"a0\":1,"
              "\"a1\":3735928559,\"a2\":0,\"a3\":18446744073709551615,\"isa\":1,"
              "\"exit_reason\":18,\"t_exit_ns\":1012345676000,\"t_hypercall_ns\":1012345677234,"
              "\"t_entry_ns\":1012345681678,\"latency_ns\":5678}\n");
    EXPECT_EQ(render(Format::Json, {}), "");
}

TEST(JsonFormat, UnknownIsNull)
{
    std::string out = render(Format::Json, {unknown_record()});
    EXPECT_NE(out.find("\"vcpu\":null,"), std::string::npos) << out;
    EXPECT_NE(out.find("\"isa\":0,\"exit_reason\":null,"), std::string::npos) << out;
}

TEST(JsonFormat, U64MaxExactAndParses)
{
    ht_record r = known_record();
    r.nr = r.a0 = r.a1 = r.a2 = r.a3 = ~0ull;
    r.t_exit_ns = 0;
    r.t_hypercall_ns = r.t_entry_ns = ~0ull;
    r.flags = HT_REC_F_VCPU_UNKNOWN;
    r.vcpu_id = HT_VCPU_UNKNOWN;
    r.exit_reason = 0x80000012u | (1u << 27);
    std::string out = render(Format::Json, {r, known_record()});

    std::istringstream lines(out);
    std::string line;
    int n = 0;
    const char* want_keys[] = {"pid", "tid", "vcpu", "cpu", "nr", "a0", "a1", "a2", "a3", "isa",
                               "exit_reason", "t_exit_ns", "t_hypercall_ns", "t_entry_ns",
                               "latency_ns"};
    while (std::getline(lines, line)) {
        boost::property_tree::ptree pt;
        std::istringstream in(line);
        ASSERT_NO_THROW(boost::property_tree::read_json(in, pt)) << line;
        std::size_t i = 0;
        for (const auto& kv : pt) {
            ASSERT_LT(i, std::size(want_keys));
            EXPECT_EQ(kv.first, want_keys[i++]);
        }
        EXPECT_EQ(i, std::size(want_keys));
        if (n == 0) {
            // property_tree keeps the number's text: exact digits, no double.
            for (const char* k : {"nr", "a0", "a1", "a2", "a3", "t_entry_ns", "latency_ns"})
                EXPECT_EQ(pt.get<std::string>(k), "18446744073709551615") << k;
            EXPECT_EQ(pt.get<std::string>("vcpu"), "null");
            EXPECT_EQ(pt.get<std::string>("exit_reason"), std::to_string(0x88000012u));
        }
        n++;
    }
    EXPECT_EQ(n, 2);
}

TEST(JsonFormat, NegativeLatencyStaysAnInteger)
{
    ht_record r = known_record();
    r.t_entry_ns = r.t_exit_ns - 7;
    std::string out = render(Format::Json, {r});
    EXPECT_NE(out.find("\"latency_ns\":-7}"), std::string::npos) << out;
}

TEST(CsvFormat, KnownAndUnknown)
{
    EXPECT_EQ(render(Format::Csv, {known_record(), unknown_record()}),
              "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,t_exit_ns,t_hypercall_ns,"
              "t_entry_ns,latency_ns\n"
              "4242,4250,1,3,42,1,3735928559,0,18446744073709551615,1,18,1012345676000,"
              "1012345677234,1012345681678,5678\n"
              "4242,4250,,3,42,1,3735928559,0,18446744073709551615,0,,1012345676000,"
              "1012345677234,1012345681678,5678\n");
}

TEST(Writers, BufferUntilFlush)
{
    for (Format f : {Format::Text, Format::Json, Format::Csv}) {
        std::ostringstream out;
        auto w = make_record_writer(f, out, TimeBase{kStart, 0, false});
        w->write(known_record());
        EXPECT_EQ(out.str(), "") << format_name(f);  // nothing until flush
        w->flush();
        EXPECT_FALSE(out.str().empty()) << format_name(f);
        std::size_t size = out.str().size();
        w->write(known_record());
        w->finish();
        EXPECT_GT(out.str().size(), size);
    }
}

TEST(Writers, ManyRecordsAllArrive)
{
    // Crosses the internal buffer many times; every line must arrive whole.
    for (Format f : {Format::Text, Format::Json, Format::Csv}) {
        std::ostringstream out;
        auto w = make_record_writer(f, out, TimeBase{kStart, 0, false});
        ht_record r = known_record();
        const int kN = 20000;
        for (int i = 0; i < kN; i++) {
            r.nr = static_cast<std::uint64_t>(i);
            w->write(r);
        }
        w->finish();
        std::string s = out.str();
        std::size_t lines = static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
        EXPECT_EQ(lines, kN + (f == Format::Json ? 0u : 1u)) << format_name(f);
        const char* last = f == Format::Json ? "\"nr\":19999,"
                           : f == Format::Csv ? "4242,4250,1,3,19999,"
                                              : " 19999  ";
        EXPECT_NE(s.find(last), std::string::npos) << format_name(f);
    }
}

TEST(Writers, Throughput)
{
    // Not a pass/fail benchmark; records the rate so regressions show in logs.
    for (Format f : {Format::Text, Format::Json, Format::Csv}) {
        std::ostringstream out;
        auto w = make_record_writer(f, out, TimeBase{kStart, 0, false});
        ht_record r = known_record();
        const int kN = 200000;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kN; i++) {
            r.t_entry_ns += 1000;
            w->write(r);
        }
        w->finish();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << format_name(f) << ": " << static_cast<long>(kN / s) << " records/s\n";
    }
}
