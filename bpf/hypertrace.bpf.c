// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hypertrace's eBPF backend: the common/ hot path (common/ht_hot_path.h) on
 * the three KVM tracepoints, one record per wanted hypercall into a BPF ring
 * buffer, or with --summary (aggregate) a count in a per-CPU histogram map.
 * This file finds the per-vCPU state, defines the hot path's hooks (clock,
 * vendor exit-reason read, counters, emit) and declares the programs.
 *
 * Program sets, of which the loader autoloads exactly one per tracepoint:
 *   - where the per-vCPU state lives: a slot table keyed by the vCPU
 *     (*_vcpu, preferred: common/ht_vcpu_table.h, found without a helper
 *     call; needs KVM's kvm_running_vcpu in BTF and BPF_CMPXCHG), task
 *     storage (*_task: no hash update, freed with the thread) or an LRU hash
 *     keyed by tid (*_lru, the last fallback);
 *   - how each tracepoint is attached: raw tracepoint (*_raw: probe
 *     arguments, no formatted record), for kvm_entry also BTF-typed (*_btf:
 *     the vCPU's fields are plain loads), or classic tracepoint (*_tp).
 *     kvm_exit may be classic while the other two are raw: when the kernel
 *     has no BTF for the vendor vCPU struct (KVM built in without it), only
 *     the classic record gives the exit reason.  A classic program reads
 *     its record's fields by CO-RE where kvm's BTF describes the record
 *     (*_tp), else at the offsets of the events' tracefs format files
 *     (*_fmt: kvm a module on a kernel without module BTF, e.g. 5.10).
 *
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
/* The *_fmt programs: where the fields of kvm's classic records are
 * (hypertrace.h), from the events' tracefs format files. */
const volatile struct ht_tp_layout tp_layout;

/* --summary's interval generation: programs write the maps of parity
 * agg_gen & 1; userspace increments it, waits for an RCU grace period (no
 * program still writes the old ones), then reads and clears the old ones: an
 * interval's statistics are taken without losing any. */
volatile __u32 agg_gen;
/* Hot keys handed out per parity (agg_hot, agg_index), to the vcpu set. */
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

/* The vcpu set's notes for kvm_userspace_exit (struct ht_uexit_note),
 * created only when that tracepoint is attached. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HT_STATE_LRU_ENTRIES);
	__type(key, __u32);
	__type(value, struct ht_uexit_note);
} uexit_notes SEC(".maps");

/* kvm_userspace_exit is attached: the vcpu set leaves notes. */
const volatile __u32 track_uexit = 0;

/* KVM's vCPU loaded on this CPU (vcpu_load .. vcpu_put): kvm_hypercall has no
 * vCPU argument. */
extern struct kvm_vcpu *kvm_running_vcpu __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ht_thread_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HT_STATE_LRU_ENTRIES);
	__type(key, __u32);
	__type(value, struct ht_thread_state);
} lru_states SEC(".maps");

static __always_inline __u64 *cpu_counters(void)
{
	__u32 zero = 0;
	struct ht_counters *c = bpf_map_lookup_elem(&counters, &zero);

	return c ? c->c : 0;
}

/* The VM process filter, applied before any state is touched.  With no -p
 * the verifier prunes it, helper call included. */
static __always_inline int pid_unwanted(void)
{
	return filter.pid != HT_PID_ANY &&
	       (__u32)(bpf_get_current_pid_tgid() >> 32) != filter.pid;
}

/* --- per-thread state ---------------------------------------------------- */

static __always_inline struct ht_thread_state *task_state(__u64 flags)
{
	return bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0,
				    flags);
}

static __always_inline struct ht_thread_state *lru_state(int create)
{
	static const struct ht_thread_state idle;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ht_thread_state *s;

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

static __always_inline struct ht_bpf_slot *slot_find(struct ht_vcpu_table *t,
						     __u64 vcpu)
{
	return (struct ht_bpf_slot *)ht_vt_find(t->slot, sizeof(t->slot[0]),
						HT_VT_SLOTS - 1,
						vcpu ^ key_mask);
}

/* --- the exit reason from the vendor vCPU struct (raw path, lazily) ------ */

static __always_inline int svm_reason(__u64 vcpu, __u32 *reason)
{
	__u64 off = bpf_core_field_offset(struct vcpu_svm, vcpu);
	struct vcpu_svm *svm = (void *)(vcpu - off);
	struct vmcb *vmcb = BPF_CORE_READ(svm, vmcb);

	if (!vmcb)
		return 0;
	return !bpf_core_read(reason, sizeof(*reason),
			      &vmcb->control.exit_code);
}

static __always_inline int vmx_reason(__u64 vcpu, __u32 *reason)
{
	__u64 off = bpf_core_field_offset(struct vcpu_vmx, vcpu);
	struct vcpu_vmx *vmx = (void *)(vcpu - off);

	return !bpf_core_read(reason, sizeof(*reason), &vmx->exit_reason.full);
}

/* Two probe reads on SVM (the vmcb pointer, then its exit code), one on
 * VMX: what the lazy read costs (tests/bench/primitive-costs). */
static __always_inline int vendor_reason(__u64 vcpu, __u8 isa, __u32 *reason)
{
	if (isa == HT_ISA_SVM && bpf_core_type_exists(struct vcpu_svm))
		return svm_reason(vcpu, reason);
	if (isa == HT_ISA_VMX && bpf_core_type_exists(struct vcpu_vmx) &&
	    bpf_core_type_exists(union vmx_exit_reason))
		return vmx_reason(vcpu, reason);
	return 0;
}

/* --- emitting: a ring record, or a histogram count with --summary -------- */

/* The cold path: a per-CPU hash entry, inserted on first use. */
static __always_inline struct ht_agg_value *agg_hashed(void *map,
						       struct ht_agg_key *key)
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
static __always_inline struct ht_agg_value *
agg_value(struct ht_bpf_slot *slot, __u32 pid, __u8 abi, __u64 nr)
{
	__u32 gen = agg_gen;
	__u32 parity = gen & 1;
	struct ht_agg_key key = {
		.pid = pid,
		.parity = parity,
		.abi = abi,
		.nr = nr,
	};
	__u32 idx, n, *found;

	/* The task / LRU sets have no slot to cache a hot key in, and a hot
	 * key found through agg_index would cost them what the cold hash
	 * does.  Their programs must also load where there is no atomic
	 * fetch-and-add to hand one out (before 5.12, whose verifier refuses
	 * the instruction even in code it would never run); the vcpu set needs
	 * 5.12's atomics anyway (BPF_CMPXCHG). */
	if (!slot) {
		key.parity = 0;
		return agg_hashed(parity ? (void *)&agg1 : (void *)&agg0, &key);
	}
	if (slot && slot->agg_idx && slot->agg_gen == gen &&
	    slot->agg_nr == nr && slot->agg_pid == pid &&
	    slot->agg_abi == abi) {
		idx = slot->agg_idx - 1;
		return bpf_map_lookup_elem(&agg_hot, &idx);
	}
	found = bpf_map_lookup_elem(&agg_index, &key);
	if (found) {
		idx = *found;
	} else {
		n = __sync_fetch_and_add(&agg_hot_used[parity], 1);
		if (n >= agg_hot_keys) {
			key.parity = 0;
			void *cold = parity ? (void *)&agg1 : (void *)&agg0;

			return agg_hashed(cold, &key);
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
		slot->agg_abi = abi;
		slot->agg_gen = gen;
		slot->agg_idx = idx + 1;
	}
	return bpf_map_lookup_elem(&agg_hot, &idx);
}

/* --- the hot path's hooks (common/ht_hot_path.h) ------------------------- */

/* One event's context. */
struct ht_env {
	struct ht_bpf_slot *slot; /* the vcpu set's slot, or 0 */
	__u64 *counters;	  /* found on first use */
	__u64 vcpu;	       /* the event's vCPU (unmasked); 0: not known */
	__u32 vcpu_id;	       /* HT_VCPU_UNKNOWN: read it from vcpu */
	__u8 by_thread;	       /* task / LRU sets */
	__u8 typed;	       /* vcpu is a BTF pointer (tp_btf) */
	const void *entry_rec; /* *_fmt: kvm_entry's record, whose vcpu_id
				* is read only at an armed entry */
};

/* Into the vCPU's slot when there is one (no map lookup), else per CPU. */
static __always_inline void ht_env_count(struct ht_env *e, int counter,
					 __u64 delta)
{
	if (!e->counters)
		e->counters = e->slot ? e->slot->counters : cpu_counters();
	if (e->counters && counter >= 0 && counter < HT_CNT_MAX)
		e->counters[counter] += delta;
}

static __always_inline __u64 ht_env_now(struct ht_env *e)
{
	return bpf_ktime_get_ns();
}

static __always_inline __u64 ht_env_pid_tgid(struct ht_env *e)
{
	return bpf_get_current_pid_tgid();
}

static __always_inline int ht_env_keyed_by_thread(struct ht_env *e)
{
	return e->by_thread;
}

static __always_inline int ht_env_lazy_reason(struct ht_env *e)
{
	return lazy_exit_reason && e->vcpu;
}

static __always_inline int ht_env_read_reason(struct ht_env *e, __u8 isa,
					      __u32 *reason)
{
	return vendor_reason(e->vcpu, isa, reason);
}

/*
 * A BTF-typed vCPU's fields are plain loads; otherwise probe reads.  (The
 * vCPU is copied out of *e first: inside BPF_CORE_READ, e->vcpu itself
 * would become a CO-RE relocation against struct ht_env.)
 */
static __always_inline __u64 ht_env_vcpu_run(struct ht_env *e)
{
	struct kvm_vcpu *vcpu = (struct kvm_vcpu *)e->vcpu;

	if (!vcpu)
		return 0;
	if (e->typed)
		return vcpu->stat.exits + 1;
	return BPF_CORE_READ(vcpu, stat.exits) + 1;
}

static __always_inline __u32 ht_env_vcpu_id(struct ht_env *e)
{
	struct kvm_vcpu *vcpu = (struct kvm_vcpu *)e->vcpu;
	__u32 id;

	if (e->entry_rec)
		return bpf_probe_read_kernel(&id, sizeof(id),
					     e->entry_rec +
						     tp_layout.entry_vcpu_id) ?
			       HT_VCPU_UNKNOWN :
			       id;
	if (e->vcpu_id != HT_VCPU_UNKNOWN || !vcpu)
		return e->vcpu_id;
	if (e->typed)
		return vcpu->vcpu_id;
	return BPF_CORE_READ(vcpu, vcpu_id);
}

/*
 * With --summary the hypercall goes into the per-CPU histogram of its
 * (pid, nr); if that key cannot be inserted (map full, or the allocator's
 * per-CPU cache is empty for a moment: seen on 6.1 for the first keys) it
 * travels as a record instead, and userspace adds it to the same
 * statistics.  Nothing is lost either way.
 */
static __always_inline int ht_env_emit(struct ht_env *e,
				       const struct ht_thread_state *s,
				       __u32 vcpu_id, __u64 now, __u64 pid_tgid)
{
	__u64 wake = BPF_RB_NO_WAKEUP;
	struct ht_record *rec;

	if (aggregate) {
		struct ht_agg_value *v = agg_value(e->slot, pid_tgid >> 32,
						   s->abi, s->nr);

		if (v) {
			ht_agg_add(v, s->t_exit_ns, s->t_hypercall_ns, now,
				   s->t_uexit_ns);
			return HT_CNT_EMITTED;
		}
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return HT_CNT_DROPPED;
	ht_sm_fill_record(rec, s, pid_tgid >> 32, (__u32)pid_tgid, vcpu_id,
			  bpf_get_smp_processor_id(), now);
	/* Batched wakeups (common/ht_ring.h): the reader also drains on a
	 * timer. */
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_mark)
		wake = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, wake);
	return HT_CNT_EMITTED;
}

#include "ht_hot_path.h"

/* --- kvm_userspace_exit ------------------------------------------------- */

/* A kept hypercall's note for kvm_userspace_exit (struct ht_uexit_note):
 * written in place when the thread has one, else inserted. */
static __always_inline void vt_note_armed(struct ht_bpf_slot *slot, __u64 vcpu)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ht_uexit_note *n, note;

	if (!track_uexit || !slot || slot->vt.sm.phase != HT_PHASE_ARMED)
		return;
	note.key = vcpu ^ key_mask;
	note.t_hypercall_ns = slot->vt.sm.t_hypercall_ns;
	n = bpf_map_lookup_elem(&uexit_notes, &tid);
	if (n) {
		n->key = note.key;
		n->t_hypercall_ns = note.t_hypercall_ns;
		return;
	}
	bpf_map_update_elem(&uexit_notes, &tid, &note, BPF_ANY);
}

/* The hypercall the note was for has reached its entry: the note goes, so
 * that notes live as long as their hypercall, not as long as the thread
 * (an LRU of notes of exited vCPU threads grew with every VM started).
 * Only a kept hypercall's entry pays for it. */
static __always_inline void vt_drop_note(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (track_uexit)
		bpf_map_delete_elem(&uexit_notes, &tid);
}

/* kvm_userspace_exit's reason, at its format-file offset. */
static __always_inline __u32 uexit_reason(const void *ctx)
{
	__u32 reason = 0;

	bpf_probe_read_kernel(&reason, sizeof(reason),
			      ctx + tp_layout.uexit_reason);
	return reason;
}

/* --- classic records in no BTF: fields at the format files' offsets ----- */

/*
 * One probe read copies the span of the record that holds the fields
 * (tp_layout, hypertrace.h); the fields are then at constant offsets in the
 * copy (the verifier knows .rodata's values).  The copy is of the kernel's
 * own record buffer and does not fail; if it did, the caller takes no state,
 * so the event is counted (no_state, unmatched) and nothing is stamped.
 */
static __always_inline int tp_exit_fields(const void *ctx, __u32 *reason,
					  __u8 *isa)
{
	__u64 span[HT_TP_SPAN_MAX / 8];

	if (bpf_probe_read_kernel(span, tp_layout.exit_len,
				  ctx + tp_layout.exit_start))
		return 0;
	*reason = *(__u32 *)((void *)span + tp_layout.exit_reason);
	*isa = (__u8) * (__u32 *)((void *)span + tp_layout.exit_isa);
	return 1;
}

struct tp_hypercall {
	__u64 nr, a0, a1, a2, a3;
};

static __always_inline int tp_hc_fields(const void *ctx, struct tp_hypercall *h)
{
	__u64 span[HT_TP_SPAN_MAX / 8];

	if (bpf_probe_read_kernel(span, tp_layout.hc_len,
				  ctx + tp_layout.hc_start))
		return 0;
	h->nr = *(__u64 *)((void *)span + tp_layout.hc_nr);
	h->a0 = *(__u64 *)((void *)span + tp_layout.hc_a0);
	h->a1 = *(__u64 *)((void *)span + tp_layout.hc_a1);
	h->a2 = *(__u64 *)((void *)span + tp_layout.hc_a2);
	h->a3 = *(__u64 *)((void *)span + tp_layout.hc_a3);
	return 1;
}

/* kvm_hv_hypercall's fields at its format offsets (tp_layout.hv_*). */
struct tp_hv {
	__u64 ingpa, outgpa;
	__u16 code, var_cnt, rep_cnt, rep_idx;
	__u8 fast;
};

static __always_inline int tp_hv_fields(const void *ctx, struct tp_hv *h)
{
	__u64 span[HT_TP_SPAN_MAX / 8];
	void *b = span;

	if (bpf_probe_read_kernel(span, tp_layout.hv_len,
				  ctx + tp_layout.hv_start))
		return 0;
	h->code = *(__u16 *)(b + tp_layout.hv_code);
	h->fast = *(__u8 *)(b + tp_layout.hv_fast);
	h->var_cnt = tp_layout.hv_has_var_cnt ?
			     *(__u16 *)(b + tp_layout.hv_var_cnt) :
			     0;
	h->rep_cnt = *(__u16 *)(b + tp_layout.hv_rep_cnt);
	h->rep_idx = *(__u16 *)(b + tp_layout.hv_rep_idx);
	h->ingpa = *(__u64 *)(b + tp_layout.hv_ingpa);
	h->outgpa = *(__u64 *)(b + tp_layout.hv_outgpa);
	return 1;
}

static __always_inline __u64 tp_hv_done_result(const void *ctx)
{
	__u64 result = 0;

	bpf_probe_read_kernel(&result, sizeof(result),
			      ctx + tp_layout.hv_done_result);
	return result;
}

/* kvm_xen_hypercall's nr and a0..a5, one after the other in its record. */
struct tp_xen {
	__u64 nr, a[6];
};

static __always_inline int tp_xen_fields(const void *ctx, struct tp_xen *x)
{
	return !bpf_probe_read_kernel(x, sizeof(*x), ctx + tp_layout.xen_nr);
}

/* --- the task / LRU sets: state keyed by thread -------------------------- */

/* vcpu: the exit's vCPU from a raw argument, 0 if not known (classic). */
static __always_inline void on_exit(struct ht_thread_state *s, __u32 reason,
				    __u8 isa, __u64 vcpu)
{
	struct ht_env e = { .by_thread = 1 };

	ht_hp_exit(&e, s, 0, bpf_ktime_get_ns(), reason, isa,
		   vcpu ? vcpu ^ key_mask : 0);
}

static __always_inline void on_hypercall(struct ht_thread_state *s, __u64 nr,
					 __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	struct ht_env e = { .by_thread = 1 };

	/* The exit's vCPU, kept masked (no map holds a kernel address). */
	if (s && s->exit_vcpu)
		e.vcpu = s->exit_vcpu ^ key_mask;
	ht_hp_hypercall(&e, s, &filter, nr, a0, a1, a2, a3);
}

/* A kvm_hypercall at the format offsets (*_fmt): its kvm_exit is classic too
 * (bpf_attach_plan.cpp) and knows no vCPU, so nothing of a vCPU is read, nor
 * needs kvm's BTF. */
static __always_inline void on_hypercall_tp(struct ht_thread_state *s, __u64 nr,
					    __u64 a0, __u64 a1, __u64 a2,
					    __u64 a3)
{
	struct ht_env e = { .by_thread = 1 };

	ht_hp_hypercall(&e, s, &filter, nr, a0, a1, a2, a3);
}

/*
 * The context of kvm_hv_hypercall and kvm_xen_hypercall, classic at their
 * format offsets.  The exit's vCPU (kept masked by a raw kvm_exit) is used
 * only where the exit reason is read lazily from it (raw (vcpu, isa)
 * kvm_exit, kvm's BTF at hand): with lazy_exit_reason 0 (e.g. 5.10, all
 * classic) the verifier prunes every vCPU read, so the programs load
 * without kvm's BTF, as on_hypercall_tp.
 */
static __always_inline struct ht_env abi_env(struct ht_thread_state *s)
{
	struct ht_env e = { .by_thread = 1 };

	if (lazy_exit_reason && s && s->exit_vcpu)
		e.vcpu = s->exit_vcpu ^ key_mask;
	return e;
}

static __always_inline void on_hv_hypercall(struct ht_thread_state *s,
					    const void *ctx)
{
	struct ht_env e = abi_env(s);
	struct tp_hv h;

	if (!tp_hv_fields(ctx, &h)) {
		ht_hp_hv_hypercall(&e, 0, &filter, 0, 0, 0, 0, 0, 0, 0);
		return;
	}
	ht_hp_hv_hypercall(&e, s, &filter, h.code, h.fast, h.var_cnt, h.rep_cnt,
			   h.rep_idx, h.ingpa, h.outgpa);
}

/* kvm_xen_hypercall; a record that cannot be copied counts as a hypercall
 * without state (unmatched). */
static __always_inline void
xen_hypercall(struct ht_env *e, struct ht_thread_state *s, const void *ctx)
{
	struct tp_xen x = {};

	if (!tp_xen_fields(ctx, &x))
		s = 0;
	ht_hp_xen_hypercall(e, s, &filter, x.nr, x.a[0], x.a[1], x.a[2], x.a[3],
			    x.a[4], x.a[5]);
}

static __always_inline void on_xen_hypercall(struct ht_thread_state *s,
					     const void *ctx)
{
	struct ht_env e = abi_env(s);

	xen_hypercall(&e, s, ctx);
}

static __always_inline void on_hv_done(struct ht_thread_state *s,
				       const void *ctx)
{
	struct ht_env e = { .by_thread = 1 };

	if (s && s->phase == HT_PHASE_ARMED)
		ht_hp_hv_done(&e, s, tp_hv_done_result(ctx));
}

static __always_inline void on_userspace_exit(struct ht_thread_state *s,
					      const void *ctx)
{
	struct ht_env e = { .by_thread = 1 };

	if (s && s->phase == HT_PHASE_ARMED)
		ht_hp_userspace_exit(&e, s, uexit_reason(ctx));
}

/* vcpu: 0 if not known; vcpu_id: HT_VCPU_UNKNOWN to read it from vcpu or
 * rec; typed: vcpu is a tp_btf argument; rec: a *_fmt program's record
 * (else 0). */
static __always_inline void on_entry(struct ht_thread_state *s, __u64 vcpu,
				     __u32 vcpu_id, int typed, const void *rec)
{
	struct ht_env e = {
		.vcpu = vcpu,
		.entry_rec = rec,
		.vcpu_id = vcpu_id,
		.by_thread = 1,
		.typed = typed,
	};

	ht_hp_entry(&e, s, &filter);
}

/* --- the vcpu set: state keyed by the vCPU (the fast path) --------------- */

/* A hypercall's context in the vcpu set: every ABI's hypercall fires with
 * its vCPU loaded (kvm_running_vcpu); no slot: no exit of this vCPU since
 * tracing began. */
static __always_inline struct ht_env vt_env(void)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_env e = { .vcpu = running_vcpu() };

	if (t && e.vcpu)
		e.slot = slot_find(t, e.vcpu);
	return e;
}

static __always_inline void vt_exit(__u64 vcpu, __u32 reason, __u8 isa)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_env e = {};
	struct ht_bpf_slot *s;
	int evicted;
	__u64 now;

	if (!t || !vcpu)
		return;
	now = bpf_ktime_get_ns();
	s = (struct ht_bpf_slot *)ht_vt_get(t->slot, sizeof(t->slot[0]),
					    HT_VT_SLOTS - 1, vcpu ^ key_mask,
					    now, steal_after_ns, &evicted);
	e.slot = s;
	/* With a lazy reason, 0 stands until a wanted hypercall reads it.
	 * The slot's key is the vCPU: nothing to keep for the hypercall. */
	ht_hp_exit(&e, s ? &s->vt.sm : 0, evicted, now, reason, isa, 0);
}

static __always_inline void vt_hypercall(__u64 nr, __u64 a0, __u64 a1, __u64 a2,
					 __u64 a3)
{
	struct ht_env e = vt_env();

	ht_hp_hypercall(&e, e.slot ? &e.slot->vt.sm : 0, &filter, nr, a0, a1,
			a2, a3);
	vt_note_armed(e.slot, e.vcpu);
}

/* kvm_userspace_exit in the vcpu set: the slot the thread's note names, if
 * it still holds that hypercall armed. */
static __always_inline void vt_userspace_exit(const void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_uexit_note *n;
	struct ht_env e = {};

	n = bpf_map_lookup_elem(&uexit_notes, &tid);
	if (!t || !n)
		return;
	e.slot = slot_find(t, n->key ^ key_mask);
	if (!e.slot || e.slot->vt.sm.t_hypercall_ns != n->t_hypercall_ns)
		return;
	ht_hp_userspace_exit(&e, &e.slot->vt.sm, uexit_reason(ctx));
}

/* kvm_xen_hypercall in the vcpu set. */
static __always_inline void vt_xen_hypercall(const void *ctx)
{
	struct ht_env e = vt_env();

	xen_hypercall(&e, e.slot ? &e.slot->vt.sm : 0, ctx);
	vt_note_armed(e.slot, e.vcpu);
}

/* kvm_hv_hypercall in the vcpu set. */
static __always_inline void vt_hv_hypercall(const void *ctx)
{
	struct ht_env e = vt_env();
	struct tp_hv h;

	if (!tp_hv_fields(ctx, &h)) {
		ht_hp_hv_hypercall(&e, 0, &filter, 0, 0, 0, 0, 0, 0, 0);
		return;
	}
	ht_hp_hv_hypercall(&e, e.slot ? &e.slot->vt.sm : 0, &filter, h.code,
			   h.fast, h.var_cnt, h.rep_cnt, h.rep_idx, h.ingpa,
			   h.outgpa);
	vt_note_armed(e.slot, e.vcpu);
}

/* kvm_hv_hypercall_done: on the hypercall's path, or at the KVM_RUN after
 * KVM_EXIT_HYPERV (kvm_hv_hypercall_complete_userspace, vCPU loaded). */
static __always_inline void vt_hv_done(const void *ctx)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_env e = {};
	__u64 vcpu = running_vcpu();

	if (!t || !vcpu)
		return;
	e.slot = slot_find(t, vcpu);
	if (e.slot && e.slot->vt.sm.phase == HT_PHASE_ARMED)
		ht_hp_hv_done(&e, &e.slot->vt.sm, tp_hv_done_result(ctx));
}

/* A kvm_hypercall whose record could not be copied: counted unmatched. */
static __always_inline void vt_hypercall_lost(void)
{
	struct ht_env e = {};

	ht_hp_hypercall(&e, 0, &filter, 0, 0, 0, 0, 0);
}

/* key: the vCPU as the slot table knows it (a number); vcpu, vcpu_id,
 * typed, rec: as for on_entry. */
static __always_inline void vt_entry(__u64 key, __u64 vcpu, __u32 vcpu_id,
				     int typed, const void *rec)
{
	struct ht_vcpu_table *t = vcpu_table_get();
	struct ht_env e = {
		.vcpu = vcpu,
		.entry_rec = rec,
		.vcpu_id = vcpu_id,
		.typed = typed,
	};
	int armed;

	if (!t || !key)
		return;
	e.slot = slot_find(t, key);
	if (!e.slot)
		return;
	armed = e.slot->vt.sm.phase == HT_PHASE_ARMED;
	ht_hp_entry(&e, &e.slot->vt.sm, &filter);
	if (armed)
		vt_drop_note();
}

/* --- the programs -------------------------------------------------------- */

#define TASK_STATE(create) \
	task_state((create) ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0)
#define LRU_STATE(create) lru_state(create)

/* {classic (CO-RE), classic (format offsets), raw, btf} x {task storage,
 * LRU}. */
#define HT_PROGRAMS(store, STATE)                                            \
	SEC("tracepoint/kvm/kvm_exit")                                       \
	int ht_exit_tp_##store(struct trace_event_raw_kvm_exit *ctx)         \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_exit(STATE(1), ctx->exit_reason, (__u8)ctx->isa, 0);      \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_hypercall")                                  \
	int ht_hc_tp_##store(struct trace_event_raw_kvm_hypercall *ctx)      \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_hypercall(STATE(0), ctx->nr, ctx->a0, ctx->a1, ctx->a2,   \
			     ctx->a3);                                       \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_entry")                                      \
	int ht_entry_tp_##store(struct trace_event_raw_kvm_entry *ctx)       \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_entry(STATE(0), 0, ctx->vcpu_id, 0, 0);                   \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_exit")                                       \
	int ht_exit_fmt_##store(void *ctx)                                   \
	{                                                                    \
		__u32 reason;                                                \
		__u8 isa;                                                    \
                                                                             \
		if (pid_unwanted())                                          \
			return 0;                                            \
		if (tp_exit_fields(ctx, &reason, &isa))                      \
			on_exit(STATE(1), reason, isa, 0);                   \
		else                                                         \
			on_exit(0, 0, 0, 0);                                 \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_hypercall")                                  \
	int ht_hc_fmt_##store(void *ctx)                                     \
	{                                                                    \
		struct tp_hypercall h;                                       \
                                                                             \
		if (pid_unwanted())                                          \
			return 0;                                            \
		if (tp_hc_fields(ctx, &h))                                   \
			on_hypercall_tp(STATE(0), h.nr, h.a0, h.a1, h.a2,    \
					h.a3);                               \
		else                                                         \
			on_hypercall_tp(0, 0, 0, 0, 0, 0);                   \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_entry")                                      \
	int ht_entry_fmt_##store(void *ctx)                                  \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_entry(STATE(0), 0, HT_VCPU_UNKNOWN, 0, ctx);              \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("raw_tp/kvm_exit")                                               \
	int ht_exit_raw_##store(struct bpf_raw_tracepoint_args *ctx)         \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		if (raw_exit_args == HT_RAW_EXIT_REASON_VCPU_ISA)            \
			on_exit(STATE(1), (__u32)ctx->args[0],               \
				(__u8)ctx->args[2], ctx->args[1]);           \
		else                                                         \
			on_exit(STATE(1), 0, (__u8)ctx->args[1],             \
				ctx->args[0]);                               \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("raw_tp/kvm_hypercall")                                          \
	int ht_hc_raw_##store(struct bpf_raw_tracepoint_args *ctx)           \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_hypercall(STATE(0), ctx->args[0], ctx->args[1],           \
			     ctx->args[2], ctx->args[3], ctx->args[4]);      \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("raw_tp/kvm_entry")                                              \
	int ht_entry_raw_##store(struct bpf_raw_tracepoint_args *ctx)        \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID)                  \
			on_entry(STATE(0), 0, (__u32)ctx->args[0], 0, 0);    \
		else                                                         \
			on_entry(STATE(0), ctx->args[0], HT_VCPU_UNKNOWN, 0, \
				 0);                                         \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_hv_hypercall")                               \
	int ht_hv_fmt_##store(void *ctx)                                     \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_hv_hypercall(STATE(0), ctx);                              \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_hv_hypercall_done")                          \
	int ht_hvd_fmt_##store(void *ctx)                                    \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_hv_done(STATE(0), ctx);                                   \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_xen_hypercall")                              \
	int ht_xen_fmt_##store(void *ctx)                                    \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_xen_hypercall(STATE(0), ctx);                             \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tracepoint/kvm/kvm_userspace_exit")                             \
	int ht_uexit_fmt_##store(void *ctx)                                  \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		on_userspace_exit(STATE(0), ctx);                            \
		return 0;                                                    \
	}                                                                    \
                                                                             \
	SEC("tp_btf/kvm_entry")                                              \
	int ht_entry_btf_##store(__u64 *ctx)                                 \
	{                                                                    \
		if (pid_unwanted())                                          \
			return 0;                                            \
		if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID)                  \
			on_entry(STATE(0), 0, (__u32)ctx[0], 0, 0);          \
		else                                                         \
			on_entry(STATE(0), ctx[0], HT_VCPU_UNKNOWN, 1, 0);   \
		return 0;                                                    \
	}

HT_PROGRAMS(task, TASK_STATE)
HT_PROGRAMS(lru, LRU_STATE)

/*
 * The vcpu set.  The vCPU comes from the raw arguments where they have it,
 * else from kvm_running_vcpu (kvm_hypercall; classic tracepoints; kvm_entry
 * before 5.10; the slot key at a tp_btf kvm_entry, whose typed argument the
 * verifier does not let become a number).
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
	__u64 vcpu;

	if (pid_unwanted())
		return 0;
	vcpu = running_vcpu();
	vt_entry(vcpu, vcpu, ctx->vcpu_id, 0, 0);
	return 0;
}

/* Classic, the records' fields at tp_layout's offsets (tp_exit_fields). */
SEC("tracepoint/kvm/kvm_exit")
int ht_exit_fmt_vcpu(void *ctx)
{
	__u32 reason;
	__u8 isa;

	if (pid_unwanted())
		return 0;
	if (tp_exit_fields(ctx, &reason, &isa))
		vt_exit(running_vcpu(), reason, isa);
	return 0;
}

SEC("tracepoint/kvm/kvm_hypercall")
int ht_hc_fmt_vcpu(void *ctx)
{
	struct tp_hypercall h;

	if (pid_unwanted())
		return 0;
	if (tp_hc_fields(ctx, &h))
		vt_hypercall(h.nr, h.a0, h.a1, h.a2, h.a3);
	else
		vt_hypercall_lost();
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int ht_entry_fmt_vcpu(void *ctx)
{
	__u64 vcpu;

	if (pid_unwanted())
		return 0;
	vcpu = running_vcpu();
	vt_entry(vcpu, vcpu, HT_VCPU_UNKNOWN, 0, ctx);
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
	__u64 vcpu;

	if (pid_unwanted())
		return 0;
	if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID) {
		vcpu = running_vcpu();
		vt_entry(vcpu, vcpu, (__u32)ctx->args[0], 0, 0);
	} else {
		vt_entry(ctx->args[0], ctx->args[0], HT_VCPU_UNKNOWN, 0, 0);
	}
	return 0;
}

SEC("tp_btf/kvm_entry")
int ht_entry_btf_vcpu(__u64 *ctx)
{
	__u64 vcpu;

	if (pid_unwanted())
		return 0;
	vcpu = running_vcpu();
	if (raw_entry_args == HT_RAW_ENTRY_VCPU_ID)
		vt_entry(vcpu, vcpu, (__u32)ctx[0], 0, 0);
	else
		vt_entry(vcpu, ctx[0], HT_VCPU_UNKNOWN, 1, 0);
	return 0;
}

SEC("tracepoint/kvm/kvm_hv_hypercall")
int ht_hv_fmt_vcpu(void *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_hv_hypercall(ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_hv_hypercall_done")
int ht_hvd_fmt_vcpu(void *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_hv_done(ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_xen_hypercall")
int ht_xen_fmt_vcpu(void *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_xen_hypercall(ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_userspace_exit")
int ht_uexit_fmt_vcpu(void *ctx)
{
	if (pid_unwanted())
		return 0;
	vt_userspace_exit(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
