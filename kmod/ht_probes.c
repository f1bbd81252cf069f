// SPDX-License-Identifier: GPL-2.0
/*
 * The probes on kvm_exit, kvm_hypercall and kvm_entry: common/ht_hot_path.h
 * with the module's hooks (the clock, current, the vendor exit-reason read
 * at the offsets userspace gave, per-CPU counters, the ring or the summary
 * statistics of ht_agg.c), and one probe per tracepoint prototype
 * (compat.h).  The state is found in ht_state_table.c's table by tid.
 *
 * Work per exit: one clock read, a slot found by hash, a few stores; the
 * vendor exit reason, the hypercall's clock read and the vcpu_id are only
 * read for a wanted hypercall.
 *
 * What the probes may assume about where they run (include/linux/tracepoint.h
 * and KVM's callers):
 *  - kvm_entry fires just before VM entry, with interrupts off, on every
 *    kernel and preemption model: its probe (the only one that emits) is
 *    never preempted nor migrated.  kvm_exit fires right after VM exit,
 *    interrupts off, on current kernels (7.x: in the vendor's vcpu_run);
 *    5.10's SVM fires it from its exit handler, interrupts on.
 *  - kvm_hypercall fires from the exit handler, with interrupts on.  Up to
 *    6.12 the tracepoint disables preemption around its probes, PREEMPT_RT
 *    included (Debian's 6.1-rt has the same tracepoint.h as 6.1); 7.2's and
 *    7.3's run them under SRCU-fast only, so this probe can be preempted
 *    and migrated to another CPU midway.
 * Hence: no per-CPU data is held across an instruction (the counters are
 * this_cpu_add(), one preemption-safe read-modify-write; nothing else is
 * per CPU), the state is the thread's own (its exit, hypercall and entry
 * are serialized by the thread itself, preempted or not), the only locks
 * are raw spinlocks taken with interrupts off for a few stores (ring
 * reserve, summary values; raw: they stay spinning locks on PREEMPT_RT),
 * the reader's wakeup is an irq_work (on PREEMPT_RT run from a thread,
 * where the waitqueue's sleeping lock is allowed), and whoever waits for
 * probes uses tracepoint_synchronize_unregister(), which waits for
 * whatever the kernel runs them under.
 */
#include <linux/ktime.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "ht_kmod.h"
#include "ht_vcpu_table.h"

struct ht_trace_cfg ht_cfg;

/* ---- the hot path's hooks (common/ht_hot_path.h) ----------------------- */

/* One event's context: the vCPU it is about (NULL: not known). */
struct ht_env {
	struct kvm_vcpu *vcpu;
};

/*
 * One add to this CPU's array: this_cpu_add() is a single instruction on
 * x86, safe against preemption (the kvm_hypercall probe may be preempted on
 * 7.x) and interrupts (none touches these counters anyway).
 */
static __always_inline void ht_env_count(struct ht_env *e, int counter,
					 u64 delta)
{
	this_cpu_add(ht_counters.c[counter], delta);
}

static __always_inline u64 ht_env_now(struct ht_env *e)
{
	return ktime_get_ns();
}

/* The thread as BPF's bpf_get_current_pid_tgid() gives it. */
static __always_inline u64 ht_env_pid_tgid(struct ht_env *e)
{
	return ((u64)current->tgid << 32) | (u32)current->pid;
}

/* The table is keyed by tid: a tid may come back in another process. */
static __always_inline int ht_env_keyed_by_thread(struct ht_env *e)
{
	return 1;
}

static __always_inline int ht_env_lazy_reason(struct ht_env *e)
{
	return ht_cfg.exit_proto == HT_EXIT_PROTO_VCPU_ISA && e->vcpu;
}

/*
 * >= 5.16: the exit reason is not an argument; read it from the vendor vCPU
 * at the offsets userspace took from the vendor module's BTF.  Without them
 * (or for another isa) the record says "reason unknown".
 */
static int ht_env_read_reason(struct ht_env *e, u8 isa, u32 *reason)
{
	const struct ht_ioc_reason *r = &ht_cfg.reason;
	const u8 *vendor, *p;

	if (r->isa == HT_ISA_UNKNOWN || r->isa != isa)
		return 0;
	vendor = (const u8 *)e->vcpu - r->vcpu_off;
	p = vendor;
	if (r->ptr_off != HT_REASON_NO_PTR) {
		if (copy_from_kernel_nofault(&p, vendor + r->ptr_off,
					     sizeof(p)) ||
		    !p)
			return 0;
	}
	if (r->reason_size == 8) {
		u64 v;

		if (copy_from_kernel_nofault(&v, p + r->reason_off, sizeof(v)))
			return 0;
		*reason = (u32)v; /* as svm_get_exit_info() */
	} else {
		u32 v;

		if (copy_from_kernel_nofault(&v, p + r->reason_off, sizeof(v)))
			return 0;
		*reason = v;
	}
	return 1;
}

/* The vCPU's exit count + 1 (a new vCPU's first entry gives 1). */
static __always_inline u64 ht_env_vcpu_run(struct ht_env *e)
{
	return e->vcpu ? e->vcpu->stat.exits + 1 : 0;
}

static __always_inline u32 ht_env_vcpu_id(struct ht_env *e)
{
	return e->vcpu ? (u32)e->vcpu->vcpu_id : HT_VCPU_UNKNOWN;
}

/*
 * A record, or with --summary a count in the statistics of its (pid, nr).
 * A key that finds no room there travels as a record instead and userspace
 * adds it to the same statistics, as with the eBPF backend: nothing is lost.
 */
static int ht_env_emit(struct ht_env *e, const struct ht_thread_state *s,
		       u32 vcpu_id, u64 now, u64 pid_tgid)
{
	struct ht_kring *rb = ht_cfg.ring;
	struct ht_record *rec;

	if ((ht_cfg.flags & HT_CONFIG_F_AGGREGATE) &&
	    ht_kagg_add(ht_cfg.agg, pid_tgid >> 32, s->nr, s, now))
		return HT_CNT_EMITTED;
	rec = rb ? ht_kring_reserve(rb, sizeof(*rec)) : NULL;
	if (!rec)
		return HT_CNT_DROPPED;
	ht_sm_fill_record(rec, s, pid_tgid >> 32, (u32)pid_tgid, vcpu_id,
			  smp_processor_id(), now);
	ht_kring_commit(rb, rec);
	return HT_CNT_EMITTED;
}

#include "ht_hot_path.h"

/* ---- finding the state ------------------------------------------------- */

static __always_inline struct ht_thread_state *ht_state_find(void)
{
	struct ht_vcpu_slot *s = ht_vt_find(ht_states.slots, sizeof(*s),
					    ht_states.mask, current->pid);

	return s ? &s->sm : NULL;
}

/* The VM process filter, applied before any state is touched. */
static __always_inline bool ht_pid_unwanted(void)
{
	return ht_cfg.filter.pid != HT_PID_ANY &&
	       (u32)current->tgid != ht_cfg.filter.pid;
}

/*
 * kvm_exit.  The vCPU is kept in the state for the hypercall: its exit
 * count marks the run, and with the (vcpu, isa) prototype (>= 5.16) the
 * vendor struct is read only if a wanted hypercall follows; until then the
 * state says reason 0, known.
 */
static __always_inline void ht_on_exit(struct kvm_vcpu *vcpu, u32 reason,
				       u8 isa)
{
	struct ht_env e = { .vcpu = vcpu };
	struct ht_vcpu_slot *s;
	u32 tid = current->pid;
	int evicted = 0;
	u64 now;

	if (unlikely(!tid))
		return; /* key 0 means a free slot */
	now = ktime_get_ns();
	s = ht_vt_get(ht_states.slots, sizeof(*s), ht_states.mask, tid, now,
		      ht_states.steal_after_ns, &evicted);
	ht_hp_exit(&e, s ? &s->sm : NULL, evicted, now, reason, isa,
		   (unsigned long)vcpu);
}

/* A hypercall's context: the vCPU its exit kept in the state (every ABI's
 * hypercall tracepoint fires between the exit and the entry, on the
 * thread). */
static __always_inline struct ht_env ht_exit_env(struct ht_thread_state *s)
{
	struct ht_env e = {
		.vcpu = s ? (struct kvm_vcpu *)(unsigned long)s->exit_vcpu :
			    NULL,
	};

	return e;
}

static void ht_on_hypercall(unsigned long nr, unsigned long a0,
			    unsigned long a1, unsigned long a2,
			    unsigned long a3)
{
	struct ht_thread_state *s = ht_state_find();
	struct ht_env e = ht_exit_env(s);

	ht_hp_hypercall(&e, s, &ht_cfg.filter, nr, a0, a1, a2, a3);
}

static __always_inline void ht_on_entry(struct kvm_vcpu *vcpu)
{
	struct ht_env e = { .vcpu = vcpu };

	ht_hp_entry(&e, ht_state_find(), &ht_cfg.filter);
}

/* kvm_userspace_exit: the thread's own state, if a hypercall is armed. */
static __always_inline void ht_on_userspace_exit(u32 reason)
{
	struct ht_env e = { .vcpu = NULL };

	ht_hp_userspace_exit(&e, ht_state_find(), reason);
}

/* kvm_hv_hypercall: the state kvm_exit found, as kvm_hypercall. */
static void ht_on_hv_hypercall(u16 code, bool fast, u16 var_cnt, u16 rep_cnt,
			       u16 rep_idx, u64 ingpa, u64 outgpa)
{
	struct ht_thread_state *s = ht_state_find();
	struct ht_env e = ht_exit_env(s);

	ht_hp_hv_hypercall(&e, s, &ht_cfg.filter, code, fast, var_cnt, rep_cnt,
			   rep_idx, ingpa, outgpa);
}

/* kvm_xen_hypercall: the state kvm_exit found, as kvm_hypercall. */
static void ht_on_xen_hypercall(unsigned long nr, unsigned long a0,
				unsigned long a1, unsigned long a2,
				unsigned long a3, unsigned long a4,
				unsigned long a5)
{
	struct ht_thread_state *s = ht_state_find();
	struct ht_env e = ht_exit_env(s);

	ht_hp_xen_hypercall(&e, s, &ht_cfg.filter, nr, a0, a1, a2, a3, a4, a5);
}

/* ---- probes, one per prototype (compat.h) ------------------------------ */

static HT_PROBE_EXIT_REASON_VCPU_ISA(ht_probe_exit_reason_vcpu_isa)
{
	if (ht_pid_unwanted())
		return;
	ht_on_exit(vcpu, exit_reason, (u8)isa);
}

/* The reason is read lazily, from the vcpu kept in the state. */
static HT_PROBE_EXIT_VCPU_ISA(ht_probe_exit_vcpu_isa)
{
	if (ht_pid_unwanted())
		return;
	ht_on_exit(vcpu, 0, (u8)isa);
}

static HT_PROBE_ENTRY_VCPU(ht_probe_entry_vcpu)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(vcpu);
}

static HT_PROBE_ENTRY_VCPU_FORCE(ht_probe_entry_vcpu_force)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(vcpu);
}

static HT_PROBE_HYPERCALL(ht_probe_hypercall)
{
	if (ht_pid_unwanted())
		return;
	ht_on_hypercall(nr, a0, a1, a2, a3);
}

static HT_PROBE_USERSPACE_EXIT(ht_probe_userspace_exit)
{
	if (ht_pid_unwanted())
		return;
	ht_on_userspace_exit(reason);
}

static HT_PROBE_HV_HYPERCALL(ht_probe_hv_hypercall)
{
	if (ht_pid_unwanted())
		return;
	ht_on_hv_hypercall(code, fast, 0, rep_cnt, rep_idx, ingpa, outgpa);
}

static HT_PROBE_HV_HYPERCALL_VAR_CNT(ht_probe_hv_hypercall_var_cnt)
{
	if (ht_pid_unwanted())
		return;
	ht_on_hv_hypercall(code, fast, var_cnt, rep_cnt, rep_idx, ingpa,
			   outgpa);
}

static HT_PROBE_HV_HYPERCALL_DONE(ht_probe_hv_hypercall_done)
{
	struct ht_env e = { .vcpu = NULL };

	if (ht_pid_unwanted())
		return;
	ht_hp_hv_done(&e, ht_state_find(), result);
}

static HT_PROBE_XEN_HYPERCALL(ht_probe_xen_hypercall)
{
	if (ht_pid_unwanted())
		return;
	ht_on_xen_hypercall(nr, a0, a1, a2, a3, a4, a5);
}

/* cpl is not kept: the record has Xen's nr and a0..a5. */
static HT_PROBE_XEN_HYPERCALL_CPL(ht_probe_xen_hypercall_cpl)
{
	if (ht_pid_unwanted())
		return;
	ht_on_xen_hypercall(nr, a0, a1, a2, a3, a4, a5);
}

/* The probe for a tracepoint, per the prototypes userspace detected. */
void *ht_probe_for(enum ht_tp tp)
{
	switch (tp) {
	case HT_TP_EXIT:
		return ht_cfg.exit_proto == HT_EXIT_PROTO_REASON_VCPU_ISA ?
			       (void *)ht_probe_exit_reason_vcpu_isa :
			       (void *)ht_probe_exit_vcpu_isa;
	case HT_TP_HYPERCALL:
		return (void *)ht_probe_hypercall;
	case HT_TP_ENTRY:
		return ht_cfg.entry_proto == HT_ENTRY_PROTO_VCPU ?
			       (void *)ht_probe_entry_vcpu :
			       (void *)ht_probe_entry_vcpu_force;
	case HT_TP_USERSPACE_EXIT:
		return (void *)ht_probe_userspace_exit;
	case HT_TP_HV_HYPERCALL:
		if (ht_cfg.hv_proto == HT_HV_PROTO_VAR_CNT)
			return (void *)ht_probe_hv_hypercall_var_cnt;
		if (ht_cfg.hv_proto == HT_HV_PROTO_NO_VAR_CNT)
			return (void *)ht_probe_hv_hypercall;
		return NULL; /* not attached */
	case HT_TP_HV_HYPERCALL_DONE:
		return ht_cfg.hv_proto != HT_HV_PROTO_NONE ?
			       (void *)ht_probe_hv_hypercall_done :
			       NULL;
	case HT_TP_XEN_HYPERCALL:
		if (ht_cfg.xen_proto == HT_XEN_PROTO_CPL)
			return (void *)ht_probe_xen_hypercall_cpl;
		if (ht_cfg.xen_proto == HT_XEN_PROTO_NR)
			return (void *)ht_probe_xen_hypercall;
		return NULL; /* not attached */
	default:
		return NULL;
	}
}
