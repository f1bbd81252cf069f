// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "cli/nr_list.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>

namespace hypertrace {

namespace {

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

std::uint64_t parse_u64(std::string_view text)
{
    if (text.empty())
        throw std::invalid_argument("empty number");
    if (text.front() == '-')
        throw std::invalid_argument("'" + std::string(text) + "' is negative");
    int base = 10;
    std::string_view digits = text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        base = 16;
        digits.remove_prefix(2);
    }
    std::uint64_t value = 0;
    // from_chars rejects '+', blanks and a "0x" prefix itself, which is what
    // we want: only plain digits of the chosen base remain acceptable.
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range)
        throw std::invalid_argument("'" + std::string(text) + "' does not fit in 64 bits");
    if (ec != std::errc() || end != digits.data() + digits.size())
        throw std::invalid_argument("'" + std::string(text) + "' is not a number");
    return value;
}

std::vector<NrRange> merge_nr_ranges(std::vector<NrRange> r)
{
    std::sort(r.begin(), r.end(),
              [](const NrRange& a, const NrRange& b) { return a.lo < b.lo || (a.lo == b.lo && a.hi < b.hi); });
    std::vector<NrRange> out;
    for (const NrRange& x : r) {
        // Adjacent ranges merge too; careful not to overflow at u64 max.
        if (!out.empty() && (x.lo <= out.back().hi || (out.back().hi != std::numeric_limits<std::uint64_t>::max() &&
                                                       x.lo == out.back().hi + 1))) {
            out.back().hi = std::max(out.back().hi, x.hi);
        } else {
            out.push_back(x);
        }
    }
    return out;
}

std::vector<NrRange> parse_nr_list(std::string_view text)
{
    std::vector<NrRange> ranges;
    std::size_t pos = 0;
    for (;;) {
        std::size_t comma = text.find(',', pos);
        std::string_view item =
            trim(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        if (item.empty())
            throw std::invalid_argument("empty item");
        if (item.front() == '-')
            throw std::invalid_argument("'" + std::string(item) + "' is negative");
        // A range's dash is the first '-' after the first character (a
        // leading '-' was rejected above as a sign).
        std::size_t dash = item.find('-');
        if (dash == std::string_view::npos) {
            std::uint64_t v = parse_u64(item);
            ranges.push_back({v, v});
        } else {
            std::string_view a = trim(item.substr(0, dash));
            std::string_view b = trim(item.substr(dash + 1));
            if (b.empty())
                throw std::invalid_argument("range '" + std::string(item) + "' has no upper bound");
            std::uint64_t lo = parse_u64(a);
            std::uint64_t hi = parse_u64(b);
            if (lo > hi)
                throw std::invalid_argument("range '" + std::string(item) + "' runs backwards");
            ranges.push_back({lo, hi});
        }
        if (comma == std::string_view::npos)
            break;
        pos = comma + 1;
    }
    return merge_nr_ranges(std::move(ranges));
}

}  // namespace hypertrace
