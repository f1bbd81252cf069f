// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// nr_list / duration: the text parsers behind -n, --duration, --min-latency.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "cli/duration.h"
#include "cli/nr_list.h"

using namespace hypertrace;

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
    EXPECT_EQ(parse_nr_list("42"), (std::vector<NrRange>{{42, 42}}));
    EXPECT_EQ(parse_nr_list("40-50"), (std::vector<NrRange>{{40, 50}}));
    EXPECT_EQ(parse_nr_list("0x10-0x1f"), (std::vector<NrRange>{{16, 31}}));
    EXPECT_EQ(parse_nr_list("5-5"), (std::vector<NrRange>{{5, 5}}));
    EXPECT_EQ(parse_nr_list(" 1 , 3 "), (std::vector<NrRange>{{1, 1}, {3, 3}}));
}

TEST(NrList, SortsAndMerges)
{
    EXPECT_EQ(parse_nr_list("9,1,5"), (std::vector<NrRange>{{1, 1}, {5, 5}, {9, 9}}));
    // overlapping, contained, adjacent, duplicate
    EXPECT_EQ(parse_nr_list("10-20,15-25,30,12-13,26,30,1,2,3"), (std::vector<NrRange>{{1, 3}, {10, 26}, {30, 30}}));
    // adjacency at u64 max must not overflow
    EXPECT_EQ(parse_nr_list("0xfffffffffffffffe,0xffffffffffffffff,0"),
              (std::vector<NrRange>{{0, 0}, {kU64Max - 1, kU64Max}}));
    EXPECT_EQ(parse_nr_list("0-0xffffffffffffffff,7"), (std::vector<NrRange>{{0, kU64Max}}));
}

TEST(NrList, ManyItems)
{
    std::string text;
    std::vector<NrRange> want;
    for (int i = 0; i < 200; i++) {
        text += (i ? "," : "") + std::to_string(i * 2);  // not adjacent: no merging
        want.push_back({static_cast<std::uint64_t>(i * 2), static_cast<std::uint64_t>(i * 2)});
    }
    EXPECT_EQ(parse_nr_list(text), want);
}

TEST(NrList, Rejects)
{
    for (const char* bad : {"", ",", "1,", ",1", "1,,2", "-1", "1,-1", "foo", "1-", "-", "5-3", "1-2-3", "0x", "1--2",
                            "18446744073709551616"})
        EXPECT_THROW(parse_nr_list(bad), std::invalid_argument) << bad;
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
