// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/cgroup_scope.h"

namespace hypertrace {

namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// "qemu-3-web1" / "qemu-embed-1a2b3c4d-3-web1" -> id and name.
CgroupMachine split_machine(const std::string& machine)
{
    CgroupMachine m;
    m.machine = machine;
    std::string_view rest = std::string_view(machine).substr(5);  // after "qemu-"
    if (rest.rfind("embed-", 0) == 0) {
        const std::size_t dash = rest.find('-', 6);
        if (dash == std::string_view::npos)
            throw MalformedSource("machine '" + machine + "' has no domain id");
        rest.remove_prefix(dash + 1);
    }
    const std::size_t dash = rest.find('-');
    const auto id = parse_decimal_u32(rest.substr(0, dash));
    if (!id)
        throw MalformedSource("machine '" + machine + "' has no domain id after 'qemu-'");
    m.domain_id = *id;
    m.name = dash == std::string_view::npos ? machine : std::string(rest.substr(dash + 1));
    if (m.name.empty())
        m.name = machine;
    return m;
}

}  // namespace

std::string unescape_unit_name(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); i++) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        const int hi = i + 3 < s.size() && s[i + 1] == 'x' ? hex_value(s[i + 2]) : -1;
        const int lo = hi >= 0 ? hex_value(s[i + 3]) : -1;
        if (lo < 0)
            throw MalformedSource("bad escape in '" + std::string(s) + "'");
        out += static_cast<char>(hi * 16 + lo);
        i += 3;
    }
    return out;
}

std::optional<CgroupMachine> parse_machine_cgroup(const std::string& content)
{
    static constexpr std::string_view kPrefix = "machine-", kSuffix = ".scope";
    std::string_view rest = content;
    while (!rest.empty()) {
        const std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        // "hierarchy-ID:controllers:path"; the path may itself hold ':'.
        const std::size_t c1 = line.find(':');
        const std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos)
            continue;
        std::string_view path = line.substr(c2 + 1);
        while (!path.empty()) {
            const std::size_t slash = path.find('/');
            const std::string_view comp = path.substr(0, slash);
            path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
            if (comp.size() <= kPrefix.size() + kSuffix.size() || comp.rfind(kPrefix, 0) != 0 ||
                comp.compare(comp.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
                continue;
            const std::string machine =
                unescape_unit_name(comp.substr(kPrefix.size(), comp.size() - kPrefix.size() - kSuffix.size()));
            if (machine.rfind("qemu-", 0) == 0)
                return split_machine(machine);
        }
    }
    return std::nullopt;
}

}  // namespace hypertrace
