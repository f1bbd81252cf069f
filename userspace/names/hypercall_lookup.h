// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Lookups in the name tables (hypercall_tables.h), both ways:
//   number -> name for every record the writers print: an array index,
//     built once per ABI (HypercallNameIndex), no search, no allocation;
//   name -> number for -n (case-insensitive), and the closest names for an
//     error message when a name is not in any table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "names/hypercall_abi.h"
#include "names/hypercall_tables.h"

namespace hypertrace {

// One ABI's number -> name map.  Numbers below kDenseLimit (all of KVM's
// and Xen's, Hyper-V's up to 0x0131) are an index into an array; the few
// above (Hyper-V's extended calls, 0x8001 and 0x8003) a scan of that short
// list, so an array of 32 K entries is not needed for two names.
class HypercallNameIndex {
public:
    static constexpr std::uint64_t kDenseLimit = 0x1000;

    explicit HypercallNameIndex(HypercallAbi abi);

    // The name of nr, or an empty view when it has none.
    std::string_view operator()(std::uint64_t nr) const
    {
        if (nr < dense_.size())
            return dense_[nr];
        return far(nr);
    }

private:
    std::string_view far(std::uint64_t nr) const;

    std::vector<std::string_view> dense_;    // [nr] -> name or empty
    std::vector<const HypercallName*> far_;  // entries with nr >= kDenseLimit
};

// Built on first use, then shared (and never freed).
const HypercallNameIndex& hypercall_name_index(HypercallAbi abi);

// The name of nr in abi's table; empty when it has none.
inline std::string_view hypercall_name(HypercallAbi abi, std::uint64_t nr) { return hypercall_name_index(abi)(nr); }

// The entry whose name (or, for Hyper-V, Linux macro) is `name`, compared
// case-insensitively; nullptr if none.
const HypercallName* find_hypercall(HypercallAbi abi, std::string_view name);

// Up to `max` table names closest to `text` (edit distance, ignoring case
// and underscores, so "send_ipi" finds KVM_HC_SEND_IPI), nearest first;
// from `abi`'s table alone or, without one, from every table.
std::vector<std::string> closest_hypercall_names(std::string_view text, std::optional<HypercallAbi> abi,
                                                 std::size_t max = 3);

}  // namespace hypertrace
