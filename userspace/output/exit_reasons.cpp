// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/exit_reasons.h"

#include <algorithm>
#include <iterator>

extern "C" {
#include "ht_record.h"
}

namespace hypertrace {

namespace {

// VMX basic exit reasons, indexed by number; nullptr = not defined.
constexpr const char* kVmx[] = {
    /*  0 */ "exception_nmi",
    /*  1 */ "external_interrupt",
    /*  2 */ "triple_fault",
    /*  3 */ "init_signal",
    /*  4 */ "sipi_signal",
    /*  5 */ nullptr,
    /*  6 */ nullptr,
    /*  7 */ "interrupt_window",
    /*  8 */ "nmi_window",
    /*  9 */ "task_switch",
    /* 10 */ "cpuid",
    /* 11 */ nullptr,
    /* 12 */ "hlt",
    /* 13 */ "invd",
    /* 14 */ "invlpg",
    /* 15 */ "rdpmc",
    /* 16 */ "rdtsc",
    /* 17 */ nullptr,
    /* 18 */ "vmcall",
    /* 19 */ "vmclear",
    /* 20 */ "vmlaunch",
    /* 21 */ "vmptrld",
    /* 22 */ "vmptrst",
    /* 23 */ "vmread",
    /* 24 */ "vmresume",
    /* 25 */ "vmwrite",
    /* 26 */ "vmoff",
    /* 27 */ "vmon",
    /* 28 */ "cr_access",
    /* 29 */ "dr_access",
    /* 30 */ "io_instruction",
    /* 31 */ "msr_read",
    /* 32 */ "msr_write",
    /* 33 */ "invalid_state",
    /* 34 */ "msr_load_fail",
    /* 35 */ nullptr,
    /* 36 */ "mwait_instruction",
    /* 37 */ "monitor_trap_flag",
    /* 38 */ nullptr,
    /* 39 */ "monitor_instruction",
    /* 40 */ "pause_instruction",
    /* 41 */ "mce_during_vmentry",
    /* 42 */ nullptr,
    /* 43 */ "tpr_below_threshold",
    /* 44 */ "apic_access",
    /* 45 */ "eoi_induced",
    /* 46 */ "gdtr_idtr",
    /* 47 */ "ldtr_tr",
    /* 48 */ "ept_violation",
    /* 49 */ "ept_misconfig",
    /* 50 */ "invept",
    /* 51 */ "rdtscp",
    /* 52 */ "preemption_timer",
    /* 53 */ "invvpid",
    /* 54 */ "wbinvd",
    /* 55 */ "xsetbv",
    /* 56 */ "apic_write",
    /* 57 */ "rdrand",
    /* 58 */ "invpcid",
    /* 59 */ "vmfunc",
    /* 60 */ "encls",
    /* 61 */ "rdseed",
    /* 62 */ "pml_full",
    /* 63 */ "xsaves",
    /* 64 */ "xrstors",
    /* 65 */ nullptr,
    /* 66 */ nullptr,
    /* 67 */ "umwait",
    /* 68 */ "tpause",
    /* 69 */ nullptr,
    /* 70 */ nullptr,
    /* 71 */ nullptr,
    /* 72 */ nullptr,
    /* 73 */ nullptr,
    /* 74 */ "bus_lock",
    /* 75 */ "notify",
    /* 76 */ "seamcall",
    /* 77 */ "tdcall",
    /* 78 */ nullptr,
    /* 79 */ nullptr,
    /* 80 */ nullptr,
    /* 81 */ nullptr,
    /* 82 */ nullptr,
    /* 83 */ nullptr,
    /* 84 */ "msr_read_imm",
    /* 85 */ "msr_write_imm",
};

// SVM exception intercepts: SVM_EXIT_EXCP_BASE (0x40) + vector.  Reserved
// vectors are named by number.
constexpr const char* kSvmExcp[32] = {
    "excp_de", "excp_db", "excp_nmi", "excp_bp", "excp_of", "excp_br", "excp_ud", "excp_nm",
    "excp_df", "excp_9",  "excp_ts",  "excp_np", "excp_ss", "excp_gp", "excp_pf", "excp_15",
    "excp_mf", "excp_ac", "excp_mc",  "excp_xm", "excp_ve", "excp_cp", "excp_22", "excp_23",
    "excp_24", "excp_25", "excp_26",  "excp_27", "excp_hv", "excp_vc", "excp_sx", "excp_31",
};

struct SvmName {
    std::uint32_t code;
    const char* name;
};

// Sorted by code (binary search below).
constexpr SvmName kSvm[] = {
    {0x0, "read_cr0"},
    {0x2, "read_cr2"},
    {0x3, "read_cr3"},
    {0x4, "read_cr4"},
    {0x8, "read_cr8"},
    {0x10, "write_cr0"},
    {0x12, "write_cr2"},
    {0x13, "write_cr3"},
    {0x14, "write_cr4"},
    {0x18, "write_cr8"},
    {0x20, "read_dr0"},
    {0x21, "read_dr1"},
    {0x22, "read_dr2"},
    {0x23, "read_dr3"},
    {0x24, "read_dr4"},
    {0x25, "read_dr5"},
    {0x26, "read_dr6"},
    {0x27, "read_dr7"},
    {0x30, "write_dr0"},
    {0x31, "write_dr1"},
    {0x32, "write_dr2"},
    {0x33, "write_dr3"},
    {0x34, "write_dr4"},
    {0x35, "write_dr5"},
    {0x36, "write_dr6"},
    {0x37, "write_dr7"},
    {0x60, "intr"},
    {0x61, "nmi"},
    {0x62, "smi"},
    {0x63, "init"},
    {0x64, "vintr"},
    {0x65, "cr0_sel_write"},
    {0x66, "idtr_read"},
    {0x67, "gdtr_read"},
    {0x68, "ldtr_read"},
    {0x69, "tr_read"},
    {0x6a, "idtr_write"},
    {0x6b, "gdtr_write"},
    {0x6c, "ldtr_write"},
    {0x6d, "tr_write"},
    {0x6e, "rdtsc"},
    {0x6f, "rdpmc"},
    {0x70, "pushf"},
    {0x71, "popf"},
    {0x72, "cpuid"},
    {0x73, "rsm"},
    {0x74, "iret"},
    {0x75, "swint"},
    {0x76, "invd"},
    {0x77, "pause"},
    {0x78, "hlt"},
    {0x79, "invlpg"},
    {0x7a, "invlpga"},
    {0x7b, "ioio"},
    {0x7c, "msr"},
    {0x7d, "task_switch"},
    {0x7e, "ferr_freeze"},
    {0x7f, "shutdown"},
    {0x80, "vmrun"},
    {0x81, "vmmcall"},
    {0x82, "vmload"},
    {0x83, "vmsave"},
    {0x84, "stgi"},
    {0x85, "clgi"},
    {0x86, "skinit"},
    {0x87, "rdtscp"},
    {0x88, "icebp"},
    {0x89, "wbinvd"},
    {0x8a, "monitor"},
    {0x8b, "mwait"},
    {0x8c, "mwait_cond"},
    {0x8d, "xsetbv"},
    {0x8e, "rdpru"},
    {0x8f, "efer_write_trap"},
    {0x90, "cr0_write_trap"},
    {0x91, "cr1_write_trap"},
    {0x92, "cr2_write_trap"},
    {0x93, "cr3_write_trap"},
    {0x94, "cr4_write_trap"},
    {0x95, "cr5_write_trap"},
    {0x96, "cr6_write_trap"},
    {0x97, "cr7_write_trap"},
    {0x98, "cr8_write_trap"},
    {0x99, "cr9_write_trap"},
    {0x9a, "cr10_write_trap"},
    {0x9b, "cr11_write_trap"},
    {0x9c, "cr12_write_trap"},
    {0x9d, "cr13_write_trap"},
    {0x9e, "cr14_write_trap"},
    {0x9f, "cr15_write_trap"},
    {0xa2, "invpcid"},
    {0xa5, "bus_lock"},
    {0xa6, "idle_hlt"},
    {0x400, "npf"},
    {0x401, "avic_incomplete_ipi"},
    {0x402, "avic_unaccelerated_access"},
    {0x403, "vmgexit"},
    {0x80000001, "vmgexit_mmio_read"},
    {0x80000002, "vmgexit_mmio_write"},
    {0x80000003, "vmgexit_nmi_complete"},
    {0x80000004, "vmgexit_ap_hlt_loop"},
    {0x80000005, "vmgexit_ap_jump_table"},
    {0x80000010, "vmgexit_psc"},
    {0x80000011, "vmgexit_guest_request"},
    {0x80000012, "vmgexit_ext_guest_request"},
    {0x80000013, "vmgexit_ap_creation"},
    {0x8000fffd, "vmgexit_hv_features"},
    {0x8000fffe, "vmgexit_term_request"},
    {0x8000ffff, "vmgexit_unsupported_event"},
    {0xffffffff, "err"},  // SVM_EXIT_ERR (-1): VMRUN failed, invalid guest state
};

}  // namespace

const char* exit_reason_name(std::uint8_t isa, std::uint32_t reason)
{
    if (isa == HT_ISA_VMX) {
        std::uint32_t basic = reason & 0xffffu;
        if (basic < std::size(kVmx) && kVmx[basic])
            return kVmx[basic];
        return "unknown";
    }
    if (isa == HT_ISA_SVM) {
        if (reason >= 0x40 && reason <= 0x5f)
            return kSvmExcp[reason - 0x40];
        auto it = std::lower_bound(std::begin(kSvm), std::end(kSvm), reason,
                                   [](const SvmName& n, std::uint32_t c) { return n.code < c; });
        if (it != std::end(kSvm) && it->code == reason)
            return it->name;
        return "unknown";
    }
    return "unknown";
}

}  // namespace hypertrace
