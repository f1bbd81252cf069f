/*
 * hcgen's 32-bit protected-mode micro-VM, shared by the hyperv, xen and
 * forward modes: see hcgen_pm32.h and guest_pm32.S.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "guest_abi.h"
#include "guest_pm32_abi.h"
#include "hcgen_pm32.h"
#include "hcgen_vmname.h"

extern const unsigned char hc_pm32_start[], hc_pm32_end[];
extern const unsigned char hc_pm32_probe[];
extern const unsigned char hc_pm32_vmmcall[], hc_pm32_vmcall[], hc_pm32_page[];

#define PM_OFF(sym) ((uint64_t)((sym)-hc_pm32_start) + PM_CODE_BASE)

void pm32_opts_init(struct pm32_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vcpus = 2;
	o->insn = INSN_AUTO;
	o->print_calls = true;
}

bool pm32_opt(struct pm32_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'K':
		o->vcpus = (int)parse_num("--vcpus", arg, PM_MAX_VCPUS);
		if (o->vcpus < 1)
			usage_error("--vcpus: must be 1..%d", PM_MAX_VCPUS);
		return true;
	case 'C':
		o->calls = arg;
		return true;
	case 'T':
		watchdog_sec = (unsigned)parse_num("--timeout", arg, 86400);
		return true;
	case 'i':
		o->insn = parse_insn(arg);
		return true;
	case 'D':
		o->delay_us = (uint32_t)parse_num("--vmm-delay-us", arg,
						  10000000);
		return true;
	case 'W':
		if (!strcmp(arg, "busy"))
			o->delay_busy = true;
		else if (!strcmp(arg, "sleep"))
			o->delay_busy = false;
		else
			usage_error(
				"--vmm-wait: expected busy or sleep, got '%s'",
				arg);
		return true;
	case 'R':
		o->vmm_result = parse_num("--vmm-result", arg, UINT64_MAX);
		o->vmm_result_set = true;
		return true;
	case 'q':
		o->print_calls = false;
		return true;
	case 'H':
		hold = true;
		return true;
	}
	return false;
}

/* The key of keys[] that s starts with (the longest), or -1. */
static int match_key(const char *s, const char *const *keys)
{
	int best = -1;
	size_t best_len = 0;
	for (int k = 0; keys[k]; k++) {
		size_t n = strlen(keys[k]);
		if (keys[k][n - 1] == '=')
			n--;
		if (!strncmp(s, keys[k], n) && n > best_len) {
			best = k;
			best_len = n;
		}
	}
	return best;
}

void pm32_parse_items(const char *opt, const char *spec,
		      const char *const *keys, struct pm32_item **items,
		      uint32_t *n_items)
{
	const char *p = spec;
	uint32_t n = 0, cap = 0;
	uint64_t total = 0;
	struct pm32_item *it = NULL;
	if (!*p)
		usage_error("%s: empty", opt);
	while (*p) {
		const char *e;
		struct pm32_item cur;
		memset(&cur, 0, sizeof(cur));
		if (!parse_u64_prefix(p, &e, &cur.base) ||
		    cur.base > UINT32_MAX)
			usage_error(
				"%s: bad item at '%s' (want NUMBER[:KEY...]xCOUNT)",
				opt, p);
		p = e;
		while (*p == ':') {
			int k = match_key(p + 1, keys);
			if (k < 0)
				usage_error("%s: unknown key at '%s'", opt,
					    p + 1);
			size_t kl = strlen(keys[k]);
			p += 1 + kl;
			if (keys[k][kl - 1] == '=') {
				if (!parse_u64_prefix(p, &e, &cur.val[k]))
					usage_error(
						"%s: %s needs a number at '%s'",
						opt, keys[k], p);
				p = e;
			}
			cur.set |= 1u << k;
		}
		uint64_t count;
		if ((*p != 'x' && *p != 'X') ||
		    !parse_u64_prefix(p + 1, &e, &count) || count < 1 ||
		    (*e && *e != ','))
			usage_error(
				"%s: bad count at '%s' (want xCOUNT, COUNT >= 1)",
				opt, p);
		total += count;
		if (total > PM_MAX_CALLS)
			usage_error("%s: more than %d calls per vCPU", opt,
				    PM_MAX_CALLS);
		cur.count = (uint32_t)count;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			it = realloc(it, sizeof(*it) * cap);
			if (!it) {
				msg("out of memory");
				exit(EX_SYS);
			}
		}
		it[n++] = cur;
		p = *e ? e + 1 : e;
		if (*e == ',' && !*p)
			usage_error("%s: trailing comma", opt);
	}
	*items = it;
	*n_items = n;
}

uint32_t pm32_order(const struct pm32_item *items, uint32_t n_items,
		    uint32_t **order)
{
	uint32_t total = 0;
	for (uint32_t i = 0; i < n_items; i++)
		total += items[i].count;
	uint32_t *o = malloc(sizeof(*o) * total);
	uint32_t *left = malloc(sizeof(*left) * n_items);
	if (!o || !left) {
		msg("out of memory");
		exit(EX_SYS);
	}
	for (uint32_t i = 0; i < n_items; i++)
		left[i] = items[i].count;
	for (uint32_t q = 0; q < total;)
		for (uint32_t i = 0; i < n_items; i++)
			if (left[i]) {
				left[i]--;
				o[q++] = i;
			}
	free(left);
	*order = o;
	return total;
}

uint32_t pm32_in_gpa(int vcpu, uint32_t seq)
{
	return PM_IO_BASE + (uint32_t)vcpu * PM_IO_SIZE +
	       (seq % PM_WIN) * PM_BLOCK;
}

uint32_t pm32_out_gpa(int vcpu, uint32_t seq)
{
	return pm32_in_gpa(vcpu, seq) + 0x1000;
}

uint32_t pm32_tag(int vcpu, uint32_t seq)
{
	return ((uint32_t)vcpu << 24) | seq;
}

void pm32_open(struct pm32 *p, const struct pm32_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->o = *o;
	vm_open(&p->vm, o->insn);
	size_t len = (size_t)(hc_pm32_end - hc_pm32_start);
	if (len > PM_CODE_MAX) {
		msg("internal error: 32-bit guest code too large (%zu bytes)",
		    len);
		exit(EX_SYS);
	}
	memcpy(p->vm.mem + PM_CODE_BASE, hc_pm32_start, len);
	uint32_t page = PM_HV_PAGE;
	memcpy(p->vm.mem + PM_PAGE_PTR, &page, sizeof(page));
}

/* Flat 4 GiB segments at DPL 0 (CPL 0), CR0.PE on, paging off. */
static void pm32_sregs(struct kvm_sregs *s)
{
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = PM_SEL_CODE,
		.type = 0xb, /* execute/read, accessed */
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.g = 1,
	};
	struct kvm_segment data = code;
	data.selector = PM_SEL_DATA;
	data.type = 3; /* read/write, accessed */
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->cr0 = (s->cr0 | 1) & ~0x80000000ull;
}

void pm32_create_vcpus(struct pm32 *p, uint32_t n_calls)
{
	char err[200];
	p->v = calloc((size_t)p->o.vcpus, sizeof(*p->v));
	if (!p->v) {
		msg("out of memory");
		exit(EX_SYS);
	}
	for (int i = 0; i < p->o.vcpus; i++) {
		struct pm32_vcpu *v = &p->v[i];
		struct kvm_sregs sregs;
		v->p = p;
		v->id = i;
		v->n_calls = n_calls;
		v->calls = calloc(n_calls, sizeof(*v->calls));
		if (!v->calls) {
			msg("out of memory");
			exit(EX_SYS);
		}
		v->c.fd = ioctl(p->vm.vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->c.fd < 0) {
			snprintf(err, sizeof(err), "%s", strerror(errno));
			kvm_unusable("KVM_CREATE_VCPU", err, &p->vm.cpu,
				     example_cmd);
		}
		v->c.run = mmap(NULL, p->vm.run_size, PROT_READ | PROT_WRITE,
				MAP_SHARED, v->c.fd, 0);
		if (v->c.run == MAP_FAILED) {
			msg("mmap kvm_run: %s", strerror(errno));
			exit(EX_SYS);
		}
		if (ioctl(v->c.fd, KVM_GET_SREGS, &sregs) < 0) {
			msg("KVM_GET_SREGS: %s", strerror(errno));
			exit(EX_SYS);
		}
		pm32_sregs(&sregs);
		if (ioctl(v->c.fd, KVM_SET_SREGS, &sregs) < 0) {
			msg("KVM_SET_SREGS (32-bit protected mode): %s",
			    strerror(errno));
			exit(EX_SYS);
		}
	}
}

/* The vCPU runs 32-bit protected-mode code at all (PVM does not). */
static int pm32_probe(struct pm32_vcpu *v)
{
	struct kvm_regs regs = { .rip = PM_OFF(hc_pm32_probe), .rflags = 2 };
	if (ioctl(v->c.fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(v->c.fd, KVM_RUN, 0) < 0) {
		snprintf(v->err, sizeof(v->err), "probe: %s", strerror(errno));
		return -1;
	}
	v->kvm_runs++;
	if (v->c.run->exit_reason != KVM_EXIT_IO ||
	    v->c.run->io.direction != KVM_EXIT_IO_OUT ||
	    v->c.run->io.port != HC_PORT_DONE) {
		char d[200];
		describe_exit(&v->c, d, sizeof(d));
		snprintf(v->err, sizeof(v->err), "probe: %s", d);
		return -1;
	}
	if (ioctl(v->c.fd, KVM_GET_REGS, &regs) < 0) {
		snprintf(v->err, sizeof(v->err), "probe: KVM_GET_REGS: %s",
			 strerror(errno));
		return -1;
	}
	if ((uint32_t)regs.rax != HC_PROBE_EAX ||
	    (uint32_t)regs.rbx != PM_SEL_CODE) {
		snprintf(
			v->err, sizeof(v->err),
			"32-bit probe: eax 0x%x ebx 0x%x rip 0x%llx: the vCPU does "
			"not execute 32-bit protected-mode code",
			(uint32_t)regs.rax, (uint32_t)regs.rbx,
			(unsigned long long)regs.rip);
		return -1;
	}
	v->probe_exits++;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Holds the call for --vmm-delay-us from t (ns, CLOCK_MONOTONIC). */
static void pm32_delay(const struct pm32 *p, uint64_t t)
{
	uint64_t until = t + (uint64_t)p->o.delay_us * 1000;
	if (!p->o.delay_us)
		return;
	if (p->o.delay_busy) {
		while (now_ns() < until)
			;
		return;
	}
	struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ull),
			       .tv_nsec = (long)(until % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* A hypercall exit to userspace: which call (its entry's address, pushed
 * below the stack top by guest_pm32.S), served by the mode, after the delay. */
static int pm32_vmm_call(struct pm32_vcpu *v, uint32_t seq0, uint32_t n,
			 uint32_t win_base, uint32_t stack_top, uint64_t t)
{
	struct pm32 *p = v->p;
	uint32_t ent;
	memcpy(&ent, p->vm.mem + stack_top - 8, sizeof(ent));
	if (ent < win_base || (ent - win_base) % PM_ENT_SIZE ||
	    (ent - win_base) / PM_ENT_SIZE >= n) {
		snprintf(
			v->err, sizeof(v->err),
			"exit %u to userspace: the guest's current entry 0x%x is "
			"not in its window",
			v->c.run->exit_reason, ent);
		return -1;
	}
	struct pm32_call *c = &v->calls[seq0 + (ent - win_base) / PM_ENT_SIZE];
	if (c->vmm_exit) {
		snprintf(v->err, sizeof(v->err),
			 "call %u exited to userspace twice",
			 seq0 + (ent - win_base) / PM_ENT_SIZE);
		return -1;
	}
	c->vmm_exit = v->c.run->exit_reason;
	if (!p->serve || p->serve(p, v, c, v->err, sizeof(v->err)) < 0) {
		if (!v->err[0])
			describe_exit(&v->c, v->err, sizeof(v->err));
		return -1;
	}
	pm32_delay(p, t);
	c->vmm_ns = now_ns() - t;
	v->vmm_exits++;
	return 0;
}

static int pm32_window(struct pm32_vcpu *v, uint32_t seq0, uint32_t n)
{
	struct pm32 *p = v->p;
	uint8_t *mem = p->vm.mem;
	uint32_t win_base = HC_WIN_BASE +
			    (uint32_t)v->id * PM_WIN * PM_ENT_SIZE;
	uint32_t stack_top = PM_STACK_BASE +
			     (uint32_t)(v->id + 1) * PM_STACK_SIZE;
	for (uint32_t i = 0; i < n; i++) {
		const struct pm32_call *c = &v->calls[seq0 + i];
		uint8_t *e = mem + win_base + i * PM_ENT_SIZE;
		uint32_t poison = 0x5a5a5a5a;
		memcpy(e, c->in, sizeof(c->in));
		memcpy(e + PM_ENT_OUT_EAX, &poison, 4);
		memcpy(e + PM_ENT_OUT_EDX, &poison, 4);
		memcpy(mem + pm32_in_gpa(v->id, seq0 + i), c->block, PM_BLOCK);
		memset(mem + pm32_out_gpa(v->id, seq0 + i), 0, PM_BLOCK);
	}
	uint64_t rip = p->o.via_page		  ? PM_OFF(hc_pm32_page) :
		       p->vm.insn == INSN_VMMCALL ? PM_OFF(hc_pm32_vmmcall) :
						    PM_OFF(hc_pm32_vmcall);
	struct kvm_regs regs = { .rip = rip,
				 .rflags = 2,
				 .rdi = win_base,
				 .rbp = n,
				 .rsp = stack_top };
	if (ioctl(v->c.fd, KVM_SET_REGS, &regs) < 0) {
		snprintf(v->err, sizeof(v->err), "KVM_SET_REGS: %s",
			 strerror(errno));
		return EX_SYS;
	}
	for (;;) {
		if (ioctl(v->c.fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(v->err, sizeof(v->err), "KVM_RUN: %s",
				 strerror(errno));
			return EX_GUEST;
		}
		uint64_t t = now_ns();
		struct kvm_run *run = v->c.run;
		v->kvm_runs++;
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.port == HC_PORT_DONE) {
			v->sync_exits++;
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason == KVM_EXIT_HYPERV ||
		    run->exit_reason == KVM_EXIT_XEN ||
		    run->exit_reason == KVM_EXIT_HYPERCALL) {
			if (pm32_vmm_call(v, seq0, n, win_base, stack_top, t) <
			    0)
				return EX_GUEST;
			continue;
		}
		describe_exit(&v->c, v->err, sizeof(v->err));
		return EX_GUEST;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct pm32_call *c = &v->calls[seq0 + i];
		const uint8_t *e = mem + win_base + i * PM_ENT_SIZE;
		memcpy(&c->out_eax, e + PM_ENT_OUT_EAX, 4);
		memcpy(&c->out_edx, e + PM_ENT_OUT_EDX, 4);
		v->done++;
	}
	return EX_OK;
}

static void *pm32_thread(void *arg)
{
	struct pm32_vcpu *v = arg;
	struct pm32 *p = v->p;
	v->tid = my_tid();
	vmname_name_thread(v->id);
	if (pm32_probe(v) < 0)
		v->status = EX_NOKVM;
	pthread_barrier_wait(&p->barrier);
	for (uint32_t seq0 = 0; v->status == EX_OK && seq0 < v->n_calls;
	     seq0 += PM_WIN) {
		uint32_t n = v->n_calls - seq0 < PM_WIN ? v->n_calls - seq0 :
							  PM_WIN;
		v->status = pm32_window(v, seq0, n);
	}
	hold_until_released();
	return NULL;
}

int pm32_run(struct pm32 *p)
{
	struct timespec t1;
	if (pthread_barrier_init(&p->barrier, NULL, (unsigned)p->o.vcpus)) {
		msg("pthread_barrier_init failed");
		return EX_SYS;
	}
	watchdog_start();
	hold_block_release_signal(p->o.vcpus);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	for (int i = 0; i < p->o.vcpus; i++) {
		int e = pthread_create(&p->v[i].thread, NULL, pm32_thread,
				       &p->v[i]);
		if (e) {
			msg("pthread_create: %s", strerror(e));
			exit(EX_SYS);
		}
	}
	hold_wait_release();
	for (int i = 0; i < p->o.vcpus; i++)
		pthread_join(p->v[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->elapsed_ns = (uint64_t)(t1.tv_sec - p->t0.tv_sec) * 1000000000ull +
			(uint64_t)(t1.tv_nsec - p->t0.tv_nsec);
	for (int i = 0; i < p->o.vcpus; i++)
		if (p->v[i].status == EX_NOKVM)
			kvm_unusable("vCPU probe", p->v[i].err, &p->vm.cpu,
				     example_cmd);
	int rc = EX_OK;
	for (int i = 0; i < p->o.vcpus; i++)
		if (p->v[i].status != EX_OK) {
			msg("vcpu %d: %s", i, p->v[i].err);
			if (p->v[i].status > rc)
				rc = p->v[i].status;
		}
	return rc;
}

uint32_t pm32_parse_args(int argc, char **argv, const struct option *opts,
			 const struct pm32_mode *m, struct pm32_opts *o,
			 struct pm32_item **items, uint32_t *n_items,
			 uint32_t **order)
{
	int opt;
	/* -name/-uuid as in schedule mode (hcgen_vmname.h), so a Hyper-V,
	 * Xen or forwarding guest can be traced by its VM name too. */
	vmname_take_args(&argc, argv);
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt == 'h') {
			m->usage(stdout);
			exit(EX_OK);
		}
		if (!pm32_opt(o, opt, optarg) &&
		    !(m->opt && m->opt(opt, optarg, m->ctx)))
			usage_error("%s: bad option", m->name);
	}
	if (optind < argc)
		usage_error("%s: unexpected argument '%s'", m->name,
			    argv[optind]);
	pm32_parse_items("--calls", o->calls ? o->calls : m->default_calls,
			 m->keys, items, n_items);
	return pm32_order(*items, *n_items, order);
}

void pm32_print_common(const struct pm32 *p, int rc)
{
	printf(",\"ok\":%s,\"guest\":\"pm32\",\"via\":\"%s\",\"vmm_delay_us\":%u,"
	       "\"vmm_wait\":\"%s\",\"elapsed_ns\":%" PRIu64,
	       rc == EX_OK ? "true" : "false", p->o.via_page ? "page" : "insn",
	       p->o.delay_us, p->o.delay_busy ? "busy" : "sleep",
	       p->elapsed_ns);
	vmname_print_json();
}

void pm32_print_vcpu_head(const struct pm32_vcpu *v)
{
	printf("%s{\"vcpu_id\":%d,\"tid\":%d,\"hypercalls\":%" PRIu64
	       ",\"vmm_served\":%" PRIu64 ",\"kvm_runs\":%" PRIu64
	       ",\"probe_exits\":%" PRIu64 ",\"sync_exits\":%" PRIu64,
	       v->id ? "," : "", v->id, (int)v->tid, v->done, v->vmm_exits,
	       v->kvm_runs, v->probe_exits, v->sync_exits);
}

static const char *vmm_exit_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_HYPERCALL:
		return "KVM_EXIT_HYPERCALL";
	case KVM_EXIT_HYPERV:
		return "KVM_EXIT_HYPERV";
	case KVM_EXIT_XEN:
		return "KVM_EXIT_XEN";
	}
	return "?";
}

void pm32_print_vmm(const struct pm32_call *c)
{
	if (c->vmm_exit)
		printf(",\"served_by\":\"vmm\",\"vmm_exit\":\"%s\",\"vmm_ns\":%" PRIu64,
		       vmm_exit_name(c->vmm_exit), c->vmm_ns);
	else
		printf(",\"served_by\":\"kernel\"");
}

void pm32_print_error(const struct pm32_vcpu *v)
{
	printf(",\"error\":");
	if (!v->err[0]) {
		printf("null");
		return;
	}
	putchar('"');
	for (const char *s = v->err; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s >= 0x20)
			putchar(*s);
	putchar('"');
}

void pm32_print_vcpus(const struct pm32 *p, const struct pm32_printer *pr)
{
	printf(",\"vcpus\":[");
	for (int i = 0; i < p->o.vcpus; i++) {
		const struct pm32_vcpu *v = &p->v[i];
		pm32_print_vcpu_head(v);
		if (pr->vcpu_fields)
			pr->vcpu_fields(v, pr->ctx);
		pm32_print_error(v);
		if (p->o.print_calls) {
			printf(",\"calls\":[");
			for (uint64_t q = 0; q < v->done; q++) {
				printf("%s{\"seq\":%" PRIu64, q ? "," : "", q);
				pr->call_fields(&v->calls[q], pr->ctx);
				pm32_print_vmm(&v->calls[q]);
				printf("}");
			}
			printf("]");
		}
		printf("}");
	}
	printf("]}\n");
	fflush(stdout);
}
