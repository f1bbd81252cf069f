// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hypertrace's eBPF backend: the common/ state machine on the three KVM
 * tracepoints, one record per wanted hypercall into a BPF ring buffer.
 *
 * Two program sets share the handlers below and differ only in where the
 * per-thread state lives (task storage, or an LRU hash keyed by tid); the
 * loader autoloads exactly one set.  Configuration is `const volatile` so the
 * verifier prunes the filters that are off.
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
	count(ht_outcome_counter(out));
}

/* The VM process filter, applied before any state is touched. */
static __always_inline int pid_unwanted(__u64 pid_tgid)
{
	return filter.pid != HT_PID_ANY && (__u32)(pid_tgid >> 32) != filter.pid;
}

static __always_inline void on_exit(struct ht_thread_state *s,
				    struct trace_event_raw_kvm_exit *ctx)
{
	if (!s) {
		count(HT_CNT_NO_STATE);
		return;
	}
	count_outcome(ht_sm_exit(s, bpf_ktime_get_ns(), ctx->exit_reason,
				 (__u8)ctx->isa, 1));
}

static __always_inline void on_hypercall(struct ht_thread_state *s,
					 struct trace_event_raw_kvm_hypercall *ctx)
{
	count(HT_CNT_HYPERCALLS);
	if (!s) {
		/* No state: this thread had no exit since tracing began. */
		count(HT_CNT_UNMATCHED_HYPERCALL);
		return;
	}
	count_outcome(ht_sm_hypercall(s, &filter, bpf_ktime_get_ns(), ctx->nr,
				      ctx->a0, ctx->a1, ctx->a2, ctx->a3));
}

static __always_inline void on_entry(struct ht_thread_state *s,
				     struct trace_event_raw_kvm_entry *ctx,
				     __u64 pid_tgid)
{
	struct ht_record *rec;
	enum ht_outcome out;
	__u64 now;

	if (!s || s->phase != HT_PHASE_ARMED) {
		if (s)
			s->phase = HT_PHASE_IDLE;
		return;
	}
	now = bpf_ktime_get_ns();
	out = ht_sm_entry(s, &filter, now, ctx->vcpu_id);
	if (out != HT_OUT_EMIT) {
		count_outcome(out);
		return;
	}
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		count(HT_CNT_DROPPED);
		return;
	}
	ht_sm_fill_record(rec, s, pid_tgid >> 32, (__u32)pid_tgid,
			  ctx->vcpu_id, bpf_get_smp_processor_id(), now);
	bpf_ringbuf_submit(rec, 0);
	count(HT_CNT_EMITTED);
}

/* --- per-thread state in task local storage (preferred) ---------------- */

static __always_inline struct ht_thread_state *task_state(__u64 flags)
{
	return bpf_task_storage_get(&task_states, bpf_get_current_task_btf(),
				    0, flags);
}

SEC("tracepoint/kvm/kvm_exit")
int ht_exit_task(struct trace_event_raw_kvm_exit *ctx)
{
	if (pid_unwanted(bpf_get_current_pid_tgid()))
		return 0;
	on_exit(task_state(BPF_LOCAL_STORAGE_GET_F_CREATE), ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_hypercall")
int ht_hypercall_task(struct trace_event_raw_kvm_hypercall *ctx)
{
	if (pid_unwanted(bpf_get_current_pid_tgid()))
		return 0;
	on_hypercall(task_state(0), ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int ht_entry_task(struct trace_event_raw_kvm_entry *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (pid_unwanted(pid_tgid))
		return 0;
	on_entry(task_state(0), ctx, pid_tgid);
	return 0;
}

/* --- per-thread state in an LRU hash keyed by tid (fallback) ----------- */

static __always_inline struct ht_thread_state *lru_state(__u32 tid, int create)
{
	static const struct ht_thread_state idle;
	struct ht_thread_state *s;

	s = bpf_map_lookup_elem(&lru_states, &tid);
	if (s || !create)
		return s;
	/* An eviction here is the LRU's bound on dead threads' state. */
	bpf_map_update_elem(&lru_states, &tid, &idle, BPF_NOEXIST);
	return bpf_map_lookup_elem(&lru_states, &tid);
}

SEC("tracepoint/kvm/kvm_exit")
int ht_exit_lru(struct trace_event_raw_kvm_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (pid_unwanted(pid_tgid))
		return 0;
	on_exit(lru_state((__u32)pid_tgid, 1), ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_hypercall")
int ht_hypercall_lru(struct trace_event_raw_kvm_hypercall *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (pid_unwanted(pid_tgid))
		return 0;
	on_hypercall(lru_state((__u32)pid_tgid, 0), ctx);
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int ht_entry_lru(struct trace_event_raw_kvm_entry *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (pid_unwanted(pid_tgid))
		return 0;
	on_entry(lru_state((__u32)pid_tgid, 0), ctx, pid_tgid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
