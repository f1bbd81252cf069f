// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The `-n/--nr` list: "42", "0x2a", "40-50", comma-separated, any number of
// items.  Parsed into sorted, merged, inclusive ranges, the form
// struct ht_filter.nr_ranges needs (ht_nr_wanted stops at the first range
// above nr, so order matters; merging keeps many items within
// HT_MAX_NR_RANGES).  Knows nothing about options: errors are
// std::invalid_argument saying what is wrong with the text; options.cpp adds
// the option name and the fix.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace hypertrace {

struct NrRange {
    std::uint64_t lo;  // inclusive
    std::uint64_t hi;  // inclusive
    bool operator==(const NrRange& o) const { return lo == o.lo && hi == o.hi; }
};

// One unsigned number: decimal ("42") or hex ("0x2a"/"0X2A").  No sign, no
// spaces, no octal (a leading 0 is decimal), must fit in 64 bits.
// Throws std::invalid_argument.
std::uint64_t parse_u64(std::string_view text);

// Parse a whole list ("1,2,40-50, 0x100") into merged, sorted ranges.
// Blanks around items are allowed; empty items, "a-b" with a > b, negative
// or oversized numbers are not.  Throws std::invalid_argument.
std::vector<NrRange> parse_nr_list(std::string_view text);

// Sort and merge overlapping *and adjacent* ranges ([1,2]+[3,4] -> [1,4]).
std::vector<NrRange> merge_nr_ranges(std::vector<NrRange> ranges);

}  // namespace hypertrace
