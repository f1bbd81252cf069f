// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Whether raw tracepoint programs run preemptible on this kernel, probed
// with a program on sched_process_fork (bpf/preempt_probe.bpf.c says why it
// matters: such a program can be skipped by the kernel, silently but for a
// recursion-miss count).
#pragma once

#include "kernel/kernel_facts.h"

namespace hypertrace {

// value: true when they do, or when the probe could not tell (the safe
// answer: kvm_hypercall is then attached classic).  Loads and attaches a
// program and starts a thread; needs the eBPF backend's capabilities.
Fact<bool> probe_preemptible_tracepoints();

}  // namespace hypertrace
