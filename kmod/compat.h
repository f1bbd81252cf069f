/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference hypertrace.ko depends on, each behind one
 * name.  Nothing outside this file tests LINUX_VERSION_CODE.
 *
 * Minimum kernel: 5.10, the oldest the module is built, loaded and traced
 * with in CI (Debian 11's 5.10).  Every branch below is compiled in CI
 * (tests/vm/kmod/: build-testbed-modules, build-in-root) against Debian's
 * headers of 5.10 (bullseye, gcc-10), 6.1 and 6.1-rt (bookworm, gcc-12), 6.12
 * (bookworm), 7.3 (trixie-backports, gcc-14) and 7.2 (sid, gcc-16):
 *
 *  ht_vm_flags_clear()   vm_flags became read-only outside helpers in 6.3:
 *                        5.10 and 6.1 compile the store, 6.12 and 7.x
 *                        vm_flags_clear().
 *  HT_HDR_ENTRY_HAS_FORCE  the headers' clue for the two-argument kvm_entry,
 *                        from 6.1 on (kvm_x86_ops.vcpu_run); 5.10 compiles
 *                        the "no clue" branch.
 *  ht_guess_protos()     the compile-time guess of the tracepoint
 *                        prototypes, for kernels whose kvm has no BTF (5.10:
 *                        CONFIG_DEBUG_INFO_BTF_MODULES came in 5.11).
 *
 * What the module takes for granted from 5.10 on: tracepoint_ptr_deref()
 * (4.19), copy_from_kernel_nofault() and perfmon_capable() (5.8),
 * access_ok() without a type (5.0), the tracepoint module notifier (3.15),
 * and tracepoint_synchronize_unregister() to wait for running probes,
 * whatever protects them (include/linux/tracepoint.h: preemption disabled
 * in 5.10 to 6.12, SRCU-fast and preemptible in 7.2 and 7.3).
 *
 * HT_PROBE_*: the tracepoint prototypes of 5.10 and later
 * (arch/x86/kvm/trace.h).  They are all compiled on every kernel: the right
 * ones are picked at START (userspace reads them from BTF), never by the
 * version table alone.
 */
#ifndef HT_KMOD_COMPAT_H
#define HT_KMOD_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/kvm_host.h>

#include "ht_ioctl.h"

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0)
#error "hypertrace.ko needs Linux 5.10 or later (the oldest kernel it is tested on)"
#endif
#ifndef CONFIG_X86
#error "hypertrace.ko traces x86 KVM (the kvm_exit, kvm_hypercall and kvm_entry of arch/x86/kvm/trace.h)"
#endif

static inline void ht_vm_flags_clear(struct vm_area_struct *vma,
				     unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/* ---- tracepoint prototypes -------------------------------------------- */

/*
 * The probe bodies (ht_probes.c) take every argument any prototype has; the
 * wrappers below have the exact prototypes.
 */
#define HT_PROBE_EXIT_REASON_VCPU_ISA(fn)                                    \
	void fn(void *data, unsigned int exit_reason, struct kvm_vcpu *vcpu, \
		u32 isa)
#define HT_PROBE_EXIT_VCPU_ISA(fn) \
	void fn(void *data, struct kvm_vcpu *vcpu, u32 isa)
#define HT_PROBE_ENTRY_VCPU(fn) void fn(void *data, struct kvm_vcpu *vcpu)
#define HT_PROBE_ENTRY_VCPU_FORCE(fn) \
	void fn(void *data, struct kvm_vcpu *vcpu, bool force_immediate_exit)
#define HT_PROBE_HYPERCALL(fn)                                  \
	void fn(void *data, unsigned long nr, unsigned long a0, \
		unsigned long a1, unsigned long a2, unsigned long a3)

/* kvm_hv_hypercall (arch/x86/kvm/trace.h): var_cnt came in 5.17; and
 * kvm_hv_hypercall_done (5.15+). */
#define HT_PROBE_HV_HYPERCALL(fn)                                 \
	void fn(void *data, __u16 code, bool fast, __u16 rep_cnt, \
		__u16 rep_idx, __u64 ingpa, __u64 outgpa)
#define HT_PROBE_HV_HYPERCALL_VAR_CNT(fn)                         \
	void fn(void *data, __u16 code, bool fast, __u16 var_cnt, \
		__u16 rep_cnt, __u16 rep_idx, __u64 ingpa, __u64 outgpa)
#define HT_PROBE_HV_HYPERCALL_DONE(fn) void fn(void *data, __u64 result)

/* kvm_xen_hypercall (arch/x86/kvm/trace.h, 5.12+): later kernels pass the
 * guest's CPL first. */
#define HT_PROBE_XEN_HYPERCALL(fn)                                    \
	void fn(void *data, unsigned long nr, unsigned long a0,       \
		unsigned long a1, unsigned long a2, unsigned long a3, \
		unsigned long a4, unsigned long a5)
#define HT_PROBE_XEN_HYPERCALL_CPL(fn)                                  \
	void fn(void *data, u8 cpl, unsigned long nr, unsigned long a0, \
		unsigned long a1, unsigned long a2, unsigned long a3,   \
		unsigned long a4, unsigned long a5)

/* kvm_userspace_exit (include/trace/events/kvm.h): unchanged since 2.6.x. */
#define HT_PROBE_USERSPACE_EXIT(fn) void fn(void *data, __u32 reason, int errno)

/*
 * Headers clue for the two-argument kvm_entry: the upstream change that gave
 * kvm_entry its force_immediate_exit argument (6.9, "Fully defer to vendor
 * code to decide how to force immediate exit") also gave kvm_x86_ops.vcpu_run
 * a second argument (bool, later u64 run_flags, 6.16, also backported with
 * it, e.g. Debian 6.1.192).  asm/kvm_host.h is in the headers packages;
 * arch/x86/kvm/trace.h is not.  Used from 6.1 on, the oldest kernel the
 * backport reached (5.10's kvm_x86_ops has .run, not .vcpu_run).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
#define HT_VCPU_RUN_T typeof(((struct kvm_x86_ops *)0)->vcpu_run)
#define HT_HDR_ENTRY_HAS_FORCE                                                 \
	(__builtin_types_compatible_p(                                         \
		 HT_VCPU_RUN_T,                                                \
		 enum exit_fastpath_completion(*)(struct kvm_vcpu *, bool)) || \
	 __builtin_types_compatible_p(                                         \
		 HT_VCPU_RUN_T,                                                \
		 enum exit_fastpath_completion(*)(struct kvm_vcpu *, u64)))
#define HT_HDR_HAS_CLUE 1
#else
#define HT_HDR_ENTRY_HAS_FORCE 0
#define HT_HDR_HAS_CLUE 0
#endif

/*
 * The compile-time guess, offered to userspace when the kvm module has no BTF
 * (HT_IOC_INFO): kvm_exit lost its exit_reason argument in 5.16; kvm_entry
 * has had the vcpu since 5.10 and gained force_immediate_exit as above.
 */
static inline void ht_guess_protos(u32 *exit_proto, u32 *entry_proto,
				   u32 *source)
{
	*source = HT_HDR_HAS_CLUE ? HT_GUESS_HEADERS : HT_GUESS_VERSION;
	if (LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0))
		*exit_proto = HT_EXIT_PROTO_VCPU_ISA;
	else
		*exit_proto = HT_EXIT_PROTO_REASON_VCPU_ISA;
	*entry_proto = HT_HDR_ENTRY_HAS_FORCE ? HT_ENTRY_PROTO_VCPU_FORCE :
						HT_ENTRY_PROTO_VCPU;
}

#endif /* HT_KMOD_COMPAT_H */
