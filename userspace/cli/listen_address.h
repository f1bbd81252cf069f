// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve's [ADDR]:PORT.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace hypertrace {

// "ADDR:PORT", ":PORT", "[v6]:PORT" or "PORT" -> (address, port).  An empty
// address means every address; host names are not resolved (a service must
// not depend on DNS to start).  Throws std::invalid_argument with the reason.
std::pair<std::string, std::uint16_t> parse_listen_address(const std::string& text);

}  // namespace hypertrace
