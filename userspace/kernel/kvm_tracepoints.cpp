// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "kernel/kvm_tracepoints.h"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

namespace hypertrace {
namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// CapEff from /proc/self/status: no libcap dependency for one bitmask.
std::uint64_t effective_caps() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
    }
    return 0;
}

}  // namespace

std::optional<std::string> find_kvm_events_dir(std::string* why) {
    // libbpf looks in the same two places, in this order, for tracepoint ids.
    const std::vector<std::string> roots = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
    bool tracefs = false;
    for (const auto& root : roots) {
        if (!exists(root + "/events")) continue;
        tracefs = true;
        const std::string dir = root + "/events/kvm";
        if (exists(dir + "/kvm_exit") && exists(dir + "/kvm_hypercall") && exists(dir + "/kvm_entry"))
            return dir;
    }
    if (!tracefs)
        *why = "tracefs is not mounted: mount it with 'mount -t tracefs nodev /sys/kernel/tracing'";
    else
        *why = "the kvm tracepoints kvm_exit/kvm_hypercall/kvm_entry do not exist: this is not a KVM host "
               "or kvm is not loaded (modprobe kvm_intel or kvm_amd)";
    return std::nullopt;
}

std::string missing_bpf_capabilities() {
    constexpr int kSysAdmin = 21, kPerfmon = 38, kBpf = 39;
    const std::uint64_t caps = effective_caps();
    auto has = [caps](int bit) { return (caps >> bit) & 1u; };
    if (has(kSysAdmin) || (has(kBpf) && has(kPerfmon))) return {};
    std::ostringstream msg;
    msg << "missing capabilities:";
    if (!has(kBpf)) msg << " CAP_BPF";
    if (!has(kPerfmon)) msg << " CAP_PERFMON";
    msg << " (or CAP_SYS_ADMIN); run hypertrace as root";
    return msg.str();
}

}  // namespace hypertrace
