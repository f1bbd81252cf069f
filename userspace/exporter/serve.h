// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// hypertrace --serve [ADDR]:PORT: a Prometheus exporter.  The backend keeps
// per (pid, abi, nr) statistics in the kernel (as --summary); the session
// loop folds them into a SeriesStore every second; an HTTP server on its own
// thread renders the store for each scrape.  See README.md "Monitoring".
#pragma once

#include "cli/options.h"

namespace hypertrace {

// The exit status: 0 after SIGINT/SIGTERM/-d, 1 if it could not start.
int run_exporter(const Options& opts);

}  // namespace hypertrace
