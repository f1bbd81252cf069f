// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// QEMU's command line (/proc/PID/cmdline, NUL-separated): the name of a VM
// that libvirt does not manage (or whose status file hypertrace cannot read).
//   -name guest=NAME,debug-threads=on    (libvirt, most tools)
//   -name NAME                           (a first item without '=' is the guest name)
//   -uuid 6a7d...                        (only taken with a -name)
// Values are QEMU option strings (qemu-options.hx, util/qemu-option.c): items
// are separated by ',', and ",," is a literal comma.  The last -name wins, as
// in QEMU (its "name" option list merges).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vm/vm_identity.h"

namespace hypertrace {

struct CmdlineName {
    std::string name;
    std::string uuid;  // canonical, or empty
};

// The guest name of one -name value; empty when it has none
// ("debug-threads=on" alone).
std::string qemu_name_option_guest(std::string_view value);

// nullopt when the command line has no -name (not a named QEMU, or an empty
// cmdline: a zombie or kernel thread).  Throws MalformedSource for a -name
// or -uuid without value, an empty guest name, or a -uuid that is no UUID.
std::optional<CmdlineName> parse_qemu_cmdline(const std::string& raw);

}  // namespace hypertrace
