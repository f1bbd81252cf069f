// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/proc_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "util/unique_fd.h"

namespace hypertrace {

std::optional<std::string> read_small_file(const std::string& path, std::size_t max)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string out;
    char buf[4096];
    while (out.size() < max) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return std::nullopt;
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    if (out.size() > max)
        out.resize(max);
    return out;
}

}  // namespace hypertrace
