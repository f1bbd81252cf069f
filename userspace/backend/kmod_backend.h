// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The kernel-module backend: hypertrace.ko behind /dev/hypertrace (kmod/,
// ioctl ABI in common/ht_ioctl.h).  Same records, same ring layout and
// protocol, same counters as the eBPF backend.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace hypertrace {

// Opens /dev/hypertrace (loading the module with modprobe, or insmod of
// config.env.kmod_path, if the device is missing), checks the interface
// version, configures, maps the ring, starts tracing and checks that the
// probes are on all three kvm tracepoints.  Throws BackendError naming the
// problem and the fix; then nothing is left attached, open or mapped, and a
// module this call loaded is unloaded again (also when the backend goes,
// with config.probe_only).  stop() reports on stderr when kvm was reloaded
// during the session or a probe could not attach.
std::unique_ptr<Backend> open_kmod_backend(const BackendConfig& config);

}  // namespace hypertrace
