// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Exit reason names and the text / JSON / CSV record writers: exact strings.
#include <gtest/gtest.h>

#include <unistd.h>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "names/hypercall_lookup.h"
#include "output/exit_reasons.h"
#include "output/output.h"
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
    "TIME(s)         PID     TID     VCPU NR     NAME                       A0                 A1                 "
    "A2                 A3                 REASON         EXIT>HC(us) HC>ENT(us)    LAT(us) ABI       VMM(us) VIDX "
    "VM\n";
const std::string kTextLine =
    "12.345681       4242    4250    1    42     -                          0x1                0xdeadbeef         "
    "0x0                0xffffffffffffffff vmcall               1.234      4.444      5.678 kvm             - ?    -\n";
// What JSON and CSV append for a kernel-served KVM record (record version 2).
const std::string kJsonV2Kvm =
    ",\"abi\":\"kvm\",\"a4\":0,\"a5\":0,\"hv_fast\":0,\"hv_rep_cnt\":0,\"hv_rep_idx\":0,\"hv_var_cnt\":0,"
    "\"hv_ingpa\":0,\"hv_outgpa\":0,\"hv_result\":null,\"t_userspace_exit_ns\":null,\"uexit_reason\":null,"
    "\"vmm_ns\":null,\"served_by\":\"kernel\"";
const std::string kCsvV2Header =
    ",abi,a4,a5,hv_fast,hv_rep_cnt,hv_rep_idx,hv_var_cnt,hv_ingpa,hv_outgpa,hv_result,"
    "t_userspace_exit_ns,uexit_reason,vmm_ns,served_by";
const std::string kCsvV2Kvm = ",kvm,0,0,0,0,0,0,0,0,,,,,kernel";
// What JSON and CSV append last for a record of an unknown VM.
const std::string kJsonNoVm = ",\"vm\":null,\"vm_uuid\":null,\"vm_source\":\"none\",\"vcpu_index\":null";
const std::string kCsvVmHeader = ",vm,vm_uuid,vm_source,vcpu_index";
const std::string kCsvNoVm = ",,,none,";

}  // namespace

TEST(ExitReasons, Vmx)
{
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 0), "exception_nmi");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 12), "hlt");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 18), "vmcall");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 18 | (1u << 27)), "vmcall");    // enclave-mode flag
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 0x80000021), "invalid_state");  // failed entry
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 30), "io_instruction");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 48), "ept_violation");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 75), "notify");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 77), "tdcall");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 85), "msr_write_imm");
    EXPECT_STREQ(exit_reason_name(HT_ISA_VMX, 5), "unknown");  // hole in the table
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

TEST(TextFormat, KnownRecord) { EXPECT_EQ(render(Format::Text, {known_record()}), kTextHeader + kTextLine); }

TEST(TextFormat, HeaderOnlyWhenEmpty) { EXPECT_EQ(render(Format::Text, {}), kTextHeader); }

TEST(TextFormat, UnknownReasonAndVcpu)
{
    std::string out = render(Format::Text, {unknown_record()});
    EXPECT_EQ(out,
              kTextHeader +
                  "12.345681       4242    4250    ?    42     -                          0x1                0xdeadbeef"
                  "         0x0                0xffffffffffffffff ?                    1.234"
                  "      4.444      5.678 kvm             - ?    -\n");
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
    EXPECT_NE(line.find("-0.003     -0.002     -0.005 kvm             - ?    -\n"), std::string::npos) << line;
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
              "\"t_entry_ns\":1012345681678,\"latency_ns\":5678,\"name\":null" +
                  kJsonV2Kvm + kJsonNoVm + "}\n");
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
    const char* want_keys[] = {"pid",
                               "tid",
                               "vcpu",
                               "cpu",
                               "nr",
                               "a0",
                               "a1",
                               "a2",
                               "a3",
                               "isa",
                               "exit_reason",
                               "t_exit_ns",
                               "t_hypercall_ns",
                               "t_entry_ns",
                               "latency_ns",
                               "name",
                               "abi",
                               "a4",
                               "a5",
                               "hv_fast",
                               "hv_rep_cnt",
                               "hv_rep_idx",
                               "hv_var_cnt",
                               "hv_ingpa",
                               "hv_outgpa",
                               "hv_result",
                               "t_userspace_exit_ns",
                               "uexit_reason",
                               "vmm_ns",
                               "served_by",
                               "vm",
                               "vm_uuid",
                               "vm_source",
                               "vcpu_index"};
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
            EXPECT_EQ(pt.get<std::string>("name"), "null");
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
    EXPECT_NE(out.find("\"latency_ns\":-7,"), std::string::npos) << out;
}

TEST(CsvFormat, KnownAndUnknown)
{
    EXPECT_EQ(render(Format::Csv, {known_record(), unknown_record()}),
              "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,t_exit_ns,t_hypercall_ns,"
              "t_entry_ns,latency_ns,name" +
                  kCsvV2Header + kCsvVmHeader +
                  "\n"
                  "4242,4250,1,3,42,1,3735928559,0,18446744073709551615,1,18,1012345676000,"
                  "1012345677234,1012345681678,5678," +
                  kCsvV2Kvm + kCsvNoVm +
                  "\n"
                  "4242,4250,,3,42,1,3735928559,0,18446744073709551615,0,,1012345676000,"
                  "1012345677234,1012345681678,5678," +
                  kCsvV2Kvm + kCsvNoVm + "\n");
}

// NAME comes right after NR, 26 columns wide: every KVM name fits, so A0
// starts in the same column whatever the nr; "-" when the nr has no name.
TEST(TextFormat, NameColumn)
{
    const std::size_t name_at = 15 + 1 + 7 + 1 + 7 + 1 + 4 + 1 + 6 + 1, a0_at = name_at + 26 + 1;
    EXPECT_EQ(kTextHeader.substr(name_at, 27), "NAME                       ");
    std::vector<std::uint64_t> nrs = {0, 13, 42, 0x1000, ~0ull};
    for (const HypercallName& e : hypercall_table(HypercallAbi::Kvm))
        nrs.push_back(e.nr);
    for (std::uint64_t nr : nrs) {
        ht_record r = known_record();
        r.nr = nr;
        const std::string line = render(Format::Text, {r}).substr(kTextHeader.size());
        const std::string_view name = hypercall_name(HypercallAbi::Kvm, nr);
        const std::string want = name.empty() ? "-" : std::string(name);
        ASSERT_LE(want.size(), 26u) << want;
        // Wide numbers (u64 max) push the line right; the others keep it.
        const std::size_t shift = std::to_string(nr).size() > 6 ? std::to_string(nr).size() - 6 : 0;
        EXPECT_EQ(line.substr(name_at + shift, 27), want + std::string(27 - want.size(), ' ')) << line;
        EXPECT_EQ(line.substr(a0_at + shift, 4), "0x1 ") << line;
    }
}

// JSON and CSV: "name" right after the fields of the first format, before
// record v2's and the VM fields.
TEST(JsonFormat, NameAppended)
{
    // The known record's line (JsonFormat.KnownRecord) with another nr and name.
    const std::string line = render(Format::Json, {known_record()});
    auto with = [&line](std::uint64_t nr, const std::string& name) {
        std::string l = line;
        l.replace(l.find(",\"nr\":42,"), 9, ",\"nr\":" + std::to_string(nr) + ",");
        return l.replace(l.find(",\"name\":null,"), 13, ",\"name\":" + name + ",");
    };
    ht_record a = known_record(), b = known_record();
    a.nr = 10;
    b.nr = 7;
    EXPECT_EQ(render(Format::Json, {a, known_record(), b}),
              with(10, "\"KVM_HC_SEND_IPI\"") + line + with(7, "\"KVM_HC_MIPS_EXIT_VM\""));
    EXPECT_EQ(with(42, "null"), line);
}

TEST(CsvFormat, NameAppended)
{
    ht_record a = known_record();
    a.nr = 12;
    EXPECT_EQ(render(Format::Csv, {a, known_record()}),
              "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,t_exit_ns,t_hypercall_ns,"
              "t_entry_ns,latency_ns,name" +
                  kCsvV2Header + kCsvVmHeader +
                  "\n"
                  "4242,4250,1,3,12,1,3735928559,0,18446744073709551615,1,18,1012345676000,"
                  "1012345677234,1012345681678,5678,KVM_HC_MAP_GPA_RANGE" +
                  kCsvV2Kvm + kCsvNoVm +
                  "\n"
                  "4242,4250,1,3,42,1,3735928559,0,18446744073709551615,1,18,1012345676000,"
                  "1012345677234,1012345681678,5678," +
                  kCsvV2Kvm + kCsvNoVm + "\n");
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
        const char* last = f == Format::Json ? "\"nr\":19999," : f == Format::Csv ? "4242,4250,1,3,19999," : " 19999  ";
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

// ---- integers: every digit count, every lane value ---------------------
//
// The writers make decimal digits several at a time (record_format.cpp);
// these compare every field's text with snprintf's over values that reach
// every length, every power-of-ten boundary and, through v = k * 10001, every
// 4-digit group value in both halves of an 8-digit group.

namespace {

std::vector<std::uint64_t> integer_cases()
{
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 0; i < 20000; i++)
        v.push_back(i);
    for (std::uint64_t k = 0; k < 10000; k++) {
        v.push_back(k * 10001);                             // both 4-digit lanes = k
        v.push_back(k * 10001 * 100000000ull + k * 10001);  // two 8-digit groups
    }
    std::uint64_t p = 1;
    for (int d = 0; d < 20; d++, p *= 10) {
        for (std::uint64_t x : {p - 1, p, p + 1, 2 * p - 1, 9 * p, 9 * p + (p - 1)})
            v.push_back(x);
    }
    for (int b = 0; b < 64; b++) {
        const std::uint64_t x = 1ull << b;
        v.insert(v.end(), {x - 1, x, x + 1});
    }
    v.push_back(~0ull);
    v.push_back(~0ull - 1);
    std::uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift: all magnitudes
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push_back(x >> (i % 64));
    }
    return v;
}

std::string dec(std::uint64_t v)
{
    char b[32];
    std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(v));
    return b;
}

std::string hex(std::uint64_t v)
{
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

}  // namespace

TEST(Writers, IntegersExactInJsonAndCsv)
{
    const std::vector<std::uint64_t> cases = integer_cases();
    std::vector<ht_record> recs;
    std::string want_json, want_csv =
                               "pid,tid,vcpu,cpu,nr,a0,a1,a2,a3,isa,exit_reason,"
                               "t_exit_ns,t_hypercall_ns,t_entry_ns,latency_ns,name" +
                               kCsvV2Header + kCsvVmHeader + "\n";
    for (std::size_t i = 0; i < cases.size(); i++) {
        const std::uint64_t v = cases[i];
        const auto v32 = static_cast<std::uint32_t>(v);
        ht_record r = known_record();
        r.pid = r.tid = r.vcpu_id = r.cpu = r.exit_reason = v32;
        r.nr = r.a0 = v;
        r.a1 = ~v;
        // Timestamps in time order, as a trace has them, and out of order.
        r.t_exit_ns = v;
        r.t_hypercall_ns = i % 2 ? v / 3 : v;
        r.t_entry_ns = cases[(i * 7919) % cases.size()];
        recs.push_back(r);
        const std::string lat =
            r.t_entry_ns >= r.t_exit_ns ? dec(r.t_entry_ns - r.t_exit_ns) : "-" + dec(r.t_exit_ns - r.t_entry_ns);
        const std::string name(hypercall_name(HypercallAbi::Kvm, v));  // 1..12 have one
        want_json += "{\"pid\":" + dec(v32) + ",\"tid\":" + dec(v32) + ",\"vcpu\":" + dec(v32) +
                     ",\"cpu\":" + dec(v32) + ",\"nr\":" + dec(v) + ",\"a0\":" + dec(v) + ",\"a1\":" + dec(~v) +
                     ",\"a2\":0,\"a3\":18446744073709551615,\"isa\":1,\"exit_reason\":" + dec(v32) +
                     ",\"t_exit_ns\":" + dec(r.t_exit_ns) + ",\"t_hypercall_ns\":" + dec(r.t_hypercall_ns) +
                     ",\"t_entry_ns\":" + dec(r.t_entry_ns) + ",\"latency_ns\":" + lat +
                     ",\"name\":" + (name.empty() ? "null" : "\"" + name + "\"") + kJsonV2Kvm + kJsonNoVm + "}\n";
        want_csv += dec(v32) + "," + dec(v32) + "," + dec(v32) + "," + dec(v32) + "," + dec(v) + "," + dec(v) + "," +
                    dec(~v) + ",0,18446744073709551615,1," + dec(v32) + "," + dec(r.t_exit_ns) + "," +
                    dec(r.t_hypercall_ns) + "," + dec(r.t_entry_ns) + "," + lat + "," + name + kCsvV2Kvm + kCsvNoVm +
                    "\n";
    }
    for (Format f : {Format::Json, Format::Csv}) {
        std::ostringstream out;
        auto w = make_record_writer(f, out, TimeBase{kStart, 0, false});
        for (const ht_record& r : recs)
            w->write(r);
        w->finish();
        const std::string& want = f == Format::Json ? want_json : want_csv;
        ASSERT_EQ(out.str().size(), want.size()) << format_name(f);
        // Compare line by line, so that a failure names the value.
        std::istringstream got_lines(out.str()), want_lines(want);
        std::string g, e;
        while (std::getline(want_lines, e)) {
            ASSERT_TRUE(std::getline(got_lines, g));
            ASSERT_EQ(g, e) << format_name(f);
        }
    }
}

TEST(Writers, IntegersExactInText)
{
    const std::vector<std::uint64_t> cases = integer_cases();
    std::ostringstream out;
    auto w = make_record_writer(Format::Text, out, TimeBase{kStart, 0, false});
    std::vector<std::string> want;
    for (std::size_t i = 0; i < cases.size(); i++) {
        const std::uint64_t v = cases[i];
        const auto v32 = static_cast<std::uint32_t>(v);
        ht_record r = known_record();
        r.pid = r.tid = r.vcpu_id = v32;
        r.nr = v;
        r.a0 = v;
        r.a1 = ~v;
        r.isa = HT_ISA_SVM;
        r.exit_reason = v32;  // named or hex, whichever the tables say
        // Every time and latency digit: TIME = (t_entry - start) in s with 6
        // decimals, latencies in us with 3.
        const std::uint64_t d = v % 4000000000000000000ull;
        r.t_exit_ns = kStart;
        r.t_hypercall_ns = kStart + d / 2;
        r.t_entry_ns = kStart + d;
        w->write(r);
        char b[512];
        const char* name = exit_reason_name(HT_ISA_SVM, v32);
        const std::string reason = std::strcmp(name, "unknown") == 0 ? hex(v32) : name;
        auto us = [](std::uint64_t ns) {
            char t[48];
            std::snprintf(t, sizeof t, "%llu.%03llu", static_cast<unsigned long long>(ns / 1000),
                          static_cast<unsigned long long>(ns % 1000));
            return std::string(t);
        };
        char tm[48];
        std::snprintf(tm, sizeof tm, "%llu.%06llu", static_cast<unsigned long long>(d / 1000000000),
                      static_cast<unsigned long long>(d % 1000000000 / 1000));
        const std::string_view nr_name = hypercall_name(HypercallAbi::Kvm, v);
        std::snprintf(b, sizeof b,
                      "%-15s %-7s %-7s %-4s %-6s %-26s %-18s %-18s %-18s %-18s %-14s %11s %10s %10s kvm             -",
                      tm, dec(v32).c_str(), dec(v32).c_str(), dec(v32).c_str(), dec(v).c_str(),
                      nr_name.empty() ? "-" : std::string(nr_name).c_str(), hex(v).c_str(), hex(~v).c_str(),
                      hex(0).c_str(), hex(~0ull).c_str(), reason.c_str(), us(d / 2).c_str(), us(d - d / 2).c_str(),
                      us(d).c_str());
        want.push_back(std::string(b) + " ?    -");
    }
    w->finish();
    std::istringstream lines(out.str());
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));  // header
    for (const std::string& e : want) {
        ASSERT_TRUE(std::getline(lines, line));
        ASSERT_EQ(line, e);
    }
    EXPECT_FALSE(std::getline(lines, line));
}

// The text writer keeps the last reason's name: a change of reason (or of
// ISA for the same code) must show the new one.
TEST(TextFormat, ReasonChangesBetweenRecords)
{
    ht_record a = known_record(), b = known_record(), c = known_record(), d = known_record();
    b.exit_reason = 12;  // VMX hlt
    c.isa = HT_ISA_SVM;  // same code, other ISA
    c.exit_reason = 12;
    d.flags = HT_REC_F_REASON_UNKNOWN;  // then unknown, then known again
    const std::string out = render(Format::Text, {a, b, c, d, a});
    std::istringstream lines(out);
    std::string line;
    std::vector<std::string> reasons;
    std::getline(lines, line);
    while (std::getline(lines, line))
        reasons.push_back(line.substr(15 + 1 + 7 + 1 + 7 + 1 + 4 + 1 + 6 + 1 + 26 + 1 + 4 * 19, 14));
    ASSERT_EQ(reasons.size(), 5u);
    EXPECT_EQ(reasons[0], "vmcall        ");
    EXPECT_EQ(reasons[1], "hlt           ");
    const char* svm12 = exit_reason_name(HT_ISA_SVM, 12);
    const std::string want2 = std::strcmp(svm12, "unknown") == 0 ? hex(12) : svm12;
    EXPECT_EQ(reasons[2], want2 + std::string(14 - want2.size(), ' '));
    EXPECT_EQ(reasons[3], "?             ");
    EXPECT_EQ(reasons[4], "vmcall        ");
}

// The path the binary takes: writer -> Output (write(2) to a file), with
// small writes (as summaries and headers make) between passes.  Large
// blocks bypass Output's buffer; the file must still hold every byte in
// the order it was streamed, the same as an in-memory stream gets.
TEST(Writers, OutputFileGetsTheSameBytesInOrder)
{
    char path[] = "/tmp/ht-format-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    auto run = [](std::ostream& out, const std::function<void()>& flush) {
        auto w = make_record_writer(Format::Json, out, TimeBase{kStart, 0, false});
        ht_record r = known_record();
        for (int pass = 0; pass < 50; pass++) {
            out << "small " << pass << "\n";       // buffered in Output
            for (int i = 0; i < pass * 37; i++) {  // 0 to ~500 KB per pass
                r.a0 = static_cast<std::uint64_t>(pass * 100000 + i);
                w->write(r);
            }
            w->flush();
            flush();
        }
        w->finish();
    };
    std::ostringstream want;
    run(want, [] {});
    {
        Output output{std::string(path)};
        ASSERT_TRUE(output.claim());
        run(output.stream(), [&] { EXPECT_TRUE(output.flush()); });
        ASSERT_TRUE(output.flush());
    }
    std::ifstream in(path, std::ios::binary);
    const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(path);
    EXPECT_EQ(got.size(), want.str().size());
    EXPECT_TRUE(got == want.str());
}

// The writers keep the text of fields that repeat from record to record
// (record_format.cpp, FieldRun).  Changing any one field, then changing it
// back, must give the text a fresh writer gives for each record alone.
TEST(Writers, RepeatedFieldsSameTextAsAFreshWriter)
{
    const ht_record base = known_record();
    std::vector<std::function<void(ht_record&)>> changes = {
        [](ht_record& r) { r.pid++; },
        [](ht_record& r) { r.tid++; },
        [](ht_record& r) { r.vcpu_id++; },
        [](ht_record& r) { r.cpu++; },
        [](ht_record& r) { r.nr++; },
        [](ht_record& r) { r.nr = 10; },  // a named nr: the name follows it
        [](ht_record& r) { r.nr = 11; },
        [](ht_record& r) { r.a0++; },
        [](ht_record& r) { r.a1++; },
        [](ht_record& r) { r.a2++; },
        [](ht_record& r) { r.a3--; },
        [](ht_record& r) { r.isa = HT_ISA_SVM; },
        [](ht_record& r) { r.exit_reason = 12; },
        [](ht_record& r) { r.flags |= HT_REC_F_VCPU_UNKNOWN; },
        [](ht_record& r) { r.flags |= HT_REC_F_REASON_UNKNOWN; },
        [](ht_record& r) { r.t_exit_ns -= 100000000; },
        [](ht_record& r) { r.t_entry_ns += 100000000; },
        [](ht_record& r) {
            r.pid = r.tid = 7;
            r.a1 = r.a2 = 0;
        },
    };
    std::vector<ht_record> seq;
    for (const auto& change : changes) {
        ht_record c = base;
        change(c);
        seq.insert(seq.end(), {base, base, c, c, base});
    }
    const TimeBase tb{kStart, 0, false};
    for (Format f : {Format::Text, Format::Json, Format::Csv}) {
        const std::string header = render(f, {}, tb);
        std::string want = header;
        for (const ht_record& r : seq)
            want += render(f, {r}, tb).substr(header.size());
        std::ostringstream out;
        auto w = make_record_writer(f, out, tb);
        for (const ht_record& r : seq)
            w->write(r);
        w->finish();
        EXPECT_EQ(out.str(), want) << format_name(f);
    }
}

// Record version 2: a VMM-served KVM hypercall and a Hyper-V one, in every format.
TEST(Formats, VmmServedSplitAndAbiFields)
{
    ht_record r = known_record();
    r.nr = 12;
    r.flags |= HT_REC_F_VMM_SERVED;
    r.t_userspace_exit_ns = r.t_hypercall_ns + 1000;  // VMM part: entry - this
    r.uexit_reason = HT_KVM_EXIT_HYPERCALL;
    const std::uint64_t vmm = r.t_entry_ns - r.t_userspace_exit_ns;
    const std::string text = render(Format::Text, {r});
    EXPECT_NE(text.find("5.678 kvm         3.444 ?    -\n"), std::string::npos) << text;  // VIDX, VM after
    const std::string json = render(Format::Json, {r});
    EXPECT_NE(
        json.find(",\"t_userspace_exit_ns\":" + std::to_string(r.t_userspace_exit_ns) +
                  ",\"uexit_reason\":3,\"vmm_ns\":" + std::to_string(vmm) + ",\"served_by\":\"vmm\"" + kJsonNoVm + "}"),
        std::string::npos)
        << json;
    const std::string csv = render(Format::Csv, {r});
    EXPECT_NE(
        csv.find("," + std::to_string(r.t_userspace_exit_ns) + ",3," + std::to_string(vmm) + ",vmm" + kCsvNoVm + "\n"),
        std::string::npos)
        << csv;

    ht_record h = known_record();
    h.abi = HT_ABI_HYPERV;
    h.nr = 0x8003;
    h.a0 = h.a1 = h.a2 = h.a3 = 0;
    h.hv_fast = 1;
    h.hv_rep_cnt = 5;
    h.hv_rep_idx = 2;
    h.hv_var_cnt = 1;
    h.hv_ingpa = 0x1000;
    h.hv_outgpa = 0x2000;
    h.hv_result = 0x50000;
    h.flags |= HT_REC_F_HV_RESULT;
    EXPECT_NE(render(Format::Json, {h})
                  .find(",\"abi\":\"hyperv\",\"a4\":0,\"a5\":0,\"hv_fast\":1,\"hv_rep_cnt\":5,"
                        "\"hv_rep_idx\":2,\"hv_var_cnt\":1,\"hv_ingpa\":4096,\"hv_outgpa\":8192,"
                        "\"hv_result\":327680,"),
              std::string::npos);
    EXPECT_NE(render(Format::Csv, {h}).find(",hyperv,0,0,1,5,2,1,4096,8192,327680,,,,kernel" + kCsvNoVm + "\n"),
              std::string::npos);
    EXPECT_NE(render(Format::Text, {h}).find(" hyperv          - ?    -\n"), std::string::npos)
        << render(Format::Text, {h});
    // Text A0..A3 of a Hyper-V call: input GPA, output GPA, rep count, rep index.
    EXPECT_NE(render(Format::Text, {h}).find(" 0x1000             0x2000             0x5                0x2  "),
              std::string::npos)
        << render(Format::Text, {h});
}

// Names per ABI: the same nr names a different call in each ABI (8 is
// KVM_HC_MIPS_CONSOLE_OUTPUT in KVM's table, HvCallNotifyLongSpinWait in
// Hyper-V's).  Records that differ only in their ABI follow each other here,
// so a writer whose cached "who" run left the ABI out would repeat the
// first record's name.
TEST(Formats, NamePerAbi)
{
    ht_record kvm = known_record(), hv = known_record(), other = known_record();
    kvm.nr = hv.nr = other.nr = 8;
    hv.abi = HT_ABI_HYPERV;
    other.abi = 7;  // not an ABI this build knows: no name
    ht_record post = hv;
    post.nr = 0x5c;
    ASSERT_EQ(hypercall_name(HypercallAbi::Kvm, 8), "KVM_HC_MIPS_CONSOLE_OUTPUT");
    ASSERT_EQ(hypercall_name(HypercallAbi::Hyperv, 8), "HvCallNotifyLongSpinWait");
    ASSERT_EQ(hypercall_name(HypercallAbi::Hyperv, 0x5c), "HvCallPostMessage");
    const std::initializer_list<ht_record> recs = {kvm, hv, kvm, post, other};
    const std::vector<std::string> names = {"KVM_HC_MIPS_CONSOLE_OUTPUT", "HvCallNotifyLongSpinWait",
                                            "KVM_HC_MIPS_CONSOLE_OUTPUT", "HvCallPostMessage", ""};
    const std::vector<std::string> abis = {"kvm", "hyperv", "kvm", "hyperv", "?"};

    std::istringstream text(render(Format::Text, recs)), json(render(Format::Json, recs)),
        csv(render(Format::Csv, recs));
    std::string line;
    ASSERT_TRUE(std::getline(text, line));  // header
    ASSERT_TRUE(std::getline(csv, line));
    for (std::size_t i = 0; i < names.size(); i++) {
        ASSERT_TRUE(std::getline(text, line));
        std::istringstream fields(line);
        std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
        ASSERT_EQ(f.size(), 18u) << line;  // TIME .. LAT ABI VMM VIDX VM (this VM unnamed: "-")
        EXPECT_EQ(f[5], names[i].empty() ? "-" : names[i]) << line;
        EXPECT_EQ(f[14], abis[i]) << line;

        ASSERT_TRUE(std::getline(json, line));
        const std::string want_name = names[i].empty() ? "null" : "\"" + names[i] + "\"";
        EXPECT_NE(line.find(",\"latency_ns\":5678,\"name\":" + want_name + ",\"abi\":\"" + abis[i] + "\","),
                  std::string::npos)
            << line;

        ASSERT_TRUE(std::getline(csv, line));
        EXPECT_NE(line.find(",5678," + names[i] + "," + abis[i] + ","), std::string::npos) << line;
    }
}

// A Xen record (abi xen: Xen's nr, a0..a5) served by the VMM (KVM_EXIT_XEN),
// in every format: its name from Xen's table, a4 and a5 in JSON and CSV,
// the VMM part as for the other ABIs.
TEST(Formats, XenRecord)
{
    ht_record x = known_record();
    x.abi = HT_ABI_XEN;
    x.nr = 34;  // __HYPERVISOR_hvm_op
    x.a0 = 0;
    x.a1 = 0x1000005;
    x.a2 = 0xa2;
    x.a3 = 0xa3;
    x.a4 = 0xa4;
    x.a5 = 0xa5;
    x.flags |= HT_REC_F_VMM_SERVED;
    x.t_userspace_exit_ns = x.t_hypercall_ns + 1000;
    x.uexit_reason = HT_KVM_EXIT_XEN;
    const std::uint64_t vmm = x.t_entry_ns - x.t_userspace_exit_ns;
    const std::string json = render(Format::Json, {x});
    EXPECT_NE(json.find("\"nr\":34,\"a0\":0,\"a1\":16777221,\"a2\":162,\"a3\":163,"), std::string::npos) << json;
    EXPECT_NE(json.find(",\"name\":\"__HYPERVISOR_hvm_op\",\"abi\":\"xen\",\"a4\":164,\"a5\":165,\"hv_fast\":0,"
                        "\"hv_rep_cnt\":0,\"hv_rep_idx\":0,\"hv_var_cnt\":0,\"hv_ingpa\":0,\"hv_outgpa\":0,"
                        "\"hv_result\":null,\"t_userspace_exit_ns\":" +
                        std::to_string(x.t_userspace_exit_ns) + ",\"uexit_reason\":34,\"vmm_ns\":" +
                        std::to_string(vmm) + ",\"served_by\":\"vmm\"" + kJsonNoVm + "}"),
              std::string::npos)
        << json;
    const std::string csv = render(Format::Csv, {x});
    EXPECT_NE(csv.find(",__HYPERVISOR_hvm_op,xen,164,165,0,0,0,0,0,0,," + std::to_string(x.t_userspace_exit_ns) +
                       ",34," + std::to_string(vmm) + ",vmm" + kCsvNoVm + "\n"),
              std::string::npos)
        << csv;
    const std::string text = render(Format::Text, {x});
    EXPECT_NE(text.find(" 34     __HYPERVISOR_hvm_op        0x0                0x1000005          0xa2               "
                        "0xa3               vmcall "),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("5.678 xen         3.444 ?    -\n"), std::string::npos) << text;
}
