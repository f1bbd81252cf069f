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

/* Version 2: the ABI (abi) and its fields, the VMM-served split
 * (t_userspace_exit_ns, uexit_reason, HT_REC_F_VMM_SERVED); 152 bytes. */
#define HT_RECORD_VERSION 2

/* Values of the kernel's `isa` trace field (arch/x86/include/uapi/asm/kvm.h). */
enum ht_isa {
	HT_ISA_UNKNOWN = 0,
	HT_ISA_VMX = 1,
	HT_ISA_SVM = 2,
};

/*
 * The hypercall ABI, i.e. which tracepoint saw the hypercall (the dispatch in
 * kvm_emulate_hypercall(), arch/x86/kvm/x86.c: Xen, then Hyper-V, then KVM):
 *   KVM     kvm_hypercall          nr, a0..a3
 *   Hyper-V kvm_hv_hypercall       nr = code, hv_* (kvm_hv_hypercall_done:
 *                                  hv_result, HT_REC_F_HV_RESULT)
 *   Xen     kvm_xen_hypercall      nr, a0..a5
 */
enum ht_abi {
	HT_ABI_KVM = 0,
	HT_ABI_HYPERV = 1,
	HT_ABI_XEN = 2,
	HT_ABI_COUNT,
};

/* The kvm_run exit reason (include/uapi/linux/kvm.h) with which KVM hands a
 * hypercall of each ABI to the VMM. */
#define HT_KVM_EXIT_HYPERCALL 3
#define HT_KVM_EXIT_HYPERV 27
#define HT_KVM_EXIT_XEN 34

/* ht_record.flags */
#define HT_REC_F_REASON_UNKNOWN (1u << 0) /* exit_reason/isa not available */
#define HT_REC_F_VCPU_UNKNOWN (1u << 1)	  /* vcpu_id not available */
/* kvm_userspace_exit came between the hypercall and the entry with the
 * ABI's forwarding reason (HT_KVM_EXIT_*): the VMM served it. */
#define HT_REC_F_VMM_SERVED (1u << 2)
/* hv_result is kvm_hv_hypercall_done's (Hyper-V; else 0, not known). */
#define HT_REC_F_HV_RESULT (1u << 3)

#define HT_VCPU_UNKNOWN 0xffffffffu

/*
 * Every ABI's fields have their own place, so no field means two things: a
 * reader that knows only version 1's fields (nr, a0..a3) reads a Hyper-V
 * record's code as nr and zeroes as a0..a3, never a GPA as an argument.
 */
struct ht_record {
	__u16 version;	      /* HT_RECORD_VERSION */
	__u16 size;	      /* sizeof(struct ht_record) */
	__u8 isa;	      /* enum ht_isa */
	__u8 flags;	      /* HT_REC_F_* */
	__u8 abi;	      /* enum ht_abi */
	__u8 hv_fast;	      /* Hyper-V: fast (register) hypercall */
	__u32 pid;	      /* VM process (tgid) on the host */
	__u32 tid;	      /* vCPU thread id on the host */
	__u32 vcpu_id;	      /* KVM vcpu_id, HT_VCPU_UNKNOWN if not known */
	__u32 cpu;	      /* host CPU that ran kvm_entry */
	__u32 exit_reason;    /* raw vendor exit reason (VMX: with flag bits) */
	__u32 uexit_reason;   /* kvm_run exit_reason at the first
			       * kvm_userspace_exit, 0 if none */
	__u64 nr;	      /* hypercall number (Hyper-V: call code) */
	__u64 a0, a1, a2, a3; /* KVM and Xen arguments (Hyper-V: 0) */
	__u64 t_exit_ns;      /* kvm_exit */
	__u64 t_hypercall_ns; /* kvm_hypercall / kvm_hv_hypercall /
			       * kvm_xen_hypercall */
	__u64 t_entry_ns;     /* kvm_entry that closed it */
	/* version 2 */
	__u64 a4, a5;		   /* Xen arguments (else 0) */
	__u64 t_userspace_exit_ns; /* first kvm_userspace_exit after the
				    * hypercall, 0 if none */
	__u64 hv_ingpa;		   /* Hyper-V input GPA (fast: input) */
	__u64 hv_outgpa;	   /* Hyper-V output GPA (fast: input) */
	__u64 hv_result;	   /* Hyper-V result (HT_REC_F_HV_RESULT) */
	__u16 hv_rep_cnt;	   /* Hyper-V rep count */
	__u16 hv_rep_idx;	   /* Hyper-V rep start index */
	__u16 hv_var_cnt;	   /* Hyper-V variable header size (5.17+) */
	__u16 reserved0;	   /* zero */
};

HT_STATIC_ASSERT(sizeof(struct ht_record) == 152, "ht_record size is ABI");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, abi) == 6, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, pid) == 8, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, exit_reason) == 24,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, uexit_reason) == 28,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, nr) == 32, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, a3) == 64, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, t_exit_ns) == 72,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, t_entry_ns) == 88,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, a4) == 96, "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, t_userspace_exit_ns) == 112,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, hv_ingpa) == 120,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, hv_result) == 136,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, hv_rep_cnt) == 144,
		 "ht_record layout");
HT_STATIC_ASSERT(HT_OFFSETOF(struct ht_record, reserved0) == 150,
		 "ht_record layout");

#endif /* HT_RECORD_H */
