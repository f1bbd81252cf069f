/*
 * hcgen xen: Xen hypercalls, as a Xen HVM guest makes them on KVM's Xen
 * emulation.  KVM_XEN_HVM_CONFIG with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL and
 * an MSR makes KVM send the guest's VMCALL/VMMCALL to kvm_xen_hypercall()
 * (arch/x86/kvm/xen.c; without the MSR the static key that enables it stays
 * off and the calls remain KVM's own).  It fires kvm_xen_hypercall, answers
 * a few calls itself (xen_version(XENVER_version) once the VMM told it the
 * version, KVM_XEN_ATTR_TYPE_XEN_VERSION) and hands the rest to userspace
 * (KVM_EXIT_XEN), where hcgen answers --vmm-result after --vmm-delay-us.
 * Kernels built without CONFIG_KVM_XEN (Debian's 6.1) have no
 * KVM_CAP_XEN_HVM: hcgen refuses with EX_NOCAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hcgen_pm32.h"

#define XEN_HYPERCALL_MSR 0x40000000
#define XEN_VERSION 0x0004000a /* 4.10, what xen_version(0) returns */
#define XEN_ENOSYS ((uint64_t)-38)
#define XEN_DEFAULT_CALLS "17x40,34x30,18x30"

enum { K_A0 };
static const char *const xen_keys[] = { "a0=", NULL };

static void xen_usage(FILE *f)
{
	fprintf(f,
		"usage: hcgen xen [--vcpus K] [--calls NR[:a0=V]xCOUNT[,...]]\n"
		"                 [--vmm-delay-us N] [--vmm-wait busy|sleep]\n"
		"                 [--vmm-result V] [--insn auto|vmmcall|vmcall]\n"
		"                 [--timeout SEC] [--no-calls]\n"
		"                 [-name [guest=]NAME[,debug-threads=on]] [-uuid UUID] [--hold]\n"
		"(default --calls " XEN_DEFAULT_CALLS
		": xen_version, hvm_op, console_io)\n"
		"See tests/workload/README.md.\n");
}

static int xen_serve(struct pm32 *p, struct pm32_vcpu *v, struct pm32_call *c,
		     char *err, size_t len)
{
	struct kvm_run *run = v->c.run;
	if (run->exit_reason != KVM_EXIT_XEN ||
	    run->xen.type != KVM_EXIT_XEN_HCALL ||
	    run->xen.u.hcall.input != c->in[0] ||
	    run->xen.u.hcall.params[1] != c->in[2]) {
		snprintf(
			err, len,
			"unexpected exit %u (xen type %u input %llu a1 0x%llx), "
			"want KVM_EXIT_XEN_HCALL nr %u a1 0x%x",
			run->exit_reason, run->xen.type,
			(unsigned long long)run->xen.u.hcall.input,
			(unsigned long long)run->xen.u.hcall.params[1],
			c->in[0], c->in[2]);
		return -1;
	}
	run->xen.u.hcall.result = p->o.vmm_result;
	return 0;
}

/* Returns whether KVM was given the Xen version (so it answers
 * xen_version(XENVER_version) itself). */
static bool xen_config(struct pm32 *p)
{
	int mask = ioctl(p->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM);
	if (mask <= 0 || !(mask & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL)) {
		msg("xen: this KVM cannot intercept Xen hypercalls: KVM_CAP_XEN_HVM "
		    "is %d, without KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL (a kernel "
		    "built without CONFIG_KVM_XEN, e.g. Debian's 6.1, or older "
		    "than 5.12)",
		    mask);
		exit(EX_NOCAP);
	}
	struct kvm_xen_hvm_config cfg = {
		.flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
		.msr = XEN_HYPERCALL_MSR,
	};
	if (ioctl(p->vm.vm_fd, KVM_XEN_HVM_CONFIG, &cfg) < 0) {
		msg("KVM_XEN_HVM_CONFIG: %s", strerror(errno));
		exit(EX_SYS);
	}
	if (!(mask & KVM_XEN_HVM_CONFIG_EVTCHN_SEND))
		return false;
	struct kvm_xen_hvm_attr a = { .type = KVM_XEN_ATTR_TYPE_XEN_VERSION,
				      .u.xen_version = XEN_VERSION };
	if (ioctl(p->vm.vm_fd, KVM_XEN_HVM_SET_ATTR, &a) < 0) {
		msg("KVM_XEN_HVM_SET_ATTR KVM_XEN_ATTR_TYPE_XEN_VERSION: %s",
		    strerror(errno));
		exit(EX_SYS);
	}
	return true;
}

/* A call's JSON fields: the Xen hypercall's nr, a0..a5, cpl and result. */
static void xen_call_fields(const struct pm32_call *c, void *ctx)
{
	(void)ctx;
	printf(",\"nr\":%u,\"a0\":%u,\"a1\":%u,\"a2\":%u,\"a3\":%u,"
	       "\"a4\":%u,\"a5\":%u,\"cpl\":0,\"result\":%u",
	       c->in[0], c->in[1], c->in[2], c->in[3], c->in[4], c->in[5],
	       c->in[6], c->out_eax);
}

int cmd_xen(int argc, char **argv)
{
	static const struct option opts[] = {
		PM32_LONG_OPTS,
		{ 0, 0, 0, 0 },
	};
	static const struct pm32_mode mode = {
		.name = "xen",
		.usage = xen_usage,
		.default_calls = XEN_DEFAULT_CALLS,
		.keys = xen_keys,
	};
	struct pm32_opts o;
	struct pm32_item *items;
	uint32_t n_items, *order;
	pm32_opts_init(&o);
	o.vmm_result = XEN_ENOSYS;
	uint32_t n = pm32_parse_args(argc, argv, opts, &mode, &o, &items,
				     &n_items, &order);
	for (uint32_t i = 0; i < n_items; i++)
		if (items[i].val[K_A0] > UINT32_MAX)
			usage_error("--calls: item %u: a0 must fit in 32 bits",
				    i + 1);

	example_cmd = "hcgen xen ...";
	struct pm32 p;
	pm32_open(&p, &o);
	bool version = xen_config(&p);
	pm32_create_vcpus(&p, n);
	for (int v = 0; v < o.vcpus; v++)
		for (uint32_t q = 0; q < n; q++) {
			struct pm32_call *c = &p.v[v].calls[q];
			c->item = order[q];
			c->in[0] = (uint32_t)items[order[q]].base;
			c->in[1] = (uint32_t)items[order[q]].val[K_A0];
			c->in[2] = pm32_tag(v, q);
			c->in[3] = 0xa2;
			c->in[4] = 0xa3;
			c->in[5] = 0xa4;
			c->in[6] = 0xa5;
		}
	p.serve = xen_serve;
	int rc = pm32_run(&p);

	print_header(&p.vm, "xen");
	pm32_print_common(&p, rc);
	printf(",\"abi\":\"xen\",\"xen_hvm_msr\":%u,\"xen_version\":",
	       XEN_HYPERCALL_MSR);
	if (version)
		printf("%u", XEN_VERSION);
	else
		printf("null");
	printf(",\"vmm_result\":%" PRIu64, o.vmm_result);
	static const struct pm32_printer printer = {
		.call_fields = xen_call_fields
	};
	pm32_print_vcpus(&p, &printer);
	return rc;
}
