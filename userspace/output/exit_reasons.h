// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Names of KVM exit reasons, for the text output and the summary.
//
// Style: the kernel's uapi macro name, lowercased, prefix dropped --
// EXIT_REASON_VMCALL -> "vmcall", EXIT_REASON_EPT_VIOLATION ->
// "ept_violation", SVM_EXIT_VMMCALL -> "vmmcall", SVM_EXIT_IOIO -> "ioio",
// SVM_EXIT_EXCP_BASE + PF_VECTOR -> "excp_pf".  We do not copy the kvm_exit
// trace strings (VMX_EXIT_REASONS / SVM_EXIT_REASONS) because they mix styles
// ("VMCALL" on Intel, "hypercall" on AMD for VMMCALL -- ambiguous in a tool
// where every line is a hypercall) and lack newer codes; the macro names are
// one consistent style that `grep -i` finds in arch/x86/include/uapi/asm/.
//
// Sources: arch/x86/include/uapi/asm/vmx.h (through EXIT_REASON_MSR_WRITE_IMM
// 85) and arch/x86/include/uapi/asm/svm.h (through SVM_EXIT_IDLE_HLT 0xa6,
// NPF..VMGEXIT 0x400-0x403, the SEV-ES VMGEXIT software codes, and
// SVM_EXIT_ERR -1 as "err").
#pragma once

#include <cstdint>

namespace hypertrace {

// isa is enum ht_isa (1 VMX, 2 SVM).  VMX: only the basic reason (low 16
// bits) selects the name; flag bits (bit 27 enclave mode, bit 31 failed
// VM-entry, ...) are ignored.  Anything not in the tables, or another isa,
// gives "unknown".  The returned string is static.
const char* exit_reason_name(std::uint8_t isa, std::uint32_t reason);

}  // namespace hypertrace
