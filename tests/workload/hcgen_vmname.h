/*
 * hcgen under a VM name, so that hypertrace's VM names have ground truth
 * (schedule mode): a QEMU-like command line, QEMU's vCPU thread names and a
 * libvirt-like status file.  See README.md, "Running under a name".
 */
#ifndef HCGEN_VMNAME_H
#define HCGEN_VMNAME_H

#include <stdbool.h>
#include <sys/types.h>

struct vmname {
	char *name;	    /* -name guest=NAME / -name NAME; NULL: unnamed */
	char uuid[37];	    /* -uuid, as given (validated); "" if none */
	bool debug_threads; /* -name ...,debug-threads=on: "CPU N/KVM" */
	const char *libvirt_dir; /* --libvirt-dir DIR */
	unsigned stride; /* --vcpu-id-stride: KVM vcpu_id = index * stride */
};

extern struct vmname vmname;

/* Takes "-name VALUE" and "-uuid VALUE" (QEMU's single-dash options) out of
 * argv, so getopt sees the rest; /proc/PID/cmdline keeps them. */
void vmname_take_args(int *argc, char **argv);
/* Names the calling vCPU thread "CPU N/KVM" when debug-threads=on. */
void vmname_name_thread(int index);
/* Writes DIR/NAME.xml and DIR/NAME.pid (--libvirt-dir); they are removed
 * at exit, also when the watchdog fires.  Returns 0 or -1 (message printed). */
int vmname_write_status(int n, const pid_t *tids, const int *kvm_ids);
/* Removes the files again (async-signal-safe). */
void vmname_remove_status(void);
/* ,"vm_name":...,"vm_uuid":...,"debug_threads":...,"vcpu_id_stride":N,"libvirt_status":... */
void vmname_print_json(void);
/* A JSON string literal of s. */
void json_print_string(const char *s);

#endif
