// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --list-hypercalls [kvm|hv|xen]: the name tables as a user reads them, one
// block per ABI with the -n spelling that selects its calls.
#pragma once

#include <optional>
#include <ostream>

#include "names/hypercall_abi.h"

namespace hypertrace {

// Every ABI's table, or only `abi`'s.  KVM and Xen numbers in decimal,
// Hyper-V call codes in hex (as the TLFS writes them), each with its name;
// Hyper-V also with Linux's macro.
void print_hypercall_tables(std::ostream& out, std::optional<HypercallAbi> abi);

}  // namespace hypertrace
