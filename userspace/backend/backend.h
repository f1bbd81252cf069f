// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A tracing backend as the front end sees it: something that, once started,
// fills one ring (common/ht_ring.h protocol) with ht_records and keeps the
// ht_counter counters.  The eBPF backend and the kernel-module backend both
// implement it; the reader, output and statistics never know which one runs.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/env_settings.h"

extern "C" {
#include "ht_config.h"
#include "ht_hist.h"
#include "ht_record.h"
}

namespace hypertrace {

struct KernelFacts;  // kernel/kernel_facts.h

using Counters = std::array<std::uint64_t, HT_CNT_MAX>;

// Where the ring lives once mapped.  Owned by the backend (its mapping is
// RAII-managed there); valid until the backend is destroyed.
struct RingMapping {
    volatile std::uint64_t* consumer_pos = nullptr;        // read-write page
    const volatile std::uint64_t* producer_pos = nullptr;  // read-only page
    const std::uint8_t* data = nullptr;                    // 2 * size bytes
    std::uint64_t size = 0;                                // power of two
    int fd = -1;                                           // poll()-able, not owned by the caller
};

struct BackendConfig {
    ht_filter filter{};
    std::uint32_t ring_bytes = 8u << 20;  // data area size, power of two
    // --summary: keep per (pid, nr) statistics in the kernel (common/ht_hist.h)
    // instead of emitting records.  HT_CNT_EMITTED then counts hypercalls
    // added to the statistics and HT_CNT_DROPPED those that found no room.
    bool aggregate = false;
    // --check: a look that leaves nothing behind (a module loaded to try
    // it is unloaded again when the backend goes).
    bool probe_only = false;
    // The environment's overrides (env_settings.h), read once by the caller.
    EnvSettings env;
    // What the kernel offers (kernel/kernel_facts.h), probed once by the
    // caller for every backend it tries; null: the backend probes them.
    std::shared_ptr<const KernelFacts> facts;
};

// config.facts, or the facts probed now when the caller gave none.
std::shared_ptr<const KernelFacts> facts_for(const BackendConfig& config);

// One key's statistics, summed over CPUs.
struct AggregateEntry {
    ht_agg_key key{};
    ht_agg_value value{};
};

// A hypercall that travelled as a record (its key found no room in the
// kernel's table), as the one-call entry the kernel would have added.
inline AggregateEntry aggregate_entry(const ht_record& r)
{
    AggregateEntry e;
    e.key.pid = r.pid;
    e.key.abi = r.abi;
    e.key.nr = r.nr;
    ht_agg_add(&e.value, r.t_exit_ns, r.t_hypercall_ns, r.t_entry_ns, r.t_userspace_exit_ns);
    return e;
}

class Backend {
public:
    virtual ~Backend() = default;
    Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    virtual const char* name() const = 0;  // "bpf" or "kmod"
    // How this backend traces on this kernel (attach type, state storage...),
    // shown by --check and when -b auto explains its choice.
    virtual std::string detail() const { return {}; }
    virtual RingMapping ring() const = 0;
    virtual Counters counters() const = 0;  // summed over CPUs
    // With config.aggregate: the statistics gathered since the previous call
    // (or since start), after which the kernel starts afresh.  Lossless: a
    // hypercall is in exactly one call's result.  Call it once more after
    // stop() for the rest.  Without config.aggregate: empty.
    virtual std::vector<AggregateEntry> take_aggregates() = 0;
    // Detach from the tracepoints; the ring stays readable so the caller can
    // drain what was written before.  Idempotent; the destructor calls it.
    virtual void stop() = 0;
    // Runs of its programs the kernel skipped rather than ran (the eBPF
    // backend's recursion misses): events the counters never saw.
    virtual std::uint64_t skipped_by_kernel() const { return 0; }
};

// Raised when a backend cannot start; `what()` names the problem and the fix.
class BackendError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace hypertrace
