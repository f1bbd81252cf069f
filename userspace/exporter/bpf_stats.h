// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve: the kernel's run time and run count of hypertrace's BPF programs
// (struct bpf_prog_info run_time_ns, run_cnt), which the kernel keeps only
// while the sysctl kernel.bpf_stats_enabled is 1 (kernel/bpf/syscall.c,
// bpf_stats_enabled_key).  The programs are found by id and by name: every
// program of bpf/hypertrace.bpf.c is named ht_*, so a second hypertrace
// running on the host would be counted too.
#pragma once

#include <optional>

#include "exporter/exposition.h"

namespace hypertrace {

// nullopt when bpf_stats are off or no ht_* program is loaded.
std::optional<BpfCost> read_bpf_cost();

}  // namespace hypertrace
