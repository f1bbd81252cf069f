/*
 * hcgen forward: KVM hypercalls that KVM hands to the VMM.  With
 * KVM_CAP_EXIT_HYPERCALL enabled for KVM_HC_MAP_GPA_RANGE (12), KVM fires
 * kvm_exit and kvm_hypercall, then exits to userspace (KVM_EXIT_HYPERCALL,
 * kvm_userspace_exit) instead of answering (arch/x86/kvm/x86.c
 * kvm_emulate_hypercall()); hcgen serves the call after --vmm-delay-us and
 * re-enters, and KVM completes it (complete_hypercall_exit()).  Other numbers
 * in --calls stay in the kernel (-KVM_ENOSYS for unknown ones), so one run
 * has both kinds, each marked in the ground truth.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hcgen_pm32.h"

#define FW_DEFAULT_CALLS "12x50,42x50"
#define FW_MAX_CALLS 0xffff /* the call's tag is in MAP_GPA_RANGE's gpa */
#define FW_NPAGES 1
#define FW_ATTRS 0x10 /* KVM_MAP_GPA_RANGE_ENCRYPTED | PAGE_SZ_4K */

static const char *const fw_keys[] = { NULL };

static void fw_usage(FILE *f)
{
	fprintf(f,
		"usage: hcgen forward [--vcpus K] [--calls NRxCOUNT[,...]]\n"
		"                     [--vmm-delay-us N] [--vmm-wait busy|sleep]\n"
		"                     [--vmm-result V] [--insn auto|vmmcall|vmcall]\n"
		"                     [--timeout SEC] [--no-calls]\n"
		"                     [-name [guest=]NAME[,debug-threads=on]] [-uuid UUID] [--hold]\n"
		"nr 12 (KVM_HC_MAP_GPA_RANGE) is served by hcgen (default --calls " FW_DEFAULT_CALLS
		").\n"
		"See tests/workload/README.md.\n");
}

/* MAP_GPA_RANGE's gpa must be page aligned: the tag goes above bit 12. */
static uint32_t fw_gpa(int v, uint32_t seq)
{
	return (((uint32_t)v << 16) | seq) << 12;
}

static int fw_serve(struct pm32 *p, struct pm32_vcpu *v, struct pm32_call *c,
		    char *err, size_t len)
{
	struct kvm_run *run = v->c.run;
	if (run->exit_reason != KVM_EXIT_HYPERCALL ||
	    run->hypercall.nr != KVM_HC_MAP_GPA_RANGE ||
	    run->hypercall.args[0] != c->in[1] ||
	    run->hypercall.args[1] != c->in[2] ||
	    run->hypercall.args[2] != c->in[3]) {
		snprintf(
			err, len,
			"unexpected exit %u (nr %llu args 0x%llx 0x%llx 0x%llx), "
			"want KVM_EXIT_HYPERCALL nr 12 args 0x%x 0x%x 0x%x",
			run->exit_reason, (unsigned long long)run->hypercall.nr,
			(unsigned long long)run->hypercall.args[0],
			(unsigned long long)run->hypercall.args[1],
			(unsigned long long)run->hypercall.args[2], c->in[1],
			c->in[2], c->in[3]);
		return -1;
	}
	run->hypercall.ret = p->o.vmm_result;
	return 0;
}

/* A call's JSON fields: the KVM hypercall's nr, a0..a3 and return value. */
static void fw_call_fields(const struct pm32_call *c, void *ctx)
{
	(void)ctx;
	printf(",\"nr\":%u,\"a0\":%u,\"a1\":%u,\"a2\":%u,\"a3\":%u,\"ret\":%u",
	       c->in[0], c->in[1], c->in[2], c->in[3], c->in[4], c->out_eax);
}

int cmd_forward(int argc, char **argv)
{
	static const struct option opts[] = {
		PM32_LONG_OPTS,
		{ 0, 0, 0, 0 },
	};
	static const struct pm32_mode mode = {
		.name = "forward",
		.usage = fw_usage,
		.default_calls = FW_DEFAULT_CALLS,
		.keys = fw_keys,
	};
	struct pm32_opts o;
	struct pm32_item *items;
	uint32_t n_items, *order;
	pm32_opts_init(&o);
	uint32_t n = pm32_parse_args(argc, argv, opts, &mode, &o, &items,
				     &n_items, &order);
	if (n > FW_MAX_CALLS)
		usage_error("--calls: at most %d calls per vCPU in this mode",
			    FW_MAX_CALLS);

	example_cmd = "hcgen forward ...";
	struct pm32 p;
	pm32_open(&p, &o);
	/* KVM_CHECK_EXTENSION gives the mask of numbers KVM can forward */
	int mask = ioctl(p.vm.vm_fd, KVM_CHECK_EXTENSION,
			 KVM_CAP_EXIT_HYPERCALL);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXIT_HYPERCALL,
				      .args = { 1ull
						<< KVM_HC_MAP_GPA_RANGE } };
	if (mask <= 0 || !(mask & (1 << KVM_HC_MAP_GPA_RANGE)) ||
	    ioctl(p.vm.vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		msg("forward: this KVM cannot forward KVM_HC_MAP_GPA_RANGE to "
		    "userspace: KVM_CAP_EXIT_HYPERCALL %s (it needs Linux 5.14 "
		    "or later)",
		    mask <= 0 ? "is missing" : "does not include nr 12");
		return EX_NOCAP;
	}
	pm32_create_vcpus(&p, n);
	for (int v = 0; v < o.vcpus; v++)
		for (uint32_t q = 0; q < n; q++) {
			struct pm32_call *c = &p.v[v].calls[q];
			uint32_t nr = (uint32_t)items[order[q]].base;
			c->item = order[q];
			c->in[0] = nr;
			if (nr == KVM_HC_MAP_GPA_RANGE) {
				c->in[1] = fw_gpa(v, q);
				c->in[2] = FW_NPAGES;
				c->in[3] = FW_ATTRS;
			} else {
				c->in[1] = pm32_tag(v, q);
				c->in[2] = 0xa1;
				c->in[3] = 0xa2;
			}
			c->in[4] = 0xa3;
		}
	p.serve = fw_serve;
	int rc = pm32_run(&p);

	print_header(&p.vm, "forward");
	pm32_print_common(&p, rc);
	printf(",\"abi\":\"kvm\",\"forwarded_nr\":[%d],\"vmm_result\":%" PRIu64,
	       KVM_HC_MAP_GPA_RANGE, o.vmm_result);
	static const struct pm32_printer printer = {
		.call_fields = fw_call_fields
	};
	pm32_print_vcpus(&p, &printer);
	return rc;
}
