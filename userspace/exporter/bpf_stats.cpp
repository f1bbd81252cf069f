// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "exporter/bpf_stats.h"

#include <bpf/bpf.h>

#include <cstring>
#include <fstream>

#include "util/unique_fd.h"

namespace hypertrace {

std::optional<BpfCost> read_bpf_cost()
{
    std::ifstream sysctl("/proc/sys/kernel/bpf_stats_enabled");
    int enabled = 0;
    if (!(sysctl >> enabled) || enabled == 0)
        return std::nullopt;
    BpfCost cost;
    __u32 id = 0;
    while (bpf_prog_get_next_id(id, &id) == 0) {
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        if (fd.get() < 0)
            continue;  // unloaded meanwhile
        bpf_prog_info info{};
        __u32 len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
            continue;
        if (std::strncmp(info.name, "ht_", 3) != 0)
            continue;
        cost.run_time_ns += info.run_time_ns;
        cost.run_cnt += info.run_cnt;
        cost.programs++;
    }
    if (cost.programs == 0)
        return std::nullopt;
    return cost;
}

}  // namespace hypertrace
