/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What to trace, and the counters every backend keeps.
 *
 * The BPF backend holds struct ht_filter as `const volatile` data set before
 * load (so the verifier prunes disabled filters); the module receives the same
 * struct by ioctl; the unit tests build it by hand.  Counters are indexed by
 * enum ht_counter in both backends so userspace prints them one way.
 */
#ifndef HT_CONFIG_H
#define HT_CONFIG_H

#include "ht_types.h"

/*
 * Hypercall numbers to trace, as sorted, merged, inclusive ranges.  The CLI
 * accepts any number of list items; they must merge into at most this many
 * ranges.  Ranges keep a `-n 0x1000-0x1fff` filter as cheap as `-n 42`.
 */
#define HT_MAX_NR_RANGES 128

enum ht_reason_mode {
	/* any exit followed by kvm_hypercall */
	HT_REASON_ANY = 0,
	/* only VMCALL (VMX 18) / VMMCALL (SVM 0x81) */
	HT_REASON_HYPERCALL_ONLY = 1,
};

#define HT_PID_ANY 0u
#define HT_VCPU_ANY 0xffffffffu

struct ht_nr_range {
	__u64 lo; /* inclusive */
	__u64 hi; /* inclusive */
};

/*
 * Numbers are selected per ABI (enum ht_abi, common/ht_record.h): KVM's in
 * nr_ranges, Hyper-V call codes in hv_ranges, Xen's in xen_ranges.  For each
 * ABI: its bit in abi_none set: none of its hypercalls; else a count of 0:
 * every number; else the ranges.  All zero (the default) traces everything;
 * a selection of only some ABIs sets the others' abi_none bits (userspace's
 * make_filter()).
 */
struct ht_filter {
	__u32 nr_range_count; /* KVM; 0: every hypercall number */
	__u32 reason_mode;    /* enum ht_reason_mode */
	__u32 pid;	      /* VM process (tgid) or HT_PID_ANY */
	__u32 vcpu;	      /* vcpu_id or HT_VCPU_ANY */
	__u64 min_latency_ns; /* emit only if entry - exit >= this */
	struct ht_nr_range nr_ranges[HT_MAX_NR_RANGES];
	__u32 hv_range_count;  /* Hyper-V call codes; 0: every code */
	__u32 xen_range_count; /* Xen; 0: every number */
	__u32 abi_none;	       /* 1 << enum ht_abi: none of that ABI */
	__u32 reserved;	       /* zero */
	struct ht_nr_range hv_ranges[HT_MAX_NR_RANGES];
	struct ht_nr_range xen_ranges[HT_MAX_NR_RANGES];
};

HT_STATIC_ASSERT(sizeof(struct ht_filter) == 40 + 3 * 16 * HT_MAX_NR_RANGES,
		 "ht_filter layout is ABI (module ioctl)");

enum ht_counter {
	HT_CNT_EMITTED = 0,	    /* records written to the ring */
	HT_CNT_DROPPED,		    /* records lost: ring full */
	HT_CNT_UNMATCHED_HYPERCALL, /* hypercall with no exit before it, or
				      * armed hypercall whose entry never came
				      * (another exit first, or an entry of
				      * another thread or vCPU run) */
	HT_CNT_UNMATCHED_EXIT, /* exit followed by another exit, no entry */
	HT_CNT_FILTERED,       /* hypercalls seen but not wanted (nr, vcpu,
				      * exit reason, min latency) */
	HT_CNT_EVICTED,	       /* per-thread state evicted (bounded table) */
	HT_CNT_NO_STATE,       /* per-thread state unavailable (alloc/lock) */
	HT_CNT_HYPERCALLS,     /* kvm_hypercall events of the traced pid(s) */
	HT_CNT_IN_FLIGHT,      /* armed hypercalls not resolved yet: +1
				      * when armed, -1 when emitted, dropped,
				      * filtered or unmatched (summed modulo
				      * 2^64); at stop, the armed ones that
				      * never saw their entry */
	HT_CNT_MAX,
};

#endif /* HT_CONFIG_H */
