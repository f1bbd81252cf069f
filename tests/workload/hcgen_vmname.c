/*
 * hcgen under a VM name (schedule mode).  Mirrors what QEMU and libvirt
 * show of a VM, so that hypertrace's name resolution can be tested against
 * ground truth:
 * - "-name guest=NAME,debug-threads=on" and "-uuid UUID" on the command
 *   line, parsed as QEMU's option strings are (a first item without '=' is
 *   the guest name; ",," is a literal comma; qemu-options.hx);
 * - vCPU threads named "CPU N/KVM" with debug-threads=on
 *   (accel/kvm/kvm-accel-ops.c), N the vCPU index;
 * - a status file DIR/NAME.xml shaped like libvirt's /run/libvirt/qemu ones
 *   (<domstatus pid><vcpus><vcpu id pid/></vcpus><domain><name><uuid>), and
 *   DIR/NAME.pid, written after every vCPU exists and before the first
 *   hypercall, removed at exit.
 */
#define _GNU_SOURCE
#include "hcgen_vmname.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "hcgen.h"

struct vmname vmname = { .stride = 1 };

static char xml_path[PATH_MAX], pid_path[PATH_MAX];
static volatile int status_written;

/* One -name value; exits with a usage error on what QEMU would refuse. */
static void parse_name(const char *value)
{
	size_t len = strlen(value);
	char *item = malloc(len + 1);
	char *guest = NULL;
	size_t key_end = strcspn(value, "=,");
	bool first = true, implied = value[key_end] != '=';
	const char *p = value;

	if (!item) {
		msg("out of memory");
		exit(EX_SYS);
	}
	vmname.debug_threads = false;
	for (;;) {
		size_t n = 0;
		while (*p && !(*p == ',' && p[1] != ',')) {
			if (*p == ',')
				p++; /* ",," -> ',' */
			item[n++] = *p++;
		}
		item[n] = 0;
		if (first && implied) {
			free(guest);
			guest = strdup(item);
		} else if (!strncmp(item, "guest=", 6)) {
			free(guest);
			guest = strdup(item + 6);
		} else if (!strcmp(item, "debug-threads=on")) {
			vmname.debug_threads = true;
		} else if (!strcmp(item, "debug-threads=off")) {
			vmname.debug_threads = false;
		} else if (strncmp(item, "process=", 8)) {
			usage_error(
				"-name: unknown item '%s' (want guest=NAME, debug-threads=on|off, process=P)",
				item);
		}
		first = false;
		if (!*p)
			break;
		p++; /* the separating ',' */
	}
	free(item);
	if (!guest || !*guest)
		usage_error("-name '%s': no guest name", value);
	free(vmname.name);
	vmname.name = guest;
}

static void parse_uuid(const char *u)
{
	if (strlen(u) != 36)
		usage_error("-uuid '%s': want 8-4-4-4-12 hex digits", u);
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
			usage_error("-uuid '%s': want 8-4-4-4-12 hex digits",
				    u);
	}
	memcpy(vmname.uuid, u, 37);
}

void vmname_take_args(int *argc, char **argv)
{
	int out = 0;
	for (int i = 0; i < *argc; i++) {
		bool is_name = !strcmp(argv[i], "-name");
		bool is_uuid = !strcmp(argv[i], "-uuid");
		if (!is_name && !is_uuid) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc)
			usage_error("%s needs a value", argv[i]);
		if (is_name)
			parse_name(argv[++i]);
		else
			parse_uuid(argv[++i]);
	}
	argv[out] = NULL;
	*argc = out;
}

void vmname_name_thread(int index)
{
	char comm[16];
	if (!vmname.debug_threads)
		return;
	snprintf(comm, sizeof(comm), "CPU %d/KVM", index);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
}

/* XML text of s: the five predefined entities. */
static void xml_print(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

int vmname_write_status(int n, const pid_t *tids, const int *kvm_ids)
{
	char tmp[PATH_MAX + 8];
	const char *d = vmname.libvirt_dir;
	(void)kvm_ids;
	if (!d)
		return 0;
	snprintf(xml_path, sizeof(xml_path), "%s/%s.xml", d, vmname.name);
	snprintf(pid_path, sizeof(pid_path), "%s/%s.pid", d, vmname.name);
	snprintf(tmp, sizeof(tmp), "%s.new", xml_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		msg("--libvirt-dir: cannot write %s: %m", tmp);
		return -1;
	}
	fprintf(f,
		"<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE (hcgen, libvirt's layout).\n-->\n"
		"<domstatus state='running' reason='booted' pid='%d'>\n"
		"  <monitor path='/nonexistent/monitor.sock' type='unix'/>\n  <vcpus>\n",
		(int)getpid());
	for (int i = 0; i < n; i++)
		fprintf(f, "    <vcpu id='%d' pid='%d'/>\n", i, (int)tids[i]);
	fprintf(f, "  </vcpus>\n  <domain type='kvm' id='1'>\n    <name>");
	xml_print(f, vmname.name);
	fprintf(f, "</name>\n");
	if (vmname.uuid[0])
		fprintf(f, "    <uuid>%s</uuid>\n", vmname.uuid);
	fprintf(f,
		"    <vcpu placement='static'>%d</vcpu>\n  </domain>\n</domstatus>\n",
		n);
	if (fclose(f) != 0 || rename(tmp, xml_path) != 0) {
		msg("--libvirt-dir: cannot write %s: %m", xml_path);
		unlink(tmp);
		xml_path[0] = 0;
		return -1;
	}
	f = fopen(pid_path, "w");
	if (!f || fprintf(f, "%d", (int)getpid()) < 0 || fclose(f) != 0) {
		msg("--libvirt-dir: cannot write %s: %m", pid_path);
		return -1;
	}
	status_written = 1;
	atexit(vmname_remove_status);
	return 0;
}

void vmname_remove_status(void)
{
	if (!status_written)
		return;
	unlink(xml_path);
	unlink(pid_path);
	status_written = 0;
}

void json_print_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void vmname_print_json(void)
{
	printf(",\"vm_name\":");
	if (vmname.name)
		json_print_string(vmname.name);
	else
		printf("null");
	printf(",\"vm_uuid\":");
	if (vmname.uuid[0]) {
		char lower[37];
		for (int i = 0; i < 37; i++)
			lower[i] = (char)tolower((unsigned char)vmname.uuid[i]);
		json_print_string(lower);
	} else {
		printf("null");
	}
	printf(",\"debug_threads\":%s,\"vcpu_id_stride\":%u,\"libvirt_status\":",
	       vmname.debug_threads ? "true" : "false", vmname.stride);
	if (vmname.libvirt_dir && vmname.name)
		json_print_string(xml_path);
	else
		printf("null");
}
