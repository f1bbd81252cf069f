// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// What the running kernel offers hypertrace, read once from the kernel's own
// descriptions (BTF, /proc/kallsyms, tracefs) and shared by both backends and
// --check.  Each fact carries a short sentence saying how it was found (or
// why not), which detail() and --check print.
#pragma once

#include <cstdint>
#include <string>

#include "kernel/record_format.h"

extern "C" {
#include "ht_ioctl.h"
}

namespace hypertrace {

template <typename T>
struct Fact {
    T value{};
    std::string how;  // how it was found, or why not
};

// The kvm tracepoints' prototypes (arch/x86/kvm/trace.h, include/trace/
// events/kvm.h), from the typedefs btf_trace_kvm_* in kvm's module BTF, or
// vmlinux BTF when kvm is built in.  One encoding, common/ht_ioctl.h's.
struct TracepointPrototypes {
    std::uint32_t exit = HT_EXIT_PROTO_AUTO;    // AUTO: unknown
    std::uint32_t entry = HT_ENTRY_PROTO_AUTO;  // AUTO: unknown
    bool hypercall = false;                     // (nr, a0, a1, a2, a3)
    // Parameter kinds including the leading void *__data: 'p' pointer,
    // 'b' bool (1-byte integer), 'i' other integer or enum, '?' anything
    // else; empty when the typedef is missing.  For messages.
    std::string exit_params, entry_params, hypercall_params;
    bool any_found() const { return !exit_params.empty() || !entry_params.empty() || !hypercall_params.empty(); }
    // Both exit and entry are known (what the module needs).
    bool known() const { return exit != HT_EXIT_PROTO_AUTO && entry != HT_ENTRY_PROTO_AUTO; }
};

// Where kvm_exit's reason lives since 5.16 (it is no longer an argument):
// the vendor vCPU struct, from kvm_amd's / kvm_intel's BTF (vmlinux's when
// built in).  offsets.isa is HT_ISA_UNKNOWN when not found.
struct ExitReasonLocation {
    ht_ioc_reason offsets{};    // what HT_IOC_SET_REASON takes
    std::string vendor_struct;  // "vcpu_svm" or "vcpu_vmx"
    std::string btf_source;     // "kvm_amd", "kvm_intel" or "vmlinux"
};

// kvm's classic records (kvm_exit, kvm_hypercall, kvm_entry): whether BTF
// describes them (trace_event_raw_kvm_*, kvm's module BTF or vmlinux's when
// kvm is built in: CO-RE then finds their fields), and their layouts from the
// events' tracefs format files, the description every kernel has.
struct ClassicRecords {
    std::string btf_source;               // the BTF with all three; empty: none
    RecordFormat exit, hypercall, entry;  // empty when a format file is missing
    // kvm_userspace_exit (include/trace/events/kvm.h: reason, errno), where
    // the kernel has it: the VMM-served split.  Empty when missing.
    RecordFormat userspace_exit;
    // kvm_hv_hypercall and kvm_hv_hypercall_done (arch/x86/kvm/trace.h),
    // where the kernel has them (done: 5.15+).  Empty when missing.
    RecordFormat hv_hypercall, hv_hypercall_done;
    // kvm_xen_hypercall (arch/x86/kvm/trace.h, 5.12+), where the kernel has
    // it.  Empty when missing.
    RecordFormat xen_hypercall;
};

// Whether KVM can hand a Xen HVM guest's hypercalls to kvm_xen_hypercall()
// (arch/x86/kvm/xen.c), from KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM) on
// /dev/kvm: the KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL bit (5.12+, and only in
// kernels built with CONFIG_KVM_XEN; without it the kvm_xen_hypercall
// event may still be in tracefs, but nothing fires it).  Unknown: /dev/kvm
// could not be asked (kvm not loaded).
enum class XenIntercept { Unknown, Yes, No };

struct KernelFacts;

// kvm_xen_hypercall's prototype from its format file (enum ht_xen_proto: a
// cpl field means the prototype that starts with it), NONE with why (and
// what to do) in *how when it is missing, lacks a field hypertrace reads,
// or cannot fire here (k.xen_intercept No).
std::uint32_t xen_hypercall_proto(const KernelFacts& k, std::string* how);

// kvm_hv_hypercall's prototype from its format file (enum ht_hv_proto:
// var_cnt in the record means the 5.17+ prototype, which added both), NONE
// with why in *how when it is missing or lacks a field hypertrace reads.
std::uint32_t hv_hypercall_proto(const ClassicRecords& r, std::string* how);

struct KernelFacts {
    bool vmlinux_btf = false;  // /sys/kernel/btf/vmlinux loads
    Fact<TracepointPrototypes> prototypes;
    Fact<ExitReasonLocation> exit_reason;
    // KVM's per-CPU kvm_running_vcpu (virt/kvm/kvm_main.c) is a BTF variable
    // and has an address in /proc/kallsyms: the eBPF slot table can find the
    // vCPU at kvm_hypercall.
    Fact<bool> running_vcpu;
    // The tracefs events directory with kvm/kvm_{exit,hypercall,entry};
    // empty when absent, and `how` then names the fix (mount tracefs, load kvm).
    Fact<std::string> kvm_events_dir;
    Fact<ClassicRecords> classic_records;
    // The kernel's BPF allocator for any context (struct bpf_mem_alloc in
    // vmlinux BTF, 6.1+): only with it may a tracing program's hash map
    // allocate elements at run time without a kernel WARNING
    // (kernel/bpf/verifier.c, check_map_prog_compatibility() before it).
    Fact<bool> bpf_mem_alloc;
    // Raw tracepoint programs run with preemption enabled (the tracepoint
    // no longer disables it around its callbacks).  Then a run of a program
    // that starts on a CPU while another run of it is preempted there is
    // skipped by the kernel: kvm_hypercall, which fires preemptible, is
    // attached classic.  Probed by the eBPF backend
    // (backend/preempt_probe.h), not by probe_kernel_facts(); false until.
    Fact<bool> preemptible_tracepoints;
    Fact<XenIntercept> xen_intercept;
};

// Reads BTF, kallsyms and tracefs.  Never throws; silences libbpf while it
// reads BTF.
KernelFacts probe_kernel_facts();

// BPF task storage and the helpers the task state set uses (5.11+).  Loads
// probe programs, so only the eBPF backend asks.
Fact<bool> probe_task_storage();

// The BPF ring buffer map (5.8+), where the eBPF backend's records go.
Fact<bool> probe_ringbuf();

// The tracefs events directory holding kvm/kvm_{exit,hypercall,entry}, or
// empty with `how` naming the fix; checked afresh on every call.
Fact<std::string> find_kvm_events_dir();

// Effective capabilities needed to load and attach tracing BPF programs;
// empty when present, else a message naming the missing ones.
std::string missing_bpf_capabilities();

// Prototype names for messages, e.g. "(vcpu, isa)".
const char* exit_proto_name(std::uint32_t p);
const char* entry_proto_name(std::uint32_t p);
// "kvm_exit(vcpu, isa), kvm_entry(vcpu)".
std::string proto_pair(std::uint32_t exit, std::uint32_t entry);

}  // namespace hypertrace
