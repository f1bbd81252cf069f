// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The one "does this path exist" of the front end (device nodes, sysfs BTF
// files, tracefs directories).
#pragma once

#include <sys/stat.h>

#include <string>

namespace hypertrace {

inline bool path_exists(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace hypertrace
