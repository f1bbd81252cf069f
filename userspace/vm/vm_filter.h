// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --vm NAME (repeatable): keep the records of the VMs so named.  A value
// matches a VM whose name is exactly it, or, when it is a UUID, whose UUID is
// it (any case).  Applied in userspace, per pid, through VmResolver: so a VM
// that starts or restarts while hypertrace runs (a new pid) is caught, and
// what the filter removes is counted (totals: vm_filtered).
#pragma once

#include <string>
#include <vector>

#include "vm/vm_identity.h"

namespace hypertrace {

class VmFilter {
public:
    VmFilter() = default;
    explicit VmFilter(std::vector<std::string> wanted);

    bool active() const { return !wanted_.empty(); }
    bool matches(const VmIdentity& vm) const;
    const std::vector<std::string>& wanted() const { return wanted_; }

private:
    std::vector<std::string> wanted_;
    std::vector<std::string> uuids_;  // the canonical form of those that are UUIDs
};

}  // namespace hypertrace
