// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The VM columns every record ends with, made once per (pid, tid) and then
// copied: the record writers (record_format.h) stay at >= 1M records/s
// because a record costs one compare with the last thread seen (or a hash
// lookup), never a string built or a file read.  A thread not seen before is
// named through VmResolver (vm/vm_resolver.h), off the hot path; when the
// resolver's epoch moves (a reused pid, a late libvirt status file) every
// cached tail is made again.
//
//   text: " VIDX VM"    VIDX = the VMM's vCPU index or '?'; VM = the name
//                       ('-' when unknown; "NAME (cgroup)" from the cgroup
//                       scope, which may be cut or sanitised), control
//                       characters as '?'; VM is the last column and may
//                       contain spaces.
//   json: ,"vm":S|null,"vm_uuid":S|null,"vm_source":"libvirt|cmdline|cgroup|none","vcpu_index":N|null
//   chrome: as json, the last of a slice's args (output/chrome_trace.h)
//   csv:  ,vm,vm_uuid,vm_source,vcpu_index   (quoted as RFC 4180 when needed; empty when unknown)
// Names are made valid UTF-8 (an invalid byte becomes U+FFFD) in every format.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "cli/options.h"
#include "vm/vm_filter.h"
#include "vm/vm_resolver.h"

namespace hypertrace {

class VmColumns {
public:
    struct Tail {
        std::string text;  // appended after the record's last field (before "}\n" in JSON)
        bool keep = true;  // --vm keeps this VM's records
    };

    // resolver null: every record gets the "unknown" tail (unit tests of
    // the writers, benchmarks).  filter null or inactive: keep everything.
    VmColumns(Format f, VmResolver* resolver, const VmFilter* filter = nullptr);

    const Tail& get(std::uint32_t pid, std::uint32_t tid)
    {
        if (last_ && pid == last_pid_ && tid == last_tid_ && (!resolver_ || resolver_->epoch() == epoch_))
            return *last_;
        return miss(pid, tid);
    }

    // Who names the VMs (null: nobody), for writers that need more than
    // the tail (-f chrome names its processes and threads).
    VmResolver* resolver() const { return resolver_; }

    // The text of the tail for one identity (also --summary's labels use
    // the same sanitising): exposed for the unit tests.
    static std::string render(Format f, const VmIdentity& vm, std::optional<std::uint32_t> vcpu_index);
    // The name as the text output shows it ("-" when none).
    static std::string text_name(const VmIdentity& vm);
    // A JSON string literal of s (quotes included), valid UTF-8.
    static std::string json_string(const std::string& s);

private:
    const Tail& miss(std::uint32_t pid, std::uint32_t tid);

    Format format_;
    VmResolver* resolver_;
    const VmFilter* filter_;
    std::unordered_map<std::uint64_t, Tail> tails_;  // by pid << 32 | tid
    Tail unknown_;
    const Tail* last_ = nullptr;
    std::uint32_t last_pid_ = 0, last_tid_ = 0;
    std::uint64_t epoch_ = 0;
};

}  // namespace hypertrace
