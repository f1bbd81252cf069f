// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Small string helpers shared by the command line (-n lists) and the
// exporter (Accept headers).
#pragma once

#include <string_view>

namespace hypertrace {

// s without leading and trailing spaces and tabs.
inline std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace hypertrace
