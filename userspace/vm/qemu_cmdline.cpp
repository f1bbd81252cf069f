// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/qemu_cmdline.h"

#include <vector>

namespace hypertrace {

namespace {

// Splits a QEMU option string into its items, ",," unescaped to ','.
std::vector<std::string> option_items(std::string_view value)
{
    std::vector<std::string> items(1);
    for (std::size_t i = 0; i < value.size(); i++) {
        if (value[i] != ',') {
            items.back() += value[i];
        } else if (i + 1 < value.size() && value[i + 1] == ',') {
            items.back() += ',';
            i++;
        } else {
            items.emplace_back();
        }
    }
    return items;
}

}  // namespace

std::string qemu_name_option_guest(std::string_view value)
{
    // QEMU's implied key: the first item is "guest" unless its key part
    // (up to the first '=' or ',') ends at a '='.
    const std::size_t key_end = value.find_first_of("=,");
    const bool first_implied = key_end == std::string_view::npos || value[key_end] != '=';
    std::string guest;
    const std::vector<std::string> items = option_items(value);
    for (std::size_t i = 0; i < items.size(); i++) {
        if (i == 0 && first_implied) {
            guest = items[0];
            continue;
        }
        if (items[i].rfind("guest=", 0) == 0)
            guest = items[i].substr(6);
    }
    return guest;
}

std::optional<CmdlineName> parse_qemu_cmdline(const std::string& raw)
{
    std::vector<std::string_view> args;
    std::string_view rest = raw;
    while (!rest.empty()) {
        const std::size_t nul = rest.find('\0');
        args.push_back(rest.substr(0, nul));
        if (nul == std::string_view::npos)
            break;
        rest.remove_prefix(nul + 1);
    }
    std::optional<std::string> name;
    std::string uuid;
    for (std::size_t i = 1; i < args.size(); i++) {
        const std::string_view a = args[i];
        const bool is_name = a == "-name" || a == "--name";
        const bool is_uuid = a == "-uuid" || a == "--uuid";
        if (!is_name && !is_uuid)
            continue;
        if (i + 1 >= args.size())
            throw MalformedSource(std::string(a) + " without a value");
        const std::string_view value = args[++i];
        if (is_name) {
            name = qemu_name_option_guest(value);
            if (name->empty())
                throw MalformedSource("-name '" + std::string(value) + "' gives no guest name");
        } else {
            const auto c = canonical_uuid(value);
            if (!c)
                throw MalformedSource("-uuid '" + std::string(value) + "' is not a UUID");
            uuid = *c;
        }
    }
    if (!name)
        return std::nullopt;
    return CmdlineName{*name, uuid};
}

}  // namespace hypertrace
