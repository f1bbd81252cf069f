// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// -b auto|bpf|kmod: start the requested backend, or for auto the eBPF one when
// it works here and the module otherwise, and say which one and why.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "cli/options.h"

namespace hypertrace {

struct SelectedBackend {
    std::unique_ptr<Backend> backend;
    std::string why;  // one sentence for stderr: which backend, and why it
};

// Throws BackendError when nothing usable was found; the message lists each
// backend tried and why it could not start.
SelectedBackend select_backend(BackendKind kind, const BackendConfig& config);

// --check: try each backend for real (load, attach, detach) and report.
// Returns 0 when at least one works, 1 otherwise.
int check_backends(std::ostream& out);

}  // namespace hypertrace
