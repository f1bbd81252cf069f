/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one record both backends emit, one per traced hypercall.
 *
 * Fixed layout, little-endian (x86 only), no kernel pointers, no implicit
 * padding (every hole is a named field).  Readers check `version` and `size`
 * and refuse what they do not know rather than misread it.  Timestamps are
 * CLOCK_MONOTONIC nanoseconds: bpf_ktime_get_ns() in BPF, ktime_get_ns() in
 * the module, clock_gettime(CLOCK_MONOTONIC) in userspace, all one clock.
 */
#ifndef HT_RECORD_H
#define HT_RECORD_H

#include "ht_types.h"

#define HT_RECORD_VERSION 1

/* Values of the kernel's `isa` trace field (arch/x86/include/uapi/asm/kvm.h). */
enum ht_isa {
	HT_ISA_UNKNOWN = 0,
	HT_ISA_VMX = 1,
	HT_ISA_SVM = 2,
};

/* ht_record.flags */
#define HT_REC_F_REASON_UNKNOWN (1u << 0) /* exit_reason/isa not available */
#define HT_REC_F_VCPU_UNKNOWN (1u << 1)	  /* vcpu_id not available */

#define HT_VCPU_UNKNOWN 0xffffffffu

struct ht_record {
	__u16 version;	      /* HT_RECORD_VERSION */
	__u16 size;	      /* sizeof(struct ht_record) */
	__u8 isa;	      /* enum ht_isa */
	__u8 flags;	      /* HT_REC_F_* */
	__u16 reserved0;      /* zero */
	__u32 pid;	      /* VM process (tgid) on the host */
	__u32 tid;	      /* vCPU thread id on the host */
	__u32 vcpu_id;	      /* KVM vcpu_id, HT_VCPU_UNKNOWN if not known */
	__u32 cpu;	      /* host CPU that ran kvm_entry */
	__u32 exit_reason;    /* raw vendor exit reason (VMX: with flag bits) */
	__u32 reserved1;      /* zero */
	__u64 nr;	      /* hypercall number */
	__u64 a0, a1, a2, a3; /* hypercall arguments */
	__u64 t_exit_ns;      /* kvm_exit */
	__u64 t_hypercall_ns; /* kvm_hypercall */
	__u64 t_entry_ns;     /* kvm_entry that closed it */
};

HT_STATIC_ASSERT(sizeof(struct ht_record) == 96, "ht_record size is ABI");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, pid) == 8, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, exit_reason) == 24,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, nr) == 32, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, a3) == 64, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, t_exit_ns) == 72,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, t_entry_ns) == 88,
		 "ht_record layout");

#endif /* HT_RECORD_H */
