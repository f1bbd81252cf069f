// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hypertrace's eBPF backend: the common/ state machine on the three KVM
 * tracepoints, one record per wanted hypercall into a BPF ring buffer.
 *
 * Program sets, of which the loader autoloads exactly one per tracepoint:
 *   - where the per-thread state lives: task storage (*_task, preferred:
 *     no hash update, freed with the thread) or an LRU hash keyed by tid
 *     (*_lru, fallback);
 *   - how each tracepoint is attached: raw tracepoint (*_raw, the fast path:
 *     probe arguments, no formatted record) or classic tracepoint (*_tp).
 *     kvm_exit may be classic while the other two are raw: when the kernel
 *     has no BTF for the vendor vCPU struct (KVM built in, e.g. the 6.18 dev
 *     host), only the classic record gives the exit reason.
 *
 * The fast path does on an exit only what the state machine needs there
 * (timestamp, phase) and remembers the vcpu pointer; the exit reason (a CO-RE
 * read of the vendor vCPU struct) and the vcpu_id are read only when a wanted
 * hypercall follows.  Configuration is `const volatile` so the verifier
 * prunes the filters and modes that are off.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kvm_trace_types.h"
#include "hypertrace.h"
#include "ht_state_machine.h"

const volatile struct ht_filter filter = {
	.vcpu = HT_VCPU_ANY,
};
const volatile __u32 raw_exit_args = HT_RAW_EXIT_VCPU_ISA;
const volatile __u32 raw_entry_args = HT_RAW_ENTRY_VCPU;

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

/* The shared state plus what the raw path reads lazily. */
struct ht_bpf_state {
	struct ht_thread_state sm;
	__u64 vcpu; /* struct kvm_vcpu * of the last raw exit; 0: reason known */
};

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

static __always_inline void count(int idx)
{
	__u32 zero = 0;
	struct ht_counters *c;

	if (idx < 0 || idx >= HT_CNT_MAX)
		return;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		c->c[idx]++;
}

static __always_inline void count_outcome(enum ht_outcome out)
{
	if (out != HT_OUT_NONE && out != HT_OUT_ARMED)
		count(ht_outcome_counter(out));
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

/* --- handlers, shared by every program set -------------------------------- */

static __always_inline void on_exit(struct ht_bpf_state *s, __u32 reason,
				    __u8 isa, int known, __u64 vcpu)
{
	if (!s) {
		count(HT_CNT_NO_STATE);
		return;
	}
	count_outcome(ht_sm_exit(&s->sm, bpf_ktime_get_ns(), reason, isa, known));
	s->vcpu = vcpu;
}

static __always_inline void on_hypercall(struct ht_bpf_state *s, __u64 nr,
					 __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	enum ht_outcome out;

	count(HT_CNT_HYPERCALLS);
	if (!s) {
		/* No state: this thread had no exit since tracing began. */
		count(HT_CNT_UNMATCHED_HYPERCALL);
		return;
	}
	/* Lazy exit reason: only for a hypercall the filter may keep. */
	if (s->vcpu && s->sm.phase == HT_PHASE_EXITED && ht_nr_wanted(&filter, nr)) {
		__u32 reason = 0;
		int known = vendor_reason(s->vcpu, s->sm.isa, &reason);

		ht_sm_set_exit_reason(&s->sm, reason, s->sm.isa, known);
		s->vcpu = 0;
	}
	/* The clock is read only for a hypercall the state machine keeps. */
	out = ht_sm_hypercall(&s->sm, &filter, 0, nr, a0, a1, a2, a3);
	if (out == HT_OUT_ARMED)
		s->sm.t_hypercall_ns = bpf_ktime_get_ns();
	else
		count_outcome(out);
}

/* vcpu_id: a value (classic record, <= 5.9 raw) or read from the vcpu. */
static __always_inline void on_entry(struct ht_bpf_state *s, __u64 vcpu_ptr,
				     __u32 vcpu_id)
{
	struct ht_record *rec;
	enum ht_outcome out;
	__u64 pid_tgid, now;

	if (!s)
		return;
	if (s->sm.phase != HT_PHASE_ARMED) {
		/* The common case: an exit without a wanted hypercall. */
		s->sm.phase = HT_PHASE_IDLE;
		return;
	}
	now = bpf_ktime_get_ns();
	if (vcpu_ptr)
		vcpu_id = BPF_CORE_READ((struct kvm_vcpu *)vcpu_ptr, vcpu_id);
	out = ht_sm_entry(&s->sm, &filter, now, vcpu_id);
	if (out != HT_OUT_EMIT) {
		count_outcome(out);
		return;
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count(HT_CNT_DROPPED);
		return;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	ht_sm_fill_record(rec, &s->sm, pid_tgid >> 32, (__u32)pid_tgid,
			  vcpu_id, bpf_get_smp_processor_id(), now);
	bpf_ringbuf_submit(rec, 0);
	count(HT_CNT_EMITTED);
}

/* --- the programs: {classic, raw} x {task storage, LRU} ------------------- */

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
		on_exit(STATE(1), (__u32)ctx->args[0], (__u8)ctx->args[2], 1, 0); \
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
