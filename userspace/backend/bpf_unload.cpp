// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/bpf_unload.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "util/unique_fd.h"

namespace hypertrace {

std::vector<std::uint32_t> loaded_program_ids(bpf_object* obj)
{
    std::vector<std::uint32_t> ids;
    if (obj)
        for_each_loaded_program(obj, [&](const bpf_prog_info& info) { ids.push_back(info.id); });
    return ids;
}

void wait_until_unloaded(std::vector<std::uint32_t> ids)
{
    for (int i = 0; i < 300 && !ids.empty(); ++i) {
        std::vector<std::uint32_t> left;
        for (std::uint32_t id : ids) {
            // Still loaded, or the kernel would not say it is gone.
            if (UniqueFd(bpf_prog_get_fd_by_id(id)) || errno != ENOENT)
                left.push_back(id);
        }
        ids.swap(left);
        if (!ids.empty())
            ::usleep(10000);
    }
}

}  // namespace hypertrace
