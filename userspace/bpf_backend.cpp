// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "bpf_backend.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kvm_tracepoints.h"
#include "unique_fd.h"

extern "C" {
#include "ht_config.h"
#include "ht_state_machine.h"
}
#include "hypertrace.skel.h"

namespace hypertrace {
namespace {

// libbpf's messages are kept, not printed, and shown only when a step fails:
// a successful start stays quiet, a failed one explains itself.
std::string& libbpf_log() {
    static std::string log;
    return log;
}

int collect_libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, fmt, args);
    libbpf_log() += buf;
    return 0;
}

std::string with_libbpf_log(std::string msg) {
    if (!libbpf_log().empty()) msg += "\nlibbpf said:\n" + libbpf_log();
    return msg;
}

struct SkelDeleter {
    void operator()(hypertrace_bpf* s) const { hypertrace_bpf__destroy(s); }
};
struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using SkelPtr = std::unique_ptr<hypertrace_bpf, SkelDeleter>;
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

// Task storage keyed by the current task needs the map type and
// bpf_get_current_task_btf() in tracepoint programs (5.11+).  The
// environment variable HYPERTRACE_BPF_STATE=lru forces the fallback, so the
// tests prove it on kernels that do have task storage.
bool use_task_storage() {
    if (const char* forced = std::getenv("HYPERTRACE_BPF_STATE"); forced && std::string(forced) == "lru")
        return false;
    return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1 &&
           libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr) == 1 &&
           libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, nullptr) == 1;
}

class BpfBackend final : public Backend {
public:
    explicit BpfBackend(const BackendConfig& config);
    ~BpfBackend() override { stop(); }

    const char* name() const override { return "bpf"; }
    RingMapping ring() const override { return ring_; }
    Counters counters() const override;
    void stop() override;
    std::string detail() const override {
        return "classic tracepoints, per-thread state in " + storage_;
    }

private:
    SkelPtr skel_;
    std::vector<LinkPtr> links_;  // in attach order; detached in reverse
    Mapping consumer_page_;
    Mapping producer_and_data_;
    RingMapping ring_;
    std::string storage_;
};

BpfBackend::BpfBackend(const BackendConfig& config) {
    libbpf_log().clear();
    libbpf_set_print(collect_libbpf_print);

    std::string why;
    if (std::string caps = missing_bpf_capabilities(); !caps.empty())
        throw BackendError("eBPF backend: " + caps);
    if (!find_kvm_events_dir(&why)) throw BackendError("eBPF backend: " + why);

    skel_.reset(hypertrace_bpf__open());
    if (!skel_) throw BackendError(with_libbpf_log("eBPF backend: cannot open the BPF object"));

    skel_->rodata->filter = config.filter;
    if (int err = bpf_map__set_max_entries(skel_->maps.events, config.ring_bytes))
        throw BackendError("eBPF backend: bad ring size " + std::to_string(config.ring_bytes) + ": " +
                           std::strerror(-err));

    // Exactly one program set, and only its state map, is loaded.
    const bool task = use_task_storage();
    storage_ = task ? "task storage" : "an LRU hash by tid";
    bpf_program* task_progs[] = {skel_->progs.ht_exit_task, skel_->progs.ht_hypercall_task,
                                 skel_->progs.ht_entry_task};
    bpf_program* lru_progs[] = {skel_->progs.ht_exit_lru, skel_->progs.ht_hypercall_lru,
                                skel_->progs.ht_entry_lru};
    for (bpf_program* p : task_progs) bpf_program__set_autoload(p, task);
    for (bpf_program* p : lru_progs) bpf_program__set_autoload(p, !task);
    bpf_map__set_autocreate(skel_->maps.task_states, task);
    bpf_map__set_autocreate(skel_->maps.lru_states, !task);

    if (int err = hypertrace_bpf__load(skel_.get())) {
        std::string msg = "eBPF backend: loading the BPF programs failed: " + std::string(std::strerror(-err));
        if (err == -EPERM || err == -EACCES) msg += " (run as root: CAP_BPF and CAP_PERFMON are needed)";
        throw BackendError(with_libbpf_log(msg));
    }

    // Attach entry first, hypercall last: a thread is never seen mid-way
    // through exit -> hypercall with only half the programs attached, so
    // start-up adds no spurious "unmatched" counts.
    bpf_program* order[] = {task ? task_progs[2] : lru_progs[2], task ? task_progs[0] : lru_progs[0],
                            task ? task_progs[1] : lru_progs[1]};
    for (bpf_program* p : order) {
        bpf_link* link = bpf_program__attach(p);
        if (!link) {
            const int err = errno;
            links_.clear();
            throw BackendError(with_libbpf_log("eBPF backend: attaching " + std::string(bpf_program__name(p)) +
                                               " failed: " + std::strerror(err)));
        }
        links_.emplace_back(link);
    }

    // Map the ring exactly as common/ht_ring.h describes.
    const int fd = bpf_map__fd(skel_->maps.events);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t size = bpf_map__max_entries(skel_->maps.events);
    consumer_page_ = Mapping::map(page, PROT_READ | PROT_WRITE, fd, 0);
    producer_and_data_ = Mapping::map(page + 2 * size, PROT_READ, fd, static_cast<off_t>(page));
    if (!consumer_page_.valid() || !producer_and_data_.valid()) {
        const int err = errno;
        links_.clear();
        throw BackendError(std::string("eBPF backend: cannot map the ring buffer: ") + std::strerror(err));
    }
    ring_.consumer_pos = static_cast<volatile std::uint64_t*>(consumer_page_.get());
    ring_.producer_pos = static_cast<const volatile std::uint64_t*>(producer_and_data_.get());
    ring_.data = static_cast<const std::uint8_t*>(producer_and_data_.get()) + page;
    ring_.size = size;
    ring_.fd = fd;
}

void BpfBackend::stop() {
    // Reverse order: hypercall first, so nothing is armed after its entry's
    // program is gone.
    while (!links_.empty()) links_.pop_back();
}

Counters BpfBackend::counters() const {
    Counters total{};
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return total;
    struct PerCpu {
        std::uint64_t c[HT_CNT_MAX];
    };
    std::vector<PerCpu> values(static_cast<std::size_t>(ncpus));
    const std::uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) != 0) return total;
    for (const auto& v : values)
        for (int i = 0; i < HT_CNT_MAX; ++i) total[static_cast<std::size_t>(i)] += v.c[i];
    return total;
}

}  // namespace

std::unique_ptr<Backend> open_bpf_backend(const BackendConfig& config) {
    return std::make_unique<BpfBackend>(config);
}

}  // namespace hypertrace
