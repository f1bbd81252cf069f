// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Destroying a libbpf object and waiting until its programs are gone from
// the kernel, so that "hypertrace exited" means "nothing of it is left".
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <vector>

namespace hypertrace {

// The kernel's bpf_prog_info of each loaded program of obj.
template <typename Fn>
void for_each_loaded_program(bpf_object* obj, Fn&& fn)
{
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj)
    {
        bpf_prog_info info{};
        std::uint32_t len = sizeof info;
        const int fd = bpf_program__fd(prog);
        if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
            fn(info);
    }
}

// The ids of obj's loaded programs: taken before the object is destroyed,
// waited on after.
std::vector<std::uint32_t> loaded_program_ids(bpf_object* obj);

// Raw-tracepoint links are freed after an RCU (tasks trace) grace period on
// newer kernels (6.18, for one): detached at once, the program lingers,
// loaded, for a moment after its last fd is closed.  Waits (3 s at most)
// until none of ids is loaded.
void wait_until_unloaded(std::vector<std::uint32_t> ids);

}  // namespace hypertrace
