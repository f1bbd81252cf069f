// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// -f chrome: the records as a timeline, in the Trace Event Format's JSON
// Array Format (what chrome://tracing, Perfetto's UI and speedscope open).
//
// Written as a stream, one event per line: "[" at construction, events
// separated by ",\n", and "\n]\n" at finish(), which main() calls on every
// normal end (Ctrl-C, SIGTERM, SIGHUP, the duration).  So the file is valid
// JSON whenever hypertrace ended normally; one cut short (kill -9) ends after
// a complete event and before the "]", which the format allows a reader to
// add.
//
// The model:
//   process (pid)  = one VM: a "process_name" metadata event (ph "M") with
//                    the VM's name (vm/vm_resolver.h), else "pid N";
//   thread (tid)   = one vCPU thread: "thread_name" "vCPU I (tid N)", I the
//                    VMM's vCPU index, else KVM's vcpu_id, else "?", and a
//                    "thread_sort_index" of I so tracks are in vCPU order;
//   slice          = one hypercall: a duration event, "B" at kvm_exit and
//                    "E" at kvm_entry (cat "hypercall"), named by the
//                    hypercall's name in its ABI's table, else "nr N" (KVM)
//                    or "hyperv nr N" / "xen nr N"; its args on the "B";
//   child slices   = its phases (cat "phase"), B/E pairs inside it and after
//                    one another: "exit->hypercall" [t_exit, t_hypercall],
//                    "hypercall->entry" [t_hypercall, t_entry], and in the
//                    latter "VMM" [t_userspace_exit, t_entry] when the call
//                    went back to the VMM (record v2's t_userspace_exit_ns).
//                    A record whose timestamps are out of order (never
//                    seen; a defence) gets no children.
// Each pair is written in nesting order, one record after another, so a
// thread's events are in time order.  Not complete events ("X" with dur):
// readers add ts and dur as doubles, and a phase that ends with its call
// then ends an ulp after it and is nested wrong (speedscope 1.25 did); an
// "E" has the same ts text as its parent's "E", so the ends compare equal.
// ts is microseconds with three decimals (exact ns), of
// CLOCK_MONOTONIC, as the other formats' t_*_ns, so a timeline lines up
// with them and with other tools' traces of the same clock.
// The hypercall's "B" has the args: nr, abi, the ABI's arguments (KVM a0..a3, Xen a0..a5,
// Hyper-V hv_fast, hv_rep_cnt, hv_rep_idx, hv_var_cnt, hv_ingpa, hv_outgpa,
// hv_result; 64-bit values as "0x" hex strings, which JavaScript readers
// cannot round), exit_reason (name as the text output says it, or null),
// vcpu_id (null when unknown), cpu, served_by, vmm_ns (null when the call
// never went back to the VMM), then -f json's VM fields vm, vm_uuid,
// vm_source, vcpu_index (vm_columns.h).
#pragma once

#include <memory>
#include <ostream>

#include "output/record_format.h"
#include "output/vm_columns.h"

namespace hypertrace {

// `vms` made for Format::Chrome (its tails are the args' VM fields, its
// resolver names the processes and threads), or null: every VM unknown.
std::unique_ptr<RecordWriter> make_chrome_writer(std::ostream& out, VmColumns* vms);

}  // namespace hypertrace
