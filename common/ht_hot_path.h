/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The hot path: what kvm_exit, each ABI's hypercall, kvm_userspace_exit and
 * kvm_entry each do, once,
 * for every place it runs: the BPF program (bpf/hypertrace.bpf.c), the
 * module's probes (kmod/ht_probes.c) and the unit tests
 * (tests/unit/test_hot_path.cpp).  ht_state_machine.h holds the
 * transitions; this file holds the steps around them: count the hypercall,
 * read the exit reason only for a hypercall the filter may keep, stamp the
 * clock, the thread and the vCPU run only for a kept one, return early at an
 * entry with nothing armed, count every outcome, emit.
 *
 * The caller finds the state (a vCPU slot, task storage, an LRU entry) and
 * passes NULL when there is none.  Whatever differs between environments is
 * a hook that the includer defines, before including this file, next to its
 * own struct ht_env (the per-event context the hooks read):
 *
 *   void ht_env_count(struct ht_env *e, int counter, __u64 delta)
 *	add delta (mod 2^64) to a counter (enum ht_counter, always below
 *	HT_CNT_MAX) of this event's counters (a vCPU slot's, this CPU's);
 *   __u64 ht_env_now(struct ht_env *e)
 *	the clock, ns;
 *   __u64 ht_env_pid_tgid(struct ht_env *e)
 *	the current thread, tgid << 32 | tid;
 *   int ht_env_keyed_by_thread(struct ht_env *e)
 *	1 if the state is keyed by thread (the entry must come from the
 *	arming thread and vCPU run), 0 if keyed by the vCPU itself (a new vCPU
 *	reaches an old state only through its first entry, run 1: the
 *	hypercall stamps neither, saving both reads);
 *   int ht_env_lazy_reason(struct ht_env *e)
 *	1 if the exit recorded reason 0 and the real one is read at a wanted
 *	hypercall (kvm_exit's prototype in arch/x86/kvm/trace.h is (vcpu,
 *	isa) since 5.16: the reason lives in the vendor vCPU struct);
 *   int ht_env_read_reason(struct ht_env *e, __u8 isa, __u32 *reason)
 *	that read, from the event's vCPU; 0 if it failed;
 *   __u64 ht_env_vcpu_run(struct ht_env *e)
 *	the event's vCPU exit count + 1, 0 if not known (ht_sm_entry);
 *   __u32 ht_env_vcpu_id(struct ht_env *e)
 *	the entry's vcpu_id, HT_VCPU_UNKNOWN if not known;
 *   int ht_env_emit(struct ht_env *e, const struct ht_thread_state *s,
 *		     __u32 vcpu_id, __u64 now, __u64 pid_tgid)
 *	write the record (or add to --summary's statistics) and return the
 *	counter that tells how it went: HT_CNT_EMITTED or HT_CNT_DROPPED.
 *
 * The hooks are static inline: each environment compiles its own copy of
 * the functions below, with its hooks inlined (in BPF nothing is called).
 */
#ifndef HT_HOT_PATH_H
#define HT_HOT_PATH_H

#include "ht_types.h"
#include "ht_config.h"
#include "ht_state_machine.h"

HT_INLINE void ht_hp_count(struct ht_env *e, int counter)
{
	if (counter >= 0 && counter < HT_CNT_MAX)
		ht_env_count(e, counter, 1);
}

/*
 * Count an outcome (common/ht_state_machine.h says which counter, by how
 * much, and what it does to HT_CNT_IN_FLIGHT).  NONE, nearly every exit's
 * and entry's, returns first.  ARMED and EMIT are counted where they happen
 * (ht_hp_hypercall, ht_hp_entry), on their own short paths.
 */
HT_INLINE void ht_hp_count_outcome(struct ht_env *e, enum ht_outcome out)
{
	int c;

	if (out == HT_OUT_NONE)
		return;
	c = ht_outcome_counter(out);
	if (c >= 0 && c < HT_CNT_MAX)
		ht_env_count(e, c, ht_outcome_weight(out));
	if (ht_outcome_in_flight(out))
		ht_env_count(e, HT_CNT_IN_FLIGHT, ht_outcome_in_flight(out));
}

/*
 * kvm_exit.  s: the state, NULL if none could be had (counted); evicted: s
 * was taken over from an idle owner; vcpu: what the environment will need
 * at the hypercall to reach this exit's vCPU (opaque here; 0: not known).
 */
HT_INLINE void ht_hp_exit(struct ht_env *e, struct ht_thread_state *s,
			  int evicted, __u64 now, __u32 reason, __u8 isa,
			  __u64 vcpu)
{
	if (!s) {
		ht_hp_count(e, HT_CNT_NO_STATE);
		return;
	}
	if (evicted)
		ht_hp_count(e, HT_CNT_EVICTED);
	ht_hp_count_outcome(e, ht_sm_exit(s, now, reason, isa, 1));
	s->exit_vcpu = vcpu;
}

/*
 * What every ABI's hypercall does before its transition: count it, and for
 * a wanted one read the lazy exit reason.  Returns 0 when there is no state
 * (counted unmatched: no exit of this thread or vCPU since start).
 */
HT_INLINE int ht_hp_hypercall_begin(struct ht_env *e, struct ht_thread_state *s,
				    int wanted)
{
	ht_hp_count(e, HT_CNT_HYPERCALLS);
	if (!s) {
		ht_hp_count(e, HT_CNT_UNMATCHED_HYPERCALL);
		return 0;
	}
	if (wanted && ht_env_lazy_reason(e) && s->phase == HT_PHASE_EXITED) {
		__u32 reason = 0;
		int known = ht_env_read_reason(e, s->isa, &reason);

		ht_sm_set_exit_reason(s, reason, s->isa, known);
	}
	return 1;
}

/* What every ABI's hypercall does after its transition. */
HT_INLINE void ht_hp_hypercall_end(struct ht_env *e, struct ht_thread_state *s,
				   enum ht_outcome out)
{
	if (out == HT_OUT_ARMED) {
		/* The kept hypercall's path, spelled out rather than through
		 * the outcome switch: the compiler keeps it short. */
		int by_thread = ht_env_keyed_by_thread(e);

		ht_sm_armed_by(s, ht_env_now(e),
			       by_thread ? ht_env_pid_tgid(e) : 0,
			       by_thread ? ht_env_vcpu_run(e) : 0);
		ht_env_count(e, HT_CNT_IN_FLIGHT, ht_outcome_in_flight(out));
		return;
	}
	ht_hp_count_outcome(e, out);
}

/*
 * kvm_hypercall and kvm_xen_hypercall: an ABI whose hypercall is a number
 * and register arguments (ht_sm_hypercall_args).  s: NULL if this thread or
 * vCPU had no exit since start.
 */
HT_INLINE void ht_hp_args_hypercall(struct ht_env *e, struct ht_thread_state *s,
				    const volatile struct ht_filter *f,
				    __u8 abi, __u64 nr, __u64 a0, __u64 a1,
				    __u64 a2, __u64 a3, __u64 a4, __u64 a5)
{
	int wanted = ht_abi_wanted(f, abi, nr);

	if (ht_hp_hypercall_begin(e, s, wanted))
		ht_hp_hypercall_end(e, s,
				    ht_sm_hypercall_args(s, f, wanted, abi, nr,
							 a0, a1, a2, a3, a4,
							 a5));
}

/* kvm_hypercall, KVM's own ABI. */
HT_INLINE void ht_hp_hypercall(struct ht_env *e, struct ht_thread_state *s,
			       const volatile struct ht_filter *f, __u64 nr,
			       __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	ht_hp_args_hypercall(e, s, f, HT_ABI_KVM, nr, a0, a1, a2, a3, 0, 0);
}

/* kvm_xen_hypercall (Xen's nr, a0..a5). */
HT_INLINE void ht_hp_xen_hypercall(struct ht_env *e, struct ht_thread_state *s,
				   const volatile struct ht_filter *f, __u64 nr,
				   __u64 a0, __u64 a1, __u64 a2, __u64 a3,
				   __u64 a4, __u64 a5)
{
	ht_hp_args_hypercall(e, s, f, HT_ABI_XEN, nr, a0, a1, a2, a3, a4, a5);
}

/* kvm_hv_hypercall (as ht_hp_hypercall). */
HT_INLINE void ht_hp_hv_hypercall(struct ht_env *e, struct ht_thread_state *s,
				  const volatile struct ht_filter *f,
				  __u16 code, __u8 fast, __u16 var_cnt,
				  __u16 rep_cnt, __u16 rep_idx, __u64 ingpa,
				  __u64 outgpa)
{
	int wanted = ht_hv_code_wanted(f, code);

	if (ht_hp_hypercall_begin(e, s, wanted))
		ht_hp_hypercall_end(e, s,
				    ht_sm_hv_hypercall(s, f, wanted, code, fast,
						       var_cnt, rep_cnt,
						       rep_idx, ingpa, outgpa));
}

/* kvm_hv_hypercall_done.  s: NULL if none (nothing armed then). */
HT_INLINE void ht_hp_hv_done(struct ht_env *e, struct ht_thread_state *s,
			     __u64 result)
{
	(void)e; /* no hook: nothing is read or counted */
	if (s)
		ht_sm_hv_done(s, result);
}

/*
 * kvm_userspace_exit.  s: the thread's state (NULL if none: nothing can be
 * armed then).  Returns first unless a hypercall is armed: every return to
 * the VMM passes here, and only a forwarded hypercall's return matters.
 */
HT_INLINE void ht_hp_userspace_exit(struct ht_env *e, struct ht_thread_state *s,
				    __u32 reason)
{
	if (!s || s->phase != HT_PHASE_ARMED)
		return;
	ht_sm_userspace_exit(s, ht_env_now(e), reason);
}

/* kvm_entry.  s: NULL if none (nothing can be armed then). */
HT_INLINE void ht_hp_entry(struct ht_env *e, struct ht_thread_state *s,
			   const volatile struct ht_filter *f)
{
	enum ht_outcome out;
	__u64 now, pid_tgid;
	__u32 vcpu_id;

	if (!s)
		return;
	if (s->phase != HT_PHASE_ARMED) {
		/* The common case: an exit without a wanted hypercall. */
		s->phase = HT_PHASE_IDLE;
		return;
	}
	now = ht_env_now(e);
	pid_tgid = ht_env_pid_tgid(e);
	vcpu_id = ht_env_vcpu_id(e);
	out = ht_sm_entry(s, f, now, vcpu_id,
			  ht_env_keyed_by_thread(e) ? pid_tgid : 0,
			  ht_env_vcpu_run(e));
	if (out == HT_OUT_EMIT) {
		/* As the armed path above. */
		ht_env_count(e, HT_CNT_IN_FLIGHT, ht_outcome_in_flight(out));
		ht_hp_count(e, ht_env_emit(e, s, vcpu_id, now, pid_tgid));
		return;
	}
	ht_hp_count_outcome(e, out);
}

#endif /* HT_HOT_PATH_H */
