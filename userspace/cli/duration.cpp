// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "cli/duration.h"

#include <limits>
#include <stdexcept>
#include <string>

namespace hypertrace {

namespace {

struct Unit {
    std::string_view name;
    std::uint64_t ns;
};

// "µs" is listed in UTF-8 (U+00B5 MICRO SIGN) and as U+03BC (GREEK MU),
// since both get typed.
constexpr Unit kUnits[] = {
    {"ns", 1ull},       {"us", 1000ull},      {"\xc2\xb5s", 1000ull},       {"\xce\xbcs", 1000ull},
    {"ms", 1000000ull}, {"s", 1000000000ull}, {"m", 60ull * 1000000000ull},
};

[[noreturn]] void bad(std::string_view text, const std::string& why)
{
    throw std::invalid_argument("'" + std::string(text) + "' " + why);
}

[[noreturn]] void too_large(std::string_view text)
{
    throw DurationOverflow("'" + std::string(text) + "' is too large");
}

}  // namespace

std::uint64_t parse_duration_ns(std::string_view text, BareNumber bare)
{
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    std::size_t i = 0;
    // Integer part (kept exact: durations are integers in ns, no doubles).
    std::uint64_t whole = 0;
    std::size_t int_digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++, int_digits++) {
        unsigned d = static_cast<unsigned>(text[i] - '0');
        if (whole > (kMax - d) / 10)
            too_large(text);
        whole = whole * 10 + d;
    }
    // Fraction: at most 18 digits matter below 1 unit (1 m = 6e10 ns, so
    // 12 digits would already do); keep them as numerator/denominator.
    std::uint64_t frac = 0, frac_den = 1;
    std::size_t frac_digits = 0;
    if (i < text.size() && text[i] == '.') {
        i++;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++, frac_digits++) {
            if (frac_den < 1000000000000000000ull) {
                frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
                frac_den *= 10;
            }
        }
        if (frac_digits == 0)
            bad(text, "has a '.' but no digits after it");
    }
    if (int_digits == 0 && frac_digits == 0) {
        if (!text.empty() && text[0] == '-')
            bad(text, "is negative");
        bad(text, "does not start with a number");
    }
    std::string_view unit = text.substr(i);
    std::uint64_t unit_ns = 0;
    if (unit.empty()) {
        if (bare == BareNumber::Seconds)
            unit_ns = 1000000000ull;
        else if (whole == 0 && frac == 0)
            return 0;  // "0" needs no unit
        else
            bad(text, "has no unit");
    } else {
        for (const Unit& u : kUnits)
            if (unit == u.name)
                unit_ns = u.ns;
        if (unit_ns == 0)
            bad(text, "has an unknown unit '" + std::string(unit) + "'");
    }
    if (whole > kMax / unit_ns)
        too_large(text);
    std::uint64_t ns = whole * unit_ns;
    // frac/frac_den < 1 and unit_ns <= 6e10, frac_den <= 1e18: compute
    // frac * unit_ns / frac_den in 128 bits so nothing overflows.
    unsigned __int128 part = static_cast<unsigned __int128>(frac) * unit_ns / frac_den;
    if (ns > kMax - static_cast<std::uint64_t>(part))
        too_large(text);
    return ns + static_cast<std::uint64_t>(part);
}

}  // namespace hypertrace
