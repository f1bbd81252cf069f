// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The names of each ABI's hypercalls, as Linux's headers number them (the
// sources are named in hypercall_tables.cpp).  Only the names and numbers
// are taken from those headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "names/hypercall_abi.h"

namespace hypertrace {

struct HypercallName {
    std::uint32_t nr;  // KVM nr, Hyper-V call code, Xen nr
    // The name users know: KVM_HC_* and __HYPERVISOR_* as Linux spells
    // them; for Hyper-V the TLFS name (HvCall*, HvExtCall*).
    const char* name;
    // Hyper-V only: Linux's macro for the same code (HVCALL_*,
    // HV_EXT_CALL_*), accepted by -n too; nullptr elsewhere.
    const char* linux_name;
};

// One ABI's table, sorted by nr; every nr and every name (and Linux name)
// appears once (tests/unit/test_hypercall_names.cpp checks it).
struct HypercallTable {
    const HypercallName* entries;
    std::size_t size;
    const char* source;  // the Linux header the numbers come from

    const HypercallName* begin() const { return entries; }
    const HypercallName* end() const { return entries + size; }
};

const HypercallTable& hypercall_table(HypercallAbi abi);

}  // namespace hypertrace
