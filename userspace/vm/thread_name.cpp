// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/thread_name.h"

#include "vm/vm_identity.h"

namespace hypertrace {

std::optional<std::uint32_t> vcpu_index_from_thread_name(std::string_view comm)
{
    if (!comm.empty() && comm.back() == '\n')
        comm.remove_suffix(1);
    static constexpr std::string_view kHead = "CPU ", kTail = "/KVM";
    if (comm.size() <= kHead.size() + kTail.size() || comm.rfind(kHead, 0) != 0 ||
        comm.compare(comm.size() - kTail.size(), kTail.size(), kTail) != 0)
        return std::nullopt;
    const std::string_view n = comm.substr(kHead.size(), comm.size() - kHead.size() - kTail.size());
    if (n.size() > 1 && n[0] == '0')
        return std::nullopt;
    return parse_decimal_u32(n);
}

std::optional<std::uint64_t> proc_start_time(std::string_view stat)
{
    const std::size_t paren = stat.rfind(')');
    if (paren == std::string_view::npos)
        return std::nullopt;
    std::string_view rest = stat.substr(paren + 1);
    // Fields 3, 4, ... follow; starttime is field 22.
    for (int field = 3; field <= 22; field++) {
        const std::size_t start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos)
            return std::nullopt;
        rest.remove_prefix(start);
        const std::size_t end = rest.find(' ');
        const std::string_view tok = rest.substr(0, end);
        if (field == 22) {
            std::uint64_t v = 0;
            if (tok.empty() || tok.size() > 19)
                return std::nullopt;
            for (char c : tok) {
                if (c < '0' || c > '9')
                    return std::nullopt;
                v = v * 10 + static_cast<std::uint64_t>(c - '0');
            }
            return v;
        }
        if (end == std::string_view::npos)
            return std::nullopt;
        rest.remove_prefix(end);
    }
    return std::nullopt;
}

}  // namespace hypertrace
