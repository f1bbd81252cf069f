/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel types hypertrace.bpf.c reads, declared with only the fields it
 * uses.  preserve_access_index makes every access a CO-RE relocation, which
 * libbpf resolves against the running kernel's BTF at load time: the kvm
 * module's BTF on Debian kernels (kvm=m), vmlinux BTF where kvm is built in.
 * So field offsets are never hard-coded: 6.1, 6.12 and 6.18 lay these
 * records out differently (vcpu_id, requests, intr_info ...
 * come and go) and each gets its own offsets.  We chose CO-RE over reading
 * offsets from tracefs format files at run time because it needs no tracefs
 * parsing, fails at load (not at run) when a field is missing, and is what
 * the raw-tracepoint fast path needs anyway.
 */
#ifndef HT_KVM_TRACE_TYPES_H
#define HT_KVM_TRACE_TYPES_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), \
			     apply_to = record)

/* --- classic (perf) tracepoints: the formatted records ------------------ */

/* TRACE_EVENT(kvm_exit): exit_reason and isa exist on every kernel since 2.6.x. */
struct trace_event_raw_kvm_exit {
	unsigned int exit_reason;
	__u32 isa;
};

/* TRACE_EVENT(kvm_entry): vcpu_id exists on every kernel. */
struct trace_event_raw_kvm_entry {
	unsigned int vcpu_id;
};

/* TRACE_EVENT(kvm_hypercall): unchanged since it was added. */
struct trace_event_raw_kvm_hypercall {
	unsigned long nr;
	unsigned long a0;
	unsigned long a1;
	unsigned long a2;
	unsigned long a3;
};

/* --- raw tracepoints: the probe arguments ------------------------------- */

/* x86's per-vCPU statistics: `exits` is zeroed when the vCPU is created and
 * counts its exits (vcpu_enter_guest(), arch/x86/kvm/x86.c); a field of
 * the arch struct on every kernel since 2.6.x. */
struct kvm_vcpu_stat {
	__u64 exits;
};

/* vmlinux BTF: the generic vCPU, the argument of kvm_exit/kvm_entry (5.10+). */
struct kvm_vcpu {
	int vcpu_id;
	struct kvm_vcpu_stat stat;
};

/*
 * kvm_amd's BTF: since 5.16 the exit reason is not a tracepoint argument;
 * the classic record computes it from vcpu_svm->vmcb->control.exit_code
 * (svm_get_exit_info), and so do we.  exit_code is u32 (+ exit_code_hi) on
 * older kernels, u64 on newer ones: a 4-byte read gets the low half either
 * way (little endian), which is what the record and the module keep.
 */
struct vmcb_control_area {
	__u32 exit_code;
};

struct vmcb {
	struct vmcb_control_area control;
};

struct vcpu_svm {
	struct kvm_vcpu vcpu;
	struct vmcb *vmcb;
};

/* kvm_intel's BTF (5.11+: union vmx_exit_reason; .full is the raw value). */
union vmx_exit_reason {
	__u32 full;
};

struct vcpu_vmx {
	struct kvm_vcpu vcpu;
	union vmx_exit_reason exit_reason;
};

#pragma clang attribute pop

#endif /* HT_KVM_TRACE_TYPES_H */
