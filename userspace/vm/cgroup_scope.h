// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The systemd machine scope libvirt puts a QEMU domain in (/proc/PID/cgroup):
//   0::/machine.slice/machine-qemu\x2d3\x2dweb1.scope/libvirt/emulator
// The scope is "machine-" + the machine name in systemd's unit escaping
// (\xNN) + ".scope"; libvirt's machine name is "qemu-<domain id>-<name>" (or
// "qemu-embed-<hash>-<id>-<name>"), where the name keeps only hostname
// characters and the whole is cut at 64 bytes
// (src/hypervisor/domain_driver.c, virDomainDriverGenerateMachineName).  So
// the name from here is an identifier, possibly not the VM's real name: the
// output says vm_source "cgroup".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vm/vm_identity.h"

namespace hypertrace {

struct CgroupMachine {
    std::string machine;  // "qemu-3-web1", unescaped
    std::string name;     // "web1" (the machine name when nothing follows the id)
    std::uint32_t domain_id = 0;
};

// systemd's unit-name unescaping of one path component ("\x2d" -> '-').
// Throws MalformedSource on a '\' that is not "\xHH".
std::string unescape_unit_name(std::string_view s);

// nullopt when no line has a QEMU machine scope (containers' machine scopes
// are not VMs).  Throws MalformedSource for a qemu scope that does not
// decode or has no "<id>-" after "qemu-".
std::optional<CgroupMachine> parse_machine_cgroup(const std::string& content);

}  // namespace hypertrace
