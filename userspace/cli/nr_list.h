// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The `-n/--nr` list: comma-separated items, any number of them, each
//   [kvm:|hv:|xen:]NAME|NUM|LO-HI
// NUM is decimal or 0x-hex; LO and HI are numbers or names of the same ABI;
// NAME is a hypercall's name from names/hypercall_tables.h, in any case
// (KVM_HC_SEND_IPI, hv:HvCallPostMessage, __HYPERVISOR_event_channel_op).
// An item without a prefix is KVM's, unless it is a name only another ABI
// has ("HvCallPostMessage" alone is Hyper-V's).  "hyperv:" is the same as
// "hv:".
//
// Parsed into one set of ranges per ABI, each sorted and merged, inclusive:
// the form struct ht_filter.nr_ranges needs (ht_nr_wanted stops at the
// first range above nr, so order matters; merging keeps many items within
// HT_MAX_NR_RANGES).  Knows nothing about options: errors are
// std::invalid_argument saying what is wrong with the text; options.cpp adds
// the option name and the fix.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "names/hypercall_abi.h"

namespace hypertrace {

struct NrRange {
    std::uint64_t lo;  // inclusive
    std::uint64_t hi;  // inclusive
    bool operator==(const NrRange& o) const { return lo == o.lo && hi == o.hi; }
};

// What one -n list selects, per ABI; an empty vector selects none of it.
struct NrSelection {
    std::vector<NrRange> kvm, hyperv, xen;

    std::vector<NrRange>& of(HypercallAbi abi);
    const std::vector<NrRange>& of(HypercallAbi abi) const;
    bool operator==(const NrSelection& o) const { return kvm == o.kvm && hyperv == o.hyperv && xen == o.xen; }
};

// One unsigned number: decimal ("42") or hex ("0x2a"/"0X2A").  No sign, no
// spaces, no octal (a leading 0 is decimal), must fit in 64 bits.
// Throws std::invalid_argument.
std::uint64_t parse_u64(std::string_view text);

// Parse a whole list ("1,2,40-50, 0x100, KVM_HC_SEND_IPI, hv:0x5c").
// Blanks around items are allowed; empty items, "a-b" with a > b, negative
// or oversized numbers, unknown names (the message lists the closest ones),
// unknown prefixes, ranges across ABIs and Hyper-V codes above 16 bits are
// not.  Throws std::invalid_argument.
NrSelection parse_nr_list(std::string_view text);

// Sort and merge overlapping *and adjacent* ranges ([1,2]+[3,4] -> [1,4]).
std::vector<NrRange> merge_nr_ranges(std::vector<NrRange> ranges);

}  // namespace hypertrace
