/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Configuration shared by hypertrace.bpf.c and its loader
 * (userspace/backend/bpf_backend.cpp),
 * in the spirit of libbpf-tools' <tool>.h: what the loader sets before load.
 */
#ifndef HYPERTRACE_BPF_H
#define HYPERTRACE_BPF_H

#include "ht_config.h"
#include "ht_vcpu_table.h"

/*
 * Per-thread state storage.  Task local storage (5.11+ for tracing programs)
 * is freed with the task and costs no hash update; the LRU hash keyed by tid
 * is the fallback for kernels without it.  The loader enables exactly one set
 * of programs (see bpf_backend.cpp: use_task_storage()).
 */
#define HT_STATE_LRU_ENTRIES 16384

/* The vcpu set's slot table (common/ht_vcpu_table.h): 4096 slots of
 * struct ht_bpf_slot, 8-slot windows; a host runs far fewer vCPUs. */
#define HT_VT_SLOTS 4096

/*
 * A vCPU's slot, and what the program keeps per vCPU besides the state: its
 * share of the counters (no per-CPU map lookup per event; the loader sums
 * the slots) and --summary's cache of the vCPU's last (pid, abi, nr): its
 * generation and where its statistics live (agg_hot index + 1; 0: nothing
 * cached), so a repeat finds them without a hash lookup.
 */
struct ht_bpf_slot {
	struct ht_vcpu_slot vt; /* first: ht_vt_* take the stride */
	__u64 counters[HT_CNT_MAX];
	__u64 agg_nr;
	__u32 agg_pid;
	__u32 agg_gen;
	__u32 agg_idx;
	__u8 agg_abi;
	__u8 reserved[3];
};

/* The vcpu_table map's one value. */
struct ht_vcpu_table {
	struct ht_bpf_slot slot[HT_VT_SLOTS];
};

/* --summary: at most this many (pid, nr) keys per interval; more are
 * counted as dropped.  Values are per CPU, allocated on first use. */
#define HT_AGG_KEYS 512

/* --summary's hot keys: per interval the first this-many (pid, nr) keys get
 * a per-CPU array entry found through the vCPU slot's cache, without hashing;
 * later keys use the hash above.  The loader may lower it on hosts with many
 * CPUs (each entry is sizeof(struct ht_agg_value) per CPU, twice). */
#define HT_AGG_HOT_KEYS 16

/*
 * Attach modes, per tracepoint, chosen by the loader from the kernel's BTF
 * (btf_trace_kvm_* prototypes, vendor vCPU structs).  Classic (perf)
 * tracepoints make the kernel format the whole record before the program
 * runs; raw tracepoints hand over the probe arguments and cost much less.
 */
enum ht_raw_exit_args {
	HT_RAW_EXIT_VCPU_ISA = 0, /* >= 5.16: (vcpu, isa); reason read lazily */
	HT_RAW_EXIT_REASON_VCPU_ISA = 1, /* <= 5.15: (exit_reason, vcpu, isa) */
};

enum ht_raw_entry_args {
	HT_RAW_ENTRY_VCPU = 0,	  /* >= 5.10: (vcpu[, force_immediate_exit]) */
	HT_RAW_ENTRY_VCPU_ID = 1, /* <= 5.9: (vcpu_id) */
};

/*
 * kvm_entry may also be attached as a BTF-typed tracepoint (tp_btf, the
 * *_btf programs; the same raw_entry_args): its vCPU argument is then a
 * typed pointer, and vcpu_id and the exit count are plain loads instead of
 * probe reads.  kvm_exit and kvm_hypercall gain nothing from it (the exit
 * reads no vCPU field, kvm_hypercall has no vCPU argument).
 */

/*
 * Classic tracepoints whose records are in no BTF (kvm a module on a kernel
 * without module BTF, CONFIG_DEBUG_INFO_BTF_MODULES, so CO-RE knows nothing
 * of trace_event_raw_kvm_*): the loader reads where the fields are from the
 * events' tracefs format files, sets tp_layout and loads the *_fmt programs.
 * Such a program copies one span of its record with one probe read (the
 * verifier allows only constant offsets into a tracepoint's context) and
 * takes the fields from the copy.  Offsets of the fields are from the span's
 * start, aligned to their size; sizes are fixed: exit_reason, isa and
 * vcpu_id 4 bytes, nr and a0..a3 8 (arch/x86/kvm/trace.h).
 */
#define HT_TP_SPAN_MAX 64

struct ht_tp_layout {
	__u32 exit_start, exit_len;  /* kvm_exit's span in its record */
	__u32 exit_reason, exit_isa; /* in the span */
	__u32 hc_start, hc_len;	     /* kvm_hypercall's */
	__u32 hc_nr, hc_a0, hc_a1, hc_a2, hc_a3;
	__u32 entry_vcpu_id; /* kvm_entry: read alone, at an armed entry */
	__u32 uexit_reason;  /* kvm_userspace_exit: read alone, from its
			      * format file on every kernel (the program is
			      * classic everywhere: it fires once per return
			      * to the VMM, not per exit) */
	/* kvm_hv_hypercall's span and fields (classic at its format
	 * offsets on every kernel, as kvm_userspace_exit); var_cnt only
	 * where the event has it (5.17+: hv_has_var_cnt) */
	__u32 hv_start, hv_len;
	__u32 hv_code, hv_fast, hv_var_cnt, hv_rep_cnt, hv_rep_idx;
	__u32 hv_ingpa, hv_outgpa, hv_has_var_cnt;
	__u32 hv_done_result; /* kvm_hv_hypercall_done's, read alone */
	/* kvm_xen_hypercall's nr, followed by a0..a5 (8 bytes each, one
	 * after the other: the loader checks), copied with one read (classic
	 * at its format offsets on every kernel, as kvm_hv_hypercall) */
	__u32 xen_nr;
};

/*
 * The vcpu set at kvm_userspace_exit: the vCPU is put by then (no
 * kvm_running_vcpu) and the tracepoint has no vCPU argument, so a wanted
 * hypercall leaves the thread a note of its slot: the vCPU (masked, as the
 * slot key) and the hypercall's time, which the userspace exit checks
 * against the slot's armed state before touching it.
 */
struct ht_uexit_note {
	__u64 key;
	__u64 t_hypercall_ns;
};

#endif /* HYPERTRACE_BPF_H */
