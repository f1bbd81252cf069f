// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "cli/listen_address.h"

#include <boost/asio/ip/address.hpp>

#include <stdexcept>

namespace hypertrace {

std::pair<std::string, std::uint16_t> parse_listen_address(const std::string& text)
{
    std::string addr;
    std::string port;
    if (!text.empty() && text[0] == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw std::invalid_argument("an IPv6 address is written [ADDR]:PORT");
        addr = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else if (const std::size_t colon = text.rfind(':'); colon != std::string::npos) {
        addr = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (addr.find(':') != std::string::npos)
            throw std::invalid_argument("an IPv6 address is written [ADDR]:PORT");
    } else {
        port = text;
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument("the port must be a number from 1 to 65535");
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535)
        throw std::invalid_argument("the port must be a number from 1 to 65535");
    if (!addr.empty()) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(addr, ec);
        if (ec)
            throw std::invalid_argument("'" + addr + "' is not an IPv4 or IPv6 address (host names are not resolved)");
    }
    return {addr, static_cast<std::uint16_t>(p)};
}

}  // namespace hypertrace
