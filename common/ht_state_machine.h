/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The per-vCPU-thread state machine: the one source of hypertrace's matching
 * logic, compiled into the BPF program, the kernel module and the unit tests.
 *
 *   kvm_exit       stamp time, reason, ISA             -> EXITED
 *   kvm_hypercall, kvm_hv_hypercall or kvm_xen_hypercall (one per ABI)
 *                  EXITED and nr wanted: keep the ABI, nr,
 *                  its fields, the arming thread and
 *                  vCPU run                             -> ARMED
 *   kvm_hv_hypercall_done
 *                  ARMED Hyper-V: keep the result       -> ARMED
 *   kvm_userspace_exit
 *                  ARMED: stamp the first one's time and
 *                  kvm_run reason; the ABI's forwarding
 *                  reason flags it served by the VMM    -> ARMED
 *   kvm_entry      ARMED, same thread and vCPU run,
 *                  filters pass: emit                   -> IDLE
 *
 * A hypercall KVM forwards to the VMM (KVM_EXIT_HYPERCALL, _HYPERV, _XEN)
 * leaves the state ARMED across the return to userspace; KVM completes it
 * at the next KVM_RUN (complete_userspace_io, arch/x86/kvm/x86.c) before the
 * entry that closes it.  A vCPU that never re-enters leaves it ARMED: in
 * flight, counted unmatched at stop, never emitted.
 *
 * State is keyed by the caller (the vCPU, a task, a tid), never by CPU: on
 * SVM the thread can migrate between exit and entry.  Functions here are
 * pure: they touch only the state and return an outcome; the caller counts
 * the outcome (ht_outcome_counter, _weight, _in_flight; the backends through
 * common/ht_hot_path.h) and builds the record
 * (ht_sm_fill_record) in whatever memory it has (ring slot, stack).
 *
 * Nothing is invented: a state is only ever completed by the thread, of the
 * VM, that armed it.  A key outlives what it named: a vCPU that never
 * re-enters (its hypercall forwarded to the VMM, then the VM destroyed)
 * leaves its state ARMED, and the next owner of the key (a new vCPU in the
 * freed struct kvm_vcpu, a new thread with the reused tid) starts with
 * kvm_entry.  So the entry must come from the arming thread (pid and tid)
 * and, where the caller can read it, from the same run of the same vCPU:
 * the vCPU's exit count (kvm_vcpu.stat.exits, zeroed at vCPU creation and
 * incremented once per exit in vcpu_enter_guest(), arch/x86/kvm/x86.c) is
 * the same at the hypercall and at the entry that follows it, and is 0 at a
 * new vCPU's first entry.  Callers pass it + 1, so that 0 means "not known"
 * (no vCPU at hand: classic tracepoints without kvm_running_vcpu).  A
 * caller whose key is the vCPU itself needs only the entry's run: the new
 * vCPU reaches the old state through its first entry, run 1.
 *
 * Nothing is lost silently: every kvm_hypercall counted in HT_CNT_HYPERCALLS
 * ends in exactly one of emitted, dropped, filtered or unmatched, or is
 * still armed (HT_CNT_IN_FLIGHT, +1 when armed and -1 when resolved).  A
 * state lost with its key (an LRU eviction, a thread's storage freed) stays
 * in flight; userspace counts what is in flight at stop as unmatched, so
 *   hypercalls = emitted + dropped + filtered + unmatched_hypercall + in_flight
 * holds at every quiescent point, and exactly at stop.
 */
#ifndef HT_STATE_MACHINE_H
#define HT_STATE_MACHINE_H

#include "ht_types.h"
#include "ht_record.h"
#include "ht_config.h"

enum ht_phase {
	HT_PHASE_IDLE = 0,
	HT_PHASE_EXITED = 1,
	HT_PHASE_ARMED = 2,
};

struct ht_thread_state {
	__u64 t_exit_ns;
	__u64 t_hypercall_ns;
	__u64 t_uexit_ns; /* first kvm_userspace_exit while ARMED, 0: none */
	__u64 nr;
	__u64 a0, a1, a2, a3, a4, a5;
	__u64 hv_ingpa, hv_outgpa, hv_result;
	__u64 owner; /* pid_tgid (tgid << 32 | tid) of the arming thread */
	__u64 run;   /* the vCPU's exit count + 1 when armed; 0: not known */
	__u64 exit_vcpu; /* the last exit's vCPU, as the caller names it
			  * (opaque: ht_hp_exit, common/ht_hot_path.h) */
	__u32 exit_reason;
	__u32 uexit_reason; /* kvm_run exit_reason at t_uexit_ns */
	__u16 hv_rep_cnt, hv_rep_idx, hv_var_cnt;
	__u8 isa;
	__u8 phase;	/* enum ht_phase */
	__u8 rec_flags; /* HT_REC_F_* known at exit time */
	__u8 hc_flags;	/* HT_REC_F_* learnt after the hypercall */
	__u8 abi;	/* enum ht_abi of the armed hypercall */
	__u8 hv_fast;
	__u8 reserved[4];
};

enum ht_outcome {
	HT_OUT_NONE = 0,       /* nothing to count */
	HT_OUT_ARMED,	       /* wanted hypercall, waiting for entry */
	HT_OUT_EMIT,	       /* armed one completed: emit a record now */
	HT_OUT_FILTERED,       /* hypercall not wanted (at the hypercall) */
	HT_OUT_FILTERED_ARMED, /* armed one not wanted at entry (vcpu,
				      * min latency) */
	HT_OUT_UNMATCHED_HYPERCALL, /* hypercall with no exit before it */
	HT_OUT_UNMATCHED_ARMED,	    /* armed one lost: another exit came first,
				      * or the entry is another thread's or
				      * another vCPU run's */
	HT_OUT_UNMATCHED_BOTH,	    /* a hypercall while one was armed: both
				      * lost */
	HT_OUT_UNMATCHED_EXIT,	    /* exit without entry after it */
};

/* The counter an outcome adds to, or -1. */
HT_INLINE int ht_outcome_counter(enum ht_outcome out)
{
	switch (out) {
	case HT_OUT_FILTERED:
	case HT_OUT_FILTERED_ARMED:
		return HT_CNT_FILTERED;
	case HT_OUT_UNMATCHED_HYPERCALL:
	case HT_OUT_UNMATCHED_ARMED:
	case HT_OUT_UNMATCHED_BOTH:
		return HT_CNT_UNMATCHED_HYPERCALL;
	case HT_OUT_UNMATCHED_EXIT:
		return HT_CNT_UNMATCHED_EXIT;
	default:
		return -1;
	}
}

/* How many hypercalls the outcome's counter gains (a lost pair: two). */
HT_INLINE __u64 ht_outcome_weight(enum ht_outcome out)
{
	return out == HT_OUT_UNMATCHED_BOTH ? 2 : 1;
}

/* What the outcome does to HT_CNT_IN_FLIGHT: +1 armed, -1 (mod 2^64: the
 * sum stays exact) when an armed one is resolved, else 0. */
HT_INLINE __u64 ht_outcome_in_flight(enum ht_outcome out)
{
	if (out == HT_OUT_ARMED)
		return 1;
	if (out == HT_OUT_EMIT || out == HT_OUT_FILTERED_ARMED ||
	    out == HT_OUT_UNMATCHED_ARMED || out == HT_OUT_UNMATCHED_BOTH)
		return (__u64)-1;
	return 0;
}

/* VMCALL (VMX basic reason 18, flag bits above bit 15) or VMMCALL (SVM 0x81). */
HT_INLINE int ht_reason_is_hypercall(__u8 isa, __u32 reason)
{
	if (isa == HT_ISA_VMX)
		return (reason & 0xffffu) == 18;
	if (isa == HT_ISA_SVM)
		return reason == 0x81;
	return 0;
}

/* Ranges are sorted and merged by userspace; stop at the first range above
 * nr.  count 0: every number. */
HT_INLINE int ht_ranges_want(const volatile struct ht_nr_range *r, __u32 count,
			     __u64 nr)
{
	__u32 i;

	if (count == 0)
		return 1;
	for (i = 0; i < HT_MAX_NR_RANGES; i++) {
		if (i >= count)
			break;
		if (nr < r[i].lo)
			break;
		if (nr <= r[i].hi)
			return 1;
	}
	return 0;
}

/*
 * Whether the filter keeps hypercall nr of an ABI (enum ht_abi): its bit in
 * abi_none set, none; else its ranges (KVM's nr_ranges, Hyper-V's call codes
 * in hv_ranges, Xen's numbers in xen_ranges).  Callers pass a constant abi,
 * so an inlined call tests one ABI's fields only.
 */
HT_INLINE int ht_abi_wanted(const volatile struct ht_filter *f, __u8 abi,
			    __u64 nr)
{
	if (f->abi_none & (1u << abi))
		return 0;
	if (abi == HT_ABI_HYPERV)
		return ht_ranges_want(f->hv_ranges, f->hv_range_count, nr);
	if (abi == HT_ABI_XEN)
		return ht_ranges_want(f->xen_ranges, f->xen_range_count, nr);
	return ht_ranges_want(f->nr_ranges, f->nr_range_count, nr);
}

/* A KVM hypercall number (kvm_hypercall). */
HT_INLINE int ht_nr_wanted(const volatile struct ht_filter *f, __u64 nr)
{
	return ht_abi_wanted(f, HT_ABI_KVM, nr);
}

/* A Hyper-V call code (kvm_hv_hypercall). */
HT_INLINE int ht_hv_code_wanted(const volatile struct ht_filter *f, __u64 code)
{
	return ht_abi_wanted(f, HT_ABI_HYPERV, code);
}

/*
 * The exit reason of the current exit.  ht_sm_exit sets it; a caller that
 * reads the reason lazily (the BPF raw-tracepoint path reads the vendor vCPU
 * struct only when a wanted kvm_hypercall follows, not on every exit) calls
 * this again before ht_sm_hypercall, while the phase is EXITED.
 */
HT_INLINE void ht_sm_set_exit_reason(struct ht_thread_state *s, __u32 reason,
				     __u8 isa, int reason_known)
{
	s->exit_reason = reason_known ? reason : 0;
	s->isa = reason_known ? isa : (__u8)HT_ISA_UNKNOWN;
	s->rec_flags = reason_known ? 0 : HT_REC_F_REASON_UNKNOWN;
}

/*
 * kvm_exit.  An exit while EXITED or ARMED means the previous exit's entry
 * was never seen: count it, never invent a time for it, start over.
 */
HT_INLINE enum ht_outcome ht_sm_exit(struct ht_thread_state *s, __u64 now,
				     __u32 reason, __u8 isa, int reason_known)
{
	enum ht_outcome out = HT_OUT_NONE;

	if (s->phase == HT_PHASE_ARMED)
		out = HT_OUT_UNMATCHED_ARMED;
	else if (s->phase == HT_PHASE_EXITED)
		out = HT_OUT_UNMATCHED_EXIT;
	s->t_exit_ns = now;
	ht_sm_set_exit_reason(s, reason, isa, reason_known);
	s->phase = HT_PHASE_EXITED;
	return out;
}

/*
 * The first half of every ABI's hypercall transition (fires on the vCPU
 * thread between its exit and entry).  nr_wanted: ht_abi_wanted() for the
 * ABI and nr, which the caller may need first (a lazy exit-reason read) and
 * should not compute twice (f is volatile in BPF: the compiler cannot merge
 * the loads).  On HT_OUT_ARMED every field of the previous hypercall is
 * cleared and the caller's ABI transition keeps its own; the caller then
 * stamps what it reads only for a kept hypercall (ht_sm_armed_by: the
 * clock, the thread, the vCPU's run).
 */
HT_INLINE enum ht_outcome
ht_sm_hypercall_arm(struct ht_thread_state *s,
		    const volatile struct ht_filter *f, int nr_wanted, __u8 abi,
		    __u64 nr)
{
	if (s->phase != HT_PHASE_EXITED) {
		/* No exit before it (or a second hypercall after one exit). */
		__u8 phase = s->phase;

		s->phase = HT_PHASE_IDLE;
		return phase == HT_PHASE_ARMED ? HT_OUT_UNMATCHED_BOTH :
						 HT_OUT_UNMATCHED_HYPERCALL;
	}
	if (!nr_wanted || (f->reason_mode == HT_REASON_HYPERCALL_ONLY &&
			   ((s->rec_flags & HT_REC_F_REASON_UNKNOWN) ||
			    !ht_reason_is_hypercall(s->isa, s->exit_reason)))) {
		s->phase = HT_PHASE_IDLE;
		return HT_OUT_FILTERED;
	}
	s->abi = abi;
	s->nr = nr;
	s->a0 = 0;
	s->a1 = 0;
	s->a2 = 0;
	s->a3 = 0;
	s->a4 = 0;
	s->a5 = 0;
	s->hv_ingpa = 0;
	s->hv_outgpa = 0;
	s->hv_result = 0;
	s->hv_rep_cnt = 0;
	s->hv_rep_idx = 0;
	s->hv_var_cnt = 0;
	s->hv_fast = 0;
	s->hc_flags = 0;
	s->t_uexit_ns = 0;
	s->uexit_reason = 0;
	s->phase = HT_PHASE_ARMED;
	return HT_OUT_ARMED;
}

/*
 * The ABIs whose hypercall is a number and register arguments: KVM's
 * (kvm_hypercall: nr, a0..a3; a4 = a5 = 0) and Xen's (kvm_xen_hypercall
 * (arch/x86/kvm/xen.c): nr, a0..a5; its cpl is not kept).  nr_wanted:
 * ht_abi_wanted(f, abi, nr).
 */
HT_INLINE enum ht_outcome
ht_sm_hypercall_args(struct ht_thread_state *s,
		     const volatile struct ht_filter *f, int nr_wanted,
		     __u8 abi, __u64 nr, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
		     __u64 a4, __u64 a5)
{
	enum ht_outcome out = ht_sm_hypercall_arm(s, f, nr_wanted, abi, nr);

	if (out == HT_OUT_ARMED) {
		s->a0 = a0;
		s->a1 = a1;
		s->a2 = a2;
		s->a3 = a3;
		s->a4 = a4;
		s->a5 = a5;
	}
	return out;
}

/* kvm_hypercall: KVM's own ABI. */
HT_INLINE enum ht_outcome ht_sm_hypercall(struct ht_thread_state *s,
					  const volatile struct ht_filter *f,
					  __u64 nr, __u64 a0, __u64 a1,
					  __u64 a2, __u64 a3)
{
	return ht_sm_hypercall_args(s, f, ht_nr_wanted(f, nr), HT_ABI_KVM, nr,
				    a0, a1, a2, a3, 0, 0);
}

/* kvm_xen_hypercall: a Xen HVM guest's hypercall (KVM's Xen emulation,
 * KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL). */
HT_INLINE enum ht_outcome
ht_sm_xen_hypercall(struct ht_thread_state *s,
		    const volatile struct ht_filter *f, __u64 nr, __u64 a0,
		    __u64 a1, __u64 a2, __u64 a3, __u64 a4, __u64 a5)
{
	return ht_sm_hypercall_args(s, f, ht_abi_wanted(f, HT_ABI_XEN, nr),
				    HT_ABI_XEN, nr, a0, a1, a2, a3, a4, a5);
}

/*
 * kvm_hv_hypercall: a Hyper-V call (kvm_hv_hypercall(), arch/x86/kvm/hyperv.c);
 * nr is its code.  var_cnt is 0 where the tracepoint has none (< 5.17).
 */
HT_INLINE enum ht_outcome ht_sm_hv_hypercall(struct ht_thread_state *s,
					     const volatile struct ht_filter *f,
					     int code_wanted, __u16 code,
					     __u8 fast, __u16 var_cnt,
					     __u16 rep_cnt, __u16 rep_idx,
					     __u64 ingpa, __u64 outgpa)
{
	enum ht_outcome out = ht_sm_hypercall_arm(s, f, code_wanted,
						  HT_ABI_HYPERV, code);

	if (out == HT_OUT_ARMED) {
		s->hv_fast = fast ? 1 : 0;
		s->hv_var_cnt = var_cnt;
		s->hv_rep_cnt = rep_cnt;
		s->hv_rep_idx = rep_idx;
		s->hv_ingpa = ingpa;
		s->hv_outgpa = outgpa;
	}
	return out;
}

/*
 * kvm_hv_hypercall_done (5.15+): the result the guest gets, KVM's or (after
 * KVM_EXIT_HYPERV) the VMM's, fired on completion before the entry.  Kept
 * only for an armed Hyper-V call, once: without it (older kernels) the
 * record says the result is not known.
 */
HT_INLINE enum ht_outcome ht_sm_hv_done(struct ht_thread_state *s, __u64 result)
{
	if (s->phase != HT_PHASE_ARMED || s->abi != HT_ABI_HYPERV ||
	    (s->hc_flags & HT_REC_F_HV_RESULT))
		return HT_OUT_NONE;
	s->hv_result = result;
	s->hc_flags |= HT_REC_F_HV_RESULT;
	return HT_OUT_NONE;
}

/* The kvm_run exit reason with which KVM forwards an ABI's hypercall. */
HT_INLINE __u32 ht_abi_forward_reason(__u8 abi)
{
	if (abi == HT_ABI_HYPERV)
		return HT_KVM_EXIT_HYPERV;
	if (abi == HT_ABI_XEN)
		return HT_KVM_EXIT_XEN;
	return HT_KVM_EXIT_HYPERCALL;
}

/*
 * kvm_userspace_exit (KVM_RUN returns to the VMM; the thread's own, with
 * the kvm_run exit reason).  Only an armed hypercall cares: the first one
 * stamps the time the VMM part starts (a signal may bring the VMM back
 * more than once before the entry), and the ABI's forwarding reason, at any
 * of them, says the VMM served the call.  The state stays ARMED: only the
 * entry closes it, or it stays in flight if the vCPU never re-enters.
 */
HT_INLINE enum ht_outcome ht_sm_userspace_exit(struct ht_thread_state *s,
					       __u64 now, __u32 reason)
{
	if (s->phase != HT_PHASE_ARMED)
		return HT_OUT_NONE;
	if (!s->t_uexit_ns) {
		s->t_uexit_ns = now;
		s->uexit_reason = reason;
	}
	if (reason == ht_abi_forward_reason(s->abi))
		s->hc_flags |= HT_REC_F_VMM_SERVED;
	return HT_OUT_NONE;
}

/* After HT_OUT_ARMED: when, by which thread (pid_tgid) and in which run of
 * the vCPU (its exit count + 1, 0 if not known). */
HT_INLINE void ht_sm_armed_by(struct ht_thread_state *s, __u64 now, __u64 owner,
			      __u64 run)
{
	s->t_hypercall_ns = now;
	s->owner = owner;
	s->run = run;
}

/*
 * kvm_entry.  Always returns the state to IDLE; the armed data stays in *s
 * so the caller can fill a record when the outcome is HT_OUT_EMIT.  owner
 * and run as for ht_sm_armed_by (run 0: not known, not compared); callers
 * read them only when the phase is ARMED.
 */
HT_INLINE enum ht_outcome ht_sm_entry(struct ht_thread_state *s,
				      const volatile struct ht_filter *f,
				      __u64 now, __u32 vcpu_id, __u64 owner,
				      __u64 run)
{
	__u8 phase = s->phase;

	s->phase = HT_PHASE_IDLE;
	if (phase != HT_PHASE_ARMED)
		return HT_OUT_NONE;
	/* run 1: a vCPU that never exited cannot be completing a hypercall
	 * (its exit would have counted); it is a new vCPU whose key (memory,
	 * thread) an abandoned state still had. */
	if (run == 1 || owner != s->owner || (run && s->run && run != s->run))
		return HT_OUT_UNMATCHED_ARMED;
	if (f->vcpu != HT_VCPU_ANY && vcpu_id != f->vcpu)
		return HT_OUT_FILTERED_ARMED;
	if (now - s->t_exit_ns < f->min_latency_ns)
		return HT_OUT_FILTERED_ARMED;
	return HT_OUT_EMIT;
}

/* Build the record for an HT_OUT_EMIT; every byte is written. */
HT_INLINE void ht_sm_fill_record(struct ht_record *r,
				 const struct ht_thread_state *s, __u32 pid,
				 __u32 tid, __u32 vcpu_id, __u32 cpu,
				 __u64 t_entry_ns)
{
	r->version = HT_RECORD_VERSION;
	r->size = sizeof(*r);
	r->isa = s->isa;
	r->flags = s->rec_flags | s->hc_flags |
		   (vcpu_id == HT_VCPU_UNKNOWN ? HT_REC_F_VCPU_UNKNOWN : 0);
	r->abi = s->abi;
	r->hv_fast = s->hv_fast;
	r->pid = pid;
	r->tid = tid;
	r->vcpu_id = vcpu_id;
	r->cpu = cpu;
	r->exit_reason = s->exit_reason;
	r->uexit_reason = s->uexit_reason;
	r->nr = s->nr;
	r->a0 = s->a0;
	r->a1 = s->a1;
	r->a2 = s->a2;
	r->a3 = s->a3;
	r->t_exit_ns = s->t_exit_ns;
	r->t_hypercall_ns = s->t_hypercall_ns;
	r->t_entry_ns = t_entry_ns;
	r->a4 = s->a4;
	r->a5 = s->a5;
	r->t_userspace_exit_ns = s->t_uexit_ns;
	r->hv_ingpa = s->hv_ingpa;
	r->hv_outgpa = s->hv_outgpa;
	r->hv_result = s->hv_result;
	r->hv_rep_cnt = s->hv_rep_cnt;
	r->hv_rep_idx = s->hv_rep_idx;
	r->hv_var_cnt = s->hv_var_cnt;
	r->reserved0 = 0;
}

#endif /* HT_STATE_MACHINE_H */
