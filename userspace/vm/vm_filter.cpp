// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/vm_filter.h"

namespace hypertrace {

VmFilter::VmFilter(std::vector<std::string> wanted) : wanted_(std::move(wanted))
{
    for (const std::string& w : wanted_)
        if (const auto u = canonical_uuid(w))
            uuids_.push_back(*u);
}

bool VmFilter::matches(const VmIdentity& vm) const
{
    if (vm.source == VmSource::None)
        return false;
    for (const std::string& w : wanted_)
        if (vm.name == w)
            return true;
    if (!vm.uuid.empty())
        for (const std::string& u : uuids_)
            if (vm.uuid == u)
                return true;
    return false;
}

}  // namespace hypertrace
