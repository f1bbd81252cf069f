/*
 * hcgen's shared parts: what hcgen.c (the schedule and loop modes) offers the
 * modes in their own files (hcgen_hyperv.c, hcgen_xen.c, hcgen_forward.c,
 * on the 32-bit guest of hcgen_pm32.c).
 */
#ifndef HCGEN_H
#define HCGEN_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* Exit codes (documented in README.md). */
#define EX_OK 0
#define EX_GUEST 1 /* guest did something unexpected / wrong return value */
#define EX_USAGE 2 /* bad command line */
#define EX_NOKVM 3 /* /dev/kvm missing or cannot run an ordinary guest (PVM) */
#define EX_SYS 4   /* other system error (memory, threads, ...) */
#define EX_NOCAP 5 /* this KVM lacks a capability the mode needs */

#ifndef KVM_CAP_EXIT_HYPERCALL
#define KVM_CAP_EXIT_HYPERCALL 201
#endif
#ifndef KVM_HC_MAP_GPA_RANGE
#define KVM_HC_MAP_GPA_RANGE 12
#endif

enum insn { INSN_AUTO, INSN_VMMCALL, INSN_VMCALL };

struct hostcpu {
	char vendor_str[13];
	bool amd; /* AuthenticAMD / HygonGenuine */
	bool has_svm, has_vmx;
};

struct vm {
	int kvm_fd, vm_fd;
	int run_size;
	uint8_t *mem;
	struct hostcpu cpu;
	enum insn insn;
	bool svm; /* the hardware KVM uses: SVM (isa 2) or VMX (isa 1) */
};

struct vcpu_ctx {
	int fd;
	struct kvm_run *run;
};

extern const char *example_cmd; /* "hcgen MODE ...", for kvm_unusable() */
extern unsigned watchdog_sec;	/* --timeout */

void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...);
bool parse_u64_prefix(const char *s, const char **end, uint64_t *out);
uint64_t parse_num(const char *opt, const char *s, uint64_t max);
enum insn parse_insn(const char *s);
const char *insn_name(enum insn i);
void __attribute__((noreturn))
kvm_unusable(const char *what, const char *detail, const struct hostcpu *h,
	     const char *example);
void vm_open(struct vm *vm, enum insn req);
void vm_close(struct vm *vm);
void vcpu_close(struct vm *vm, struct vcpu_ctx *c);
void describe_exit(const struct vcpu_ctx *c, char *buf, size_t len);
void watchdog_start(void);
/*
 * --hold (schedule and the pm32 modes): every vCPU thread, its calls done,
 * stays alive with its vCPU open until hcgen gets SIGUSR1, so a tracer can
 * look at the threads after their last hypercall.  The main thread blocks
 * the signal before it starts the vCPU threads (they inherit the mask) and
 * waits for it after; each vCPU thread waits for the release.
 */
extern bool hold;
/* threads: the vCPU threads to come; once all of them are held, hcgen
 * writes "hcgen: --hold: all N vCPU threads done, held until SIGUSR1" to
 * stderr. */
void hold_block_release_signal(int threads);
void hold_wait_release(void);
void hold_until_released(void);
pid_t my_tid(void);
uint64_t ns_since(const struct timespec *t0);
/* Prints the JSON header's first fields, without the closing brace. */
void print_header(const struct vm *vm, const char *mode);

/* The modes in their own files: (argc, argv) start at the mode's name. */
int cmd_hyperv(int argc, char **argv);
int cmd_xen(int argc, char **argv);
int cmd_forward(int argc, char **argv);

#endif
