// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Where the running kernel's kvm tracepoints are, and a clear sentence when
// they are not (tracefs unmounted, kvm not loaded).
#pragma once

#include <optional>
#include <string>

namespace hypertrace {

// The tracefs events directory holding kvm/kvm_{exit,hypercall,entry}, or
// nullopt with *why set to a message that names the fix.
std::optional<std::string> find_kvm_events_dir(std::string* why);

// Effective capabilities needed to load and attach tracing BPF programs;
// empty when present, else a message naming the missing ones.
std::string missing_bpf_capabilities();

}  // namespace hypertrace
