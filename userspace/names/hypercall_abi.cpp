// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "names/hypercall_abi.h"

#include <cctype>
#include <string>

namespace hypertrace {

const char* abi_name(HypercallAbi abi)
{
    switch (abi) {
    case HypercallAbi::Kvm: return "kvm";
    case HypercallAbi::Hyperv: return "hyperv";
    case HypercallAbi::Xen: return "xen";
    }
    return "?";
}

const char* abi_prefix(HypercallAbi abi) { return abi == HypercallAbi::Hyperv ? "hv" : abi_name(abi); }

const char* abi_title(HypercallAbi abi)
{
    switch (abi) {
    case HypercallAbi::Kvm: return "KVM";
    case HypercallAbi::Hyperv: return "Hyper-V";
    case HypercallAbi::Xen: return "Xen";
    }
    return "?";
}

std::optional<HypercallAbi> parse_abi(std::string_view word)
{
    std::string w;
    for (char c : word)
        w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (w == "kvm")
        return HypercallAbi::Kvm;
    if (w == "hv" || w == "hyperv")
        return HypercallAbi::Hyperv;
    if (w == "xen")
        return HypercallAbi::Xen;
    return std::nullopt;
}

}  // namespace hypertrace
