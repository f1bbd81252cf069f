// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The hypercall ABIs a KVM host serves, each with its own numbering:
//   kvm     KVM's own hypercalls (kvm_hypercall: nr in RAX, a0..a3)
//   hyperv  Hyper-V enlightenments (kvm_hv_hypercall: the call code, bits
//           15:0 of the hypercall input value)
//   xen     KVM's Xen emulation (kvm_xen_hypercall: nr in RAX)
// The same number means different hypercalls in each, so every name table,
// number selection and output label says which ABI it is about.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hypertrace {

enum class HypercallAbi : std::uint8_t { Kvm, Hyperv, Xen };

constexpr HypercallAbi kHypercallAbis[] = {HypercallAbi::Kvm, HypercallAbi::Hyperv, HypercallAbi::Xen};

// "kvm", "hyperv", "xen": the ABI's name in output (JSON "abi" values).
const char* abi_name(HypercallAbi abi);
// "kvm", "hv", "xen": the prefix of an -n item ("hv:HvCallPostMessage").
const char* abi_prefix(HypercallAbi abi);
// Human name for messages: "KVM", "Hyper-V", "Xen".
const char* abi_title(HypercallAbi abi);
// "kvm", "hv", "hyperv", "xen", in any case; nullopt for anything else.
std::optional<HypercallAbi> parse_abi(std::string_view word);

}  // namespace hypertrace
