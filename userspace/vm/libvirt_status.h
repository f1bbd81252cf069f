// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// libvirt's status files: /run/libvirt/qemu/<name>.xml, written by libvirtd
// for every running QEMU domain (src/qemu/qemu_domain.c, the <domstatus>
// element around the live <domain>).  The authoritative source: the VM's
// pid, its name and UUID, and which thread runs which vCPU:
//   <domstatus state='running' reason='booted' pid='3803518'>
//     <vcpus><vcpu id='0' pid='3803519'/>...</vcpus>
//     ...
//     <domain type='kvm' id='1729'><name>QEMUGuest1</name>
//       <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>...</domain>
//   </domstatus>
// (libvirt's tests/qemustatusxml2xmldata/vcpus-multi-in.xml has this shape.)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vm/vm_identity.h"

namespace hypertrace {

struct LibvirtStatus {
    std::uint32_t pid = 0;
    std::string name;
    std::string uuid;                                            // canonical (vm_identity.h), or empty
    std::vector<std::pair<std::uint32_t, std::uint32_t>> vcpus;  // (thread id, vCPU index)
};

// Parses one status file's text with Boost.PropertyTree's XML parser.
// Throws MalformedSource naming what is missing or wrong (no <domstatus pid>,
// no <domain><name>, a vcpu without numeric id and pid, a bad UUID, not XML).
LibvirtStatus parse_libvirt_status(const std::string& xml);

// The status directory, re-read only where a file changed.  Files are the
// directory's regular "*.xml" (libvirt writes "<name>.xml.new" and renames
// it, so a half-written file is never read).  A malformed file is reported
// once (per content: a rewrite is judged again) through `warn`, and names no
// VM.  A missing directory is normal (no libvirt on this host).
class LibvirtRunDir {
public:
    LibvirtRunDir(std::string dir, std::function<void(const std::string&)> warn);

    void refresh();
    // The status whose <domstatus pid> is pid, or null.
    const LibvirtStatus* find(std::uint32_t pid) const;
    std::vector<const LibvirtStatus*> all() const;
    const std::string& dir() const { return dir_; }

private:
    struct File {
        std::int64_t mtime_ns = 0;
        std::int64_t size = 0;
        std::uint64_t ino = 0;
        bool ok = false;
        LibvirtStatus status;
    };

    std::string dir_;
    std::function<void(const std::string&)> warn_;
    std::map<std::string, File> files_;  // by file name
    bool warned_unreadable_ = false;
};

}  // namespace hypertrace
