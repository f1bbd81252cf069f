// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/vm_resolver.h"

#include <dirent.h>

#include <cstdlib>
#include <iostream>

#include "vm/cgroup_scope.h"
#include "vm/proc_read.h"
#include "vm/qemu_cmdline.h"
#include "vm/thread_name.h"

namespace hypertrace {

namespace {

// Names longer than this are cut (libvirt and QEMU set no limit; a record
// line must stay bounded).
constexpr std::size_t kMaxNameBytes = 1024;

}  // namespace

VmResolverConfig VmResolverConfig::from_env()
{
    VmResolverConfig c;
    if (const char* d = std::getenv(kLibvirtRunDirEnv); d && *d)
        c.libvirt_dir = d;
    return c;
}

VmResolver::VmResolver(VmResolverConfig cfg)
    : cfg_(std::move(cfg)), libvirt_(cfg_.libvirt_dir, [this](const std::string& w) { cfg_.warn(w); })
{
    if (!cfg_.warn)
        cfg_.warn = [](const std::string& w) { std::cerr << "hypertrace: warning: " << w << "\n"; };
    libvirt_.refresh();
}

void VmResolver::warn_once(const std::string& key, const std::string& text)
{
    if (warned_.insert(key).second)
        cfg_.warn(text);
}

std::optional<std::uint64_t> VmResolver::start_time(std::uint32_t pid) const
{
    const auto stat = read_small_file(cfg_.proc_root + "/" + std::to_string(pid) + "/stat", 4096);
    return stat ? proc_start_time(*stat) : std::nullopt;
}

VmResolver::Entry VmResolver::resolve(std::uint32_t pid)
{
    Entry e;
    e.start_time = start_time(pid);
    const std::string tag = std::to_string(pid) + ":" + std::to_string(e.start_time.value_or(0));
    if (const LibvirtStatus* s = libvirt_.find(pid)) {
        e.id.source = VmSource::Libvirt;
        e.id.name = s->name;
        e.id.uuid = s->uuid;
        for (const auto& [tid, index] : s->vcpus)
            e.id.vcpu_by_tid[tid] = index;
    }
    const std::string dir = cfg_.proc_root + "/" + std::to_string(pid);
    if (e.id.source == VmSource::None) {
        if (const auto cmdline = read_small_file(dir + "/cmdline")) {
            try {
                if (const auto c = parse_qemu_cmdline(*cmdline)) {
                    e.id.source = VmSource::Cmdline;
                    e.id.name = c->name;
                    e.id.uuid = c->uuid;
                }
            } catch (const MalformedSource& m) {
                warn_once("cmdline:" + tag, "the command line of pid " + std::to_string(pid) + " is malformed (" +
                                                m.what() + "): naming it from its cgroup instead");
            }
        }
    }
    if (e.id.source == VmSource::None) {
        if (const auto cgroup = read_small_file(dir + "/cgroup")) {
            try {
                if (const auto m = parse_machine_cgroup(*cgroup)) {
                    e.id.source = VmSource::Cgroup;
                    e.id.name = m->name;
                }
            } catch (const MalformedSource& m) {
                warn_once("cgroup:" + tag, "the cgroup of pid " + std::to_string(pid) + " is malformed (" + m.what() +
                                               "): it is shown by pid");
            }
        }
    }
    if (e.id.name.size() > kMaxNameBytes) {
        warn_once("long:" + tag, "the VM name of pid " + std::to_string(pid) + " is longer than " +
                                     std::to_string(kMaxNameBytes) + " bytes: cut there");
        e.id.name.resize(kMaxNameBytes);
    }
    return e;
}

VmResolver::Entry& VmResolver::entry(std::uint32_t pid, bool new_thread)
{
    auto it = cache_.find(pid);
    if (it == cache_.end()) {
        libvirt_.refresh();
        return cache_.emplace(pid, resolve(pid)).first->second;
    }
    if (new_thread) {
        // A thread we have not seen: the moment to notice a reused pid, or
        // a status file libvirt wrote after we first looked.
        libvirt_.refresh();
        const auto now = start_time(pid);
        const bool reused = now && it->second.start_time && *now != *it->second.start_time;
        const bool upgrade = it->second.id.source != VmSource::Libvirt && libvirt_.find(pid) != nullptr;
        if (reused || upgrade) {
            it->second = resolve(pid);
            epoch_++;
        } else if (const LibvirtStatus* s = it->second.id.source == VmSource::Libvirt ? libvirt_.find(pid) : nullptr) {
            // libvirt rewrites the map when vCPUs are hot-plugged.
            for (const auto& [tid, index] : s->vcpus)
                it->second.id.vcpu_by_tid[tid] = index;
        }
    }
    return it->second;
}

std::optional<std::uint32_t> VmResolver::thread_index(std::uint32_t pid, std::uint32_t tid, const Entry& e) const
{
    if (const auto m = e.id.vcpu_by_tid.find(tid); m != e.id.vcpu_by_tid.end())
        return m->second;
    const auto comm =
        read_small_file(cfg_.proc_root + "/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm", 64);
    return comm ? vcpu_index_from_thread_name(*comm) : std::nullopt;
}

VmThread VmResolver::lookup(std::uint32_t pid, std::uint32_t tid)
{
    auto it = cache_.find(pid);
    const bool new_thread = it == cache_.end() || it->second.vcpu_index.count(tid) == 0;
    Entry& e = entry(pid, new_thread);
    auto t = e.vcpu_index.find(tid);
    if (t == e.vcpu_index.end())
        t = e.vcpu_index.emplace(tid, thread_index(pid, tid, e)).first;
    return VmThread{&e.id, t->second};
}

const VmIdentity& VmResolver::vm(std::uint32_t pid) { return entry(pid, false).id; }

void VmResolver::scan_processes()
{
    libvirt_.refresh();
    DIR* d = ::opendir(cfg_.proc_root.c_str());
    if (!d)
        return;
    std::unordered_set<std::uint32_t> running;
    while (const dirent* de = ::readdir(d)) {
        const auto pid = parse_decimal_u32(de->d_name);
        if (!pid || !*pid)
            continue;
        running.insert(*pid);
        auto it = cache_.find(*pid);
        if (it == cache_.end()) {
            cache_.emplace(*pid, resolve(*pid));
        } else if (it->second.id.source != VmSource::Libvirt && libvirt_.find(*pid)) {
            it->second = resolve(*pid);  // libvirt wrote its status file since
            epoch_++;
        } else if (it->second.id.source != VmSource::None) {
            // A named VM (few per host): is it still the same process?
            const auto now = start_time(*pid);
            if (now && it->second.start_time && *now != *it->second.start_time) {
                it->second = resolve(*pid);
                epoch_++;
            }
        }
    }
    ::closedir(d);
    // Forget processes that are gone and had no name: a long run on a busy
    // host must not keep every pid it ever saw.  Named ones stay, so a VM
    // that exited is still named in the summary and in its last records.
    for (auto it = cache_.begin(); it != cache_.end();)
        it = it->second.id.source == VmSource::None && !running.count(it->first) ? cache_.erase(it) : std::next(it);
}

std::vector<std::pair<std::uint32_t, const VmIdentity*>> VmResolver::named() const
{
    std::vector<std::pair<std::uint32_t, const VmIdentity*>> v;
    for (const auto& [pid, e] : cache_)
        if (e.id.source != VmSource::None)
            v.emplace_back(pid, &e.id);
    return v;
}

}  // namespace hypertrace
