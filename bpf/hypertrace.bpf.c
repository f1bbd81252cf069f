// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hypertrace's eBPF backend: the common/ state machine on the three KVM
 * tracepoints, one record per wanted hypercall into a BPF ring buffer.
 *
 * Program sets, of which the loader autoloads exactly one per tracepoint:
 *   - where the per-vCPU state lives: a slot table keyed by the vCPU
 *     (*_vcpu, preferred: common/ht_vcpu_table.h, found without a helper
 *     call; needs KVM's kvm_running_vcpu in BTF and BPF_CMPXCHG), task
 *     storage (*_task: no hash update, freed with the thread) or an LRU hash
 *     keyed by tid (*_lru, the last fallback);
 *   - how each tracepoint is attached: raw tracepoint (*_raw, the fast path:
 *     probe arguments, no formatted record) or classic tracepoint (*_tp).
 *     kvm_exit may be classic while the other two are raw: when the kernel
 *     has no BTF for the vendor vCPU struct (KVM built in, e.g. the 6.18 dev
 *     host), only the classic record gives the exit reason.
 *
 * The fast path does on an exit only what the state machine needs there
 * (timestamp, phase); the exit reason (a CO-RE read of the vendor vCPU
 * struct) and the vcpu_id are read only when a wanted hypercall follows.
 * An emitted hypercall becomes a ring record, or with --summary (aggregate)
 * a count in a per-CPU histogram map: summary mode moves no records.
 * Configuration is `const volatile` so the verifier prunes the filters and
 * modes that are off.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kvm_trace_types.h"
#include "hypertrace.h"
#include "ht_state_machine.h"
#include "ht_vcpu_table.h"
#include "ht_hist.h"
#include "ht_ring.h"

const volatile struct ht_filter filter = {
	.vcpu = HT_VCPU_ANY,
};
const volatile __u32 raw_exit_args = HT_RAW_EXIT_VCPU_ISA;
const volatile __u32 raw_entry_args = HT_RAW_ENTRY_VCPU;
/* vcpu set: the exit reason is read at a wanted hypercall (raw (vcpu, isa) exit). */
const volatile __u32 lazy_exit_reason = 0;
/* Slot keys (vcpu set) and the vCPU kept in task/LRU state are vcpu ^
 * key_mask (random, odd), so no map, which root can read, holds a kernel
 * address. */
const volatile __u64 key_mask = 1;
const volatile __u64 steal_after_ns = HT_VT_STEAL_AFTER_NS;
/* Wake the reader only past this much unread data (common/ht_ring.h). */
const volatile __u64 wake_mark = 1;
/* --summary: histograms in agg0/agg1 instead of records. */
const volatile __u32 aggregate = 0;

/* --summary's interval generation: programs write the maps of parity
 * agg_gen & 1; userspace increments it, waits for an RCU grace period (no
 * program still writes the old ones), then reads and clears the old ones: an
 * interval's statistics are taken without losing any. */
volatile __u32 agg_gen;
/* Hot keys handed out per parity (agg_hot, agg_index). */
volatile __u32 agg_hot_used[2];
const volatile __u32 agg_hot_keys = HT_AGG_HOT_KEYS;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

struct ht_counters {
	__u64 c[HT_CNT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_counters);
} counters SEC(".maps");

/* The shared state plus the vCPU of the last raw exit (its exit reason is
 * read lazily, its exit count marks the run), ^ key_mask; 0: not known. */
struct ht_bpf_state {
	struct ht_thread_state sm;
	__u64 vcpu;
};

struct ht_vcpu_table {
	struct ht_vcpu_slot slot[HT_VT_SLOTS];
};

/* One element: the whole table, so a slot is base + index (no lookup per
 * probe of the window). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_vcpu_table);
} vcpu_table SEC(".maps");

struct ht_agg_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, HT_AGG_KEYS);
	__type(key, struct ht_agg_key);
	__type(value, struct ht_agg_value);
};
struct ht_agg_map agg0 SEC(".maps");
struct ht_agg_map agg1 SEC(".maps");

/* Hot keys: index (pid, parity, nr) -> entry of agg_hot, whose first half
 * serves parity 0 and second half parity 1.  Sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * HT_AGG_HOT_KEYS);
	__type(key, struct ht_agg_key);
	__type(value, __u32);
} agg_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * HT_AGG_HOT_KEYS);
	__type(key, __u32);
	__type(value, struct ht_agg_value);
} agg_hot SEC(".maps");

/* A zeroed value to insert from (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_agg_value);
} agg_zero SEC(".maps");

/* KVM's vCPU loaded on this CPU (vcpu_load .. vcpu_put): kvm_hypercall has no
 * vCPU argument. */
extern struct kvm_vcpu *kvm_running_vcpu __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ht_bpf_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HT_STATE_LRU_ENTRIES);
	__type(key, __u32);
	__type(value, struct ht_bpf_state);
} lru_states SEC(".maps");

static __always_inline __u64 *cpu_counters(void)
{
	__u32 zero = 0;
	struct ht_counters *c = bpf_map_lookup_elem(&counters, &zero);

	return c ? c->c : 0;
}

static __always_inline void count(int idx)
{
	__u64 *c;

	if (idx < 0 || idx >= HT_CNT_MAX)
		return;
	c = cpu_counters();
	if (c)
		c[idx]++;
}

/* Count in the vCPU's slot when there is one (no map lookup), else per CPU. */
static __always_inline void count_in(__u64 *slot_counters, int idx)
{
	if (idx < 0 || idx >= HT_CNT_MAX)
		return;
	if (slot_counters)
		slot_counters[idx]++;
	else
		count(idx);
}

static __always_inline void count_outcome(__u64 *slot_counters, enum ht_outcome out)
{
	__u64 *c;

	if (out == HT_OUT_NONE)
		return;
	c = slot_counters ? slot_counters : cpu_counters();
	if (c)
		ht_outcome_add(c, out);
}

/* The VM process filter, applied before any state is touched.  With no -p
 * the verifier prunes it, helper call included. */
static __always_inline int pid_unwanted(void)
{
	return filter.pid != HT_PID_ANY &&
	       (__u32)(bpf_get_current_pid_tgid() >> 32) != filter.pid;
}

/* --- per-thread state ---------------------------------------------------- */

static __always_inline struct ht_bpf_state *task_state(__u64 flags)
{
	return bpf_task_storage_get(&task_states, bpf_get_current_task_btf(),
				    0, flags);
}

static __always_inline struct ht_bpf_state *lru_state(int create)
{
	static const struct ht_bpf_state idle;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ht_bpf_state *s;

	s = bpf_map_lookup_elem(&lru_states, &tid);
	if (s || !create)
		return s;
	/* An eviction here is the LRU's bound on dead threads' state. */
	bpf_map_update_elem(&lru_states, &tid, &idle, BPF_NOEXIST);
	return bpf_map_lookup_elem(&lru_states, &tid);
}

/* --- per-vCPU state: the slot table -------------------------------------- */

static __always_inline struct ht_vcpu_table *vcpu_table_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vcpu_table, &zero);
}

static __always_inline __u64 running_vcpu(void)
{
	struct kvm_vcpu **p = bpf_this_cpu_ptr(&kvm_running_vcpu);

	return (__u64)*p;
}

/* Which run of the vCPU this is (ht_sm_armed_by): its exit count + 1 (a
 * new vCPU's first entry gives 1), or 0 when the vCPU is not known. */
static __always_inline __u64 vcpu_run(__u64 vcpu)
{
	return vcpu ? BPF_CORE_READ((struct kvm_vcpu *)vcpu, stat.exits) + 1 : 0;
}

/* --- the exit reason from the vendor vCPU struct (raw path, lazily) ------ */

static __always_inline int vendor_reason(__u64 vcpu, __u8 isa, __u32 *reason)
{
	if (isa == HT_ISA_SVM) {
		if (bpf_core_type_exists(struct vcpu_svm)) {
			struct vcpu_svm *svm = (void *)(vcpu -
				bpf_core_field_offset(struct vcpu_svm, vcpu));
			struct vmcb *vmcb = BPF_CORE_READ(svm, vmcb);

			if (!vmcb)
				return 0;
			return !bpf_core_read(reason, sizeof(*reason),
					      &vmcb->control.exit_code);
		}
	} else if (isa == HT_ISA_VMX) {
		if (bpf_core_type_exists(struct vcpu_vmx) &&
		    bpf_core_type_exists(union vmx_exit_reason)) {
			struct vcpu_vmx *vmx = (void *)(vcpu -
				bpf_core_field_offset(struct vcpu_vmx, vcpu));

			return !bpf_core_read(reason, sizeof(*reason),
					      &vmx->exit_reason.full);
		}
	}
	return 0;
}

/* --- emitting: a ring record, or a histogram count with --summary -------- */

/* The cold path: a per-CPU hash entry, inserted on first use. */
static __always_inline struct ht_agg_value *agg_hashed(void *map, struct ht_agg_key *key)
{
	struct ht_agg_value *v;
	__u32 zero = 0;
	void *init;

	v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	init = bpf_map_lookup_elem(&agg_zero, &zero);
	if (!init)
		return 0;
	/* Another CPU may insert the key first: then ours fails, and the
	 * lookup finds theirs. */
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/*
 * The statistics of (pid, nr) in this interval.  A vCPU repeating its last
 * key (the common case) finds them from its slot's cache: one array lookup.
 * Otherwise the hot-key index (a hash) gives or hands out an agg_hot entry;
 * when the hot keys are used up, the per-CPU hash agg0/agg1.
 */
static __always_inline struct ht_agg_value *agg_value(struct ht_vcpu_slot *slot,
						       __u32 pid, __u64 nr)
{
	__u32 gen = agg_gen;
	__u32 parity = gen & 1;
	struct ht_agg_key key = {
		.pid = pid,
		.reserved = parity,
		.nr = nr,
	};
	__u32 idx, n, *found;

	if (slot && slot->agg_idx && slot->agg_gen == gen &&
	    slot->agg_nr == nr && slot->agg_pid == pid) {
		idx = slot->agg_idx - 1;
		return bpf_map_lookup_elem(&agg_hot, &idx);
	}
	found = bpf_map_lookup_elem(&agg_index, &key);
	if (found) {
		idx = *found;
	} else {
		n = __sync_fetch_and_add(&agg_hot_used[parity], 1);
		if (n >= agg_hot_keys) {
			key.reserved = 0;
			return agg_hashed(parity ? (void *)&agg1 : (void *)&agg0, &key);
		}
		idx = parity * agg_hot_keys + n;
		if (bpf_map_update_elem(&agg_index, &key, &idx, BPF_NOEXIST)) {
			/* Another CPU indexed this key first (our entry stays
			 * unused until the interval ends). */
			found = bpf_map_lookup_elem(&agg_index, &key);
			if (!found)
				return 0;
			idx = *found;
		}
	}
	if (slot) {
		slot->agg_nr = nr;
		slot->agg_pid = pid;
		slot->agg_gen = gen;
		slot->agg_idx = idx + 1;
	}
	return bpf_map_lookup_elem(&agg_hot, &idx);
}

/*
 * After ht_sm_entry said HT_OUT_EMIT.  With --summary the hypercall goes into
 * the per-CPU histogram of its (pid, nr); if that key cannot be inserted
 * (map full, or the allocator's per-CPU cache is empty for a moment: seen on
 * 6.1 for the first keys) it travels as a record instead, and userspace adds
 * it to the same statistics.  Nothing is lost either way.
 */
static __always_inline void emit(struct ht_vcpu_slot *slot, __u64 *slot_counters,
				 const struct ht_thread_state *sm,
				 __u32 vcpu_id, __u64 now, __u64 pid_tgid)
{
	struct ht_record *rec;

	if (aggregate) {
		struct ht_agg_value *v = agg_value(slot, pid_tgid >> 32, sm->nr);

		if (v) {
			ht_agg_add(v, sm->t_exit_ns, sm->t_hypercall_ns, now);
			count_in(slot_counters, HT_CNT_EMITTED);
			return;
		}
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count_in(slot_counters, HT_CNT_DROPPED);
		return;
	}
	ht_sm_fill_record(rec, sm, pid_tgid >> 32, (__u32)pid_tgid,
			  vcpu_id, bpf_get_smp_processor_id(), now);
	/* Batched wakeups (common/ht_ring.h): the reader also drains on a timer. */
	bpf_ringbuf_submit(rec, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_mark ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	count_in(slot_counters, HT_CNT_EMITTED);
}

/* --- the parts every set shares ------------------------------------------ */

/*
 * Who may complete an armed state (common/ht_state_machine.h).  The slot
 * table is keyed by the vCPU itself: another vCPU in the same memory can
 * only come to the slot through its first entry (run 1), which
 * ht_sm_entry() refuses whatever else it is given, so the vcpu set stamps
 * no thread and no run and saves their reads on the hypercall.  States
 * keyed by the thread (task, LRU) stamp both: a thread may run several
 * vCPUs, and a tid may come back in another process.
 */
static __always_inline void hypercall_with_state(struct ht_thread_state *sm,
						 __u64 *slot_counters,
						 __u64 vcpu, int by_thread,
						 __u64 nr, __u64 a0, __u64 a1,
						 __u64 a2, __u64 a3)
{
	enum ht_outcome out;

	if (lazy_exit_reason && vcpu && sm->phase == HT_PHASE_EXITED &&
	    ht_nr_wanted(&filter, nr)) {
		__u32 reason = 0;
		int known = vendor_reason(vcpu, sm->isa, &reason);

		ht_sm_set_exit_reason(sm, reason, sm->isa, known);
	}
	out = ht_sm_hypercall(sm, &filter, nr, a0, a1, a2, a3);
	if (out == HT_OUT_ARMED)
		ht_sm_armed_by(sm, bpf_ktime_get_ns(),
			       by_thread ? bpf_get_current_pid_tgid() : 0,
			       by_thread ? vcpu_run(vcpu) : 0);
	count_outcome(slot_counters, out);
}

/* kvm_entry with state found.  vcpu: 0 if not known; vcpu_id:
 * HT_VCPU_UNKNOWN to read it from vcpu; by_thread as for the hypercall. */
static __always_inline void entry_with_state(struct ht_thread_state *sm,
					     struct ht_vcpu_slot *slot,
					     __u64 *slot_counters,
					     __u64 vcpu, __u32 vcpu_id,
					     int by_thread)
{
	enum ht_outcome out;
	__u64 now, pid_tgid;

	if (sm->phase != HT_PHASE_ARMED) {
		/* The common case: an exit without a wanted hypercall. */
		sm->phase = HT_PHASE_IDLE;
		return;
	}
	now = bpf_ktime_get_ns();
	pid_tgid = bpf_get_current_pid_tgid();
	if (vcpu && vcpu_id == HT_VCPU_UNKNOWN)
		vcpu_id = BPF_CORE_READ((struct kvm_vcpu *)vcpu, vcpu_id);
	out = ht_sm_entry(sm, &filter, now, vcpu_id, by_thread ? pid_tgid : 0,
			  vcpu_run(vcpu));
	count_outcome(slot_counters, out);
	if (out == HT_OUT_EMIT)
		emit(slot, slot_counters, sm, vcpu_id, now, pid_tgid);
}

/* --- handlers of the task / LRU sets ------------------------------------- */

static __always_inline void on_exit(struct ht_bpf_state *s, __u32 reason,
				    __u8 isa, int known, __u64 vcpu)
{
	if (!s) {
		count(HT_CNT_NO_STATE);
		return;
	}
	count_outcome(0, ht_sm_exit(&s->sm, bpf_ktime_get_ns(), reason, isa, known));
	s->vcpu = vcpu ? vcpu ^ key_mask : 0;
}

static __always_inline void on_hypercall(struct ht_bpf_state *s, __u64 nr,
					 __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	count(HT_CNT_HYPERCALLS);
	if (!s) {
		/* No state: this thread had no exit since tracing began. */
		count(HT_CNT_UNMATCHED_HYPERCALL);
		return;
	}
	hypercall_with_state(&s->sm, 0, s->vcpu ? s->vcpu ^ key_mask : 0, 1,
			     nr, a0, a1, a2, a3);
}

/* As entry_with_state. */
static __always_inline void on_entry(struct ht_bpf_state *s, __u64 vcpu,
				     __u32 vcpu_id)
{
	if (s)
		entry_with_state(&s->sm, 0, 0, vcpu, vcpu_id, 1);
}

/* --- handlers of the vcpu set (the fast path) ----------------------------- */

static __always_inline void vt_exit(__u64 vcpu, __u32 reason, __u8 isa)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_vcpu_slot *s;
	int evicted;
	__u64 now;

	if (!t || !vcpu)
		return;
	now = bpf_ktime_get_ns();
	s = ht_vt_get(t->slot, HT_VT_SLOTS - 1, vcpu ^ key_mask, now,
		      steal_after_ns, &evicted);
	if (!s) {
		count(HT_CNT_NO_STATE);
		return;
	}
	if (evicted)
		s->counters[HT_CNT_EVICTED]++;
	/* With a lazy reason, 0 stands until a wanted hypercall reads it. */
	count_outcome(s->counters, ht_sm_exit(&s->sm, now, reason, isa, 1));
}

static __always_inline void vt_hypercall(__u64 nr, __u64 a0, __u64 a1,
					 __u64 a2, __u64 a3)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	__u64 vcpu = running_vcpu();
	struct ht_vcpu_slot *s = 0;

	if (t && vcpu)
		s = ht_vt_find(t->slot, HT_VT_SLOTS - 1, vcpu ^ key_mask);
	if (!s) {
		/* No exit of this vCPU since tracing began. */
		count(HT_CNT_HYPERCALLS);
		count(HT_CNT_UNMATCHED_HYPERCALL);
		return;
	}
	s->counters[HT_CNT_HYPERCALLS]++;
	hypercall_with_state(&s->sm, s->counters, vcpu, 0, nr, a0, a1, a2, a3);
}

/* vcpu_id: HT_VCPU_UNKNOWN to read it from vcpu. */
static __always_inline void vt_entry(__u64 vcpu, __u32 vcpu_id)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_vcpu_slot *s;

	if (!t || !vcpu)
		return;
	s = ht_vt_find(t->slot, HT_VT_SLOTS - 1, vcpu ^ key_mask);
	if (s)
		entry_with_state(&s->sm, s, s->counters, vcpu, vcpu_id, 0);
}

/* --- the programs: {classic, raw} x {task storage, LRU}, and the vcpu set - */

#define TASK_STATE(create) task_state((create) ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0)
#define LRU_STATE(create) lru_state(create)

#define HT_PROGRAMS(store, STATE)						\
SEC("tracepoint/kvm/kvm_exit")							\
int ht_exit_tp_##store(struct trace_event_raw_kvm_exit *ctx)			\
{										\
	if (pid_unwanted())							\
		return 0;							\
	on_exit(STATE(1), ctx->exit_reason, (__u8)ctx->isa, 1, 0);		\
	return 0;								\
}										\
										\
SEC("tracepoint/kvm/kvm_hypercall")						\
int ht_hc_tp_##store(struct trace_event_raw_kvm_hypercall *ctx)		\
{										\
	if (pid_unwanted())							\
		return 0;							\
	on_hypercall(STATE(0), ctx->nr, ctx->a0, ctx->a1, ctx->a2, ctx->a3);	\
	return 0;								\
}										\
										\
SEC("tracepoint/kvm/kvm_entry")							\
int ht_entry_tp_##store(struct trace_event_raw_kvm_entry *ctx)		\
{										\
	if (pid_unwanted())							\
		return 0;							\
	on_entry(STATE(0), 0, ctx->vcpu_id);					\
	return 0;								\
}										\
										\
SEC("raw_tp/kvm_exit")								\
int ht_exit_raw_##store(struct bpf_raw_tracepoint_args *ctx)			\
{										\
	if (pid_unwanted())							\
		return 0;							\
	if (raw_exit_args == HT_RAW_EXIT_REASON_VCPU_ISA)			\
		on_exit(STATE(1), (__u32)ctx->args[0], (__u8)ctx->args[2], 1,	\
			ctx->args[1]);						\
	else									\
		on_exit(STATE(1), 0, (__u8)ctx->args[1], 1, ctx->args[0]);	\
	return 0;								\
}										\
										\
SEC("raw_tp/kvm_hypercall")							\
int ht_hc_raw_##store(struct bpf_raw_tracepoint_args *ctx)			\
{										\
	if (pid_unwanted())							\
		return 0;							\
	on_hypercall(STATE(0), ctx->args[0], ctx->args[1], ctx->args[2],	\
		     ctx->args[3], ctx->args[4]);				\
	return 0;								\
}										\
										\
SEC("raw_tp/kvm_entry")								\
int ht_entry_raw_##store(struct bpf_raw_tracepoint_args *ctx)			\
{										\
	if (pid_unwanted())							\
		return 0;							\
	if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID)				\
		on_entry(STATE(0), 0, (__u32)ctx->args[0]);			\
	else									\
		on_entry(STATE(0), ctx->args[0], HT_VCPU_UNKNOWN);		\
	return 0;								\
}

HT_PROGRAMS(task, TASK_STATE)
HT_PROGRAMS(lru, LRU_STATE)

/*
 * The vcpu set.  The vCPU comes from the raw arguments where they have it,
 * else from kvm_running_vcpu (kvm_hypercall; classic tracepoints; kvm_entry
 * before 5.10).  Mixed raw/classic attach works as for the other sets.
 */
SEC("tracepoint/kvm/kvm_exit")
int ht_exit_tp_vcpu(struct trace_event_raw_kvm_exit *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_exit(running_vcpu(), ctx->exit_reason, (__u8)ctx->isa);
	return 0;
}

SEC("tracepoint/kvm/kvm_hypercall")
int ht_hc_tp_vcpu(struct trace_event_raw_kvm_hypercall *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_hypercall(ctx->nr, ctx->a0, ctx->a1, ctx->a2, ctx->a3);
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int ht_entry_tp_vcpu(struct trace_event_raw_kvm_entry *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_entry(running_vcpu(), ctx->vcpu_id);
	return 0;
}

SEC("raw_tp/kvm_exit")
int ht_exit_raw_vcpu(struct bpf_raw_tracepoint_args *ctx)
{
	if (pid_unwanted())
		return 0;
	if (raw_exit_args == HT_RAW_EXIT_REASON_VCPU_ISA)
		vt_exit(ctx->args[1], (__u32)ctx->args[0], (__u8)ctx->args[2]);
	else
		vt_exit(ctx->args[0], 0, (__u8)ctx->args[1]);
	return 0;
}

SEC("raw_tp/kvm_hypercall")
int ht_hc_raw_vcpu(struct bpf_raw_tracepoint_args *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_hypercall(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3],
		     ctx->args[4]);
	return 0;
}

SEC("raw_tp/kvm_entry")
int ht_entry_raw_vcpu(struct bpf_raw_tracepoint_args *ctx)
{
	if (pid_unwanted())
		return 0;
	if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID)
		vt_entry(running_vcpu(), (__u32)ctx->args[0]);
	else
		vt_entry(ctx->args[0], HT_VCPU_UNKNOWN);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
