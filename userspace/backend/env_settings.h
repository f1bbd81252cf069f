// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Every environment variable the backends obey, read in one place, once per
// run (main and --check call read_env_settings(), the backends only see the
// result in BackendConfig).
//
// HT_KMOD_PATH is for users (hypertrace(8)).  The HYPERTRACE_BPF_* knobs
// exist for the tests and the benchmark, which must prove each fallback on
// kernels where a better choice works (tests/vm/hypertrace/test_trace.py,
// tests/host/test_host_bpf.py, tests/bench/guest_bench.py); they are
// documented there and in the man page's ENVIRONMENT, never needed in use.
#pragma once

#include <cstdint>
#include <string>

namespace hypertrace {

struct EnvSettings {
    // HT_KMOD_PATH: a hypertrace.ko to insmod when /dev/hypertrace is
    // missing (else modprobe hypertrace).
    std::string kmod_path;
    // HYPERTRACE_BPF_STATE=vcpu|task|lru: force one per-vCPU state store.
    std::string bpf_state;
    // HYPERTRACE_BPF_ATTACH=classic|raw|btf: force one attach mode on every
    // tracepoint that supports it, no fallback.
    std::string bpf_attach;
    // HYPERTRACE_BPF_FIELDS=btf|format: how classic programs read kvm's
    // records (CO-RE, or the tracefs format files' offsets), no fallback.
    std::string bpf_fields;
    // HYPERTRACE_BPF_AGG_KEYS=N: a --summary key table of N entries (0: the
    // default), so that a test can fill it and see the rest travel as records.
    std::uint32_t bpf_agg_keys = 0;
};

EnvSettings read_env_settings();

}  // namespace hypertrace
