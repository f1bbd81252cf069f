// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/backend_select.h"

#include <ostream>

#include "backend/bpf_backend.h"
#include "backend/kmod_backend.h"
#include "kernel/kernel_facts.h"

namespace hypertrace {
namespace {

using Opener = std::unique_ptr<Backend> (*)(const BackendConfig&);

struct Candidate {
    const char* label;
    Opener open;
};

const Candidate kBpf{"eBPF", open_bpf_backend};
const Candidate kKmod{"kernel module", open_kmod_backend};

}  // namespace

std::shared_ptr<const KernelFacts> facts_for(const BackendConfig& config)
{
    return config.facts ? config.facts : std::make_shared<const KernelFacts>(probe_kernel_facts());
}

SelectedBackend select_backend(BackendKind kind, const BackendConfig& given)
{
    // One look at the kernel (BTF, kallsyms, tracefs) for every backend tried.
    BackendConfig config = given;
    config.facts = facts_for(given);
    auto chosen = [](std::unique_ptr<Backend> b, const std::string& why) {
        std::string line = std::string("using the ") + (b->name() == std::string("bpf") ? "eBPF" : "kernel-module") +
                           " backend (" + b->detail() + "): " + why;
        return SelectedBackend{std::move(b), line};
    };
    if (kind == BackendKind::Bpf)
        return chosen(open_bpf_backend(config), "requested with -b bpf");
    if (kind == BackendKind::Kmod)
        return chosen(open_kmod_backend(config), "requested with -b kmod");

    std::string bpf_failure;
    try {
        return chosen(open_bpf_backend(config), "-b auto prefers eBPF and it works here");
    } catch (const BackendError& e) {
        bpf_failure = e.what();
    }
    try {
        return chosen(open_kmod_backend(config), "-b auto fell back to it because " + bpf_failure);
    } catch (const BackendError& e) {
        throw BackendError("no backend can trace here.\n  " + bpf_failure + "\n  " + e.what());
    }
}

int check_backends(std::ostream& out)
{
    BackendConfig config;
    config.filter.vcpu = HT_VCPU_ANY;
    config.ring_bytes = 1u << 16;
    config.probe_only = true;  // a module loaded just for this look is unloaded again
    config.env = read_env_settings();
    config.facts = facts_for(config);
    const char* first_working = nullptr;  // what -b auto would pick
    for (const Candidate& c : {kBpf, kKmod}) {
        try {
            auto backend = c.open(config);  // a real load and attach, then detach
            backend->stop();
            out << c.label << ": works (" << backend->detail() << ")\n";
            if (!first_working)
                first_working = c.label;
        } catch (const BackendError& e) {
            out << c.label << ": not usable: " << e.what() << "\n";
        }
    }
    if (!first_working) {
        out << "no backend works here\n";
        return 1;
    }
    out << "-b auto would use: " << first_working << "\n";
    return 0;
}

}  // namespace hypertrace
