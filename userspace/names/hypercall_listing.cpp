// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "names/hypercall_listing.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "names/hypercall_tables.h"

namespace hypertrace {

namespace {

std::string number_text(HypercallAbi abi, std::uint32_t nr)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, abi == HypercallAbi::Hyperv ? "0x%04x" : "%u", nr);
    return buf;
}

void print_table(std::ostream& out, HypercallAbi abi)
{
    const HypercallTable& t = hypercall_table(abi);
    const bool hv = abi == HypercallAbi::Hyperv;
    out << abi_prefix(abi) << ": " << abi_title(abi) << " hypercalls" << (hv ? " by call code" : "") << " (Linux "
        << t.source << (hv ? "; names from Microsoft's TLFS" : "") << ")\n";
    const bool kvm = abi == HypercallAbi::Kvm;
    const std::string p = kvm ? "" : std::string(abi_prefix(abi)) + ":";
    out << "  select with -n " << p << "NAME, -n " << p << "NR or -n " << p << "LO-HI"
        << (kvm ? " (kvm: is the default)" : " (a name alone works too)") << '\n';
    std::size_t width = 4;
    for (const HypercallName& e : t)
        width = std::max(width, std::strlen(e.name));
    auto row = [&](const std::string& nr, const std::string& name, const char* linux_name) {
        out << "  " << nr << std::string(nr.size() < 8 ? 8 - nr.size() : 1, ' ') << name;
        if (linux_name)
            out << std::string(width + 2 - name.size(), ' ') << linux_name;
        out << '\n';
    };
    row(hv ? "CODE" : "NR", "NAME", hv ? "LINUX" : nullptr);
    for (const HypercallName& e : t)
        row(number_text(abi, e.nr), e.name, e.linux_name);
}

}  // namespace

void print_hypercall_tables(std::ostream& out, std::optional<HypercallAbi> abi)
{
    bool first = true;
    for (HypercallAbi a : kHypercallAbis) {
        if (abi && *abi != a)
            continue;
        if (!first)
            out << '\n';
        first = false;
        print_table(out, a);
    }
}

}  // namespace hypertrace
