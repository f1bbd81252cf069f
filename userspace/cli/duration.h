// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Durations on the command line: "250us", "1.5ms", "10s", "2m".
//
// Units: ns, us (also µs), ms, s, m (minutes).  A decimal fraction is
// allowed ("1.5ms"); the result is in whole nanoseconds, anything finer is
// truncated ("1.9ns" is 1 ns).  Whether a bare number is allowed is the
// caller's choice: --duration follows the bcc habit (bare number = seconds),
// --min-latency requires a unit because bcc tools disagree on what a bare
// latency means (ms in ext4slower, us in runqslower) and guessing wrong
// filters away everything.  Errors are std::invalid_argument saying what is
// wrong with the text; options.cpp adds the option name and the fix.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace hypertrace {

enum class BareNumber {
    Reject,   // "5" is an error: a unit is required ("0" is still allowed)
    Seconds,  // "5" means 5 s
};

// The text is a valid duration but more than 2^64-1 ns: callers with a
// smaller maximum report theirs.
class DurationOverflow : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Throws std::invalid_argument (bad syntax, unknown unit) or DurationOverflow.
std::uint64_t parse_duration_ns(std::string_view text, BareNumber bare);

}  // namespace hypertrace
