// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Do raw tracepoint programs run preemptible on this kernel?
 *
 * The loader (userspace/backend/preempt_probe.cpp) attaches this program to
 * sched_process_fork, which fires in process context with preemption
 * enabled, starts a thread, and reads what the program saw.  Where the
 * tracepoint itself no longer disables preemption around its callbacks
 * (include/linux/tracepoint.h, since "tracing: Guard __DECLARE_TRACE() use
 * of __DO_TRACE_CALL() with SRCU-fast"), the program sees a preemption
 * count of 0.  There a program can be preempted mid-run, and the kernel
 * skips any run of it that starts on that CPU meanwhile
 * (kernel/trace/bpf_trace.c, __bpf_trace_run(): prog->active), counting
 * it only as a recursion miss: a raw kvm_hypercall program, whose
 * tracepoint fires preemptible, would lose hypercalls.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* x86's preemption count (arch/x86/include/asm/preempt.h), per CPU: an int
 * of its own, or a field of struct pcpu_hot (6.2 to 6.14). */
extern int __preempt_count __ksym __weak;

struct pcpu_hot {
	int preempt_count;
} __attribute__((preserve_access_index));

extern struct pcpu_hot pcpu_hot __ksym __weak;

/* Set by the loader: only a fork of this process counts. */
__u32 tgid;
/* 1: the program ran; 2: and read the preemption count into count. */
__u32 seen;
__u32 count;

SEC("raw_tp/sched_process_fork")
int ht_probe_preempt(void *ctx)
{
	struct pcpu_hot *hot;

	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != tgid)
		return 0;
	/* An unresolved weak ksym is 0 here: the verifier prunes its branch. */
	if (&__preempt_count) {
		count = *(int *)bpf_this_cpu_ptr(&__preempt_count);
		seen = 2;
	} else if (&pcpu_hot) {
		hot = bpf_this_cpu_ptr(&pcpu_hot);
		count = hot->preempt_count;
		seen = 2;
	} else {
		seen = 1;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
