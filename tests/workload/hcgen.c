/*
 * hcgen - KVM hypercall workload generator for hypertrace tests.
 *
 * Creates a tiny real-mode micro-VM through /dev/kvm and makes it issue
 * hypercalls (VMMCALL on AMD, VMCALL on Intel) in a known order, then prints
 * the ground truth as JSON.  See README.md for the CLI, the JSON schema and
 * the exit codes.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest_abi.h"
#include "hcgen.h"
#include "hcgen_vmname.h"

#define KVM_ENOSYS_RET ((uint32_t)-1000) /* -KVM_ENOSYS truncated to 32 bits */
#define MAX_VCPUS 64
#define MAX_SEQ (1u << 24)
/* an item holds >= 1 call, so at most the calls per vCPU */
#define MAX_ITEMS (1u << 24)
#define MAX_BAD_RETS 16

/* --abandon: the MAP_GPA_RANGE call each vCPU of the first VM leaves in flight.
 * gpa page aligned (KVM's only checks: aligned, npages >= 1, no wrap);
 * attrs = KVM_MAP_GPA_RANGE_ENCRYPTED | PAGE_SZ_4K (uapi asm/kvm_para.h). */
#define AB_GPA(v) (0x80000000u | ((uint32_t)(v) << 12))
#define AB_NPAGES 1u
#define AB_ATTRS (1u << 4)

extern const unsigned char hc_guest_start[], hc_guest_end[];
extern const unsigned char hc_probe[], hc_probe_end[];
extern const unsigned char hc_sched_vmmcall[], hc_sched_vmcall[];
extern const unsigned char hc_loop_vmmcall[], hc_loop_vmcall[];

#define GUEST_OFF(sym) ((uint64_t)((sym)-hc_guest_start) + HC_CODE_BASE)

static const char *prog = "hcgen";

/* ------------------------------------------------------------------ */
/* Messages                                                            */

void msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void __attribute__((noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(EX_USAGE);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  hcgen schedule --vcpus K --calls NRxCOUNT[,NRxCOUNT...] [--noise N]\n"
		"                 [--noise-kind out|hlt|mix] [--order interleave|sequential]\n"
		"                 [--a1 V] [--a2 V] [--a3 V] [--no-calls] [--insn auto|vmmcall|vmcall]\n"
		"                 [--timeout SEC] [--stop V:K[,V:K...]] [--abandon]\n"
		"                 [-name [guest=]NAME[,debug-threads=on]] [-uuid UUID]\n"
		"                 [--libvirt-dir DIR] [--vcpu-id-stride S] [--hold]\n"
		"                 (--calls items may be ranges: FIRST-LASTxCOUNT)\n"
		"  hcgen loop -n N [--nr NR] [--alt NR2] [--repeat R] [--warmup W] [--json]\n"
		"                 [--timeout SEC]\n"
		"                 [--a1 V] [--a2 V] [--a3 V] [--insn auto|vmmcall|vmcall]\n"
		"  hcgen hyperv|xen|forward [options]   (the other hypercall ABIs and\n"
		"                 VMM-served calls: hcgen MODE --help)\n"
		"  hcgen --help\n"
		"Numbers are decimal or 0x-hex.  Ground truth JSON goes to stdout, messages to\n"
		"stderr.  Exit codes: 0 ok, 1 unexpected guest behaviour, 2 usage,\n"
		"3 /dev/kvm cannot run an ordinary guest (e.g. PVM host), 4 system error,\n"
		"5 this KVM lacks a capability the mode needs (named in the message).\n"
		"See tests/workload/README.md.\n");
}

/* ------------------------------------------------------------------ */
/* Number parsing: decimal or 0x-hex, no sign, no octal.              */

bool parse_u64_prefix(const char *s, const char **end, uint64_t *out)
{
	int base = 10;
	if (s[0] < '0' || s[0] > '9')
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		if (!((s[2] >= '0' && s[2] <= '9') ||
		      (s[2] >= 'a' && s[2] <= 'f') ||
		      (s[2] >= 'A' && s[2] <= 'F')))
			return false;
	}
	errno = 0;
	char *e;
	unsigned long long v = strtoull(s, &e, base);
	if (errno)
		return false;
	*end = e;
	*out = v;
	return true;
}

uint64_t parse_num(const char *opt, const char *s, uint64_t max)
{
	const char *e;
	uint64_t v;
	if (!parse_u64_prefix(s, &e, &v) || *e)
		usage_error("%s: '%s' is not a number (decimal or 0x-hex)", opt,
			    s);
	if (v > max)
		usage_error("%s: %s is too large (max %" PRIu64 ")", opt, s,
			    max);
	return v;
}

/* ------------------------------------------------------------------ */
/* Host CPU: which hypercall instruction                               */

static void host_cpu(struct hostcpu *h)
{
	unsigned a, b, c, d;
	memset(h, 0, sizeof(*h));
	if (__get_cpuid(0, &a, &b, &c, &d)) {
		memcpy(h->vendor_str, &b, 4);
		memcpy(h->vendor_str + 4, &d, 4);
		memcpy(h->vendor_str + 8, &c, 4);
	}
	h->amd = !strcmp(h->vendor_str, "AuthenticAMD") ||
		 !strcmp(h->vendor_str, "HygonGenuine");
	if (__get_cpuid(1, &a, &b, &c, &d))
		h->has_vmx = c & (1u << 5);
	if (__get_cpuid(0x80000001, &a, &b, &c, &d))
		h->has_svm = c & (1u << 2);
}

/* The instruction KVM expects natively: SVM -> vmmcall, VMX -> vmcall. */
static enum insn pick_insn(const struct hostcpu *h, enum insn req)
{
	if (req != INSN_AUTO)
		return req;
	if (h->has_svm)
		return INSN_VMMCALL;
	if (h->has_vmx)
		return INSN_VMCALL;
	return h->amd ? INSN_VMMCALL : INSN_VMCALL;
}

enum insn parse_insn(const char *s)
{
	if (!strcmp(s, "auto"))
		return INSN_AUTO;
	if (!strcmp(s, "vmmcall"))
		return INSN_VMMCALL;
	if (!strcmp(s, "vmcall"))
		return INSN_VMCALL;
	usage_error("--insn: expected auto, vmmcall or vmcall, got '%s'", s);
}

/* KVM hypercall numbers that KVM implements (include/uapi/linux/kvm_para.h,
 * arch/x86/kvm/x86.c): their return value depends on state, so hcgen does
 * not check it.  Every other number must return -KVM_ENOSYS. */
static bool nr_is_implemented(uint32_t nr)
{
	switch (nr) {
	case 1:	 /* KVM_HC_VAPIC_POLL_IRQ */
	case 5:	 /* KVM_HC_KICK_CPU */
	case 9:	 /* KVM_HC_CLOCK_PAIRING */
	case 10: /* KVM_HC_SEND_IPI */
	case 11: /* KVM_HC_SCHED_YIELD */
	case 12: /* KVM_HC_MAP_GPA_RANGE */
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* KVM VM                                                              */

void kvm_unusable(const char *what, const char *detail, const struct hostcpu *h,
		  const char *example)
{
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	fprintf(stderr,
		"%s: /dev/kvm cannot run an ordinary guest here (%s%s%s): this host's "
		"hypervisor is not VMX/SVM KVM%s%s.\n"
		"%s: Run hcgen inside the testbed: tests/vm/run -- %s\n",
		prog, what, detail ? ": " : "", detail ? detail : "",
		pvm ? " (kvm_pvm is loaded: PVM)" : " (PVM?)",
		(!h->has_svm && !h->has_vmx &&
		 !strstr(detail ? detail : "", "svm nor vmx")) ?
			"; the CPU has neither svm nor vmx" :
			"",
		prog, example);
	exit(EX_NOKVM);
}

const char *example_cmd = "hcgen ...";

void vm_open(struct vm *vm, enum insn req)
{
	char buf[160];
	memset(vm, 0, sizeof(*vm));
	host_cpu(&vm->cpu);
	vm->insn = pick_insn(&vm->cpu, req);
	vm->svm = vm->cpu.has_svm || (!vm->cpu.has_vmx && vm->cpu.amd);
	if (vm->insn != (vm->svm ? INSN_VMMCALL : INSN_VMCALL))
		msg("note: --insn %s is not native on %s: the first call traps (#UD) and KVM "
		    "rewrites it in guest memory (KVM_X86_QUIRK_FIX_HYPERCALL_INSN)",
		    vm->insn == INSN_VMMCALL ? "vmmcall" : "vmcall",
		    vm->svm ? "SVM" : "VMX");

	/* Every KVM that runs ordinary guests needs VMX or SVM; PVM hosts have
	 * neither, and PVM runs our code wrongly instead of failing cleanly. */
	if (!vm->cpu.has_svm && !vm->cpu.has_vmx &&
	    !getenv("HCGEN_NO_CPUID_CHECK"))
		kvm_unusable("CPUID", "the CPU has neither svm nor vmx",
			     &vm->cpu, example_cmd);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
		kvm_unusable("open /dev/kvm", buf, &vm->cpu, example_cmd);
	}
	int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(buf, sizeof(buf), "got %d, want %d", api,
			 KVM_API_VERSION);
		kvm_unusable("KVM_GET_API_VERSION", buf, &vm->cpu, example_cmd);
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
		kvm_unusable("KVM_CREATE_VM", buf, &vm->cpu, example_cmd);
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run)) {
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
		kvm_unusable("KVM_GET_VCPU_MMAP_SIZE", buf, &vm->cpu,
			     example_cmd);
	}
	/* Needed on VMX without unrestricted guest for real mode; a no-op on SVM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		msg("warning: KVM_SET_TSS_ADDR: %s", strerror(errno));

	vm->mem = mmap(NULL, HC_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		msg("mmap guest memory: %s", strerror(errno));
		exit(EX_SYS);
	}
	size_t code_len = (size_t)(hc_guest_end - hc_guest_start);
	if (code_len > HC_CODE_MAX) {
		msg("internal error: guest code too large (%zu bytes)",
		    code_len);
		exit(EX_SYS);
	}
	memcpy(vm->mem + HC_CODE_BASE, hc_guest_start, code_len);

	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = HC_MEM_SIZE,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
		kvm_unusable("KVM_SET_USER_MEMORY_REGION", buf, &vm->cpu,
			     example_cmd);
	}
}

/* Releases everything that keeps the VM alive: after this the kernel has
 * destroyed it (fput's release runs before close() returns to a user task),
 * unless a vCPU fd or kvm_run mapping is still open. */
void vm_close(struct vm *vm)
{
	close(vm->vm_fd);
	close(vm->kvm_fd);
	munmap(vm->mem, HC_MEM_SIZE);
	vm->vm_fd = vm->kvm_fd = -1;
	vm->mem = NULL;
}

/* Drops the vCPU's fd and its kvm_run mapping (which holds the fd's file). */
void vcpu_close(struct vm *vm, struct vcpu_ctx *c)
{
	if (c->run && c->run != MAP_FAILED)
		munmap(c->run, vm->run_size);
	if (c->fd >= 0)
		close(c->fd);
	c->run = NULL;
	c->fd = -1;
}

/* Returns 0, or -errno with *what naming the failing ioctl. */
static int vcpu_create(struct vm *vm, int id, uint32_t ds_base,
		       struct vcpu_ctx *c, const char **what)
{
	c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (c->fd < 0) {
		*what = "KVM_CREATE_VCPU";
		return -errno;
	}
	c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED) {
		*what = "mmap kvm_run";
		return -errno;
	}
	struct kvm_sregs sregs;
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0) {
		*what = "KVM_GET_SREGS";
		return -errno;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	struct kvm_segment *ds[] = { &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs,
				     &sregs.ss };
	for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		ds[i]->base = ds_base;
		ds[i]->selector = (uint16_t)(ds_base >> 4);
	}
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0) {
		*what = "KVM_SET_SREGS";
		return -errno;
	}
	return 0;
}

static const char *exit_name(uint32_t r)
{
	static const char *names[] = {
		[KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
		[KVM_EXIT_IO] = "KVM_EXIT_IO",
		[KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
		[KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
		[KVM_EXIT_HLT] = "KVM_EXIT_HLT",
		[KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
		[KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
		[KVM_EXIT_INTR] = "KVM_EXIT_INTR",
		[KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
	};
	if (r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "exit";
}

void describe_exit(const struct vcpu_ctx *c, char *buf, size_t len)
{
	const struct kvm_run *r = c->run;
	struct kvm_regs regs;
	unsigned long long rip = 0;
	if (ioctl(c->fd, KVM_GET_REGS, &regs) == 0)
		rip = regs.rip;
	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		snprintf(
			buf, len,
			"unexpected KVM_EXIT_IO %s port 0x%x size %u at rip 0x%llx",
			r->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			r->io.port, r->io.size, rip);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(
			buf, len,
			"KVM_EXIT_FAIL_ENTRY hardware_entry_failure_reason 0x%llx",
			(unsigned long long)
				r->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, len,
			 "KVM_EXIT_INTERNAL_ERROR suberror %u at rip 0x%llx",
			 r->internal.suberror, rip);
		break;
	default:
		snprintf(buf, len,
			 "unexpected %s (exit_reason %u) at rip 0x%llx",
			 exit_name(r->exit_reason), r->exit_reason, rip);
	}
}

/*
 * First KVM_RUN of a vCPU: a lone HLT.  On a VMX/SVM KVM host this gives
 * KVM_EXIT_HLT; PVM (and anything else that cannot run a real-mode guest)
 * fails the ioctl or exits some other way.  Returns 0 or fills buf.
 */
static int vcpu_probe(struct vcpu_ctx *c, uint16_t ds_sel, char *buf,
		      size_t len)
{
	struct kvm_regs regs = { .rip = GUEST_OFF(hc_probe), .rflags = 2 };
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0) {
		snprintf(buf, len, "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	if (ioctl(c->fd, KVM_RUN, 0) < 0) {
		snprintf(buf, len, "KVM_RUN: %s", strerror(errno));
		return -1;
	}
	if (c->run->exit_reason != KVM_EXIT_HLT) {
		char d[200];
		describe_exit(c, d, sizeof(d));
		snprintf(buf, len, "KVM_RUN: %s", d);
		return -1;
	}
	if (ioctl(c->fd, KVM_GET_REGS, &regs) < 0) {
		snprintf(buf, len, "KVM_GET_REGS: %s", strerror(errno));
		return -1;
	}
	uint32_t want_ebx = ds_sel;
	if ((uint32_t)regs.rax != HC_PROBE_EAX ||
	    (uint32_t)regs.rbx != want_ebx ||
	    regs.rip != GUEST_OFF(hc_probe_end)) {
		snprintf(
			buf, len,
			"real-mode probe: eax 0x%x ebx 0x%x rip 0x%llx, want "
			"eax 0x%x ebx 0x%x rip 0x%llx: the vCPU does not execute real-mode code",
			(uint32_t)regs.rax, (uint32_t)regs.rbx,
			(unsigned long long)regs.rip, HC_PROBE_EAX, want_ebx,
			(unsigned long long)GUEST_OFF(hc_probe_end));
		return -1;
	}
	return 0;
}

unsigned watchdog_sec;

/*
 * --stop: threads of stopped vCPUs that have not exited yet.  The other
 * vCPUs issue their last window of calls only when it is 0, so that "the
 * others go on after a thread exited" holds however the threads are
 * scheduled (under TCG a stopped thread was once starved past vCPU 0's
 * end).
 */
static int stopped_running;

/*
 * --hold: every vCPU thread, its calls done, stays alive with its vCPU open
 * until hcgen gets SIGUSR1 (blocked in every thread, taken by sigwait in the
 * main thread), so a tracer can look at the threads (/proc/PID/task/TID)
 * after their last hypercall.
 */
bool hold;
static int held_release, held_threads, hold_threads;

void hold_until_released(void)
{
	if (!hold)
		return;
	/* The last thread to arrive says so: a caller waits for this line
	 * rather than guess how long the calls take (under TCG, seconds). */
	if (__atomic_add_fetch(&held_threads, 1, __ATOMIC_ACQ_REL) ==
	    hold_threads)
		fprintf(stderr,
			"hcgen: --hold: all %d vCPU threads done, held until SIGUSR1\n",
			hold_threads);
	while (!__atomic_load_n(&held_release, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static sigset_t release_signal(void)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	return usr1;
}

void hold_block_release_signal(int threads)
{
	sigset_t usr1 = release_signal();
	hold_threads = threads;
	if (hold)
		pthread_sigmask(SIG_BLOCK, &usr1,
				NULL); /* the threads inherit it */
}

void hold_wait_release(void)
{
	sigset_t usr1 = release_signal();
	int sig;
	if (!hold)
		return;
	sigwait(&usr1, &sig);
	__atomic_store_n(&held_release, 1, __ATOMIC_RELEASE);
}

static void watchdog_fired(int sig)
{
	(void)sig;
	vmname_remove_status();
	static const char m[] =
		"hcgen: --timeout expired: the guest did not finish\n";
	ssize_t r = write(2, m, sizeof(m) - 1);
	(void)r;
	_exit(EX_GUEST);
}

void watchdog_start(void)
{
	if (watchdog_sec) {
		signal(SIGALRM, watchdog_fired);
		alarm(watchdog_sec);
	}
}

pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

const char *insn_name(enum insn i)
{
	return i == INSN_VMMCALL ? "vmmcall" : "vmcall";
}

void print_header(const struct vm *vm, const char *mode)
{
	bool svm = vm->svm;
	printf("{\"mode\":\"%s\",\"pid\":%d,\"vendor\":\"%s\",\"insn\":\"%s\",\"isa\":%d,"
	       "\"exit_reason\":%d",
	       mode, (int)getpid(), vm->cpu.amd ? "amd" : "intel",
	       insn_name(vm->insn), svm ? 2 : 1, svm ? 129 : 18);
}

/* ------------------------------------------------------------------ */
/* schedule mode                                                       */

struct item {
	uint32_t nr;
	uint32_t count;
};

struct sched {
	struct item *items;
	uint32_t n_items, cap_items;
	uint32_t total;	 /* calls per vCPU */
	uint32_t *order; /* item index per seq */
	uint32_t a1, a2, a3;
	uint32_t noise;
	uint32_t noise_kind;
	int vcpus;
	uint32_t win_entries;
	uint32_t stop
		[MAX_VCPUS]; /* --stop: calls before the thread exits; 0 = all */
	bool abandon;	     /* --abandon: a first VM destroyed mid-hypercall */
	struct timespec t0;  /* the vCPU threads' start */
	pthread_barrier_t *barrier;
	int vm1_destroyed; /* --abandon: 1 yes, 0 no, -1 cannot tell */
};

struct vcpu_thr {
	pthread_t thread;
	int id;	    /* the vCPU index: a0's top byte, "CPU N/KVM" */
	int kvm_id; /* KVM's vcpu_id: id * --vcpu-id-stride */
	pid_t tid;
	struct vm *vm;
	const struct sched *s;
	uint32_t *rets;
	uint64_t hypercalls, noise_out, noise_hlt, sync_exits, probe_exits,
		kvm_runs;
	uint64_t bad_ret_count;
	uint32_t bad_rets[MAX_BAD_RETS][3]; /* seq, nr, ret */
	int status;			    /* EX_* */
	char err[256];
	bool abandoned;	 /* --abandon: our MAP_GPA_RANGE went to userspace */
	uint64_t end_ns; /* last KVM_RUN returned, since s->t0 */
};

uint64_t ns_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000000ull +
	       (uint64_t)(t.tv_nsec - t0->tv_nsec);
}

/* KVM's debugfs directory of a VM ("PID-FD", virt/kvm/kvm_main.c
 * kvm_create_vm_debugfs()); it goes away in kvm_destroy_vm(). */
static int vm_debugfs_exists(const struct vm *vm)
{
	char path[64];
	struct stat st;
	if (stat("/sys/kernel/debug/kvm", &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d",
		 (int)getpid(), vm->vm_fd);
	return stat(path, &st) == 0;
}

/*
 * --abandon, between the two VMs: every vCPU thread has closed its vCPU of
 * the first VM.  One thread drops the VM itself (so KVM destroys it and frees
 * the vCPUs) and opens the second one in the same struct vm.
 */
static void swap_vm(struct vcpu_thr *t)
{
	struct sched *s = (struct sched *)t->s;
	char path[64];
	struct stat st;
	int before = vm_debugfs_exists(t->vm);
	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d",
		 (int)getpid(), t->vm->vm_fd);
	enum insn insn = t->vm->insn;
	vm_close(t->vm);
	s->vm1_destroyed = before == 1 ? stat(path, &st) != 0 : -1;
	vm_open(t->vm, insn);
}

/*
 * --abandon, first VM: the vCPU issues KVM_HC_MAP_GPA_RANGE with valid
 * arguments; with KVM_CAP_EXIT_HYPERCALL enabled KVM forwards it to
 * userspace (KVM_EXIT_HYPERCALL, arch/x86/kvm/x86.c kvm_emulate_hypercall)
 * after kvm_exit and kvm_hypercall have fired, and waits for the VMM to
 * complete it on the next KVM_RUN.  We never re-enter: the tracer is left
 * with an armed hypercall whose kvm_entry never comes.
 */
static int abandon_one(struct vcpu_thr *t, struct vcpu_ctx *c, uint8_t *win,
		       uint32_t win_base)
{
	struct vm *vm = t->vm;
	const char *what = "";
	int r = vcpu_create(vm, t->kvm_id, win_base, c, &what);
	if (r < 0) {
		snprintf(t->err, sizeof(t->err), "first VM: %s: %s", what,
			 strerror(-r));
		return EX_NOKVM;
	}
	if (vcpu_probe(c, (uint16_t)(win_base >> 4), t->err, sizeof(t->err)) <
	    0)
		return EX_NOKVM;
	t->probe_exits++;
	t->kvm_runs++;
	uint32_t *e = (uint32_t *)win;
	e[HC_ENT_NR / 4] = KVM_HC_MAP_GPA_RANGE;
	e[HC_ENT_A0 / 4] = AB_GPA(t->id);
	e[HC_ENT_A1 / 4] = AB_NPAGES;
	e[HC_ENT_A2 / 4] = AB_ATTRS;
	e[HC_ENT_A3 / 4] = t->s->a3;
	e[HC_ENT_RET / 4] = 0x5a5a5a5a;
	e[HC_ENT_NOISE / 4] = 0;
	e[HC_ENT_KIND / 4] = HC_NOISE_OUT;
	uint64_t rip = vm->insn == INSN_VMMCALL ? GUEST_OFF(hc_sched_vmmcall) :
						  GUEST_OFF(hc_sched_vmcall);
	struct kvm_regs regs = { .rip = rip, .rflags = 2, .rdi = 0, .rbp = 1 };
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0) {
		snprintf(t->err, sizeof(t->err), "first VM: KVM_SET_REGS: %s",
			 strerror(errno));
		return EX_SYS;
	}
	while (ioctl(c->fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR) {
			snprintf(t->err, sizeof(t->err),
				 "first VM: KVM_RUN: %s", strerror(errno));
			return EX_GUEST;
		}
	}
	t->kvm_runs++;
	const struct kvm_run *run = c->run;
	if (run->exit_reason == KVM_EXIT_IO && run->io.port == HC_PORT_DONE) {
		snprintf(
			t->err, sizeof(t->err),
			"first VM: KVM answered MAP_GPA_RANGE itself (ret 0x%x) instead of "
			"KVM_EXIT_HYPERCALL: KVM_CAP_EXIT_HYPERCALL is not honoured",
			e[HC_ENT_RET / 4]);
		return EX_GUEST;
	}
	if (run->exit_reason != KVM_EXIT_HYPERCALL) {
		char d[200];
		describe_exit(c, d, sizeof(d));
		snprintf(t->err, sizeof(t->err),
			 "first VM: want KVM_EXIT_HYPERCALL, got %s", d);
		return EX_GUEST;
	}
	if (run->hypercall.nr != KVM_HC_MAP_GPA_RANGE ||
	    run->hypercall.args[0] != AB_GPA(t->id) ||
	    run->hypercall.args[1] != AB_NPAGES ||
	    run->hypercall.args[2] != AB_ATTRS) {
		snprintf(
			t->err, sizeof(t->err),
			"first VM: KVM_EXIT_HYPERCALL nr %llu args 0x%llx %llu 0x%llx, want "
			"nr 12 args 0x%x %u 0x%x",
			(unsigned long long)run->hypercall.nr,
			(unsigned long long)run->hypercall.args[0],
			(unsigned long long)run->hypercall.args[1],
			(unsigned long long)run->hypercall.args[2],
			AB_GPA(t->id), AB_NPAGES, AB_ATTRS);
		return EX_GUEST;
	}
	t->abandoned = true;
	return EX_OK;
}

/* Every vCPU thread once past the start barrier: the one the barrier
 * elected writes the libvirt-like status file (all tids known, no hypercall
 * issued yet); the others wait for it. */
static volatile int start_done;
static struct vcpu_thr *all_threads;

static void after_start_barrier(int r, const struct sched *s)
{
	if (r == PTHREAD_BARRIER_SERIAL_THREAD) {
		if (vmname.libvirt_dir) {
			pid_t tids[MAX_VCPUS];
			int ids[MAX_VCPUS];
			for (int i = 0; i < s->vcpus; i++) {
				tids[i] = all_threads[i].tid;
				ids[i] = all_threads[i].kvm_id;
			}
			if (vmname_write_status(s->vcpus, tids, ids) < 0)
				exit(EX_SYS);
		}
		__atomic_store_n(&start_done, 1, __ATOMIC_RELEASE);
		return;
	}
	while (!__atomic_load_n(&start_done, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static void *vcpu_sched_thread(void *arg)
{
	struct vcpu_thr *t = arg;
	const struct sched *s = t->s;
	struct vm *vm = t->vm;
	struct vcpu_ctx c;
	const char *what = "";
	uint32_t win_bytes = s->win_entries * HC_ENT_SIZE;
	uint32_t win_base = HC_WIN_BASE + (uint32_t)t->id * win_bytes;
	bool waited =
		false; /* passed the common start barrier (even on failure, once) */
	uint32_t limit = s->stop[t->id] ? s->stop[t->id] : s->total;

	t->tid = my_tid();
	vmname_name_thread(t->id);
	c.fd = -1;
	c.run = NULL;
	if (s->abandon) {
		t->status = abandon_one(t, &c, vm->mem + win_base, win_base);
		/* All vCPUs are in flight at once; then each drops its vCPU. */
		pthread_barrier_wait(s->barrier);
		vcpu_close(vm, &c);
		if (pthread_barrier_wait(s->barrier) ==
		    PTHREAD_BARRIER_SERIAL_THREAD)
			swap_vm(t);
		/* The second VM is open in *vm for everyone. */
		pthread_barrier_wait(s->barrier);
		if (t->status != EX_OK)
			goto out;
	}
	uint8_t *win = vm->mem + win_base;
	int r = vcpu_create(vm, t->kvm_id, win_base, &c, &what);
	if (r < 0) {
		snprintf(t->err, sizeof(t->err), "%s: %s", what, strerror(-r));
		t->status = EX_NOKVM;
		goto out;
	}
	if (vcpu_probe(&c, (uint16_t)(win_base >> 4), t->err, sizeof(t->err)) <
	    0) {
		t->status = EX_NOKVM;
		goto out;
	}
	t->probe_exits++;
	t->kvm_runs++;

	after_start_barrier(pthread_barrier_wait(s->barrier), s);
	waited = true;

	uint64_t sched_rip = vm->insn == INSN_VMMCALL ?
				     GUEST_OFF(hc_sched_vmmcall) :
				     GUEST_OFF(hc_sched_vmcall);
	uint64_t want_noise = 0;
	for (uint32_t seq0 = 0; seq0 < limit; seq0 += s->win_entries) {
		uint32_t n = limit - seq0;
		if (n > s->win_entries)
			n = s->win_entries;
		/* The last window of a vCPU that goes on: after every stopped
		 * thread has exited (stopped_running). */
		if (!s->stop[t->id] && seq0 + n == limit)
			while (__atomic_load_n(&stopped_running,
					       __ATOMIC_ACQUIRE))
				usleep(1000);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t seq = seq0 + i;
			uint32_t *e = (uint32_t *)(win +
						   (size_t)i * HC_ENT_SIZE);
			e[HC_ENT_NR / 4] = s->items[s->order[seq]].nr;
			e[HC_ENT_A0 / 4] = ((uint32_t)t->id << 24) | seq;
			e[HC_ENT_A1 / 4] = s->a1;
			e[HC_ENT_A2 / 4] = s->a2;
			e[HC_ENT_A3 / 4] = s->a3;
			e[HC_ENT_RET / 4] = 0x5a5a5a5a;
			e[HC_ENT_NOISE / 4] = s->noise;
			e[HC_ENT_KIND / 4] = s->noise_kind;
		}
		want_noise += (uint64_t)n * s->noise;
		struct kvm_regs regs = {
			.rip = sched_rip, .rflags = 2, .rdi = 0, .rbp = n
		};
		if (ioctl(c.fd, KVM_SET_REGS, &regs) < 0) {
			snprintf(t->err, sizeof(t->err), "KVM_SET_REGS: %s",
				 strerror(errno));
			t->status = EX_SYS;
			goto out;
		}
		for (;;) {
			if (ioctl(c.fd, KVM_RUN, 0) < 0) {
				if (errno == EINTR)
					continue;
				snprintf(t->err, sizeof(t->err), "KVM_RUN: %s",
					 strerror(errno));
				t->status = EX_GUEST;
				goto out;
			}
			t->kvm_runs++;
			struct kvm_run *run = c.run;
			if (run->exit_reason == KVM_EXIT_IO &&
			    run->io.direction == KVM_EXIT_IO_OUT &&
			    run->io.size == 1 && run->io.count == 1 &&
			    run->io.port == HC_PORT_NOISE) {
				t->noise_out++;
				continue;
			}
			if (run->exit_reason == KVM_EXIT_HLT) {
				t->noise_hlt++;
				continue;
			}
			if (run->exit_reason == KVM_EXIT_IO &&
			    run->io.direction == KVM_EXIT_IO_OUT &&
			    run->io.size == 1 && run->io.port == HC_PORT_DONE) {
				t->sync_exits++;
				break;
			}
			if (run->exit_reason == KVM_EXIT_INTR)
				continue;
			describe_exit(&c, t->err, sizeof(t->err));
			t->status = EX_GUEST;
			goto out;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t seq = seq0 + i;
			const uint32_t *e =
				(const uint32_t *)(win +
						   (size_t)i * HC_ENT_SIZE);
			uint32_t nr = e[HC_ENT_NR / 4], ret = e[HC_ENT_RET / 4];
			t->rets[seq] = ret;
			t->hypercalls++;
			if (!nr_is_implemented(nr) && ret != KVM_ENOSYS_RET) {
				if (t->bad_ret_count < MAX_BAD_RETS) {
					t->bad_rets[t->bad_ret_count][0] = seq;
					t->bad_rets[t->bad_ret_count][1] = nr;
					t->bad_rets[t->bad_ret_count][2] = ret;
				}
				t->bad_ret_count++;
			}
		}
		if (t->noise_out + t->noise_hlt != want_noise) {
			snprintf(t->err, sizeof(t->err),
				 "noise exits: got %" PRIu64 ", want %" PRIu64,
				 t->noise_out + t->noise_hlt, want_noise);
			t->status = EX_GUEST;
			goto out;
		}
	}
	if (t->bad_ret_count)
		t->status = EX_GUEST;
out:
	t->end_ns = ns_since(&s->t0);
	hold_until_released();
	if (!waited)
		after_start_barrier(pthread_barrier_wait(s->barrier), s);
	/* --stop: the thread exits now, its vCPU closed, while the others go on
	 * (the vCPU itself lives until the VM is destroyed). */
	if (s->stop[t->id]) {
		vcpu_close(vm, &c);
		__atomic_sub_fetch(&stopped_running, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void add_item(struct sched *s, uint32_t nr, uint32_t count)
{
	if (s->n_items == s->cap_items) {
		uint32_t cap = s->cap_items ? s->cap_items * 2 : 64;
		struct item *n = realloc(s->items, sizeof(*n) * cap);
		if (!n) {
			msg("out of memory");
			exit(EX_SYS);
		}
		s->items = n;
		s->cap_items = cap;
	}
	s->items[s->n_items].nr = nr;
	s->items[s->n_items].count = count;
	s->n_items++;
}

/* SPEC: comma list of NRxCOUNT or FIRST-LASTxCOUNT (every nr of the range,
 * COUNT times each, as consecutive items). */
static void parse_calls(struct sched *s, const char *spec)
{
	const char *p = spec;
	uint64_t total = 0;
	if (!*p)
		usage_error("--calls: empty");
	while (*p) {
		const char *e;
		uint64_t nr, last, count;
		if (!parse_u64_prefix(p, &e, &nr) ||
		    (*e != 'x' && *e != 'X' && *e != '-'))
			usage_error(
				"--calls: bad item at '%s' (want NRxCOUNT or FIRST-LASTxCOUNT, "
				"e.g. 42x1000 or 1000-20999x1)",
				p);
		last = nr;
		if (*e == '-') {
			p = e + 1;
			if (!parse_u64_prefix(p, &e, &last) ||
			    (*e != 'x' && *e != 'X'))
				usage_error(
					"--calls: bad range end at '%s' (want FIRST-LASTxCOUNT, "
					"e.g. 1000-20999x1)",
					p);
			if (last < nr)
				usage_error("--calls: range %" PRIu64
					    "-%" PRIu64 " ends before it "
					    "starts",
					    nr, last);
		}
		p = e + 1;
		if (!parse_u64_prefix(p, &e, &count) ||
		    (*e != ',' && *e != '\0'))
			usage_error(
				"--calls: bad count at '%s' (want NRxCOUNT, e.g. 42x1000)",
				p);
		if (last > UINT32_MAX)
			usage_error("--calls: nr 0x%" PRIx64
				    " does not fit in 32 bits "
				    "(real-mode hypercalls are 32-bit)",
				    last);
		if (count == 0)
			usage_error("--calls: count must be >= 1");
		if (count >= MAX_SEQ || last - nr + 1 >= MAX_SEQ ||
		    (total += (last - nr + 1) * count) >= MAX_SEQ)
			usage_error(
				"--calls: at most %u calls per vCPU (seq must fit in 24 bits)",
				MAX_SEQ - 1);
		for (uint64_t n = nr; n <= last; n++)
			add_item(s, (uint32_t)n, (uint32_t)count);
		p = e;
		if (*p == ',') {
			p++;
			if (!*p)
				usage_error("--calls: trailing comma");
		}
	}
	s->total = (uint32_t)total;
}

/* --stop V:K[,V:K...]: vCPU V's thread issues its first K calls and exits. */
static void parse_stop(struct sched *s, const char *spec)
{
	const char *p = spec;
	while (*p) {
		const char *e;
		uint64_t v, k;
		if (!parse_u64_prefix(p, &e, &v) || *e != ':')
			usage_error(
				"--stop: bad item at '%s' (want VCPU:CALLS, e.g. 1:300)",
				p);
		p = e + 1;
		if (!parse_u64_prefix(p, &e, &k) || (*e != ',' && *e != '\0'))
			usage_error(
				"--stop: bad call count at '%s' (want VCPU:CALLS, e.g. 1:300)",
				p);
		if (v >= MAX_VCPUS)
			usage_error("--stop: vCPU %" PRIu64
				    " does not exist (max %d)",
				    v, MAX_VCPUS - 1);
		if (k == 0 || k >= MAX_SEQ)
			usage_error("--stop: call count must be 1..%u",
				    MAX_SEQ - 1);
		s->stop[v] = (uint32_t)k;
		p = e;
		if (*p == ',' && !*++p)
			usage_error("--stop: trailing comma");
	}
}

/* Item indices sorted by (nr, index): runs of one nr, for "counts". */
static const struct sched *sort_sched;
static int cmp_item_idx(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t nx = sort_sched->items[x].nr, ny = sort_sched->items[y].nr;
	if (nx != ny)
		return nx < ny ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void build_order(struct sched *s, bool sequential)
{
	s->order = malloc(sizeof(uint32_t) * s->total);
	uint32_t *left = calloc(s->n_items, sizeof(uint32_t));
	if (!s->order || !left) {
		msg("out of memory");
		exit(EX_SYS);
	}
	uint32_t k = 0;
	if (sequential) {
		for (uint32_t i = 0; i < s->n_items; i++)
			for (uint32_t j = 0; j < s->items[i].count; j++)
				s->order[k++] = i;
	} else {
		for (uint32_t i = 0; i < s->n_items; i++)
			left[i] = s->items[i].count;
		while (k < s->total)
			for (uint32_t i = 0; i < s->n_items; i++)
				if (left[i]) {
					left[i]--;
					s->order[k++] = i;
				}
	}
	free(left);
}

static int cmd_schedule(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vcpus", required_argument, 0, 'k' },
		{ "calls", required_argument, 0, 'c' },
		{ "noise", required_argument, 0, 'N' },
		{ "noise-kind", required_argument, 0, 'K' },
		{ "order", required_argument, 0, 'o' },
		{ "a1", required_argument, 0, '1' },
		{ "a2", required_argument, 0, '2' },
		{ "a3", required_argument, 0, '3' },
		{ "no-calls", no_argument, 0, 'q' },
		{ "timeout", required_argument, 0, 'T' },
		{ "insn", required_argument, 0, 'i' },
		{ "stop", required_argument, 0, 'S' },
		{ "abandon", no_argument, 0, 'A' },
		{ "libvirt-dir", required_argument, 0, 'L' },
		{ "vcpu-id-stride", required_argument, 0, 'I' },
		{ "hold", no_argument, 0, 'H' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	static struct sched s;
	vmname_take_args(&argc, argv);
	const char *stop = NULL;
	const char *calls = NULL;
	bool sequential = false, have_vcpus = false, print_calls = true;
	enum insn req = INSN_AUTO;
	s.a1 = 0xa1;
	s.a2 = 0xa2;
	s.a3 = 0xa3;
	s.noise = 1;
	s.noise_kind = HC_NOISE_OUT;
	s.vcpus = 1;
	int o;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			s.vcpus = (int)parse_num("--vcpus", optarg, MAX_VCPUS);
			if (s.vcpus < 1)
				usage_error("--vcpus: must be >= 1");
			have_vcpus = true;
			break;
		case 'c':
			calls = optarg;
			break;
		case 'N':
			s.noise = (uint32_t)parse_num("--noise", optarg,
						      1000000);
			break;
		case 'K':
			if (!strcmp(optarg, "out"))
				s.noise_kind = HC_NOISE_OUT;
			else if (!strcmp(optarg, "hlt"))
				s.noise_kind = HC_NOISE_HLT;
			else if (!strcmp(optarg, "mix"))
				s.noise_kind = HC_NOISE_MIX;
			else
				usage_error(
					"--noise-kind: expected out, hlt or mix, got '%s'",
					optarg);
			break;
		case 'o':
			if (!strcmp(optarg, "interleave"))
				sequential = false;
			else if (!strcmp(optarg, "sequential"))
				sequential = true;
			else
				usage_error(
					"--order: expected interleave or sequential, got '%s'",
					optarg);
			break;
		case '1':
			s.a1 = (uint32_t)parse_num("--a1", optarg, UINT32_MAX);
			break;
		case '2':
			s.a2 = (uint32_t)parse_num("--a2", optarg, UINT32_MAX);
			break;
		case '3':
			s.a3 = (uint32_t)parse_num("--a3", optarg, UINT32_MAX);
			break;
		case 'q':
			print_calls = false;
			break;
		case 'T':
			watchdog_sec = (unsigned)parse_num("--timeout", optarg,
							   86400);
			break;
		case 'i':
			req = parse_insn(optarg);
			break;
		case 'S':
			stop = optarg;
			break;
		case 'A':
			s.abandon = true;
			break;
		case 'L':
			vmname.libvirt_dir = optarg;
			break;
		case 'H':
			hold = true;
			break;
		case 'I':
			vmname.stride = (unsigned)parse_num("--vcpu-id-stride",
							    optarg, 64);
			if (vmname.stride < 1)
				usage_error("--vcpu-id-stride: must be >= 1");
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage_error("schedule: bad option");
		}
	}
	if (optind < argc)
		usage_error("schedule: unexpected argument '%s'", argv[optind]);
	if (!have_vcpus)
		usage_error("schedule: --vcpus K is required");
	if (!calls)
		usage_error("schedule: --calls SPEC is required");
	if (vmname.libvirt_dir &&
	    (!vmname.name || strchr(vmname.name, '/') || vmname.name[0] == '.'))
		usage_error(
			"--libvirt-dir needs -name NAME without '/' and not starting with '.' (the file is DIR/NAME.xml)");
	parse_calls(&s, calls);
	if (stop) {
		parse_stop(&s, stop);
		for (int v = 0; v < MAX_VCPUS; v++) {
			if (s.stop[v] && v >= s.vcpus)
				usage_error(
					"--stop: vCPU %d does not exist (--vcpus %d)",
					v, s.vcpus);
			if (s.stop[v] >= s.total)
				usage_error(
					"--stop: vCPU %d would stop after %u of %u calls: stop "
					"before the end (fewer calls, or more in --calls)",
					v, s.stop[v], s.total);
			if (s.stop[v])
				stopped_running++;
		}
	}
	build_order(&s, sequential);
	uint32_t *by_nr = malloc(sizeof(uint32_t) * s.n_items);
	uint64_t *item_cnt = malloc(sizeof(uint64_t) * s.n_items);
	if (!by_nr || !item_cnt) {
		msg("out of memory");
		return EX_SYS;
	}
	for (uint32_t i = 0; i < s.n_items; i++)
		by_nr[i] = i;
	sort_sched = &s;
	qsort(by_nr, s.n_items, sizeof(uint32_t), cmp_item_idx);
	for (uint32_t i = 0; i < s.n_items; i++)
		if (nr_is_implemented(s.items[by_nr[i]].nr) &&
		    (i == 0 ||
		     s.items[by_nr[i - 1]].nr != s.items[by_nr[i]].nr))
			msg("note: nr %u is a hypercall KVM implements; its return value is "
			    "recorded but not checked",
			    s.items[by_nr[i]].nr);

	uint32_t per = (HC_WIN_AREA / (uint32_t)s.vcpus) &
		       ~(uint32_t)(HC_ENT_SIZE - 1);
	if (per > HC_WIN_MAX)
		per = HC_WIN_MAX;
	s.win_entries = per / HC_ENT_SIZE;

	example_cmd = "hcgen schedule ...";
	struct vm vm;
	vm_open(&vm, req);
	if (s.abandon) {
		/* KVM_CHECK_EXTENSION gives the mask of numbers KVM can forward. */
		int mask = ioctl(vm.vm_fd, KVM_CHECK_EXTENSION,
				 KVM_CAP_EXIT_HYPERCALL);
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_EXIT_HYPERCALL,
			.args = { 1ull << KVM_HC_MAP_GPA_RANGE }
		};
		if (mask < 0 || !(mask & (1 << KVM_HC_MAP_GPA_RANGE)) ||
		    ioctl(vm.vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			msg("--abandon: this KVM cannot forward KVM_HC_MAP_GPA_RANGE to userspace "
			    "(KVM_CAP_EXIT_HYPERCALL mask %d%s%s): it needs Linux 5.14 or later",
			    mask, errno ? ", " : "",
			    errno ? strerror(errno) : "");
			return EX_NOKVM;
		}
	}
	if (vmname.stride > 1) {
		/* KVM refuses ids at or above KVM_CAP_MAX_VCPU_ID
		 * (arch/x86/kvm/x86.c kvm_arch_vcpu_precreate). */
		int max_id = ioctl(vm.vm_fd, KVM_CHECK_EXTENSION,
				   KVM_CAP_MAX_VCPU_ID);
		if (max_id > 0 &&
		    (s.vcpus - 1) * (int)vmname.stride >= max_id) {
			msg("--vcpu-id-stride %u: vcpu_id %d is not below KVM_CAP_MAX_VCPU_ID %d",
			    vmname.stride, (s.vcpus - 1) * (int)vmname.stride,
			    max_id);
			return EX_NOCAP;
		}
	}
	watchdog_start();

	struct vcpu_thr *th = calloc(s.vcpus, sizeof(*th));
	all_threads = th;
	pthread_barrier_t barrier;
	if (!th || pthread_barrier_init(&barrier, NULL, s.vcpus)) {
		msg("out of memory");
		return EX_SYS;
	}
	struct timespec t1;
	s.barrier = &barrier;
	s.vm1_destroyed = -1;
	hold_block_release_signal(s.vcpus);
	clock_gettime(CLOCK_MONOTONIC, &s.t0);
	for (int i = 0; i < s.vcpus; i++) {
		th[i].id = i;
		th[i].kvm_id = i * (int)vmname.stride;
		th[i].vm = &vm;
		th[i].s = &s;
		th[i].rets = calloc(s.total, sizeof(uint32_t));
		if (!th[i].rets) {
			msg("out of memory");
			return EX_SYS;
		}
		int e = pthread_create(&th[i].thread, NULL, vcpu_sched_thread,
				       &th[i]);
		if (e) {
			msg("pthread_create: %s", strerror(e));
			return EX_SYS;
		}
	}
	hold_wait_release();
	for (int i = 0; i < s.vcpus; i++)
		pthread_join(th[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t elapsed = (uint64_t)(t1.tv_sec - s.t0.tv_sec) * 1000000000ull +
			   (uint64_t)(t1.tv_nsec - s.t0.tv_nsec);

	/* A vCPU that could not even run the probe: the host's KVM is unusable. */
	for (int i = 0; i < s.vcpus; i++)
		if (th[i].status == EX_NOKVM)
			kvm_unusable("vCPU probe", th[i].err, &vm.cpu,
				     "hcgen schedule ...");

	int rc = EX_OK;
	for (int i = 0; i < s.vcpus; i++) {
		if (th[i].status != EX_OK) {
			if (th[i].err[0])
				msg("vcpu %d: %s", i, th[i].err);
			if (th[i].bad_ret_count)
				msg("vcpu %d: %" PRIu64
				    " hypercalls returned an unexpected value "
				    "(want 0x%x = -KVM_ENOSYS)",
				    i, th[i].bad_ret_count, KVM_ENOSYS_RET);
			if (rc == EX_OK || th[i].status > rc)
				rc = th[i].status;
		}
	}

	print_header(&vm, "schedule");
	printf(",\"ok\":%s,\"order\":\"%s\",\"noise\":%u,\"noise_kind\":\"%s\","
	       "\"a1\":%u,\"a2\":%u,\"a3\":%u,\"elapsed_ns\":%" PRIu64
	       ",\"abandon\":%s",
	       rc == EX_OK ? "true" : "false",
	       sequential ? "sequential" : "interleave", s.noise,
	       s.noise_kind == HC_NOISE_OUT ? "out" :
	       s.noise_kind == HC_NOISE_HLT ? "hlt" :
					      "mix",
	       s.a1, s.a2, s.a3, elapsed, s.abandon ? "true" : "false");
	vmname_print_json();
	if (s.abandon) {
		/* The second VM's vCPU threads are the first VM's: same tids. */
		int n_ab = 0;
		for (int i = 0; i < s.vcpus; i++)
			n_ab += th[i].abandoned;
		printf(",\"abandoned\":%d,\"vm1_destroyed\":%s,\"abandoned_calls\":[",
		       n_ab,
		       s.vm1_destroyed < 0 ? "null" :
		       s.vm1_destroyed	   ? "true" :
					     "false");
		for (int i = 0, k = 0; i < s.vcpus; i++)
			if (th[i].abandoned)
				printf("%s{\"vcpu_id\":%d,\"tid\":%d,\"call\":[%u,%u,%u,%u,%u]}",
				       k++ ? "," : "", th[i].kvm_id,
				       (int)th[i].tid, KVM_HC_MAP_GPA_RANGE,
				       AB_GPA(i), AB_NPAGES, AB_ATTRS, s.a3);
		printf("]");
	}
	printf(",\"vcpus\":[");
	for (int i = 0; i < s.vcpus; i++) {
		struct vcpu_thr *t = &th[i];
		uint32_t limit = s.stop[i] ? s.stop[i] : s.total;
		printf("%s{\"vcpu_id\":%d,\"vcpu_index\":%d,\"thread_name\":",
		       i ? "," : "", t->kvm_id, t->id);
		if (vmname.debug_threads)
			printf("\"CPU %d/KVM\"", t->id);
		else
			printf("null");
		printf(",\"tid\":%d,\"hypercalls\":%" PRIu64 ",\"stop_after\":",
		       (int)t->tid, t->hypercalls);
		if (s.stop[i])
			printf("%u", s.stop[i]);
		else
			printf("null");
		printf(",\"end_ns\":%" PRIu64 ",\"counts\":{", t->end_ns);
		/* counts over the calls actually completed, keyed by nr (merged
		 * duplicates); by_nr keeps it linear for many distinct numbers */
		memset(item_cnt, 0, sizeof(uint64_t) * s.n_items);
		for (uint64_t q = 0; q < t->hypercalls; q++)
			item_cnt[s.order[q]]++;
		for (uint32_t j = 0; j < s.n_items;) {
			uint32_t nr = s.items[by_nr[j]].nr;
			uint64_t cnt = 0;
			printf("%s", j ? "," : "");
			for (; j < s.n_items && s.items[by_nr[j]].nr == nr; j++)
				cnt += item_cnt[by_nr[j]];
			printf("\"%u\":%" PRIu64, nr, cnt);
		}
		printf("},\"noise_exits\":%" PRIu64 ",\"noise_out\":%" PRIu64
		       ",\"noise_hlt\":%" PRIu64 ",\"sync_exits\":%" PRIu64
		       ",\"probe_exits\":%" PRIu64 ",\"kvm_runs\":%" PRIu64
		       ",\"ret_ok\":%s,\"bad_ret_count\":%" PRIu64
		       ",\"bad_rets\":[",
		       t->noise_out + t->noise_hlt, t->noise_out, t->noise_hlt,
		       t->sync_exits, t->probe_exits, t->kvm_runs,
		       (t->bad_ret_count == 0 && t->hypercalls == limit) ?
			       "true" :
			       "false",
		       t->bad_ret_count);
		for (uint64_t b = 0; b < t->bad_ret_count && b < MAX_BAD_RETS;
		     b++)
			printf("%s[%u,%u,%u]", b ? "," : "", t->bad_rets[b][0],
			       t->bad_rets[b][1], t->bad_rets[b][2]);
		printf("],\"error\":");
		if (t->err[0]) {
			putchar('"');
			for (const char *p = t->err; *p; p++)
				if (*p == '"' || *p == '\\')
					printf("\\%c", *p);
				else if ((unsigned char)*p >= 0x20)
					putchar(*p);
			putchar('"');
		} else {
			printf("null");
		}
		if (print_calls) {
			printf(",\"calls\":[");
			for (uint64_t q = 0; q < t->hypercalls; q++)
				printf("%s[%u,%u,%u,%u,%u]", q ? "," : "",
				       s.items[s.order[q]].nr,
				       ((uint32_t)t->id << 24) | (uint32_t)q,
				       s.a1, s.a2, s.a3);
			printf("]");
		}
		printf("}");
	}
	printf("]}\n");
	fflush(stdout);
	return rc;
}

/* ------------------------------------------------------------------ */
/* loop mode                                                           */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_loop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nr", required_argument, 0, 'r' },
		{ "alt", required_argument, 0, 'a' },
		{ "repeat", required_argument, 0, 'R' },
		{ "warmup", required_argument, 0, 'w' },
		{ "json", no_argument, 0, 'j' },
		{ "timeout", required_argument, 0, 'T' },
		{ "a1", required_argument, 0, '1' },
		{ "a2", required_argument, 0, '2' },
		{ "a3", required_argument, 0, '3' },
		{ "insn", required_argument, 0, 'i' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t n = 0, repeat = 1, warmup = 1;
	uint32_t nr = 42, alt = 0, a1 = 0xa1, a2 = 0xa2, a3 = 0xa3;
	bool have_n = false, have_alt = false, json = false;
	enum insn req = INSN_AUTO;
	int o;
	while ((o = getopt_long(argc, argv, "+n:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			n = parse_num("-n", optarg, UINT32_MAX);
			if (n < 1)
				usage_error("-n: must be >= 1");
			have_n = true;
			break;
		case 'r':
			nr = (uint32_t)parse_num("--nr", optarg, UINT32_MAX);
			break;
		case 'a':
			alt = (uint32_t)parse_num("--alt", optarg, UINT32_MAX);
			have_alt = true;
			break;
		case 'R':
			repeat = parse_num("--repeat", optarg, 100000);
			if (repeat < 1)
				usage_error("--repeat: must be >= 1");
			break;
		case 'w':
			warmup = parse_num("--warmup", optarg, 1000);
			break;
		case 'j':
			json = true;
			break;
		case 'T':
			watchdog_sec = (unsigned)parse_num("--timeout", optarg,
							   86400);
			break;
		case '1':
			a1 = (uint32_t)parse_num("--a1", optarg, UINT32_MAX);
			break;
		case '2':
			a2 = (uint32_t)parse_num("--a2", optarg, UINT32_MAX);
			break;
		case '3':
			a3 = (uint32_t)parse_num("--a3", optarg, UINT32_MAX);
			break;
		case 'i':
			req = parse_insn(optarg);
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage_error("loop: bad option");
		}
	}
	if (optind < argc)
		usage_error("loop: unexpected argument '%s'", argv[optind]);
	if (!have_n)
		usage_error("loop: -n N is required");
	uint32_t nr2 = have_alt ? alt : nr;
	bool check1 = !nr_is_implemented(nr), check2 = !nr_is_implemented(nr2);
	if (!check1 || !check2)
		msg("note: a number KVM implements is used; returns are not checked");

	example_cmd = "hcgen loop ...";
	struct vm vm;
	vm_open(&vm, req);
	watchdog_start();
	uint32_t *d = (uint32_t *)vm.mem;
	d[HC_LOOP_NR1 / 4] = nr;
	d[HC_LOOP_NR2 / 4] = nr2;
	d[HC_LOOP_EXP1 / 4] = KVM_ENOSYS_RET;
	d[HC_LOOP_EXP2 / 4] = KVM_ENOSYS_RET;

	struct vcpu_ctx c;
	const char *what = "";
	char err[256];
	int r = vcpu_create(&vm, 0, 0, &c, &what);
	if (r < 0) {
		snprintf(err, sizeof(err), "%s: %s", what, strerror(-r));
		kvm_unusable("vCPU setup", err, &vm.cpu, "hcgen loop ...");
	}
	if (vcpu_probe(&c, 0, err, sizeof(err)) < 0)
		kvm_unusable("vCPU probe", err, &vm.cpu, "hcgen loop ...");

	uint64_t rip0 = vm.insn == INSN_VMMCALL ? GUEST_OFF(hc_loop_vmmcall) :
						  GUEST_OFF(hc_loop_vmcall);
	uint64_t total_runs = warmup + repeat;
	double *ns_per = calloc(repeat, sizeof(double));
	uint64_t *tot = calloc(repeat, sizeof(uint64_t));
	if (!ns_per || !tot) {
		msg("out of memory");
		return EX_SYS;
	}
	uint64_t bad_rets = 0;
	for (uint64_t i = 0; i < total_runs; i++) {
		bool timed = i >= warmup;
		uint64_t this_n = timed ? n : (n < 100 ? n : 100);
		struct kvm_regs regs = {
			.rip = rip0,
			.rflags = 2,
			.rdi = this_n,
			.rcx = a1,
			.rdx = a2,
			.rsi = a3,
			.rbp = 0,
		};
		if (ioctl(c.fd, KVM_SET_REGS, &regs) < 0) {
			msg("KVM_SET_REGS: %s", strerror(errno));
			return EX_SYS;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rr = ioctl(c.fd, KVM_RUN, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rr < 0) {
			msg("KVM_RUN: %s", strerror(errno));
			return EX_GUEST;
		}
		if (c.run->exit_reason != KVM_EXIT_HLT) {
			describe_exit(&c, err, sizeof(err));
			msg("loop run %" PRIu64
			    ": %s (the whole loop must run inside one KVM_RUN)",
			    i, err);
			return EX_GUEST;
		}
		if (ioctl(c.fd, KVM_GET_REGS, &regs) < 0) {
			msg("KVM_GET_REGS: %s", strerror(errno));
			return EX_SYS;
		}
		if ((uint32_t)regs.rdi != 0) {
			msg("loop run %" PRIu64
			    ": guest halted with %u calls left",
			    i, (uint32_t)regs.rdi);
			return EX_GUEST;
		}
		uint32_t mism = (uint32_t)regs.rbp;
		if (mism && check1 && check2)
			bad_rets += mism;
		if (timed) {
			uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) *
					      1000000000ull +
				      (uint64_t)(t1.tv_nsec - t0.tv_nsec);
			tot[i - warmup] = ns;
			ns_per[i - warmup] = (double)ns / (double)n;
		}
	}
	double *sorted = malloc(repeat * sizeof(double));
	memcpy(sorted, ns_per, repeat * sizeof(double));
	qsort(sorted, repeat, sizeof(double), cmp_double);
	double median = repeat % 2 ?
				sorted[repeat / 2] :
				(sorted[repeat / 2 - 1] + sorted[repeat / 2]) /
					2.0;
	if (bad_rets)
		msg("%" PRIu64
		    " hypercalls returned something other than 0x%x (-KVM_ENOSYS)",
		    bad_rets, KVM_ENOSYS_RET);

	if (json) {
		print_header(&vm, "loop");
		printf(",\"tid\":%d,\"n\":%" PRIu64 ",\"nr\":%u,\"alt\":",
		       (int)my_tid(), n, nr);
		if (have_alt)
			printf("%u", alt);
		else
			printf("null");
		printf(",\"a1\":%u,\"a2\":%u,\"a3\":%u,\"warmup\":%" PRIu64
		       ",\"ret_ok\":%s,\"runs\":[",
		       a1, a2, a3, warmup, bad_rets ? "false" : "true");
		for (uint64_t i = 0; i < repeat; i++)
			printf("%s{\"total_ns\":%" PRIu64
			       ",\"ns_per_call\":%.1f}",
			       i ? "," : "", tot[i], ns_per[i]);
		printf("],\"median_ns_per_call\":%.1f}\n", median);
	} else {
		printf("hcgen loop: %s, n=%" PRIu64 " nr=%u",
		       insn_name(vm.insn), n, nr);
		if (have_alt)
			printf(" alt=%u", alt);
		printf(", %" PRIu64 " run(s):", repeat);
		for (uint64_t i = 0; i < repeat; i++)
			printf(" %.1f", ns_per[i]);
		printf(" ns/call; median %.1f ns/call\n", median);
	}
	fflush(stdout);
	return bad_rets ? EX_GUEST : EX_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		usage(stdout);
		return EX_OK;
	}
	/* getopt on the sub-command's arguments: argv[1] becomes argv[0]. */
	if (!strcmp(cmd, "schedule"))
		return cmd_schedule(argc - 1, argv + 1);
	if (!strcmp(cmd, "loop"))
		return cmd_loop(argc - 1, argv + 1);
	if (!strcmp(cmd, "hyperv"))
		return cmd_hyperv(argc - 1, argv + 1);
	if (!strcmp(cmd, "xen"))
		return cmd_xen(argc - 1, argv + 1);
	if (!strcmp(cmd, "forward"))
		return cmd_forward(argc - 1, argv + 1);
	usage_error(
		"unknown command '%s' (want schedule, loop, hyperv, xen or forward)",
		cmd);
}
