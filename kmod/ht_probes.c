// SPDX-License-Identifier: GPL-2.0
/*
 * Probes on kvm_exit, kvm_hypercall and kvm_entry, the per-thread state
 * table, and attaching to the tracepoints of the kvm module.
 *
 * The matching logic is common/ht_state_machine.h and the state table
 * common/ht_vcpu_table.h, shared with the eBPF backend; this file only finds
 * the state, counts outcomes and writes records (or, in summary mode, adds
 * to ht_agg.c's statistics), in the same way as bpf/hypertrace.bpf.c's fast
 * path (same counters for the same cases, same records field by field).
 * Work per exit: one clock read, a slot found by hash, a few stores; the
 * vendor exit reason, the hypercall's clock read and the vcpu_id are only
 * read for a wanted hypercall.
 *
 * Attaching: kvm_hypercall is not exported and linking against the exported
 * tracepoints would pin kvm, so probes are registered from the tracepoint
 * module notifier (register_tracepoint_module_notifier(), kernel/tracepoint.c,
 * 3.15+): COMING attaches (also replayed for kvm
 * already loaded when tracing starts), GOING detaches.  kvm can be unloaded
 * and loaded again while tracing; the probes follow it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "ht_kmod.h"
#include "ht_state_machine.h"
#include "ht_vcpu_table.h"

DEFINE_PER_CPU(struct ht_pcpu_counters, ht_counters);
struct ht_trace_cfg ht_cfg;

/* ---- per-thread state: common/ht_vcpu_table.h, keyed by tid ------------ */

/*
 * No lock, no allocation: a slot is found with a multiply, a mask and up to
 * HT_VT_PROBES compares; a new thread claims a free slot with cmpxchg.  A
 * thread's own events are serialized by the thread (exit, hypercall and
 * entry of one KVM_RUN iteration run on it, each with preemption disabled),
 * so only the claim is atomic.  There is no exported task-exit hook: slots
 * are never freed; one whose owner has not exited for state_steal_after_ms is
 * taken over by a thread whose window is full (HT_CNT_EVICTED), and a thread
 * that finds its window full of live owners has no state (HT_CNT_NO_STATE;
 * its hypercalls count as unmatched).
 *
 * Table size, 8 << state_table_bits slots (struct ht_vcpu_slot).  A module
 * parameter so that the tests can make it tiny (0: 8 slots, one window) and
 * prove that a full table is counted and never corrupts a record; 10 (8192
 * slots) serves a host with thousands of vCPU threads.
 */
static unsigned int state_table_bits = 10;
module_param(state_table_bits, uint, 0444);
MODULE_PARM_DESC(state_table_bits,
		 "per-thread state table: 8 << bits slots (0-16, default 10)");

static unsigned int state_steal_after_ms =
	(unsigned int)(HT_VT_STEAL_AFTER_NS / NSEC_PER_MSEC);
module_param(state_steal_after_ms, uint, 0444);
MODULE_PARM_DESC(state_steal_after_ms,
		 "take over the state slot of a thread silent this long (default 10000)");

static struct ht_vcpu_slot *ht_vt;
static u32 ht_vt_mask;		/* slots - 1 */
static u64 ht_steal_after_ns;

u32 ht_state_slots(void)
{
	return HT_VT_PROBES << state_table_bits;
}

int ht_state_init(void)
{
	if (state_table_bits > 16) {
		pr_err("state_table_bits=%u is out of range: use 0 to 16\n",
		       state_table_bits);
		return -EINVAL;
	}
	ht_vt = vzalloc((size_t)ht_state_slots() * sizeof(*ht_vt));
	if (!ht_vt)
		return -ENOMEM;
	ht_vt_mask = ht_state_slots() - 1;
	ht_steal_after_ns = (u64)state_steal_after_ms * NSEC_PER_MSEC;
	return 0;
}

void ht_state_exit(void)
{
	vfree(ht_vt);
	ht_vt = NULL;
}

/* Only while detached. */
void ht_state_reset(void)
{
	int cpu;

	memset(ht_vt, 0, (size_t)ht_state_slots() * sizeof(*ht_vt));
	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(&ht_counters, cpu), 0,
		       sizeof(struct ht_pcpu_counters));
}

/* ---- probe bodies ------------------------------------------------------ */

/* The VM process filter, applied before any state is touched. */
static inline bool ht_pid_unwanted(void)
{
	return ht_cfg.filter.pid != HT_PID_ANY &&
	       (u32)current->tgid != ht_cfg.filter.pid;
}

/*
 * Probes run with preemption disabled, and no interrupt handler touches
 * these counters (the tracepoints fire on vCPU threads only), so a plain
 * add to this CPU's array is safe.
 */
static inline void ht_count_outcome(enum ht_outcome out)
{
	ht_outcome_add(this_cpu_ptr(&ht_counters)->c, out);
}

/* The arming thread as BPF's bpf_get_current_pid_tgid() gives it. */
static inline u64 ht_current_pid_tgid(void)
{
	return ((u64)current->tgid << 32) | (u32)current->pid;
}

/* Which run of the vCPU this is (ht_sm_armed_by): its exit count + 1 (a
 * new vCPU's first entry gives 1), or 0 when the vCPU is not known. */
static inline u64 ht_vcpu_run(const struct kvm_vcpu *vcpu)
{
	return vcpu ? vcpu->stat.exits + 1 : 0;
}

/*
 * kvm_exit: the clock, the slot, the phase.  The vcpu is kept in slot->aux
 * for the hypercall: its exit count marks the run, and with the (vcpu, isa)
 * prototype (>= 5.16), where the reason is not an argument, the vendor
 * struct is read only if a wanted hypercall follows (as the BPF backend's
 * fast path); until then the state says reason 0, known.
 */
static __always_inline void ht_on_exit(struct kvm_vcpu *vcpu, u32 reason,
				       u8 isa)
{
	u32 tid = current->pid;
	struct ht_vcpu_slot *s;
	int evicted;
	u64 now;

	if (unlikely(!tid))
		return;			/* key 0 means a free slot */
	now = ht_ktime_ns();
	s = ht_vt_get(ht_vt, ht_vt_mask, tid, now, ht_steal_after_ns,
		      &evicted);
	if (unlikely(!s)) {
		ht_count(HT_CNT_NO_STATE);
		return;
	}
	if (unlikely(evicted))
		ht_count(HT_CNT_EVICTED);
	ht_count_outcome(ht_sm_exit(&s->sm, now, reason, isa, 1));
	s->aux = (unsigned long)vcpu;
}

/*
 * >= 5.16: the exit reason is not an argument; read it from the vendor vCPU
 * at the offsets userspace took from the vendor module's BTF.  Without them
 * (or for another isa) the record says "reason unknown".
 */
static bool ht_vendor_reason(struct kvm_vcpu *vcpu, u32 isa, u32 *reason)
{
	const struct ht_ioc_reason *r = &ht_cfg.reason;
	const u8 *vendor, *p;

	if (!vcpu || r->isa == HT_ISA_UNKNOWN || r->isa != isa)
		return false;
	vendor = (const u8 *)vcpu - r->vcpu_off;
	p = vendor;
	if (r->ptr_off != HT_REASON_NO_PTR) {
		if (ht_read_kernel(&p, vendor + r->ptr_off, sizeof(p)) || !p)
			return false;
	}
	if (r->reason_size == 8) {
		u64 v;

		if (ht_read_kernel(&v, p + r->reason_off, sizeof(v)))
			return false;
		*reason = (u32)v;	/* as svm_get_exit_info() */
	} else {
		u32 v;

		if (ht_read_kernel(&v, p + r->reason_off, sizeof(v)))
			return false;
		*reason = v;
	}
	return true;
}

static void ht_on_hypercall(unsigned long nr, unsigned long a0,
			    unsigned long a1, unsigned long a2,
			    unsigned long a3)
{
	struct ht_vcpu_slot *s;
	struct kvm_vcpu *vcpu;
	enum ht_outcome out;

	ht_count(HT_CNT_HYPERCALLS);
	s = ht_vt_find(ht_vt, ht_vt_mask, current->pid);
	if (unlikely(!s)) {
		/* No exit of this thread since start, or no slot for it. */
		ht_count(HT_CNT_UNMATCHED_HYPERCALL);
		return;
	}
	vcpu = (struct kvm_vcpu *)s->aux;
	/* Lazy exit reason: only for a hypercall the filter may keep. */
	if (ht_cfg.exit_proto == HT_EXIT_PROTO_VCPU_ISA && vcpu &&
	    s->sm.phase == HT_PHASE_EXITED &&
	    ht_nr_wanted(&ht_cfg.filter, nr)) {
		u32 reason = 0;
		int known = ht_vendor_reason(vcpu, s->sm.isa, &reason);

		ht_sm_set_exit_reason(&s->sm, reason, s->sm.isa, known);
	}
	/* The clock, thread and run are read only for a hypercall the state
	 * machine keeps. */
	out = ht_sm_hypercall(&s->sm, &ht_cfg.filter, nr, a0, a1, a2, a3);
	if (out == HT_OUT_ARMED)
		ht_sm_armed_by(&s->sm, ht_ktime_ns(), ht_current_pid_tgid(),
			       ht_vcpu_run(vcpu));
	ht_count_outcome(out);
}

/*
 * After ht_sm_entry said HT_OUT_EMIT: a record, or with --summary a count in
 * the statistics of its (pid, nr).  A key that finds no room there travels
 * as a record instead and userspace adds it to the same statistics, as with
 * the eBPF backend: nothing is lost.
 */
static void ht_emit(const struct ht_thread_state *sm, u32 vcpu_id, u64 now)
{
	struct ht_kring *rb = ht_cfg.ring;
	struct ht_record *rec;

	if ((ht_cfg.flags & HT_CONFIG_F_AGGREGATE) &&
	    ht_kagg_add(ht_cfg.agg, current->tgid, sm->nr, sm, now)) {
		ht_count(HT_CNT_EMITTED);
		return;
	}
	rec = rb ? ht_kring_reserve(rb, sizeof(*rec)) : NULL;
	if (!rec) {
		ht_count(HT_CNT_DROPPED);
		return;
	}
	ht_sm_fill_record(rec, sm, current->tgid, current->pid, vcpu_id,
			  smp_processor_id(), now);
	ht_kring_commit(rb, rec);
	ht_count(HT_CNT_EMITTED);
}

/* vcpu_id: the argument (<= 5.9), or read from vcpu when one is given. */
static __always_inline void ht_on_entry(struct kvm_vcpu *vcpu, u32 vcpu_id)
{
	struct ht_vcpu_slot *s;
	enum ht_outcome out;
	u64 now;

	s = ht_vt_find(ht_vt, ht_vt_mask, current->pid);
	if (!s)
		return;
	if (s->sm.phase != HT_PHASE_ARMED) {
		/* The common case: an exit without a wanted hypercall. */
		s->sm.phase = HT_PHASE_IDLE;
		return;
	}
	now = ht_ktime_ns();
	if (vcpu)
		vcpu_id = (u32)vcpu->vcpu_id;
	out = ht_sm_entry(&s->sm, &ht_cfg.filter, now, vcpu_id,
			  ht_current_pid_tgid(), ht_vcpu_run(vcpu));
	ht_count_outcome(out);
	if (out == HT_OUT_EMIT)
		ht_emit(&s->sm, vcpu_id, now);
}

/* ---- probes, one per prototype (compat.h) ------------------------------ */

static HT_PROBE_EXIT_REASON_VCPU_ISA(ht_probe_exit_reason_vcpu_isa)
{
	if (ht_pid_unwanted())
		return;
	ht_on_exit(vcpu, exit_reason, (u8)isa);
}

/* The reason is read lazily, from the vcpu kept in the slot. */
static HT_PROBE_EXIT_VCPU_ISA(ht_probe_exit_vcpu_isa)
{
	if (ht_pid_unwanted())
		return;
	ht_on_exit(vcpu, 0, (u8)isa);
}

static HT_PROBE_ENTRY_VCPU_ID(ht_probe_entry_vcpu_id)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(NULL, vcpu_id);
}

static HT_PROBE_ENTRY_VCPU(ht_probe_entry_vcpu)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(vcpu, HT_VCPU_UNKNOWN);
}

static HT_PROBE_ENTRY_VCPU_FORCE(ht_probe_entry_vcpu_force)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(vcpu, HT_VCPU_UNKNOWN);
}

static HT_PROBE_HYPERCALL(ht_probe_hypercall)
{
	if (ht_pid_unwanted())
		return;
	ht_on_hypercall(nr, a0, a1, a2, a3);
}

/* ---- attaching --------------------------------------------------------- */

struct ht_tp_slot {
	const char *name;
	u32 bit;
	void *probe;			/* chosen at start */
	struct tracepoint *tp;		/* attached to, or NULL */
	struct module *mod;		/* owner of tp, NULL if built in */
};

static struct ht_tp_slot ht_tps[] = {
	{ .name = "kvm_exit", .bit = HT_ATTACHED_EXIT },
	{ .name = "kvm_hypercall", .bit = HT_ATTACHED_HYPERCALL },
	{ .name = "kvm_entry", .bit = HT_ATTACHED_ENTRY },
};

/* Nests inside tracepoint_module_list_mutex (notifier callbacks). */
static DEFINE_MUTEX(ht_attach_mutex);
static u32 ht_attach_count, ht_attach_errors;

static u32 ht_attached_bits(void)
{
	u32 bits = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ht_tps); i++)
		if (ht_tps[i].tp)
			bits |= ht_tps[i].bit;
	return bits;
}

/* With ht_attach_mutex held. */
static void ht_attach_tp(struct tracepoint *tp, struct module *mod)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(ht_tps); i++) {
		struct ht_tp_slot *sl = &ht_tps[i];

		if (sl->tp || strcmp(tp->name, sl->name))
			continue;
		ret = tracepoint_probe_register(tp, sl->probe, NULL);
		if (ret) {
			pr_warn("cannot attach to %s: %d\n",
				sl->name, ret);
			ht_attach_errors++;
			return;
		}
		sl->tp = tp;
		sl->mod = mod;
	}
}

/*
 * Attach in this order (entry, exit, hypercall: indices of ht_tps), not in
 * the order the module lists its tracepoints, and detach in the reverse
 * one: a vCPU thread must never be seen between its exit and its hypercall
 * with the hypercall probe attached but not the exit probe, or tracing that
 * starts or stops mid-workload counts spurious unmatched hypercalls (the
 * eBPF backend attaches and detaches in the same orders).
 */
static const unsigned int ht_attach_order[] = { 2, 0, 1 };

/* With ht_attach_mutex held; all == detach everything. */
static void ht_detach(struct module *mod, bool all)
{
	unsigned int i = ARRAY_SIZE(ht_attach_order);

	while (i--) {
		struct ht_tp_slot *sl = &ht_tps[ht_attach_order[i]];

		if (!sl->tp || (!all && sl->mod != mod))
			continue;
		tracepoint_probe_unregister(sl->tp, sl->probe, NULL);
		sl->tp = NULL;
		sl->mod = NULL;
	}
}

#if !HT_TP_BY_NAME
static void ht_attach_module(struct module *mod)
{
	u32 before = ht_attached_bits();
	unsigned int i, k;

	for (k = 0; k < ARRAY_SIZE(ht_attach_order); k++) {
		const char *name = ht_tps[ht_attach_order[k]].name;

		for (i = 0; i < mod->num_tracepoints; i++) {
			struct tracepoint *tp =
				ht_tp_deref(mod->tracepoints_ptrs + i);

			if (!strcmp(tp->name, name))
				ht_attach_tp(tp, mod);
		}
	}
	if (before != HT_ATTACHED_ALL && ht_attached_bits() == HT_ATTACHED_ALL) {
		ht_attach_count++;
		pr_debug("attached to %s\n", mod->name);
	}
}

static int ht_tp_module_notify(struct notifier_block *nb, unsigned long val,
			       void *data)
{
	struct tp_module *tp_mod = data;

	mutex_lock(&ht_attach_mutex);
	if (val == MODULE_STATE_COMING)
		ht_attach_module(tp_mod->mod);
	else if (val == MODULE_STATE_GOING)
		ht_detach(tp_mod->mod, false);
	mutex_unlock(&ht_attach_mutex);
	return NOTIFY_OK;
}

static struct notifier_block ht_tp_nb = {
	.notifier_call = ht_tp_module_notify,
};

/* kvm built into the kernel: its tracepoints are core ones.  priv: the
 * name to attach now (one pass per name, in ht_attach_order). */
static void ht_attach_core(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, priv))
		ht_attach_tp(tp, NULL);
}
#endif

static void ht_select_probes(void)
{
	ht_tps[0].probe = ht_cfg.exit_proto == HT_EXIT_PROTO_REASON_VCPU_ISA ?
		(void *)ht_probe_exit_reason_vcpu_isa :
		(void *)ht_probe_exit_vcpu_isa;
	ht_tps[1].probe = (void *)ht_probe_hypercall;
	switch (ht_cfg.entry_proto) {
	case HT_ENTRY_PROTO_VCPU_ID:
		ht_tps[2].probe = (void *)ht_probe_entry_vcpu_id;
		break;
	case HT_ENTRY_PROTO_VCPU:
		ht_tps[2].probe = (void *)ht_probe_entry_vcpu;
		break;
	default:
		ht_tps[2].probe = (void *)ht_probe_entry_vcpu_force;
		break;
	}
}

int ht_attach_start(void)
{
	int ret = 0;

	ht_select_probes();
	mutex_lock(&ht_attach_mutex);
	ht_attach_count = 0;
	ht_attach_errors = 0;
	mutex_unlock(&ht_attach_mutex);
#if HT_TP_BY_NAME
	/* <= 3.14: by name; the kernel connects them when kvm loads. */
	{
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(ht_tps) && !ret; i++)
			ret = tracepoint_probe_register(ht_tps[i].name,
							ht_tps[i].probe, NULL);
		if (ret) {
			while (i--)
				tracepoint_probe_unregister(ht_tps[i].name,
							    ht_tps[i].probe,
							    NULL);
			tracepoint_synchronize_unregister();
		}
	}
#else
	mutex_lock(&ht_attach_mutex);
	{
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(ht_attach_order); i++)
			for_each_kernel_tracepoint(ht_attach_core,
				(void *)ht_tps[ht_attach_order[i]].name);
	}
	if (ht_attached_bits() == HT_ATTACHED_ALL)
		ht_attach_count++;
	mutex_unlock(&ht_attach_mutex);

	/* Replays COMING for kvm if it is loaded. */
	ret = register_tracepoint_module_notifier(&ht_tp_nb);
	if (ret) {
		mutex_lock(&ht_attach_mutex);
		ht_detach(NULL, true);
		mutex_unlock(&ht_attach_mutex);
		tracepoint_synchronize_unregister();
	}
#endif
	return ret;
}

void ht_attach_stop(void)
{
#if HT_TP_BY_NAME
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ht_tps); i++)
		tracepoint_probe_unregister(ht_tps[i].name, ht_tps[i].probe,
					    NULL);
#else
	/* Replays GOING for every loaded module: detaches. */
	unregister_tracepoint_module_notifier(&ht_tp_nb);
	mutex_lock(&ht_attach_mutex);
	ht_detach(NULL, true);
	mutex_unlock(&ht_attach_mutex);
#endif
	/* No probe runs (or will run) past this point. */
	tracepoint_synchronize_unregister();
}

void ht_attach_status(struct ht_ioc_status *st)
{
	mutex_lock(&ht_attach_mutex);
	st->attached = ht_attached_bits();
	st->attach_count = ht_attach_count;
	st->attach_errors = ht_attach_errors;
	mutex_unlock(&ht_attach_mutex);
}
