// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/preempt_probe.h"

#include <unistd.h>

#include <memory>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "backend/bpf_unload.h"

#include "preempt_probe.skel.h"

namespace hypertrace {
namespace {

// Gone from the kernel when the probe returns: a refusal right after it
// must not leave the probe's program loaded behind hypertrace's exit.
struct ProbeDeleter {
    void operator()(preempt_probe_bpf* s) const
    {
        std::vector<std::uint32_t> ids = loaded_program_ids(s->obj);
        preempt_probe_bpf__destroy(s);
        wait_until_unloaded(std::move(ids));
    }
};

// x86's preempt_count(): the preemption depth in the low byte, softirq and
// hardirq counts above it (include/linux/preempt.h); bit 31 is
// PREEMPT_NEED_RESCHED, inverted (arch/x86/include/asm/preempt.h).
constexpr std::uint32_t kPreemptAndIrqBits = 0x00ffffff;

}  // namespace

Fact<bool> probe_preemptible_tracepoints()
{
    Fact<bool> f;
    f.value = true;  // unless the probe shows otherwise
    const char* unsure = ", so kvm_hypercall is attached classic to be safe";
    std::unique_ptr<preempt_probe_bpf, ProbeDeleter> skel(preempt_probe_bpf__open());
    if (!skel) {
        f.how = std::string("cannot open the preemption probe") + unsure;
        return f;
    }
    skel->bss->tgid = static_cast<std::uint32_t>(::getpid());
    if (preempt_probe_bpf__load(skel.get()) != 0 || preempt_probe_bpf__attach(skel.get()) != 0) {
        f.how = std::string("the preemption probe on sched_process_fork did not load or attach") + unsure;
        return f;
    }
    std::thread([] {}).join();  // one fork of this process
    preempt_probe_bpf__detach(skel.get());
    const std::uint32_t seen = skel->bss->seen;
    const std::uint32_t count = skel->bss->count;
    if (seen != 2) {
        f.how = std::string(seen == 1 ? "no preemption count (__preempt_count, pcpu_hot) in vmlinux BTF"
                                      : "the preemption probe did not run") +
                unsure;
        return f;
    }
    f.value = (count & kPreemptAndIrqBits) == 0;
    std::ostringstream os;
    os << "a raw tracepoint program on sched_process_fork saw preempt_count 0x" << std::hex << count;
    f.how = os.str();
    return f;
}

}  // namespace hypertrace
