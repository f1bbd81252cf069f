// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// QEMU's vCPU thread names with -name ...,debug-threads=on: "CPU N/KVM"
// (accel/kvm/kvm-accel-ops.c), N = the vCPU's cpu_index, the VMM's own
// numbering.  It can differ from KVM's vcpu_id (the APIC ID under QEMU, e.g.
// on topologies that are no power of two).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hypertrace {

// N of "CPU N/KVM" (a trailing newline, as /proc/.../comm has, is allowed);
// nullopt for any other name.
std::optional<std::uint32_t> vcpu_index_from_thread_name(std::string_view comm);

// Field 22 (starttime, clock ticks since boot) of /proc/PID/stat: with the
// pid, it tells one process from a later one that reused the pid.  The
// command name in field 2 may hold spaces and ')', so fields are counted
// after the last ')'.  nullopt when malformed.
std::optional<std::uint64_t> proc_start_time(std::string_view stat);

}  // namespace hypertrace
