// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Names the VM behind a pid, off the hot path: once per process (cached),
// when its pid first shows up in the records or in a scan of /proc, from
// the first source that knows it:
//   1. libvirt's status files (libvirt_status.h; directory
//      HYPERTRACE_LIBVIRT_RUN_DIR, default /run/libvirt/qemu),
//   2. QEMU's command line (qemu_cmdline.h),
//   3. the cgroup machine scope (cgroup_scope.h),
//   4. nothing: the VM is shown by its pid (source "none"), never dropped.
// A source that is malformed gives one warning and the next source is tried.
// The vCPU index (the VMM's numbering) comes from libvirt's map, else from
// the thread name "CPU N/KVM" (thread_name.h), cached per thread.
//
// Pid reuse: each process is remembered with its start time
// (/proc/PID/stat).  When a thread not seen before shows up under a known
// pid, the start time is compared; a different one means another process
// now has the pid, and it is named afresh.  A status file that appears
// later (libvirt writes it after starting QEMU) upgrades a VM named from a
// lesser source.  Either bumps epoch(), so callers drop what they built.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vm/libvirt_status.h"
#include "vm/vm_identity.h"

namespace hypertrace {

constexpr const char* kLibvirtRunDirEnv = "HYPERTRACE_LIBVIRT_RUN_DIR";
constexpr const char* kLibvirtRunDirDefault = "/run/libvirt/qemu";

struct VmResolverConfig {
    std::string proc_root = "/proc";
    std::string libvirt_dir = kLibvirtRunDirDefault;
    // Each warning once; default: "hypertrace: warning: ..." on stderr.
    std::function<void(const std::string&)> warn;

    // The directory from HYPERTRACE_LIBVIRT_RUN_DIR when set and not empty.
    static VmResolverConfig from_env();
};

struct VmThread {
    const VmIdentity* vm = nullptr;  // never null; valid until epoch() changes
    std::optional<std::uint32_t> vcpu_index;
};

class VmResolver {
public:
    explicit VmResolver(VmResolverConfig cfg = VmResolverConfig::from_env());

    // The VM of process pid and the vCPU index of its thread tid.
    VmThread lookup(std::uint32_t pid, std::uint32_t tid);
    // The VM of process pid (no thread: --summary rows).
    const VmIdentity& vm(std::uint32_t pid);
    // Names every process running now that is not cached yet (--vm at start).
    void scan_processes();
    // Every cached process with a name: (pid, identity).
    std::vector<std::pair<std::uint32_t, const VmIdentity*>> named() const;

    std::uint64_t epoch() const { return epoch_; }
    const std::string& libvirt_dir() const { return libvirt_.dir(); }

private:
    struct Entry {
        std::optional<std::uint64_t> start_time;
        VmIdentity id;
        std::unordered_map<std::uint32_t, std::optional<std::uint32_t>> vcpu_index;  // by tid
    };

    Entry& entry(std::uint32_t pid, bool new_thread);
    Entry resolve(std::uint32_t pid);
    std::optional<std::uint64_t> start_time(std::uint32_t pid) const;
    std::optional<std::uint32_t> thread_index(std::uint32_t pid, std::uint32_t tid, const Entry& e) const;
    void warn_once(const std::string& key, const std::string& text);

    VmResolverConfig cfg_;
    LibvirtRunDir libvirt_;
    std::unordered_map<std::uint32_t, Entry> cache_;
    std::unordered_set<std::string> warned_;
    std::uint64_t epoch_ = 0;
};

}  // namespace hypertrace
