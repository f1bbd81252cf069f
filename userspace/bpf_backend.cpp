// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "bpf_backend.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/membarrier.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "kvm_tracepoints.h"
#include "unique_fd.h"

extern "C" {
#include "ht_config.h"
#include "ht_ring.h"
#include "ht_state_machine.h"
#include "ht_vcpu_table.h"
}
#include "hypertrace.h"
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

// The testing/benchmark overrides (HYPERTRACE_BPF_STATE, HYPERTRACE_BPF_ATTACH):
// is `var` set to exactly `value`?
bool env_is(const char* var, const char* value) {
    const char* v = std::getenv(var);
    return v && std::strcmp(v, value) == 0;
}

// ---- where the per-vCPU state lives --------------------------------------
//
// vcpu: the slot table keyed by the vCPU (common/ht_vcpu_table.h), no helper
//       call to find it; needs KVM's per-CPU kvm_running_vcpu in BTF (the
//       kvm_hypercall program finds its vCPU there) and BPF_CMPXCHG (5.12+).
// task: task local storage keyed by the current task (5.11+).
// lru:  an LRU hash keyed by tid, for anything older.
// The first that loads wins.  HYPERTRACE_BPF_STATE=vcpu|task|lru forces one
// (tests and the benchmark prove each on kernels that have the better ones).
enum class StateStore { Vcpu, Task, Lru };

const char* store_name(StateStore s) {
    switch (s) {
    case StateStore::Vcpu: return "a slot table keyed by the vCPU";
    case StateStore::Task: return "task storage";
    default: return "an LRU hash by tid";
    }
}

bool task_storage_usable() {
    return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1 &&
           libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr) == 1 &&
           libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, nullptr) == 1;
}

// ---- attach modes, decided at load time from the kernel's BTF -------------
//
// Raw tracepoints hand the program the probe arguments; classic tracepoints
// first make the kernel format the whole record (kvm_exit's calls the vendor's
// get_exit_info), which is most of a classic program's cost.  Raw needs the
// prototypes (btf_trace_kvm_* in kvm's BTF, or vmlinux's when kvm is built
// in) and, for kvm_exit since 5.16, the vendor vCPU struct's BTF (vcpu_svm in
// kvm_amd, vcpu_vmx in kvm_intel) to read the exit reason from.  Whatever
// cannot be raw stays classic.  HYPERTRACE_BPF_ATTACH=classic forces classic
// everywhere (tests, benchmark); =raw refuses to fall back.

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

bool path_exists(const char* p) {
    struct stat st;
    return ::stat(p, &st) == 0;
}

// Parameter kinds of btf_trace_<ev> (the leading void *__data included):
// 'p' pointer, 'i' integer/enum/bool, '?' other.  Empty: no such typedef.
std::string trace_params(const btf* b, const char* ev) {
    const std::string name = std::string("btf_trace_") + ev;
    const int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
    if (id < 0) return "";
    const btf_type* t = btf__type_by_id(b, btf__type_by_id(b, id)->type);
    if (!t || !btf_is_ptr(t)) return "?";
    t = btf__type_by_id(b, t->type);
    if (!t || !btf_is_func_proto(t)) return "?";
    std::string out;
    const btf_param* p = btf_params(t);
    for (unsigned i = 0; i < btf_vlen(t); ++i) {
        const int rid = btf__resolve_type(b, p[i].type);
        const btf_type* pt = rid < 0 ? nullptr : btf__type_by_id(b, rid);
        out += !pt ? '?' : btf_is_ptr(pt) ? 'p' : (btf_is_int(pt) || btf_is_any_enum(pt)) ? 'i' : '?';
    }
    return out;
}

struct AttachPlan {
    bool exit_raw = false, hypercall_raw = false, entry_raw = false;
    bool entry_btf = false;  // kvm_entry as a BTF-typed tracepoint (tp_btf)
    bool running_vcpu_btf = false;  // kvm_running_vcpu is a BTF variable
    unsigned exit_args = HT_RAW_EXIT_VCPU_ISA;
    unsigned entry_args = HT_RAW_ENTRY_VCPU;
    std::string why;  // for detail()
};

// The vendor struct that holds the exit reason, in the vendor module's BTF
// (or vmlinux's when KVM is built in).
bool vendor_struct_btf(const btf* vmlinux, std::string* which) {
    static const struct { const char* mod; const char* type; } vendors[] = {
        {"kvm_amd", "vcpu_svm"}, {"kvm_intel", "vcpu_vmx"}};
    for (const auto& v : vendors) {
        if (vmlinux && btf__find_by_name_kind(vmlinux, v.type, BTF_KIND_STRUCT) > 0) {
            *which = std::string(v.type) + " in vmlinux";
            return true;
        }
        const std::string path = std::string("/sys/kernel/btf/") + v.mod;
        if (!path_exists(path.c_str())) continue;
        BtfPtr m(btf__load_module_btf(v.mod, const_cast<btf*>(vmlinux)));
        if (m && btf__find_by_name_kind(m.get(), v.type, BTF_KIND_STRUCT) > 0) {
            *which = std::string(v.type) + " in " + v.mod;
            return true;
        }
    }
    return false;
}

AttachPlan plan_attach() {
    AttachPlan plan;
    BtfPtr vmlinux(btf__load_vmlinux_btf());
    BtfPtr kvm;
    if (vmlinux && path_exists("/sys/kernel/btf/kvm")) kvm.reset(btf__load_module_btf("kvm", vmlinux.get()));
    const btf* protos = kvm ? kvm.get() : vmlinux.get();
    plan.running_vcpu_btf = protos && btf__find_by_name_kind(protos, "kvm_running_vcpu", BTF_KIND_VAR) > 0;
    if (env_is("HYPERTRACE_BPF_ATTACH", "classic")) {
        plan.why = "classic tracepoints (HYPERTRACE_BPF_ATTACH=classic)";
        return plan;
    }
    if (!vmlinux) {
        plan.why = "classic tracepoints (no vmlinux BTF for raw ones)";
        return plan;
    }

    const std::string hc = trace_params(protos, "kvm_hypercall");
    const std::string ex = trace_params(protos, "kvm_exit");
    const std::string en = trace_params(protos, "kvm_entry");
    plan.hypercall_raw = hc == "piiiii";
    plan.entry_btf = !env_is("HYPERTRACE_BPF_ATTACH", "raw");
    if (en == "pp" || en == "ppi") {
        plan.entry_raw = true;
        plan.entry_args = HT_RAW_ENTRY_VCPU;
    } else if (en == "pi") {
        plan.entry_raw = true;
        plan.entry_args = HT_RAW_ENTRY_VCPU_ID;
    }
    std::string exit_how;
    if (ex == "pipi") {
        plan.exit_raw = true;
        plan.exit_args = HT_RAW_EXIT_REASON_VCPU_ISA;
        exit_how = "reason from the arguments";
    } else if (ex == "ppi") {
        std::string vendor;
        if (vendor_struct_btf(vmlinux.get(), &vendor)) {
            plan.exit_raw = true;
            plan.exit_args = HT_RAW_EXIT_VCPU_ISA;
            exit_how = "reason read from " + vendor + " at a wanted hypercall";
        } else {
            exit_how = "no vcpu_svm/vcpu_vmx BTF, so the reason comes from the classic record";
        }
    } else {
        exit_how = ex.empty() ? "no btf_trace_kvm_exit" : "unknown kvm_exit prototype " + ex;
    }
    auto mode = [](bool raw) { return raw ? "raw" : "classic"; };
    plan.entry_btf = plan.entry_btf && plan.entry_raw;
    plan.why = std::string("kvm_exit ") + mode(plan.exit_raw) + " (" + exit_how + "), kvm_hypercall " +
               mode(plan.hypercall_raw) + ", kvm_entry " + (plan.entry_btf ? "btf" : mode(plan.entry_raw)) +
               " tracepoint";
    return plan;
}

// Wait until no BPF program that started before now is still running
// (detached ones at stop; ones writing the old agg_gen at an interval):
// programs run inside RCU read-side sections, and MEMBARRIER_CMD_GLOBAL waits
// for an RCU grace period (synchronize_rcu) on every kernel that has it.  Where it is
// refused (nohz_full), fall back to a pause far longer than any program run.
void wait_for_running_programs() {
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

class BpfBackend final : public Backend {
public:
    explicit BpfBackend(const BackendConfig& config);
    ~BpfBackend() override;

    const char* name() const override { return "bpf"; }
    RingMapping ring() const override { return ring_; }
    Counters counters() const override;
    std::vector<AggregateEntry> take_aggregates() override;
    void stop() override;
    std::string detail() const override { return attach_ + ", per-vCPU state in " + storage_; }

private:
    // Loads and attaches per plan; throws BackendError with nothing left behind.
    void load_and_attach(const BackendConfig& config, StateStore store, const AttachPlan& plan);

    SkelPtr skel_;
    std::vector<LinkPtr> links_;  // in attach order; detached in reverse
    Mapping consumer_page_;
    Mapping producer_and_data_;
    RingMapping ring_;
    StateStore store_ = StateStore::Lru;
    bool aggregate_ = false;
    std::uint32_t agg_hot_keys_ = 0;
    std::string storage_;
    std::string attach_;
};

void BpfBackend::load_and_attach(const BackendConfig& config, StateStore store, const AttachPlan& plan) {
    links_.clear();
    skel_.reset(hypertrace_bpf__open());
    if (!skel_) throw BackendError(with_libbpf_log("eBPF backend: cannot open the BPF object"));

    auto* ro = skel_->rodata;
    ro->filter = config.filter;
    ro->raw_exit_args = plan.exit_args;
    ro->raw_entry_args = plan.entry_args;
    ro->lazy_exit_reason = plan.exit_raw && plan.exit_args == HT_RAW_EXIT_VCPU_ISA;
    ro->aggregate = config.aggregate;
    ro->wake_mark = std::max<std::uint64_t>(1, config.ring_bytes / HT_RING_WAKEUP_FRACTION);
    std::uint64_t mask = 0;
    if (::getrandom(&mask, sizeof mask, 0) != sizeof mask) mask = 0x5bd1e9955bd1e995ull;
    ro->key_mask = mask | 1;  // odd: vCPU structs are aligned, so keys are never 0
    if (const char* keys = std::getenv("HYPERTRACE_BPF_AGG_KEYS")) {  // tests only: a tiny table
        const auto n = static_cast<std::uint32_t>(std::strtoul(keys, nullptr, 10));
        bpf_map__set_max_entries(skel_->maps.agg0, n ? n : 1);
        bpf_map__set_max_entries(skel_->maps.agg1, n ? n : 1);
    }
    if (int err = bpf_map__set_max_entries(skel_->maps.events, config.ring_bytes))
        throw BackendError("eBPF backend: bad ring size " + std::to_string(config.ring_bytes) + ": " +
                           std::strerror(-err));

    // Exactly one program per tracepoint, and only the maps it uses, are loaded.
    auto& p = skel_->progs;
    struct Set {
        bpf_program *exit_tp, *hc_tp, *entry_tp, *exit_raw, *hc_raw, *entry_raw, *entry_btf;
    };
    const Set sets[] = {
        {p.ht_exit_tp_vcpu, p.ht_hc_tp_vcpu, p.ht_entry_tp_vcpu, p.ht_exit_raw_vcpu, p.ht_hc_raw_vcpu,
         p.ht_entry_raw_vcpu, p.ht_entry_btf_vcpu},
        {p.ht_exit_tp_task, p.ht_hc_tp_task, p.ht_entry_tp_task, p.ht_exit_raw_task, p.ht_hc_raw_task,
         p.ht_entry_raw_task, p.ht_entry_btf_task},
        {p.ht_exit_tp_lru, p.ht_hc_tp_lru, p.ht_entry_tp_lru, p.ht_exit_raw_lru, p.ht_hc_raw_lru,
         p.ht_entry_raw_lru, p.ht_entry_btf_lru},
    };
    const Set& set = sets[static_cast<int>(store)];
    bpf_program* exit_p = plan.exit_raw ? set.exit_raw : set.exit_tp;
    bpf_program* hc_p = plan.hypercall_raw ? set.hc_raw : set.hc_tp;
    bpf_program* entry_p = plan.entry_btf ? set.entry_btf : plan.entry_raw ? set.entry_raw : set.entry_tp;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj)
        bpf_program__set_autoload(prog, prog == exit_p || prog == hc_p || prog == entry_p);
    bpf_map__set_autocreate(skel_->maps.vcpu_table, store == StateStore::Vcpu);
    bpf_map__set_autocreate(skel_->maps.task_states, store == StateStore::Task);
    bpf_map__set_autocreate(skel_->maps.lru_states, store == StateStore::Lru);
    bpf_map__set_autocreate(skel_->maps.agg0, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg1, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg_zero, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg_index, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg_hot, config.aggregate);
    if (config.aggregate) {
        // Hot keys cost sizeof(ht_agg_value) per CPU each, twice (two
        // parities): keep them under 32 MiB on big hosts.
        const int ncpus = std::max(1, libbpf_num_possible_cpus());
        const std::size_t budget = std::size_t{32} << 20;
        const std::size_t fit = budget / (2 * sizeof(ht_agg_value) * static_cast<std::size_t>(ncpus));
        const std::uint32_t hot = static_cast<std::uint32_t>(std::clamp<std::size_t>(fit, 1, HT_AGG_HOT_KEYS));
        ro->agg_hot_keys = hot;
        bpf_map__set_max_entries(skel_->maps.agg_index, 2 * hot);
        bpf_map__set_max_entries(skel_->maps.agg_hot, 2 * hot);
        agg_hot_keys_ = hot;
    }

    if (int err = hypertrace_bpf__load(skel_.get())) {
        std::string msg = "eBPF backend: loading the BPF programs failed: " + std::string(std::strerror(-err));
        if (err == -EPERM || err == -EACCES) msg += " (run as root: CAP_BPF and CAP_PERFMON are needed)";
        skel_.reset();
        throw BackendError(with_libbpf_log(msg));
    }

    // Attach entry first, hypercall last: a thread is never seen mid-way
    // through exit -> hypercall with only half the programs attached, so
    // start-up adds no spurious "unmatched" counts.
    for (bpf_program* prog : {entry_p, exit_p, hc_p}) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link) {
            const int err = errno;
            links_.clear();
            skel_.reset();
            throw BackendError(with_libbpf_log("eBPF backend: attaching " + std::string(bpf_program__name(prog)) +
                                               " failed: " + std::strerror(err)));
        }
        links_.emplace_back(link);
    }
}

BpfBackend::BpfBackend(const BackendConfig& config) : aggregate_(config.aggregate) {
    libbpf_log().clear();
    libbpf_set_print(collect_libbpf_print);

    std::string why;
    if (std::string caps = missing_bpf_capabilities(); !caps.empty())
        throw BackendError("eBPF backend: " + caps);

    const AttachPlan plan = plan_attach();
    // Candidates for the state, best first.
    std::vector<StateStore> stores;
    const char* forced = std::getenv("HYPERTRACE_BPF_STATE");
    if (forced && *forced) {
        if (!std::strcmp(forced, "vcpu")) stores.push_back(StateStore::Vcpu);
        else if (!std::strcmp(forced, "task")) stores.push_back(StateStore::Task);
        else if (!std::strcmp(forced, "lru")) stores.push_back(StateStore::Lru);
        else
            throw BackendError(std::string("eBPF backend: HYPERTRACE_BPF_STATE='") + forced +
                               "' is not one of vcpu, task, lru: unset it or pick one");
    } else {
        if (plan.running_vcpu_btf) stores.push_back(StateStore::Vcpu);
        if (task_storage_usable()) stores.push_back(StateStore::Task);
        stores.push_back(StateStore::Lru);
    }
    // Classic tracepoints are found through tracefs (which also tells "kvm
    // not loaded" apart from "tracefs not mounted"); raw ones by name only.
    const bool all_raw = plan.exit_raw && plan.hypercall_raw && plan.entry_raw;
    const bool any_raw = plan.exit_raw || plan.hypercall_raw || plan.entry_raw;
    if (!all_raw && !find_kvm_events_dir(&why)) throw BackendError("eBPF backend: " + why);

    std::string failures;  // of the better stores, for detail()
    for (std::size_t i = 0; i < stores.size(); ++i) {
        const StateStore store = stores[i];
        const bool last = i + 1 == stores.size();
        try {
            try {
                try {
                    load_and_attach(config, store, plan);
                    attach_ = plan.why;
                } catch (const BackendError& e) {
                    if (!plan.entry_btf || env_is("HYPERTRACE_BPF_ATTACH", "btf")) throw;
                    // tp_btf did not load or attach here: a raw kvm_entry still can.
                    libbpf_log().clear();
                    AttachPlan raw = plan;
                    raw.entry_btf = false;
                    load_and_attach(config, store, raw);
                    attach_ = raw.why + " (btf kvm_entry failed: " + std::string(e.what()).substr(0, 160) + ")";
                }
            } catch (const BackendError& e) {
                if (!any_raw || env_is("HYPERTRACE_BPF_ATTACH", "raw")) throw;
                // Raw tracepoints did not load or attach here: classic ones still can.
                if (!find_kvm_events_dir(&why))
                    throw BackendError(std::string(e.what()) + "\n(classic fallback: " + why + ")");
                libbpf_log().clear();
                load_and_attach(config, store, AttachPlan{});
                attach_ = "classic tracepoints (raw ones failed: " + std::string(e.what()).substr(0, 200) + ")";
            }
            store_ = store;
            storage_ = store_name(store) + failures;
            break;
        } catch (const BackendError& e) {
            if (last) throw;
            std::string first = e.what();
            if (first.find("failed to find the address for kernel symbol") != std::string::npos)
                first = "kvm_running_vcpu has no address in kallsyms";
            else
                first = first.substr(0, first.find('\n'));
            failures += std::string(" (") + store_name(store) + " failed: " + first.substr(0, 160) + ")";
            libbpf_log().clear();
        }
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

// Raw-tracepoint links are freed after an RCU (tasks trace) grace period on
// newer kernels (6.18 here): detached at once, the program lingers, loaded,
// for a moment after its last fd is closed.  Wait for that (bounded), so
// that "hypertrace exited" means "nothing of it is left in the kernel".
BpfBackend::~BpfBackend() {
    stop();
    std::vector<std::uint32_t> ids;
    if (skel_) {
        bpf_program* prog;
        bpf_object__for_each_program(prog, skel_->obj) {
            bpf_prog_info info{};
            std::uint32_t len = sizeof info;
            const int fd = bpf_program__fd(prog);
            if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) ids.push_back(info.id);
        }
    }
    consumer_page_ = Mapping();
    producer_and_data_ = Mapping();
    skel_.reset();
    for (int i = 0; i < 300 && !ids.empty(); ++i) {
        std::vector<std::uint32_t> left;
        for (std::uint32_t id : ids) {
            const int fd = bpf_prog_get_fd_by_id(id);
            if (fd >= 0) {
                ::close(fd);
                left.push_back(id);
            } else if (errno != ENOENT) {
                left.push_back(id);
            }
        }
        ids.swap(left);
        if (!ids.empty()) ::usleep(10000);
    }
}

void BpfBackend::stop() {
    if (links_.empty()) return;
    // Reverse order: hypercall first, so nothing is armed after its entry's
    // program is gone.
    while (!links_.empty()) links_.pop_back();
    // A detached program may still be running on another CPU: the record or
    // count it is making would land after the final drain and read of the
    // counters (counted emitted, never read).  Programs run inside RCU
    // read-side sections; wait for them to end.
    wait_for_running_programs();
}

Counters BpfBackend::counters() const {
    Counters total{};
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0 || !skel_) return total;
    struct PerCpu {
        std::uint64_t c[HT_CNT_MAX];
    };
    std::vector<PerCpu> values(static_cast<std::size_t>(ncpus));
    const std::uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) == 0)
        for (const auto& v : values)
            for (int i = 0; i < HT_CNT_MAX; ++i) total[static_cast<std::size_t>(i)] += v.c[i];
    // The vcpu set counts in its slots (no per-CPU map lookup per event).
    if (store_ == StateStore::Vcpu) {
        auto table = std::make_unique<ht_vcpu_table>();
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.vcpu_table), &key, table.get()) == 0)
            for (const auto& sl : table->slot)
                for (int i = 0; i < HT_CNT_MAX; ++i) total[static_cast<std::size_t>(i)] += sl.counters[i];
    }
    return total;
}

// Sums one key's per-CPU values into e.
void add_per_cpu(AggregateEntry& e, const std::vector<ht_agg_value>& per_cpu) {
    for (const ht_agg_value& v : per_cpu) ht_agg_merge(&e.value, &v);
}

std::vector<ht_agg_key> all_keys(int fd) {
    std::vector<ht_agg_key> keys;
    ht_agg_key key{}, next{};
    const ht_agg_key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    return keys;
}

std::vector<AggregateEntry> BpfBackend::take_aggregates() {
    std::vector<AggregateEntry> out;
    if (!aggregate_ || !skel_) return out;
    // Next generation: programs that start now write the other parity.
    const std::uint32_t old_gen = skel_->bss->agg_gen;
    const std::uint32_t parity = old_gen & 1;
    skel_->bss->agg_gen = old_gen + 1;
    wait_for_running_programs();

    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return out;
    std::vector<ht_agg_value> per_cpu(static_cast<std::size_t>(ncpus));
    const std::vector<ht_agg_value> zeros(static_cast<std::size_t>(ncpus));

    // Hot keys of the old parity: read their agg_hot entries, zero them, and
    // hand the entries out afresh.
    const int index_fd = bpf_map__fd(skel_->maps.agg_index);
    const int hot_fd = bpf_map__fd(skel_->maps.agg_hot);
    for (const ht_agg_key& k : all_keys(index_fd)) {
        if (k.parity != parity) continue;
        std::uint32_t idx = 0;
        if (bpf_map_lookup_elem(index_fd, &k, &idx) == 0 && idx < 2 * agg_hot_keys_ &&
            bpf_map_lookup_elem(hot_fd, &idx, per_cpu.data()) == 0) {
            AggregateEntry e;
            e.key = k;
            e.key.parity = 0;
            add_per_cpu(e, per_cpu);
            if (e.value.count) out.push_back(e);
            bpf_map_update_elem(hot_fd, &idx, zeros.data(), BPF_ANY);
        }
        bpf_map_delete_elem(index_fd, &k);
    }
    // Entries a lost insert race left unused are zero already.
    skel_->bss->agg_hot_used[parity] = 0;

    // The cold keys.
    const int fd = bpf_map__fd(parity ? skel_->maps.agg1 : skel_->maps.agg0);
    for (const ht_agg_key& k : all_keys(fd)) {
        if (bpf_map_lookup_elem(fd, &k, per_cpu.data()) != 0) continue;
        AggregateEntry e;
        e.key = k;
        add_per_cpu(e, per_cpu);
        bpf_map_delete_elem(fd, &k);
        if (e.value.count) out.push_back(e);
    }
    return out;
}

}  // namespace

std::unique_ptr<Backend> open_bpf_backend(const BackendConfig& config) {
    return std::make_unique<BpfBackend>(config);
}

}  // namespace hypertrace
