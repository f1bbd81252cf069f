// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/env_settings.h"

#include <cstdlib>

namespace hypertrace {
namespace {

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    return v ? v : "";
}

}  // namespace

EnvSettings read_env_settings()
{
    EnvSettings s;
    s.kmod_path = env("HT_KMOD_PATH");
    s.bpf_state = env("HYPERTRACE_BPF_STATE");
    s.bpf_attach = env("HYPERTRACE_BPF_ATTACH");
    s.bpf_fields = env("HYPERTRACE_BPF_FIELDS");
    const std::string keys = env("HYPERTRACE_BPF_AGG_KEYS");
    // Set but 0 or not a number: a table of one entry, as before.
    if (!keys.empty())
        s.bpf_agg_keys = static_cast<std::uint32_t>(std::max(1ul, std::strtoul(keys.c_str(), nullptr, 10)));
    return s;
}

}  // namespace hypertrace
