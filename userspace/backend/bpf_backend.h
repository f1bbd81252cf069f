// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The eBPF backend: loads the embedded CO-RE object (bpf/hypertrace.bpf.c via
// its skeleton), attaches to the three kvm tracepoints, maps the ring buffer.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"

namespace hypertrace {

// Starts tracing or throws BackendError naming the problem and the fix.
// Nothing stays loaded or attached when it throws.
std::unique_ptr<Backend> open_bpf_backend(const BackendConfig& config);

}  // namespace hypertrace
