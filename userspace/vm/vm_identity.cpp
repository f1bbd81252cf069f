// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/vm_identity.h"

#include <cctype>

namespace hypertrace {

const char* vm_source_name(VmSource s)
{
    switch (s) {
    case VmSource::Libvirt: return "libvirt";
    case VmSource::Cmdline: return "cmdline";
    case VmSource::Cgroup: return "cgroup";
    case VmSource::None: break;
    }
    return "none";
}

std::optional<std::uint32_t> parse_decimal_u32(std::string_view s)
{
    if (s.empty() || s.size() > 10)
        return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > 0xffffffffull)
        return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

std::optional<std::string> canonical_uuid(std::string_view s)
{
    if (s.size() != 36)
        return std::nullopt;
    std::string out(s);
    for (std::size_t i = 0; i < out.size(); i++) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        const unsigned char c = static_cast<unsigned char>(out[i]);
        if (dash ? c != '-' : !std::isxdigit(c))
            return std::nullopt;
        out[i] = static_cast<char>(std::tolower(c));
    }
    return out;
}

}  // namespace hypertrace
