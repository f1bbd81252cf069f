/*
 * hcgen hyperv: Hyper-V hypercalls, as a Windows guest with Hyper-V
 * enlightenments makes them.  The host side sets up what such a VMM does:
 * the Hyper-V CPUID leaves KVM offers (KVM_GET_SUPPORTED_HV_CPUID), the
 * guest OS id and the hypercall page MSRs (KVM_SET_MSRS).  From then on KVM
 * sends the guest's VMCALL/VMMCALL to kvm_hv_hypercall() instead of its own
 * hypercalls (kvm_emulate_hypercall() in arch/x86/kvm/x86.c), which fires
 * kvm_hv_hypercall and kvm_hv_hypercall_done, not kvm_hypercall.  The calls
 * run in 32-bit protected mode at CPL0 (hcgen_pm32.c): from real mode or
 * above CPL0 kvm_hv_hypercall() injects #UD.  A call KVM hands to userspace
 * (KVM_EXIT_HYPERV, e.g. HvCallSignalEvent to a connection id without an
 * eventfd) is answered here with --vmm-result after --vmm-delay-us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest_pm32_abi.h"
#include "hcgen_pm32.h"

/* The Hyper-V TLFS names (also in the kernel's asm/hyperv-tlfs.h). */
#define HV_X64_MSR_GUEST_OS_ID 0x40000000
#define HV_X64_MSR_HYPERCALL 0x40000001
#define HV_GUEST_OS_ID 0x8100000000000001ull /* open source, vendor Linux */
#define HV_STATUS_INVALID_CONNECTION_ID 0x12
#define HV_CONN_KERNEL 1 /* registered with KVM_HYPERV_EVENTFD */

#define HV_DEFAULT_CALLS                                                      \
	"0x8:fastx20,0x2x20,0x3:rep=3x20,0x5d:fast:conn=1x20,0x5d:conn=2x20," \
	"0x5cx10,0x99:var=1x10,0x3:rep=4:idx=2x5"

enum { K_FAST, K_REP, K_IDX, K_VAR, K_CONN };
static const char *const hv_keys[] = { "fast", "rep=",	"idx=",
				       "var=", "conn=", NULL };

static void hv_usage(FILE *f)
{
	fprintf(f,
		"usage: hcgen hyperv [--vcpus K] [--calls SPEC] [--via page|insn]\n"
		"                    [--synic on|off]\n"
		"                    [--vmm-delay-us N] [--vmm-wait busy|sleep]\n"
		"                    [--vmm-result V] [--insn auto|vmmcall|vmcall]\n"
		"                    [--timeout SEC] [--no-calls]\n"
		"                    [-name [guest=]NAME[,debug-threads=on]] [-uuid UUID] [--hold]\n"
		"SPEC: comma list of CODE[:fast][:rep=N][:idx=I][:var=V][:conn=C]xCOUNT\n"
		"(default " HV_DEFAULT_CALLS ").\n"
		"See tests/workload/README.md.\n");
}

/* Fills every vCPU's calls from the items. */
static void hv_fill(struct pm32 *p, const struct pm32_item *items,
		    const uint32_t *order, uint32_t n)
{
	for (int v = 0; v < p->o.vcpus; v++)
		for (uint32_t q = 0; q < n; q++) {
			const struct pm32_item *it = &items[order[q]];
			struct pm32_call *c = &p->v[v].calls[q];
			bool fast = it->set & (1u << K_FAST);
			uint64_t word = (it->set & (1u << K_CONN)) ?
						it->val[K_CONN] :
						pm32_tag(v, q);
			uint64_t in = fast ? word : pm32_in_gpa(v, q);
			uint64_t out = fast ? 0 : pm32_out_gpa(v, q);
			c->item = order[q];
			/* control: code 0-15, fast 16, var_cnt 17-26,
			 * rep_cnt 32-43, rep_idx 48-59 (EDX:EAX) */
			c->in[0] = (uint32_t)it->base | (fast ? 1u << 16 : 0) |
				   (uint32_t)(it->val[K_VAR] << 17);
			c->in[3] = (uint32_t)it->val[K_REP] |
				   (uint32_t)(it->val[K_IDX] << 16);
			c->in[1] = (uint32_t)(in >> 32); /* EBX:ECX */
			c->in[2] = (uint32_t)in;
			c->in[5] = (uint32_t)(out >> 32); /* EDI:ESI */
			c->in[4] = (uint32_t)out;
			/* a slow call's input: the connection id (SignalEvent)
			 * or address space, flags 0, processor mask 0 (flushes) */
			memcpy(c->block, &word, sizeof(word));
		}
}

static void __attribute__((noreturn)) hv_refuse(const char *what)
{
	msg("hyperv: this KVM cannot run a Hyper-V guest: %s", what);
	exit(EX_NOCAP);
}

/*
 * --synic: an in-kernel irqchip and an active SynIC on every vCPU, as QEMU's
 * hv-synic (VMBus) sets up.  Only then does KVM hand HvCallPostMessage, and
 * HvCallSignalEvent to a connection id without an eventfd, to userspace;
 * without it KVM answers them HV_STATUS_INVALID_HYPERCALL_INPUT itself.
 */
static void hv_synic_irqchip(struct pm32 *p)
{
	if (ioctl(p->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_SYNIC) <= 0)
		hv_refuse("--synic: no KVM_CAP_HYPERV_SYNIC");
	if (ioctl(p->vm.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		msg("--synic: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		exit(EX_SYS);
	}
}

static void hv_synic_vcpus(struct pm32 *p)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HYPERV_SYNIC };
	/* with an in-kernel LAPIC, vCPUs but the BSP wait for INIT/SIPI */
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	for (int i = 0; i < p->o.vcpus; i++) {
		if (ioctl(p->v[i].c.fd, KVM_ENABLE_CAP, &cap) < 0) {
			msg("--synic: KVM_ENABLE_CAP KVM_CAP_HYPERV_SYNIC: %s",
			    strerror(errno));
			exit(EX_SYS);
		}
		if (ioctl(p->v[i].c.fd, KVM_SET_MP_STATE, &mp) < 0) {
			msg("--synic: KVM_SET_MP_STATE: %s", strerror(errno));
			exit(EX_SYS);
		}
	}
}

static int hv_serve(struct pm32 *p, struct pm32_vcpu *v, struct pm32_call *c,
		    char *err, size_t len)
{
	struct kvm_run *run = v->c.run;
	(void)c;
	if (run->exit_reason != KVM_EXIT_HYPERV ||
	    run->hyperv.type != KVM_EXIT_HYPERV_HCALL) {
		snprintf(err, len,
			 "unexpected exit %u (hyperv type %u): want "
			 "KVM_EXIT_HYPERV_HCALL",
			 run->exit_reason, run->hyperv.type);
		return -1;
	}
	run->hyperv.u.hcall.result = p->o.vmm_result;
	return 0;
}

static struct kvm_cpuid2 *cpuid_alloc(int n)
{
	struct kvm_cpuid2 *c =
		calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
	if (!c) {
		msg("out of memory");
		exit(EX_SYS);
	}
	c->nent = (uint32_t)n;
	return c;
}

/* KVM's CPUID with its own leaves 0x4000xxxx replaced by the Hyper-V ones,
 * as QEMU does with hv-* flags; set on every vCPU before its first run. */
static void hv_set_cpuid(struct pm32 *p)
{
	struct vm *vm = &p->vm;
	struct kvm_cpuid2 *hv = cpuid_alloc(64), *base = cpuid_alloc(256);
	int r;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYS_HYPERV_CPUID) >
	    0)
		r = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_HV_CPUID, hv);
	else if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_CPUID) >
		 0)
		r = ioctl(p->v[0].c.fd, KVM_GET_SUPPORTED_HV_CPUID, hv);
	else
		hv_refuse(
			"no KVM_CAP_HYPERV_CPUID (KVM_GET_SUPPORTED_HV_CPUID)");
	if (r < 0) {
		msg("KVM_GET_SUPPORTED_HV_CPUID: %s", strerror(errno));
		exit(EX_SYS);
	}
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, base) < 0) {
		msg("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		exit(EX_SYS);
	}
	struct kvm_cpuid2 *all = cpuid_alloc((int)(base->nent + hv->nent));
	uint32_t n = 0;
	for (uint32_t i = 0; i < base->nent; i++)
		if ((base->entries[i].function & 0xf0000000) != 0x40000000)
			all->entries[n++] = base->entries[i];
	for (uint32_t i = 0; i < hv->nent; i++)
		all->entries[n++] = hv->entries[i];
	all->nent = n;
	for (int i = 0; i < p->o.vcpus; i++)
		if (ioctl(p->v[i].c.fd, KVM_SET_CPUID2, all) < 0) {
			msg("KVM_SET_CPUID2 (Hyper-V leaves): %s",
			    strerror(errno));
			exit(EX_SYS);
		}
	free(hv);
	free(base);
	free(all);
}

static void hv_set_msrs(struct pm32 *p)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[2];
	} m;
	memset(&m, 0, sizeof(m));
	/* the guest OS id first: KVM ignores the hypercall MSR without it */
	m.h.nmsrs = 2;
	m.e[0].index = HV_X64_MSR_GUEST_OS_ID;
	m.e[0].data = HV_GUEST_OS_ID;
	m.e[1].index = HV_X64_MSR_HYPERCALL;
	m.e[1].data = PM_HV_PAGE | 1; /* enable */
	int r = ioctl(p->v[0].c.fd, KVM_SET_MSRS, &m);
	if (r != 2) {
		msg("KVM_SET_MSRS (HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_HYPERCALL): "
		    "set %d of 2%s%s",
		    r, r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
		exit(EX_SYS);
	}
	const uint8_t *pg = p->vm.mem + PM_HV_PAGE;
	uint8_t want = p->vm.svm ? 0xd9 : 0xc1;
	if (pg[0] != 0x0f || pg[1] != 0x01 || pg[2] != want || pg[3] != 0xc3) {
		msg("KVM did not fill the hypercall page at 0x%x: %02x %02x %02x "
		    "%02x, want 0f 01 %02x c3",
		    PM_HV_PAGE, pg[0], pg[1], pg[2], pg[3], want);
		exit(EX_GUEST);
	}
}

/* HvCallSignalEvent to HV_CONN_KERNEL is then served by KVM (the eventfd
 * is signalled); other connection ids go to userspace.  Returns the fd. */
static int hv_eventfd(struct pm32 *p)
{
	if (ioctl(p->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV_EVENTFD) <=
	    0)
		return -1;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_hyperv_eventfd e = { .conn_id = HV_CONN_KERNEL, .fd = fd };
	if (fd < 0 || ioctl(p->vm.vm_fd, KVM_HYPERV_EVENTFD, &e) < 0) {
		msg("KVM_HYPERV_EVENTFD: %s", strerror(errno));
		exit(EX_SYS);
	}
	return fd;
}

/* The mode's own options, --synic and --via. */
struct hv_args {
	bool synic, via_page;
};

static bool hv_opt(int opt, const char *arg, void *ctx)
{
	struct hv_args *a = ctx;
	if (opt == 's' && (!strcmp(arg, "on") || !strcmp(arg, "off")))
		a->synic = !strcmp(arg, "on");
	else if (opt == 's')
		usage_error("--synic: expected on or off, got '%s'", arg);
	else if (opt == 'v' && !strcmp(arg, "page"))
		a->via_page = true;
	else if (opt == 'v' && !strcmp(arg, "insn"))
		a->via_page = false;
	else if (opt == 'v')
		usage_error("--via: expected page or insn, got '%s'", arg);
	else
		return false;
	return true;
}

struct hv_items {
	const struct pm32_item *items;
	uint32_t n_items;
};

/* A vCPU's "counts": calls completed per code, in order of first appearance. */
static void hv_vcpu_fields(const struct pm32_vcpu *v, void *ctx)
{
	const struct hv_items *hi = ctx;
	const struct pm32_item *items = hi->items;
	printf(",\"counts\":{");
	for (uint32_t j = 0, k = 0; j < hi->n_items; j++) {
		bool first = true;
		for (uint32_t m = 0; m < j; m++)
			first &= items[m].base != items[j].base;
		if (!first)
			continue;
		uint64_t cnt = 0;
		for (uint64_t q = 0; q < v->done; q++)
			cnt += items[v->calls[q].item].base == items[j].base;
		printf("%s\"%" PRIu64 "\":%" PRIu64, k++ ? "," : "",
		       items[j].base, cnt);
	}
	printf("}");
}

/* A call's JSON fields: what kvm_hv_hypercall and _done show of it. */
static void hv_call_fields(const struct pm32_call *c, void *ctx)
{
	const struct hv_items *hi = ctx;
	const struct pm32_item *it = &hi->items[c->item];
	uint64_t in = (uint64_t)c->in[1] << 32 | c->in[2];
	uint64_t out = (uint64_t)c->in[5] << 32 | c->in[4];
	printf(",\"code\":%" PRIu64 ",\"fast\":%d,\"var_cnt\":%" PRIu64
	       ",\"rep_cnt\":%" PRIu64 ",\"rep_idx\":%" PRIu64
	       ",\"ingpa\":%" PRIu64 ",\"outgpa\":%" PRIu64
	       ",\"result\":%" PRIu64,
	       it->base, !!(it->set & (1u << K_FAST)), it->val[K_VAR],
	       it->val[K_REP], it->val[K_IDX], in, out,
	       (uint64_t)c->out_edx << 32 | c->out_eax);
}

int cmd_hyperv(int argc, char **argv)
{
	static const struct option opts[] = {
		PM32_LONG_OPTS,
		{ "via", required_argument, 0, 'v' },
		{ "synic", required_argument, 0, 's' },
		{ 0, 0, 0, 0 },
	};
	struct hv_args a = { .synic = true, .via_page = true };
	const struct pm32_mode mode = {
		.name = "hyperv",
		.usage = hv_usage,
		.default_calls = HV_DEFAULT_CALLS,
		.keys = hv_keys,
		.opt = hv_opt,
		.ctx = &a,
	};
	struct pm32_opts o;
	struct pm32_item *items;
	uint32_t n_items, *order;
	pm32_opts_init(&o);
	o.vmm_result = HV_STATUS_INVALID_CONNECTION_ID;
	uint32_t n = pm32_parse_args(argc, argv, opts, &mode, &o, &items,
				     &n_items, &order);
	bool synic = a.synic;
	o.via_page = a.via_page;
	for (uint32_t i = 0; i < n_items; i++)
		if (items[i].base > 0xffff || items[i].val[K_REP] > 0xfff ||
		    items[i].val[K_IDX] > 0xfff ||
		    items[i].val[K_VAR] > 0x3ff ||
		    items[i].val[K_CONN] > UINT32_MAX)
			usage_error(
				"--calls: item %u out of range (code <= 0xffff, "
				"rep/idx <= 0xfff, var <= 0x3ff)",
				i + 1);

	example_cmd = "hcgen hyperv ...";
	struct pm32 p;
	pm32_open(&p, &o);
	if (ioctl(p.vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV) <= 0)
		hv_refuse("no KVM_CAP_HYPERV");
	if (synic)
		hv_synic_irqchip(&p);
	pm32_create_vcpus(&p, n);
	hv_set_cpuid(&p);
	if (synic)
		hv_synic_vcpus(&p);
	int efd = hv_eventfd(&p);
	hv_set_msrs(&p);
	hv_fill(&p, items, order, n);
	p.serve = hv_serve;
	int rc = pm32_run(&p);

	print_header(&p.vm, "hyperv");
	pm32_print_common(&p, rc);
	printf(",\"abi\":\"hyperv\",\"guest_os_id\":%llu,\"hypercall_msr\":%u,"
	       "\"hypercall_page\":%u,\"synic\":%s,\"eventfd_conn\":",
	       HV_GUEST_OS_ID, PM_HV_PAGE | 1, PM_HV_PAGE,
	       synic ? "true" : "false");
	if (efd >= 0)
		printf("%d", HV_CONN_KERNEL);
	else
		printf("null");
	printf(",\"vmm_result\":%" PRIu64, o.vmm_result);
	struct hv_items hi = { items, n_items };
	const struct pm32_printer printer = { .vcpu_fields = hv_vcpu_fields,
					      .call_fields = hv_call_fields,
					      .ctx = &hi };
	pm32_print_vcpus(&p, &printer);
	if (efd >= 0)
		close(efd);
	return rc;
}
