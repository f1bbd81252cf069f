// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Reading the small files the VM sources live in (/proc/PID/cmdline, ...,
// libvirt's status XML).  procfs files report size 0, so read to EOF.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace hypertrace {

// The whole file, at most `max` bytes (more is cut); nullopt if it cannot
// be opened or read (a process gone, no permission).
std::optional<std::string> read_small_file(const std::string& path, std::size_t max = 1u << 20);

}  // namespace hypertrace
