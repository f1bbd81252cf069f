/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Configuration shared by hypertrace.bpf.c and its loader (bpf_backend.cpp),
 * in the spirit of libbpf-tools' <tool>.h: what the loader sets before load.
 */
#ifndef HYPERTRACE_BPF_H
#define HYPERTRACE_BPF_H

/*
 * Per-thread state storage.  Task local storage (5.11+ for tracing programs)
 * is freed with the task and costs no hash update; the LRU hash keyed by tid
 * is the fallback for kernels without it.  The loader enables exactly one set
 * of programs (see bpf_backend.cpp: use_task_storage()).
 */
#define HT_STATE_LRU_ENTRIES 16384

/*
 * Attach modes, per tracepoint, chosen by the loader from the kernel's BTF
 * (btf_trace_kvm_* prototypes, vendor vCPU structs).  Classic (perf)
 * tracepoints make the kernel format the whole record before the program
 * runs; raw tracepoints hand over the probe arguments and cost much less.
 */
enum ht_raw_exit_args {
	HT_RAW_EXIT_VCPU_ISA = 0,        /* >= 5.16: (vcpu, isa); reason read lazily */
	HT_RAW_EXIT_REASON_VCPU_ISA = 1, /* <= 5.15: (exit_reason, vcpu, isa) */
};

enum ht_raw_entry_args {
	HT_RAW_ENTRY_VCPU = 0,    /* >= 5.10: (vcpu[, force_immediate_exit]) */
	HT_RAW_ENTRY_VCPU_ID = 1, /* <= 5.9: (vcpu_id) */
};

#endif /* HYPERTRACE_BPF_H */
