/*
 * The 32-bit protected-mode micro-VM of the hyperv, xen and forward modes
 * (guest_pm32.S): vCPUs, the per-vCPU call windows, the calls KVM hands to
 * userspace (served here, after an optional delay), the call lists.
 */
#ifndef HCGEN_PM32_H
#define HCGEN_PM32_H

#include <getopt.h>
#include <pthread.h>

#include "hcgen.h"

#define PM_WIN 128	    /* calls per window (one KVM_RUN, barring exits) */
#define PM_BLOCK 32	    /* bytes of a call's input/output block */
#define PM_MAX_CALLS 100000 /* per vCPU */
#define PM_MAX_KEYS 8

/* One call of one vCPU. */
struct pm32_call {
	uint32_t in[7]; /* EAX, EBX, ECX, EDX, ESI, EDI, EBP before the call */
	uint8_t block[PM_BLOCK]; /* its input block (pm32_in_gpa()) */
	uint32_t item;		 /* index of its --calls item */
	uint32_t out_eax, out_edx;
	uint32_t vmm_exit; /* 0: KVM served it; else the KVM_EXIT_* to hcgen */
	uint64_t vmm_ns;   /* KVM_RUN returned .. hcgen's next KVM_RUN */
};

/* A --calls item: BASE[:KEY[=V]...]xCOUNT. */
struct pm32_item {
	uint64_t base;
	uint32_t count;
	uint32_t set; /* bit k: keys[k] was given */
	uint64_t val[PM_MAX_KEYS];
};

struct pm32;
struct pm32_vcpu;

/*
 * Answers a call KVM handed to userspace: sets the result field of the
 * exit in the vCPU's kvm_run.  Returns 0, or -1 with err set (an exit the
 * mode does not expect).
 */
typedef int (*pm32_serve_fn)(struct pm32 *p, struct pm32_vcpu *v,
			     struct pm32_call *call, char *err, size_t len);

struct pm32_vcpu {
	struct pm32 *p;
	int id;
	pid_t tid;
	pthread_t thread;
	struct vcpu_ctx c;
	struct pm32_call *calls;
	uint32_t n_calls;
	uint64_t done, kvm_runs, probe_exits, sync_exits, vmm_exits;
	int status; /* EX_* */
	char err[256];
};

/* Command-line options every such mode has. */
struct pm32_opts {
	int vcpus;
	const char *calls; /* NULL: the mode's default */
	enum insn insn;
	bool via_page; /* Hyper-V only: through the hypercall page */
	uint32_t delay_us;
	bool delay_busy;
	bool vmm_result_set;
	uint64_t vmm_result;
	bool print_calls;
};

struct pm32 {
	struct vm vm;
	struct pm32_opts o;
	pm32_serve_fn serve;
	void *ctx;
	struct pm32_vcpu *v;
	pthread_barrier_t barrier;
	struct timespec t0;
	uint64_t elapsed_ns;
};

/* getopt_long entries and their handling (letters 'K', 'C', 'T', 'i', 'D',
 * 'W', 'R', 'q', 'h'). */
/* clang-format off */
#define PM32_LONG_OPTS                                    \
	{ "vcpus", required_argument, 0, 'K' },           \
	{ "calls", required_argument, 0, 'C' },           \
	{ "timeout", required_argument, 0, 'T' },         \
	{ "insn", required_argument, 0, 'i' },            \
	{ "vmm-delay-us", required_argument, 0, 'D' },    \
	{ "vmm-wait", required_argument, 0, 'W' },        \
	{ "vmm-result", required_argument, 0, 'R' },      \
	{ "no-calls", no_argument, 0, 'q' },              \
	{ "hold", no_argument, 0, 'H' },                  \
	{ "help", no_argument, 0, 'h' }
/* clang-format on */
void pm32_opts_init(struct pm32_opts *o);
/* Returns true if it took the option. */
bool pm32_opt(struct pm32_opts *o, int opt, const char *arg);

/* SPEC: comma list of BASE[:KEY[=V]...]xCOUNT; keys[k] ends in '=' when it
 * takes a number.  Exits with a usage error naming the problem. */
void pm32_parse_items(const char *opt, const char *spec,
		      const char *const *keys, struct pm32_item **items,
		      uint32_t *n_items);
/* The items' calls in issue order (round-robin over the items until every
 * count is used up), as item indexes; returns the number of calls. */
uint32_t pm32_order(const struct pm32_item *items, uint32_t n_items,
		    uint32_t **order);

/*
 * What a mode tells pm32_parse_args(): its name and usage (-h prints it and
 * exits 0), its default --calls list and the keys its items take, and a
 * handler for its own options (NULL: none; returns false for an option it
 * does not know).
 */
struct pm32_mode {
	const char *name;
	void (*usage)(FILE *f);
	const char *default_calls;
	const char *const *keys;
	bool (*opt)(int opt, const char *arg, void *ctx);
	void *ctx;
};
/* Parses a mode's command line (opts: PM32_LONG_OPTS and the mode's own)
 * into o and its --calls items; exits with a usage error naming the
 * problem.  Returns the calls per vCPU, their issue order in *order. */
uint32_t pm32_parse_args(int argc, char **argv, const struct option *opts,
			 const struct pm32_mode *m, struct pm32_opts *o,
			 struct pm32_item **items, uint32_t *n_items,
			 uint32_t **order);

/* Opens the VM (vm_open) and copies the 32-bit guest into it. */
void pm32_open(struct pm32 *p, const struct pm32_opts *o);
/* Creates the vCPUs (in 32-bit protected mode), each with n_calls calls
 * for the mode to fill in. */
void pm32_create_vcpus(struct pm32 *p, uint32_t n_calls);
/* Runs every vCPU's calls in its own thread; returns the worst EX_*. */
int pm32_run(struct pm32 *p);
/* The guest-physical addresses of a call's input and output blocks. */
uint32_t pm32_in_gpa(int vcpu, uint32_t seq);
uint32_t pm32_out_gpa(int vcpu, uint32_t seq);
/* A unique tag per call: (vCPU << 24) | seq, as in the schedule mode. */
uint32_t pm32_tag(int vcpu, uint32_t seq);

/* JSON: the fields every such mode prints after print_header(), and the
 * per-vCPU counters; the caller prints its own call fields. */
void pm32_print_common(const struct pm32 *p, int rc);
void pm32_print_vcpu_head(const struct pm32_vcpu *v);
void pm32_print_vmm(const struct pm32_call *c);
void pm32_print_error(const struct pm32_vcpu *v);
/*
 * JSON ',"vcpus":[…]}' and a newline, the end of every such mode's output:
 * per vCPU its head, vcpu_fields (may be NULL), its error and, unless
 * --no-calls, its calls, each {"seq":N, call_fields, who served it}.  The
 * mode's printers start each field with ','.
 */
struct pm32_printer {
	void (*vcpu_fields)(const struct pm32_vcpu *v, void *ctx);
	void (*call_fields)(const struct pm32_call *c, void *ctx);
	void *ctx;
};
void pm32_print_vcpus(const struct pm32 *p, const struct pm32_printer *pr);

#endif
