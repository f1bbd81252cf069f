/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference hypertrace.ko depends on, each behind one
 * name (in the spirit of LTTng-modules' wrapper/).  Nothing outside this file
 * tests LINUX_VERSION_CODE.
 *
 * Minimum kernel: 4.18, the base of RHEL 8, the oldest enterprise kernel the
 * branches below were written for (the tracepoint module notifier, 3.15, and
 * ktime_get_ns(), 3.17, are taken for granted).  Built, loaded and traced in
 * CI: Debian's 6.1 and 6.12 (tests/vm/kmod/); the older branches are
 * compiled by nothing in CI.
 *
 *  ht_tp_deref()          4.19 made __tracepoints_ptrs relative (PREL32).
 *  ht_ktime_ns()          CLOCK_MONOTONIC, as bpf_ktime_get_ns().
 *  ht_read_kernel()       copy_from_kernel_nofault() (5.8) / probe_kernel_read.
 *  ht_access_ok()         access_ok() lost its type argument in 5.0.
 *  ht_perfmon_capable()   perfmon_capable() came with CAP_PERFMON (5.8);
 *                         detected by CAP_PERFMON itself (distros backport
 *                         it), CAP_SYS_ADMIN alone before.
 *  ht_vm_flags_set/clear  vm_flags became read-only outside helpers in 6.3.
 *  ht_synchronize_probes() waits until no probe runs that started before:
 *                         synchronize_rcu() covers preempt-disabled regions
 *                         (tracepoint probes) since the RCU flavours were
 *                         consolidated in 4.20; synchronize_sched() before.
 *  HT_PROBE_*             the tracepoint prototypes (arch/x86/kvm/trace.h).  They
 *                         are all compiled on every kernel: the right ones
 *                         are picked at START (userspace reads them from BTF),
 *                         never by the version table alone.
 *  ht_guess_protos()      the compile-time guess, for kernels without BTF.
 */
#ifndef HT_KMOD_COMPAT_H
#define HT_KMOD_COMPAT_H

#include <linux/version.h>
#include <linux/capability.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/kvm_host.h>

#include "ht_ioctl.h"

#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + (c))
#endif

/* Red Hat kernels define RHEL_RELEASE_CODE in <linux/version.h>. */
#ifdef RHEL_RELEASE_CODE
#define HT_RHEL_AT_LEAST(a, b) (RHEL_RELEASE_CODE >= RHEL_RELEASE_VERSION(a, b))
#else
#define HT_RHEL_AT_LEAST(a, b) 0
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(4, 18, 0)
#error "hypertrace.ko needs Linux 4.18 or later (RHEL 8's base)"
#endif

/* ---- tracepoint registration ------------------------------------------ */

/* __TRACEPOINT_ENTRY came with tracepoint_ptr_t (4.19, and backports). */
#ifdef __TRACEPOINT_ENTRY
static inline struct tracepoint *ht_tp_deref(tracepoint_ptr_t *p)
{
	return tracepoint_ptr_deref(p);
}
#define ht_tp_ptr_t tracepoint_ptr_t
#else
#define ht_tp_ptr_t struct tracepoint *const
static inline struct tracepoint *ht_tp_deref(struct tracepoint *const *p)
{
	return *p;
}
#endif

/* ---- time, memory ------------------------------------------------------ */

static inline u64 ht_ktime_ns(void)
{
	return ktime_get_ns();
}

static inline int ht_read_kernel(void *dst, const void *src, size_t size)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 8, 0)
	return copy_from_kernel_nofault(dst, src, size);
#else
	return probe_kernel_read(dst, (void *)src, size);
#endif
}

/*
 * The kvm tracepoints are not faultable: their probes run with preemption
 * disabled (rcu_read_lock_sched_notrace() before 6.x, guard(preempt_notrace)
 * since), so an RCU-sched grace period outlasts every running probe.
 */
static inline void ht_synchronize_probes(void)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 20, 0)
	synchronize_rcu();
#else
	synchronize_sched();
#endif
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 0, 0)
#define ht_access_ok(p, n) access_ok((p), (n))
#else
#define ht_access_ok(p, n) access_ok(VERIFY_WRITE, (p), (n))
#endif

/* Who may trace every VM on the host: as perf_event_open and BPF tracing. */
static inline bool ht_perfmon_capable(void)
{
#ifdef CAP_PERFMON
	return perfmon_capable();
#else
	return capable(CAP_SYS_ADMIN);
#endif
}

static inline void ht_vm_flags_set(struct vm_area_struct *vma,
				   unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

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
 * wrappers below have the exact prototypes.  HT_NO_REASON marks "reason is
 * not an argument of this prototype".
 */
#define HT_PROBE_EXIT_REASON_VCPU_ISA(fn)                                    \
	void fn(void *data, unsigned int exit_reason, struct kvm_vcpu *vcpu, \
		u32 isa)
#define HT_PROBE_EXIT_VCPU_ISA(fn) \
	void fn(void *data, struct kvm_vcpu *vcpu, u32 isa)
#define HT_PROBE_ENTRY_VCPU_ID(fn) void fn(void *data, unsigned int vcpu_id)
#define HT_PROBE_ENTRY_VCPU(fn) void fn(void *data, struct kvm_vcpu *vcpu)
#define HT_PROBE_ENTRY_VCPU_FORCE(fn) \
	void fn(void *data, struct kvm_vcpu *vcpu, bool force_immediate_exit)
#define HT_PROBE_HYPERCALL(fn)                                  \
	void fn(void *data, unsigned long nr, unsigned long a0, \
		unsigned long a1, unsigned long a2, unsigned long a3)

/*
 * Headers clue for the two-argument kvm_entry: the upstream change that gave
 * kvm_entry its force_immediate_exit argument (6.9, "Fully defer to vendor
 * code to decide how to force immediate exit") also gave kvm_x86_ops.vcpu_run
 * a second argument (bool, later u64 run_flags, 6.16, also backported with
 * it, e.g. Debian 6.1.192).  asm/kvm_host.h is in the headers packages;
 * arch/x86/kvm/trace.h is not.  Used from 6.1 on, the oldest kernel the
 * backport reached; older kernels have a one-argument kvm_entry.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0) && defined(CONFIG_X86)
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
 * (HT_IOC_INFO).  RHEL 8 backported the >= 5.16 kvm_exit in 8.7 (4.18.0-425)
 * and the 5.10 kvm_entry in 8.3 (4.18.0-240).
 */
static inline void ht_guess_protos(u32 *exit_proto, u32 *entry_proto,
				   u32 *source)
{
	*source = HT_HDR_HAS_CLUE ? HT_GUESS_HEADERS : HT_GUESS_VERSION;
	if (LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0) ||
	    HT_RHEL_AT_LEAST(8, 7))
		*exit_proto = HT_EXIT_PROTO_VCPU_ISA;
	else
		*exit_proto = HT_EXIT_PROTO_REASON_VCPU_ISA;

	if (HT_HDR_ENTRY_HAS_FORCE)
		*entry_proto = HT_ENTRY_PROTO_VCPU_FORCE;
	else if (LINUX_VERSION_CODE >= KERNEL_VERSION(5, 10, 0) ||
		 HT_RHEL_AT_LEAST(8, 3))
		*entry_proto = HT_ENTRY_PROTO_VCPU;
	else
		*entry_proto = HT_ENTRY_PROTO_VCPU_ID;
}

#endif /* HT_KMOD_COMPAT_H */
