// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// nr_list / duration: the text parsers behind -n, --duration, --min-latency.
#include <gtest/gtest.h>

#include <limits>
#include <ostream>
#include <stdexcept>

#include "cli/duration.h"
#include "cli/nr_list.h"

using namespace hypertrace;

namespace hypertrace {
// Readable failures: "{10-12} hv {} xen {}" instead of bytes.
void PrintTo(const NrRange& r, std::ostream* os) { *os << r.lo << "-" << r.hi; }
void PrintTo(const NrSelection& s, std::ostream* os)
{
    for (HypercallAbi abi : kHypercallAbis) {
        *os << abi_prefix(abi) << " {";
        for (const NrRange& r : s.of(abi))
            *os << " " << r.lo << "-" << r.hi;
        *os << " } ";
    }
}
}  // namespace hypertrace

namespace {
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();
}

TEST(ParseU64, DecimalAndHex)
{
    EXPECT_EQ(parse_u64("0"), 0u);
    EXPECT_EQ(parse_u64("42"), 42u);
    EXPECT_EQ(parse_u64("0x2a"), 42u);
    EXPECT_EQ(parse_u64("0X2A"), 42u);
    EXPECT_EQ(parse_u64("010"), 10u);  // no octal
    EXPECT_EQ(parse_u64("18446744073709551615"), kU64Max);
    EXPECT_EQ(parse_u64("0xffffffffffffffff"), kU64Max);
}

TEST(ParseU64, Rejects)
{
    for (const char* bad :
         {"", "-1", "+1", "foo", "0x", "1.5", " 1", "1 ", "42x", "0xg", "18446744073709551616", "0x10000000000000000"})
        EXPECT_THROW(parse_u64(bad), std::invalid_argument) << bad;
}

TEST(NrList, SingleItemsAndRanges)
{
    EXPECT_EQ(parse_nr_list("42").kvm, (std::vector<NrRange>{{42, 42}}));
    EXPECT_EQ(parse_nr_list("40-50").kvm, (std::vector<NrRange>{{40, 50}}));
    EXPECT_EQ(parse_nr_list("0x10-0x1f").kvm, (std::vector<NrRange>{{16, 31}}));
    EXPECT_EQ(parse_nr_list("5-5").kvm, (std::vector<NrRange>{{5, 5}}));
    EXPECT_EQ(parse_nr_list(" 1 , 3 ").kvm, (std::vector<NrRange>{{1, 1}, {3, 3}}));
}

TEST(NrList, SortsAndMerges)
{
    EXPECT_EQ(parse_nr_list("9,1,5").kvm, (std::vector<NrRange>{{1, 1}, {5, 5}, {9, 9}}));
    // overlapping, contained, adjacent, duplicate
    EXPECT_EQ(parse_nr_list("10-20,15-25,30,12-13,26,30,1,2,3").kvm,
              (std::vector<NrRange>{{1, 3}, {10, 26}, {30, 30}}));
    // adjacency at u64 max must not overflow
    EXPECT_EQ(parse_nr_list("0xfffffffffffffffe,0xffffffffffffffff,0").kvm,
              (std::vector<NrRange>{{0, 0}, {kU64Max - 1, kU64Max}}));
    EXPECT_EQ(parse_nr_list("0-0xffffffffffffffff,7").kvm, (std::vector<NrRange>{{0, kU64Max}}));
}

TEST(NrList, ManyItems)
{
    std::string text;
    std::vector<NrRange> want;
    for (int i = 0; i < 200; i++) {
        text += (i ? "," : "") + std::to_string(i * 2);  // not adjacent: no merging
        want.push_back({static_cast<std::uint64_t>(i * 2), static_cast<std::uint64_t>(i * 2)});
    }
    EXPECT_EQ(parse_nr_list(text).kvm, want);
}

TEST(NrList, Rejects)
{
    for (const char* bad : {"", ",", "1,", ",1", "1,,2", "-1", "1,-1", "foo", "1-", "-", "5-3", "1-2-3", "0x", "1--2",
                            "18446744073709551616"})
        EXPECT_THROW(parse_nr_list(bad), std::invalid_argument) << bad;
}

// Numbers and ranges alone are KVM's: nothing of the other ABIs.
TEST(NrList, NumbersAreKvm)
{
    const NrSelection s = parse_nr_list("42,10-12");
    EXPECT_EQ(s.kvm, (std::vector<NrRange>{{10, 12}, {42, 42}}));
    EXPECT_TRUE(s.hyperv.empty());
    EXPECT_TRUE(s.xen.empty());
}

TEST(NrList, Names)
{
    EXPECT_EQ(parse_nr_list("KVM_HC_SEND_IPI").kvm, (std::vector<NrRange>{{10, 10}}));
    EXPECT_EQ(parse_nr_list("kvm_hc_send_ipi").kvm, (std::vector<NrRange>{{10, 10}}));  // any case
    EXPECT_EQ(parse_nr_list("Kvm_Hc_Sched_Yield").kvm, (std::vector<NrRange>{{11, 11}}));
    // Names, numbers and ranges mixed; names merge with numbers.
    EXPECT_EQ(parse_nr_list("KVM_HC_MIPS_EXIT_VM,42").kvm, (std::vector<NrRange>{{7, 7}, {42, 42}}));
    EXPECT_EQ(parse_nr_list("KVM_HC_SEND_IPI, 11, KVM_HC_MAP_GPA_RANGE").kvm, (std::vector<NrRange>{{10, 12}}));
    // Ranges between names, or a name and a number.
    EXPECT_EQ(parse_nr_list("KVM_HC_SEND_IPI-KVM_HC_MAP_GPA_RANGE").kvm, (std::vector<NrRange>{{10, 12}}));
    EXPECT_EQ(parse_nr_list("KVM_HC_KICK_CPU-7").kvm, (std::vector<NrRange>{{5, 7}}));
    EXPECT_EQ(parse_nr_list("1 - KVM_HC_MMU_OP").kvm, (std::vector<NrRange>{{1, 2}}));
}

TEST(NrList, Prefixes)
{
    NrSelection want;
    want.kvm = {{10, 10}};
    EXPECT_EQ(parse_nr_list("kvm:KVM_HC_SEND_IPI"), want);
    EXPECT_EQ(parse_nr_list("kvm:10"), want);
    EXPECT_EQ(parse_nr_list("KVM:10"), want);
    EXPECT_EQ(parse_nr_list(" kvm : 10 "), want);

    want = {};
    want.hyperv = {{0x5c, 0x5c}};
    EXPECT_EQ(parse_nr_list("hv:HvCallPostMessage"), want);
    EXPECT_EQ(parse_nr_list("hv:hvcallpostmessage"), want);
    EXPECT_EQ(parse_nr_list("hv:HVCALL_POST_MESSAGE"), want);  // Linux's macro
    EXPECT_EQ(parse_nr_list("hyperv:0x5c"), want);
    EXPECT_EQ(parse_nr_list("HV:92"), want);
    EXPECT_EQ(parse_nr_list("HvCallPostMessage"), want);  // a name only Hyper-V has
    want.hyperv = {{2, 3}, {0x5c, 0x5d}};
    EXPECT_EQ(parse_nr_list("hv:HvCallFlushVirtualAddressSpace-HvCallFlushVirtualAddressList,hv:0x5c-0x5d"), want);

    want = {};
    want.xen = {{10, 10}, {32, 32}};
    EXPECT_EQ(parse_nr_list("xen:10,xen:__HYPERVISOR_event_channel_op"), want);
    EXPECT_EQ(parse_nr_list("xen:10,__hypervisor_event_channel_op"), want);

    // One list, three ABIs: the same number means a different call in each.
    want.kvm = {{10, 10}};
    want.hyperv = {{10, 10}};
    want.xen = {{10, 10}};
    EXPECT_EQ(parse_nr_list("10,hv:10,xen:10"), want);
}

TEST(NrList, NameErrors)
{
    auto error_of = [](const char* text) {
        try {
            parse_nr_list(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("parsed");
    };
    // An unknown name: what is wrong, the closest names, where to find them.
    EXPECT_EQ(error_of("42,KVM_HC_SEND_IP"),
              "'KVM_HC_SEND_IP' is not a number and no hypercall has that name (closest: KVM_HC_SEND_IPI, "
              "KVM_HC_MMU_OP, KVM_HC_KICK_CPU; 'hypertrace --list-hypercalls' lists them all)");
    // With a prefix, only that ABI's names are looked at and offered.
    EXPECT_EQ(error_of("hv:KVM_HC_SEND_IPI")
                  .rfind("'KVM_HC_SEND_IPI' is not a number and no Hyper-V hypercall "
                         "has that name (closest: HvCall",
                         0),
              0u)
        << error_of("hv:KVM_HC_SEND_IPI");
    EXPECT_NE(error_of("kvm:HvCallPostMessage").find("no KVM hypercall has that name"), std::string::npos);
    EXPECT_NE(error_of("xen:event_channel_op").find("(closest: __HYPERVISOR_event_channel_op,"), std::string::npos)
        << error_of("xen:event_channel_op");
    EXPECT_EQ(error_of("foo:1"), "'foo:1' has an unknown prefix 'foo:': use kvm:, hv: or xen:");
    EXPECT_EQ(error_of("hv:"), "'hv:' has nothing after its prefix");
    EXPECT_EQ(error_of("hv:-1"), "'hv:-1' is negative");
    EXPECT_EQ(error_of("1--2"), "'-2' is negative");
    EXPECT_EQ(error_of("KVM_HC_SEND_IPI-HvCallPostMessage"),
              "range 'KVM_HC_SEND_IPI-HvCallPostMessage' runs from a KVM hypercall to a Hyper-V one");
    EXPECT_EQ(error_of("KVM_HC_MAP_GPA_RANGE-KVM_HC_SEND_IPI"),
              "range 'KVM_HC_MAP_GPA_RANGE-KVM_HC_SEND_IPI' runs backwards");
    EXPECT_EQ(error_of("hv:0x10000"), "'hv:0x10000' is above 0xffff: Hyper-V call codes are 16 bits");
    EXPECT_EQ(error_of("hv:0xff00-0x10000"), "'hv:0xff00-0x10000' is above 0xffff: Hyper-V call codes are 16 bits");
    EXPECT_EQ(error_of("hv:0xffff"), "parsed");
    EXPECT_EQ(error_of("xen:0x10000"), "parsed");  // Xen's nr is a full register
    EXPECT_EQ(error_of("42x"), "'42x' is not a number");
}

TEST(NrList, ErrorMessagesNameTheItem)
{
    try {
        parse_nr_list("1,foo");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("'foo'"), std::string::npos) << e.what();
    }
    try {
        parse_nr_list("9-3");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("backwards"), std::string::npos) << e.what();
    }
}

TEST(Duration, Units)
{
    EXPECT_EQ(parse_duration_ns("5ns", BareNumber::Reject), 5u);
    EXPECT_EQ(parse_duration_ns("5us", BareNumber::Reject), 5000u);
    EXPECT_EQ(parse_duration_ns("5\xc2\xb5s", BareNumber::Reject), 5000u);  // µ (micro sign)
    EXPECT_EQ(parse_duration_ns("5\xce\xbcs", BareNumber::Reject), 5000u);  // μ (greek mu)
    EXPECT_EQ(parse_duration_ns("5ms", BareNumber::Reject), 5000000u);
    EXPECT_EQ(parse_duration_ns("5s", BareNumber::Reject), 5000000000u);
    EXPECT_EQ(parse_duration_ns("2m", BareNumber::Reject), 120000000000u);
    EXPECT_EQ(parse_duration_ns("1.5ms", BareNumber::Reject), 1500000u);
    EXPECT_EQ(parse_duration_ns(".25s", BareNumber::Reject), 250000000u);
    EXPECT_EQ(parse_duration_ns("1.9ns", BareNumber::Reject), 1u);  // truncated
    EXPECT_EQ(parse_duration_ns("0.000000001s", BareNumber::Reject), 1u);
    EXPECT_EQ(parse_duration_ns("18446744073709551615ns", BareNumber::Reject), kU64Max);
}

TEST(Duration, BareNumbers)
{
    EXPECT_EQ(parse_duration_ns("10", BareNumber::Seconds), 10000000000u);
    EXPECT_EQ(parse_duration_ns("0.5", BareNumber::Seconds), 500000000u);
    EXPECT_THROW(parse_duration_ns("10", BareNumber::Reject), std::invalid_argument);
    EXPECT_EQ(parse_duration_ns("0", BareNumber::Reject), 0u);  // zero needs no unit
}

TEST(Duration, Rejects)
{
    for (const char* bad : {"", "5parsecs", "-5s", "+5s", "s", "5 s", "5S", "5sec", "1.s", "1..2s", "1e3s", "0x10s",
                            "18446744073709551616ns", "18446744073709551615us", "307445734561m"})
        EXPECT_THROW(parse_duration_ns(bad, BareNumber::Seconds), std::invalid_argument) << bad;
}

// Overflow has its own type, so callers with a smaller maximum can name it.
TEST(Duration, OverflowIsItsOwnError)
{
    for (const char* big : {"18446744073709551616ns", "18446744073709551615us", "307445734561m",
                            "18446744073.709551616s", "99999999999999999999"})
        EXPECT_THROW(parse_duration_ns(big, BareNumber::Seconds), DurationOverflow) << big;
    for (const char* bad : {"5parsecs", "-5s", "1..2s"}) {
        try {
            parse_duration_ns(bad, BareNumber::Seconds);
            ADD_FAILURE() << bad << " parsed";
        } catch (const DurationOverflow&) {
            ADD_FAILURE() << bad << " reported as overflow";
        } catch (const std::invalid_argument&) {
        }
    }
}
