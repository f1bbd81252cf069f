// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "backend/bpf_backend.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "backend/bpf_attach_plan.h"
#include "backend/bpf_unload.h"
#include "backend/libbpf_log.h"
#include "backend/preempt_probe.h"
#include "kernel/kernel_facts.h"
#include "util/unique_fd.h"

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
std::string& libbpf_log()
{
    static std::string log;
    return log;
}

int collect_libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    // A verifier log comes as one message of any size (its reason at the
    // end): measure, then format it whole.
    va_list measure;
    va_copy(measure, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, measure);
    va_end(measure);
    if (n <= 0)
        return 0;
    std::string& log = libbpf_log();
    const std::size_t at = log.size();
    log.resize(at + static_cast<std::size_t>(n) + 1);
    std::vsnprintf(&log[at], static_cast<std::size_t>(n) + 1, fmt, args);
    log.resize(at + static_cast<std::size_t>(n));
    return 0;
}

// libbpf's messages for the user, each verifier log cut to its end
// (libbpf_log.h).
std::string with_libbpf_log(std::string msg)
{
    if (!libbpf_log().empty())
        msg += "\nlibbpf said:\n" + libbpf_log_for_user(libbpf_log());
    return msg;
}

// A BackendError's first line: what failed and, for a refused program, the
// verifier's reason (the rest is libbpf's log).
std::string first_line(const std::string& msg) { return msg.substr(0, msg.find('\n')); }

struct SkelDeleter {
    void operator()(hypertrace_bpf* s) const { hypertrace_bpf__destroy(s); }
};
struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using SkelPtr = std::unique_ptr<hypertrace_bpf, SkelDeleter>;
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

// ---- where the per-vCPU state lives --------------------------------------
//
// vcpu: the slot table keyed by the vCPU (common/ht_vcpu_table.h), no helper
//       call to find it; needs KVM's per-CPU kvm_running_vcpu in BTF and
//       kallsyms (the kvm_hypercall program finds its vCPU there) and
//       BPF_CMPXCHG (5.12+).
// task: task local storage keyed by the current task (5.11+).
// lru:  an LRU hash keyed by tid, for anything older.
// The first that loads wins.  HYPERTRACE_BPF_STATE=vcpu|task|lru forces one
// (tests and the benchmark prove each on kernels that have the better ones).
enum class StateStore { Vcpu, Task, Lru };

const char* store_name(StateStore s)
{
    switch (s) {
    case StateStore::Vcpu: return "a slot table keyed by the vCPU";
    case StateStore::Task: return "task storage";
    default: return "an LRU hash by tid";
    }
}

// Wait until no BPF program that started before now is still running
// (detached ones at stop; ones writing the old agg_gen at an interval):
// programs run inside RCU read-side sections, and MEMBARRIER_CMD_GLOBAL waits
// for an RCU grace period (synchronize_rcu) on every kernel that has it.  Where it is
// refused (nohz_full), fall back to a pause far longer than any program run.
void wait_for_running_programs()
{
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// While a thread reads or changes a BPF map, the kernel holds its CPU's BPF
// context (bpf_disable_instrumentation(), kernel/bpf/syscall.c), and skips a
// classic tracepoint program that fires on that CPU meanwhile
// (trace_call_bpf(), kernel/trace/bpf_trace.c; only a recursion-miss count
// says so).  A vCPU thread gets there only by preempting the reader inside
// the syscall, which kernels with full or lazy preemption do.  SCHED_FIFO
// keeps normal tasks, vCPU threads among them, from preempting the reader
// while it takes the --summary tables.  Best effort: without CAP_SYS_NICE
// nothing changes.
class UnpreemptedByVcpus {
public:
    explicit UnpreemptedByVcpus(bool wanted)
    {
        if (!wanted || ::sched_getparam(0, &old_param_) != 0)
            return;
        old_policy_ = ::sched_getscheduler(0);
        const sched_param fifo{1};
        changed_ = old_policy_ >= 0 && old_policy_ != SCHED_FIFO && old_policy_ != SCHED_RR &&
                   ::sched_setscheduler(0, SCHED_FIFO, &fifo) == 0;
    }
    ~UnpreemptedByVcpus()
    {
        if (changed_)
            ::sched_setscheduler(0, old_policy_, &old_param_);
    }
    UnpreemptedByVcpus(const UnpreemptedByVcpus&) = delete;
    UnpreemptedByVcpus& operator=(const UnpreemptedByVcpus&) = delete;

private:
    sched_param old_param_{};
    int old_policy_ = -1;
    bool changed_ = false;
};

class BpfBackend final : public Backend {
public:
    explicit BpfBackend(const BackendConfig& config);
    ~BpfBackend() override;

    const char* name() const override { return "bpf"; }
    RingMapping ring() const override { return ring_; }
    Counters counters() const override;
    std::vector<AggregateEntry> take_aggregates() override;
    void stop() override;
    std::uint64_t skipped_by_kernel() const override;
    std::string detail() const override
    {
        return attach_ + ", per-vCPU state in " + storage_ + cold_note_ + extra_note_;
    }

private:
    // Loads and attaches per plan; returns the plan as attached (see
    // pick()).  Throws BackendError with nothing left behind.
    AttachPlan load_and_attach(const BackendConfig& config, StateStore store, const AttachPlan& plan,
                               const KernelFacts& facts);
    std::string load_first_choice(const BackendConfig& config, StateStore store,
                                  const std::vector<AttachChoice>& choices, const KernelFacts& facts);

    SkelPtr skel_;
    std::vector<LinkPtr> links_;  // in attach order; detached in reverse
    Mapping consumer_page_;
    Mapping producer_and_data_;
    RingMapping ring_;
    StateStore store_ = StateStore::Lru;
    bool aggregate_ = false;
    std::uint32_t agg_hot_keys_ = 0;
    std::string cold_note_;   // for detail(): --summary's tables preallocated
    std::string extra_note_;  // for detail(): kvm_userspace_exit, the other ABIs' tracepoints
    std::string storage_;
    std::string attach_;
};

AttachPlan BpfBackend::load_and_attach(const BackendConfig& config, StateStore store, const AttachPlan& plan,
                                       const KernelFacts& facts)
{
    links_.clear();
    skel_.reset(hypertrace_bpf__open());
    if (!skel_)
        throw BackendError(with_libbpf_log("eBPF backend: cannot open the BPF object"));

    auto* ro = skel_->rodata;
    ro->filter = config.filter;
    ro->raw_exit_args = plan.exit_args;
    ro->raw_entry_args = plan.entry_args;
    ro->lazy_exit_reason = plan.exit != Attach::Classic && plan.exit_args == HT_RAW_EXIT_VCPU_ISA;
    std::memcpy(&ro->tp_layout, &plan.layout, sizeof plan.layout);
    ro->track_uexit = plan.userspace_exit && store == StateStore::Vcpu;
    ro->aggregate = config.aggregate;
    ro->wake_mark = std::max<std::uint64_t>(1, config.ring_bytes / HT_RING_WAKEUP_FRACTION);
    std::uint64_t mask = 0;
    if (::getrandom(&mask, sizeof mask, 0) != sizeof mask)
        mask = 0x5bd1e9955bd1e995ull;
    ro->key_mask = mask | 1;                                // odd: vCPU structs are aligned, so keys are never 0
    if (const std::uint32_t n = config.env.bpf_agg_keys) {  // tests: a tiny table (env_settings.h)
        bpf_map__set_max_entries(skel_->maps.agg0, n);
        bpf_map__set_max_entries(skel_->maps.agg1, n);
    }
    if (int err = bpf_map__set_max_entries(skel_->maps.events, config.ring_bytes))
        throw BackendError("eBPF backend: bad ring size " + std::to_string(config.ring_bytes) + ": " +
                           std::strerror(-err));

    // Exactly one program per tracepoint, and only the maps it uses, are loaded.
    auto& p = skel_->progs;
    struct Programs {  // one tracepoint's: indexed by Attach
        bpf_program* by_mode[3];
        bpf_program* classic_fmt;  // classic, fields at the format offsets (*_fmt)
    };
    struct Set {
        Programs exit, hc, entry;
    };
    // tp_btf programs are optional per tracepoint, so found by name.
    auto btf_prog = [this](const char* name) { return bpf_object__find_program_by_name(skel_->obj, name); };
    const Set sets[] = {
        {{{p.ht_exit_tp_vcpu, p.ht_exit_raw_vcpu, btf_prog("ht_exit_btf_vcpu")}, p.ht_exit_fmt_vcpu},
         {{p.ht_hc_tp_vcpu, p.ht_hc_raw_vcpu, btf_prog("ht_hc_btf_vcpu")}, p.ht_hc_fmt_vcpu},
         {{p.ht_entry_tp_vcpu, p.ht_entry_raw_vcpu, btf_prog("ht_entry_btf_vcpu")}, p.ht_entry_fmt_vcpu}},
        {{{p.ht_exit_tp_task, p.ht_exit_raw_task, btf_prog("ht_exit_btf_task")}, p.ht_exit_fmt_task},
         {{p.ht_hc_tp_task, p.ht_hc_raw_task, btf_prog("ht_hc_btf_task")}, p.ht_hc_fmt_task},
         {{p.ht_entry_tp_task, p.ht_entry_raw_task, btf_prog("ht_entry_btf_task")}, p.ht_entry_fmt_task}},
        {{{p.ht_exit_tp_lru, p.ht_exit_raw_lru, btf_prog("ht_exit_btf_lru")}, p.ht_exit_fmt_lru},
         {{p.ht_hc_tp_lru, p.ht_hc_raw_lru, btf_prog("ht_hc_btf_lru")}, p.ht_hc_fmt_lru},
         {{p.ht_entry_tp_lru, p.ht_entry_raw_lru, btf_prog("ht_entry_btf_lru")}, p.ht_entry_fmt_lru}},
    };
    const Set& set = sets[static_cast<int>(store)];
    // A tracepoint the object has no tp_btf program for is attached raw_tp
    // (the same arguments): bpf/ decides where tp_btf pays.
    AttachPlan used = plan;
    auto pick = [&plan](const Programs& progs, Attach& a) {
        if (a == Attach::Btf && !progs.by_mode[static_cast<int>(Attach::Btf)])
            a = Attach::Raw;
        if (a == Attach::Classic && plan.fields_from_format)
            return progs.classic_fmt;
        return progs.by_mode[static_cast<int>(a)];
    };
    bpf_program* exit_p = pick(set.exit, used.exit);
    bpf_program* hc_p = pick(set.hc, used.hypercall);
    bpf_program* entry_p = pick(set.entry, used.entry);
    bpf_program* const uexit_by_store[] = {p.ht_uexit_fmt_vcpu, p.ht_uexit_fmt_task, p.ht_uexit_fmt_lru};
    bpf_program* uexit_p = plan.userspace_exit ? uexit_by_store[static_cast<int>(store)] : nullptr;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj)
        bpf_program__set_autoload(prog, prog == exit_p || prog == hc_p || prog == entry_p || prog == uexit_p);
    bpf_map__set_autocreate(skel_->maps.uexit_notes, uexit_p && store == StateStore::Vcpu);
    bpf_program* const hv_by_store[] = {p.ht_hv_fmt_vcpu, p.ht_hv_fmt_task, p.ht_hv_fmt_lru};
    bpf_program* const hvd_by_store[] = {p.ht_hvd_fmt_vcpu, p.ht_hvd_fmt_task, p.ht_hvd_fmt_lru};
    bpf_program* hv_p = plan.hv_hypercall ? hv_by_store[static_cast<int>(store)] : nullptr;
    bpf_program* hvd_p = plan.hv_done ? hvd_by_store[static_cast<int>(store)] : nullptr;
    bpf_program* const xen_by_store[] = {p.ht_xen_fmt_vcpu, p.ht_xen_fmt_task, p.ht_xen_fmt_lru};
    bpf_program* xen_p = plan.xen_hypercall ? xen_by_store[static_cast<int>(store)] : nullptr;
    for (bpf_program* extra : {hv_p, hvd_p, xen_p})
        if (extra)
            bpf_program__set_autoload(extra, true);
    bpf_map__set_autocreate(skel_->maps.vcpu_table, store == StateStore::Vcpu);
    bpf_map__set_autocreate(skel_->maps.task_states, store == StateStore::Task);
    bpf_map__set_autocreate(skel_->maps.lru_states, store == StateStore::Lru);
    bpf_map__set_autocreate(skel_->maps.agg0, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg1, config.aggregate);
    bpf_map__set_autocreate(skel_->maps.agg_zero, config.aggregate);
    // Hot keys are the vcpu set's (a slot caches one).
    bpf_map__set_autocreate(skel_->maps.agg_index, config.aggregate && store == StateStore::Vcpu);
    bpf_map__set_autocreate(skel_->maps.agg_hot, config.aggregate && store == StateStore::Vcpu);
    if (config.aggregate) {
        // Hot keys cost sizeof(ht_agg_value) per CPU each, twice (two
        // parities): keep them under 32 MiB on big hosts.
        const int ncpus = std::max(1, libbpf_num_possible_cpus());
        const std::size_t budget = std::size_t{32} << 20;
        const std::size_t fit = budget / (2 * sizeof(ht_agg_value) * static_cast<std::size_t>(ncpus));
        if (!facts.bpf_mem_alloc.value) {
            // Before the kernel had an allocator safe in any context
            // (bpf_mem_alloc, 6.1), a tracing program's hash elements
            // allocated at run time get a kernel WARNING ("trace type BPF
            // program uses run-time allocation", kernel/bpf/verifier.c):
            // the cold tables are preallocated, in the same budget.  Keys
            // beyond them travel as records, into the same statistics.
            const std::uint32_t cold = static_cast<std::uint32_t>(
                std::clamp<std::size_t>(fit, 1, config.env.bpf_agg_keys ? config.env.bpf_agg_keys : HT_AGG_KEYS));
            for (bpf_map* m : {skel_->maps.agg0, skel_->maps.agg1}) {
                bpf_map__set_map_flags(m, bpf_map__map_flags(m) & ~BPF_F_NO_PREALLOC);
                bpf_map__set_max_entries(m, cold);
            }
            cold_note_ =
                ", --summary keys preallocated (" + std::to_string(cold) + ": " + facts.bpf_mem_alloc.how + ")";
        }
        const std::uint32_t hot = static_cast<std::uint32_t>(std::clamp<std::size_t>(fit, 1, HT_AGG_HOT_KEYS));
        ro->agg_hot_keys = hot;
        bpf_map__set_max_entries(skel_->maps.agg_index, 2 * hot);
        bpf_map__set_max_entries(skel_->maps.agg_hot, 2 * hot);
        agg_hot_keys_ = hot;
    }

    if (int err = hypertrace_bpf__load(skel_.get())) {
        std::string msg = "eBPF backend: loading the BPF programs failed: " + std::string(std::strerror(-err));
        if (err == -EPERM || err == -EACCES)
            msg += " (run as root: CAP_BPF and CAP_PERFMON are needed)";
        // The verifier's reason on the first line, which fallback notes
        // and the "using" line quote.
        if (const std::string why = verifier_reason(libbpf_log()); !why.empty())
            msg += ": the verifier rejected " + why;
        skel_.reset();
        throw BackendError(with_libbpf_log(msg));
    }

    // Attach entry first, hypercall last: a thread is never seen mid-way
    // through exit -> hypercall with only half the programs attached, so
    // start-up adds no spurious "unmatched" counts.
    // kvm_userspace_exit last: it only ever touches an armed hypercall.
    for (bpf_program* prog : {entry_p, exit_p, hvd_p, hc_p, hv_p, xen_p, uexit_p}) {
        if (!prog)
            continue;
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
    return used;
}

// Loads and attaches with the first attach choice that works; returns its
// description for detail(), with why the better ones failed.  Classic
// tracepoints are found through tracefs (which also tells "kvm not loaded"
// apart from "tracefs not mounted"); raw ones by name only.
std::string BpfBackend::load_first_choice(const BackendConfig& config, StateStore store,
                                          const std::vector<AttachChoice>& choices, const KernelFacts& facts)
{
    std::string failed_labels, last_error;
    for (std::size_t i = 0; i < choices.size(); ++i) {
        const AttachChoice& c = choices[i];
        if (c.plan.any_classic()) {
            const Fact<std::string> events = i == 0 ? facts.kvm_events_dir : find_kvm_events_dir();
            if (events.value.empty()) {
                if (i == 0)
                    throw BackendError("eBPF backend: " + events.how);
                throw BackendError(last_error + "\n(classic fallback: " + events.how + ")");
            }
        }
        try {
            const AttachPlan used = load_and_attach(config, store, c.plan, facts);
            const std::string why = c.why.empty() ? used.describe() : c.why;
            // Last in detail(): the tracepoints beyond the three hot ones.
            extra_note_ = "; " + used.userspace_exit_how + "; " + used.hv_how + "; " + used.xen_how;
            if (i == 0)
                return why;
            return why + " (" + failed_labels + " ones failed: " + first_line(last_error) + ")";
        } catch (const BackendError& e) {
            if (i + 1 == choices.size()) {
                if (c.no_classic.empty())
                    throw;
                const std::string what = e.what();
                const std::size_t nl = what.find('\n');
                throw BackendError(what.substr(0, nl) + " (" + c.no_classic + ")" +
                                   (nl == std::string::npos ? "" : what.substr(nl)));
            }
            failed_labels += (failed_labels.empty() ? "" : " and ") + c.label;
            last_error = e.what();
            libbpf_log().clear();
        }
    }
    throw BackendError("eBPF backend: no way to attach");  // not reached: choices is never empty
}

BpfBackend::BpfBackend(const BackendConfig& config) : aggregate_(config.aggregate)
{
    libbpf_log().clear();
    libbpf_set_print(collect_libbpf_print);

    if (std::string caps = missing_bpf_capabilities(); !caps.empty())
        throw BackendError("eBPF backend: " + caps);

    KernelFacts facts = *facts_for(config);
    // What every way of loading needs: the ring buffer for the records.
    if (const Fact<bool> ring = probe_ringbuf(); !ring.value)
        throw BackendError("eBPF backend: " + ring.how + ": its records go to a BPF ring buffer");
    // Whether kvm_hypercall may be raw (only asked where it could be).
    if (facts.prototypes.value.hypercall && config.env.bpf_attach != "classic") {
        facts.preemptible_tracepoints = probe_preemptible_tracepoints();
        libbpf_log().clear();  // the probe's messages are in its `how`
    }
    const std::vector<AttachChoice> choices = attach_choices(facts, config.env.bpf_attach, config.env.bpf_fields);

    // Candidates for the state, best first.
    std::vector<StateStore> stores;
    std::string skipped;  // why a better store was not tried, for detail()
    const std::string& forced = config.env.bpf_state;
    if (!forced.empty()) {
        // A forced store the kernel does not offer: say which part is
        // missing rather than how the load failed.
        auto refuse = [&forced](const std::string& why) {
            return BackendError("eBPF backend: HYPERTRACE_BPF_STATE=" + forced + ", but " + why);
        };
        if (forced == "vcpu") {
            if (!facts.running_vcpu.value)
                throw refuse(facts.running_vcpu.how);
            stores.push_back(StateStore::Vcpu);
        } else if (forced == "task") {
            if (const Fact<bool> task = probe_task_storage(); !task.value)
                throw refuse(task.how);
            stores.push_back(StateStore::Task);
        } else if (forced == "lru")
            stores.push_back(StateStore::Lru);
        else
            throw BackendError("eBPF backend: HYPERTRACE_BPF_STATE='" + forced +
                               "' is not one of vcpu, task, lru: unset it or pick one");
    } else {
        if (facts.running_vcpu.value)
            stores.push_back(StateStore::Vcpu);
        else
            skipped +=
                std::string(" (") + store_name(StateStore::Vcpu) + " not usable: " + facts.running_vcpu.how + ")";
        if (const Fact<bool> task = probe_task_storage(); task.value)
            stores.push_back(StateStore::Task);
        else
            skipped += std::string(" (") + store_name(StateStore::Task) + " not usable: " + task.how + ")";
        stores.push_back(StateStore::Lru);
    }

    std::string failures;  // of the better stores, for detail()
    for (std::size_t i = 0; i < stores.size(); ++i) {
        const StateStore store = stores[i];
        try {
            attach_ = load_first_choice(config, store, choices, facts);
            store_ = store;
            storage_ = store_name(store) + skipped + failures;
            break;
        } catch (const BackendError& e) {
            if (i + 1 == stores.size())
                throw;
            const std::string first = e.what();
            failures += std::string(" (") + store_name(store) + " failed: " + first_line(first) + ")";
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

// Waits for the programs to be unloaded (bpf_unload.h says why), so that
// "hypertrace exited" means "nothing of it is left in the kernel".
BpfBackend::~BpfBackend()
{
    stop();
    std::vector<std::uint32_t> ids = loaded_program_ids(skel_ ? skel_->obj : nullptr);
    consumer_page_ = Mapping();
    producer_and_data_ = Mapping();
    skel_.reset();
    wait_until_unloaded(std::move(ids));
}

void BpfBackend::stop()
{
    if (links_.empty())
        return;
    // Reverse order: hypercall first, so nothing is armed after its entry's
    // program is gone.
    while (!links_.empty())
        links_.pop_back();
    // A detached program may still be running on another CPU: the record or
    // count it is making would land after the final drain and read of the
    // counters (counted emitted, never read).  Programs run inside RCU
    // read-side sections; wait for them to end.
    wait_for_running_programs();
}

// The kernel skips a program's run when that CPU's BPF context is taken:
// by a preempted run of the same raw tracepoint program (prog->active), or
// for a classic one by any BPF program or map access in progress there
// (bpf_prog_active); kernel/trace/bpf_trace.c.  It counts them (5.12+).
std::uint64_t BpfBackend::skipped_by_kernel() const
{
    std::uint64_t skipped = 0;
    if (skel_)
        for_each_loaded_program(skel_->obj, [&](const bpf_prog_info& info) { skipped += info.recursion_misses; });
    return skipped;
}

Counters BpfBackend::counters() const
{
    Counters total{};
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0 || !skel_)
        return total;
    struct PerCpu {
        std::uint64_t c[HT_CNT_MAX];
    };
    std::vector<PerCpu> values(static_cast<std::size_t>(ncpus));
    const std::uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) == 0)
        for (const auto& v : values)
            for (int i = 0; i < HT_CNT_MAX; ++i)
                total[static_cast<std::size_t>(i)] += v.c[i];
    // The vcpu set counts in its slots (no per-CPU map lookup per event).
    if (store_ == StateStore::Vcpu) {
        auto table = std::make_unique<ht_vcpu_table>();
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.vcpu_table), &key, table.get()) == 0)
            for (const auto& sl : table->slot)
                for (int i = 0; i < HT_CNT_MAX; ++i)
                    total[static_cast<std::size_t>(i)] += sl.counters[i];
    }
    return total;
}

// Sums one key's per-CPU values into e.
void add_per_cpu(AggregateEntry& e, const std::vector<ht_agg_value>& per_cpu)
{
    for (const ht_agg_value& v : per_cpu)
        ht_agg_merge(&e.value, &v);
}

std::vector<ht_agg_key> all_keys(int fd)
{
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

std::vector<AggregateEntry> BpfBackend::take_aggregates()
{
    std::vector<AggregateEntry> out;
    if (!aggregate_ || !skel_)
        return out;
    // Next generation: programs that start now write the other parity.
    const std::uint32_t old_gen = skel_->bss->agg_gen;
    const std::uint32_t parity = old_gen & 1;
    skel_->bss->agg_gen = old_gen + 1;
    wait_for_running_programs();
    const UnpreemptedByVcpus guard(!links_.empty());

    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0)
        return out;
    std::vector<ht_agg_value> per_cpu(static_cast<std::size_t>(ncpus));
    const std::vector<ht_agg_value> zeros(static_cast<std::size_t>(ncpus));

    // Hot keys of the old parity: read their agg_hot entries, zero them, and
    // hand the entries out afresh.  (The vcpu set's only; -1 otherwise.)
    const int index_fd = bpf_map__fd(skel_->maps.agg_index);
    const int hot_fd = bpf_map__fd(skel_->maps.agg_hot);
    for (const ht_agg_key& k : index_fd < 0 ? std::vector<ht_agg_key>{} : all_keys(index_fd)) {
        if (k.parity != parity)
            continue;
        std::uint32_t idx = 0;
        if (bpf_map_lookup_elem(index_fd, &k, &idx) == 0 && idx < 2 * agg_hot_keys_ &&
            bpf_map_lookup_elem(hot_fd, &idx, per_cpu.data()) == 0) {
            AggregateEntry e;
            e.key = k;
            e.key.parity = 0;
            add_per_cpu(e, per_cpu);
            if (e.value.count)
                out.push_back(e);
            bpf_map_update_elem(hot_fd, &idx, zeros.data(), BPF_ANY);
        }
        bpf_map_delete_elem(index_fd, &k);
    }
    // Entries a lost insert race left unused are zero already.
    skel_->bss->agg_hot_used[parity] = 0;

    // The cold keys.
    const int fd = bpf_map__fd(parity ? skel_->maps.agg1 : skel_->maps.agg0);
    for (const ht_agg_key& k : all_keys(fd)) {
        if (bpf_map_lookup_elem(fd, &k, per_cpu.data()) != 0)
            continue;
        AggregateEntry e;
        e.key = k;
        add_per_cpu(e, per_cpu);
        bpf_map_delete_elem(fd, &k);
        if (e.value.count)
            out.push_back(e);
    }
    return out;
}

}  // namespace

std::unique_ptr<Backend> open_bpf_backend(const BackendConfig& config) { return std::make_unique<BpfBackend>(config); }

}  // namespace hypertrace
