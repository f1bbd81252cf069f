// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Who a VM process is, as the host's management stack names it: the result
// of VmResolver (vm_resolver.h), shown next to the pid in every record.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hypertrace {

// Where the name came from, in the order VmResolver tries the sources.
enum class VmSource { None, Libvirt, Cmdline, Cgroup };

// "none", "libvirt", "cmdline", "cgroup": the vm_source field.
const char* vm_source_name(VmSource s);

struct VmIdentity {
    VmSource source = VmSource::None;
    // Libvirt's or QEMU's name; from the cgroup, libvirt's machine name part
    // (sanitised to hostname characters and cut at 64 bytes with its prefix).
    std::string name;
    std::string uuid;  // lowercase 8-4-4-4-12, or empty
    // libvirt's vCPU map (status file <vcpus>): thread id -> vCPU index.
    std::unordered_map<std::uint32_t, std::uint32_t> vcpu_by_tid;
};

// A source whose content cannot be read as that source says: the caller
// warns once and goes on to the next source.
class MalformedSource : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Strict decimal (no sign, no spaces, fits 32 bits).
std::optional<std::uint32_t> parse_decimal_u32(std::string_view s);

// "C7A5FDBD-edaf-9455-926a-d65c16db1809" -> lowercase; nullopt if not the
// 8-4-4-4-12 hex form (QEMU's and libvirt's only form).
std::optional<std::string> canonical_uuid(std::string_view s);

}  // namespace hypertrace
