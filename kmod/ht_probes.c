// SPDX-License-Identifier: GPL-2.0
/*
 * Probes on kvm_exit, kvm_hypercall and kvm_entry, the per-thread state
 * table, and attaching to the tracepoints of the kvm module.
 *
 * The matching logic is common/ht_state_machine.h, shared with the eBPF
 * backend; this file only finds the state, counts outcomes and writes
 * records, in the same way as bpf/hypertrace.bpf.c does (same counters for
 * the same cases).
 *
 * Attaching: kvm_hypercall is not exported and linking against the exported
 * tracepoints would pin kvm, so probes are registered from the tracepoint
 * module notifier (kvm-facts.md §5): COMING attaches (also replayed for kvm
 * already loaded when tracing starts), GOING detaches.  kvm can be unloaded
 * and loaded again while tracing; the probes follow it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
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

DEFINE_PER_CPU(struct ht_pcpu_counters, ht_counters);
struct ht_trace_cfg ht_cfg;

/* ---- per-thread state: a hash of fixed-size LRU buckets ---------------- */

/*
 * There is no exported task-exit hook, so state of dead threads is only
 * dropped by eviction: each bucket holds HT_STATE_WAYS threads and a new one
 * replaces the least recently used (HT_CNT_EVICTED).  A thread's own events
 * are serialized by the thread, but other threads share its bucket from other
 * CPUs: each bucket has a raw spinlock, taken irqsave (kvm_entry runs with
 * interrupts off, the others with them on).
 */
/*
 * Table size, 2^state_table_bits buckets of HT_STATE_WAYS slots.  A module
 * parameter only so the tests can make it tiny and prove that eviction is
 * counted and never corrupts a record; 10 (8192 slots) serves a host with
 * thousands of vCPU threads.
 */
static unsigned int state_table_bits = 10;
module_param(state_table_bits, uint, 0444);
MODULE_PARM_DESC(state_table_bits,
		 "log2 of the per-thread state table's buckets (0-16, default 10)");
#define HT_STATE_BUCKET_BITS state_table_bits
#define HT_STATE_WAYS 8

struct ht_slot {
	u32 tid;			/* 0: free (tid 0 never runs a vCPU) */
	u32 reserved;
	u64 last_used;
	struct ht_thread_state s;
};

struct ht_bucket {
	raw_spinlock_t lock;
	u64 tick;
	struct ht_slot slot[HT_STATE_WAYS];
} ____cacheline_aligned_in_smp;

static struct ht_bucket *ht_table;

u32 ht_state_slots(void)
{
	return HT_STATE_WAYS << HT_STATE_BUCKET_BITS;
}

int ht_state_init(void)
{
	unsigned int i;

	if (state_table_bits > 16) {
		pr_err("state_table_bits=%u is out of range: use 0 to 16\n",
		       state_table_bits);
		return -EINVAL;
	}
	ht_table = vzalloc(sizeof(*ht_table) << HT_STATE_BUCKET_BITS);
	if (!ht_table)
		return -ENOMEM;
	for (i = 0; i < (1u << HT_STATE_BUCKET_BITS); i++)
		raw_spin_lock_init(&ht_table[i].lock);
	return 0;
}

void ht_state_exit(void)
{
	vfree(ht_table);
	ht_table = NULL;
}

/* Only while detached. */
void ht_state_reset(void)
{
	unsigned int i;
	int cpu;

	for (i = 0; i < (1u << HT_STATE_BUCKET_BITS); i++) {
		ht_table[i].tick = 0;
		memset(ht_table[i].slot, 0, sizeof(ht_table[i].slot));
	}
	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(&ht_counters, cpu), 0,
		       sizeof(struct ht_pcpu_counters));
}

static struct ht_bucket *ht_bucket_lock(u32 tid, unsigned long *flags)
{
	/* hash_32(x, 0) would shift by 32: one bucket means bucket 0. */
	u32 i = HT_STATE_BUCKET_BITS ? hash_32(tid, HT_STATE_BUCKET_BITS) : 0;
	struct ht_bucket *b = &ht_table[i];

	raw_spin_lock_irqsave(&b->lock, *flags);
	return b;
}

/* With the bucket locked. */
static struct ht_thread_state *ht_slot_get(struct ht_bucket *b, u32 tid,
					   bool create)
{
	struct ht_slot *victim = NULL;
	unsigned int i;

	for (i = 0; i < HT_STATE_WAYS; i++) {
		struct ht_slot *sl = &b->slot[i];

		if (sl->tid == tid) {
			sl->last_used = ++b->tick;
			return &sl->s;
		}
		if (!victim || (victim->tid && (!sl->tid ||
				sl->last_used < victim->last_used)))
			victim = sl;
	}
	if (!create)
		return NULL;
	if (victim->tid)
		ht_count(HT_CNT_EVICTED);
	memset(victim, 0, sizeof(*victim));	/* HT_PHASE_IDLE */
	victim->tid = tid;
	victim->last_used = ++b->tick;
	return &victim->s;
}

/* ---- probe bodies ------------------------------------------------------ */

/* The VM process filter, applied before any state is touched. */
static inline bool ht_pid_unwanted(void)
{
	return ht_cfg.filter.pid != HT_PID_ANY &&
	       (u32)current->tgid != ht_cfg.filter.pid;
}

static void ht_on_exit(u32 reason, u8 isa, int reason_known)
{
	u64 now = ht_ktime_ns();
	struct ht_thread_state *s;
	enum ht_outcome out;
	struct ht_bucket *b;
	unsigned long flags;
	u32 tid = current->pid;

	b = ht_bucket_lock(tid, &flags);
	s = ht_slot_get(b, tid, true);
	out = ht_sm_exit(s, now, reason, isa, reason_known);
	raw_spin_unlock_irqrestore(&b->lock, flags);
	ht_count(ht_outcome_counter(out));
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
	u64 now = ht_ktime_ns();
	struct ht_thread_state *s;
	enum ht_outcome out;
	struct ht_bucket *b;
	unsigned long flags;
	u32 tid = current->pid;

	ht_count(HT_CNT_HYPERCALLS);
	b = ht_bucket_lock(tid, &flags);
	s = ht_slot_get(b, tid, false);
	if (s)
		out = ht_sm_hypercall(s, &ht_cfg.filter, now, nr, a0, a1, a2,
				      a3);
	else
		out = HT_OUT_UNMATCHED_HYPERCALL; /* no exit since start */
	raw_spin_unlock_irqrestore(&b->lock, flags);
	ht_count(ht_outcome_counter(out));
}

static void ht_on_entry(u32 vcpu_id)
{
	struct ht_thread_state copy, *s;
	struct ht_kring *rb = ht_cfg.ring;
	struct ht_record *rec;
	enum ht_outcome out;
	struct ht_bucket *b;
	unsigned long flags;
	u32 tid = current->pid;
	u64 now;

	b = ht_bucket_lock(tid, &flags);
	s = ht_slot_get(b, tid, false);
	if (!s || s->phase != HT_PHASE_ARMED) {
		if (s)
			s->phase = HT_PHASE_IDLE;
		raw_spin_unlock_irqrestore(&b->lock, flags);
		return;
	}
	now = ht_ktime_ns();
	out = ht_sm_entry(s, &ht_cfg.filter, now, vcpu_id);
	copy = *s;
	raw_spin_unlock_irqrestore(&b->lock, flags);

	if (out != HT_OUT_EMIT) {
		ht_count(ht_outcome_counter(out));
		return;
	}
	rec = rb ? ht_kring_reserve(rb, sizeof(*rec)) : NULL;
	if (!rec) {
		ht_count(HT_CNT_DROPPED);
		return;
	}
	ht_sm_fill_record(rec, &copy, current->tgid, tid, vcpu_id,
			  smp_processor_id(), now);
	ht_kring_commit(rb, rec);
	ht_count(HT_CNT_EMITTED);
}

static inline u32 ht_vcpu_id(struct kvm_vcpu *vcpu)
{
	return vcpu ? (u32)vcpu->vcpu_id : HT_VCPU_UNKNOWN;
}

/* ---- probes, one per prototype (compat.h) ------------------------------ */

static HT_PROBE_EXIT_REASON_VCPU_ISA(ht_probe_exit_reason_vcpu_isa)
{
	if (ht_pid_unwanted())
		return;
	ht_on_exit(exit_reason, (u8)isa, 1);
}

static HT_PROBE_EXIT_VCPU_ISA(ht_probe_exit_vcpu_isa)
{
	u32 reason = 0;
	int known;

	if (ht_pid_unwanted())
		return;
	known = ht_vendor_reason(vcpu, isa, &reason);
	ht_on_exit(reason, (u8)isa, known);
}

static HT_PROBE_ENTRY_VCPU_ID(ht_probe_entry_vcpu_id)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(vcpu_id);
}

static HT_PROBE_ENTRY_VCPU(ht_probe_entry_vcpu)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(ht_vcpu_id(vcpu));
}

static HT_PROBE_ENTRY_VCPU_FORCE(ht_probe_entry_vcpu_force)
{
	if (ht_pid_unwanted())
		return;
	ht_on_entry(ht_vcpu_id(vcpu));
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

/* With ht_attach_mutex held; all == detach everything. */
static void ht_detach(struct module *mod, bool all)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ht_tps); i++) {
		struct ht_tp_slot *sl = &ht_tps[i];

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
	unsigned int i;

	for (i = 0; i < mod->num_tracepoints; i++)
		ht_attach_tp(ht_tp_deref(mod->tracepoints_ptrs + i), mod);
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

/* kvm built into the kernel (the dev host): its tracepoints are core ones. */
static void ht_attach_core(struct tracepoint *tp, void *priv)
{
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
	for_each_kernel_tracepoint(ht_attach_core, NULL);
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
