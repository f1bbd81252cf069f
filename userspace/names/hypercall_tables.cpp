// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "names/hypercall_tables.h"

#include <iterator>

namespace hypertrace {

namespace {

// One entry a line, as the headers list them (clang-format would pack them).
// clang-format off

// include/uapi/linux/kvm_para.h: every KVM_HC_* (1..12 since Linux 5.14
// added KVM_HC_MAP_GPA_RANGE).  x86 KVM serves a few of them
// (kvm_emulate_hypercall, arch/x86/kvm/x86.c) and answers the rest
// -KVM_ENOSYS, but a guest may issue any (hcgen issues 7).
constexpr HypercallName kKvm[] = {
    {1, "KVM_HC_VAPIC_POLL_IRQ", nullptr},
    {2, "KVM_HC_MMU_OP", nullptr},
    {3, "KVM_HC_FEATURES", nullptr},
    {4, "KVM_HC_PPC_MAP_MAGIC_PAGE", nullptr},
    {5, "KVM_HC_KICK_CPU", nullptr},
    {6, "KVM_HC_MIPS_GET_CLOCK_FREQ", nullptr},
    {7, "KVM_HC_MIPS_EXIT_VM", nullptr},
    {8, "KVM_HC_MIPS_CONSOLE_OUTPUT", nullptr},
    {9, "KVM_HC_CLOCK_PAIRING", nullptr},
    {10, "KVM_HC_SEND_IPI", nullptr},
    {11, "KVM_HC_SCHED_YIELD", nullptr},
    {12, "KVM_HC_MAP_GPA_RANGE", nullptr},
};

// Every call code Linux lists: include/hyperv/hvgdk_mini.h (HVCALL_*) and
// include/hyperv/hvgdk_ext.h (HV_EXT_CALL_*) since Linux 6.15; before, the
// subset in include/asm-generic/hyperv-tlfs.h (6.12 spells 0x009a
// HVCALL_GET_VP_ID_FROM_APIC_ID).  The name is the one Microsoft's
// Hypervisor Top-Level Functional Specification gives the call where it
// documents it (HvCallSendSyntheticClusterIpi for HVCALL_SEND_IPI,
// HvCallStartVirtualProcessor for HVCALL_START_VP, ...), else Linux's macro
// in the TLFS's spelling (HVCALL_DISPATCH_VP -> HvCallDispatchVp).
constexpr HypercallName kHyperv[] = {
    {0x0002, "HvCallFlushVirtualAddressSpace", "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE"},
    {0x0003, "HvCallFlushVirtualAddressList", "HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST"},
    {0x0004, "HvCallGetLogicalProcessorRunTime", "HVCALL_GET_LOGICAL_PROCESSOR_RUN_TIME"},
    {0x0008, "HvCallNotifyLongSpinWait", "HVCALL_NOTIFY_LONG_SPIN_WAIT"},
    {0x000b, "HvCallSendSyntheticClusterIpi", "HVCALL_SEND_IPI"},
    {0x000f, "HvCallEnableVpVtl", "HVCALL_ENABLE_VP_VTL"},
    {0x0013, "HvCallFlushVirtualAddressSpaceEx", "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX"},
    {0x0014, "HvCallFlushVirtualAddressListEx", "HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX"},
    {0x0015, "HvCallSendSyntheticClusterIpiEx", "HVCALL_SEND_IPI_EX"},
    {0x0040, "HvCallCreatePartition", "HVCALL_CREATE_PARTITION"},
    {0x0041, "HvCallInitializePartition", "HVCALL_INITIALIZE_PARTITION"},
    {0x0042, "HvCallFinalizePartition", "HVCALL_FINALIZE_PARTITION"},
    {0x0043, "HvCallDeletePartition", "HVCALL_DELETE_PARTITION"},
    {0x0044, "HvCallGetPartitionProperty", "HVCALL_GET_PARTITION_PROPERTY"},
    {0x0045, "HvCallSetPartitionProperty", "HVCALL_SET_PARTITION_PROPERTY"},
    {0x0046, "HvCallGetPartitionId", "HVCALL_GET_PARTITION_ID"},
    {0x0048, "HvCallDepositMemory", "HVCALL_DEPOSIT_MEMORY"},
    {0x0049, "HvCallWithdrawMemory", "HVCALL_WITHDRAW_MEMORY"},
    {0x004b, "HvCallMapGpaPages", "HVCALL_MAP_GPA_PAGES"},
    {0x004c, "HvCallUnmapGpaPages", "HVCALL_UNMAP_GPA_PAGES"},
    {0x004d, "HvCallInstallIntercept", "HVCALL_INSTALL_INTERCEPT"},
    {0x004e, "HvCallCreateVp", "HVCALL_CREATE_VP"},
    {0x004f, "HvCallDeleteVp", "HVCALL_DELETE_VP"},
    {0x0050, "HvCallGetVpRegisters", "HVCALL_GET_VP_REGISTERS"},
    {0x0051, "HvCallSetVpRegisters", "HVCALL_SET_VP_REGISTERS"},
    {0x0052, "HvCallTranslateVirtualAddress", "HVCALL_TRANSLATE_VIRTUAL_ADDRESS"},
    {0x0056, "HvCallClearVirtualInterrupt", "HVCALL_CLEAR_VIRTUAL_INTERRUPT"},
    {0x0058, "HvCallDeletePort", "HVCALL_DELETE_PORT"},
    {0x005b, "HvCallDisconnectPort", "HVCALL_DISCONNECT_PORT"},
    {0x005c, "HvCallPostMessage", "HVCALL_POST_MESSAGE"},
    {0x005d, "HvCallSignalEvent", "HVCALL_SIGNAL_EVENT"},
    {0x0069, "HvCallPostDebugData", "HVCALL_POST_DEBUG_DATA"},
    {0x006a, "HvCallRetrieveDebugData", "HVCALL_RETRIEVE_DEBUG_DATA"},
    {0x006b, "HvCallResetDebugSession", "HVCALL_RESET_DEBUG_SESSION"},
    {0x006c, "HvCallMapStatsPage", "HVCALL_MAP_STATS_PAGE"},
    {0x006d, "HvCallUnmapStatsPage", "HVCALL_UNMAP_STATS_PAGE"},
    {0x006f, "HvCallSetSystemProperty", "HVCALL_SET_SYSTEM_PROPERTY"},
    {0x0076, "HvCallAddLogicalProcessor", "HVCALL_ADD_LOGICAL_PROCESSOR"},
    {0x007b, "HvCallGetSystemProperty", "HVCALL_GET_SYSTEM_PROPERTY"},
    {0x007c, "HvCallMapDeviceInterrupt", "HVCALL_MAP_DEVICE_INTERRUPT"},
    {0x007d, "HvCallUnmapDeviceInterrupt", "HVCALL_UNMAP_DEVICE_INTERRUPT"},
    {0x007e, "HvCallRetargetDeviceInterrupt", "HVCALL_RETARGET_INTERRUPT"},
    {0x0084, "HvCallEnterSleepState", "HVCALL_ENTER_SLEEP_STATE"},
    {0x0087, "HvCallNotifyPartitionEvent", "HVCALL_NOTIFY_PARTITION_EVENT"},
    {0x008b, "HvCallNotifyPortRingEmpty", "HVCALL_NOTIFY_PORT_RING_EMPTY"},
    {0x0091, "HvCallRegisterInterceptResult", "HVCALL_REGISTER_INTERCEPT_RESULT"},
    {0x0094, "HvCallAssertVirtualInterrupt", "HVCALL_ASSERT_VIRTUAL_INTERRUPT"},
    {0x0095, "HvCallCreatePort", "HVCALL_CREATE_PORT"},
    {0x0096, "HvCallConnectPort", "HVCALL_CONNECT_PORT"},
    {0x0099, "HvCallStartVirtualProcessor", "HVCALL_START_VP"},
    {0x009a, "HvCallGetVpIndexFromApicId", "HVCALL_GET_VP_INDEX_FROM_APIC_ID"},
    {0x00af, "HvCallFlushGuestPhysicalAddressSpace", "HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE"},
    {0x00b0, "HvCallFlushGuestPhysicalAddressList", "HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_LIST"},
    {0x00c0, "HvCallSignalEventDirect", "HVCALL_SIGNAL_EVENT_DIRECT"},
    {0x00c1, "HvCallPostMessageDirect", "HVCALL_POST_MESSAGE_DIRECT"},
    {0x00c2, "HvCallDispatchVp", "HVCALL_DISPATCH_VP"},
    {0x00c9, "HvCallGetGpaPagesAccessStates", "HVCALL_GET_GPA_PAGES_ACCESS_STATES"},
    {0x00d7, "HvCallAcquireSparseSpaPageHostAccess", "HVCALL_ACQUIRE_SPARSE_SPA_PAGE_HOST_ACCESS"},
    {0x00d8, "HvCallReleaseSparseSpaPageHostAccess", "HVCALL_RELEASE_SPARSE_SPA_PAGE_HOST_ACCESS"},
    {0x00db, "HvCallModifySparseGpaPageHostVisibility", "HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY"},
    {0x00e1, "HvCallMapVpStatePage", "HVCALL_MAP_VP_STATE_PAGE"},
    {0x00e2, "HvCallUnmapVpStatePage", "HVCALL_UNMAP_VP_STATE_PAGE"},
    {0x00e3, "HvCallGetVpState", "HVCALL_GET_VP_STATE"},
    {0x00e4, "HvCallSetVpState", "HVCALL_SET_VP_STATE"},
    {0x00f4, "HvCallGetVpCpuidValues", "HVCALL_GET_VP_CPUID_VALUES"},
    {0x0101, "HvCallGetPartitionPropertyEx", "HVCALL_GET_PARTITION_PROPERTY_EX"},
    {0x0106, "HvCallMmioRead", "HVCALL_MMIO_READ"},
    {0x0107, "HvCallMmioWrite", "HVCALL_MMIO_WRITE"},
    {0x010f, "HvCallDisableHypEx", "HVCALL_DISABLE_HYP_EX"},
    {0x0131, "HvCallMapStatsPage2", "HVCALL_MAP_STATS_PAGE2"},
    {0x8001, "HvExtCallQueryCapabilities", "HV_EXT_CALL_QUERY_CAPABILITIES"},
    {0x8003, "HvExtCallMemoryHeatHint", "HV_EXT_CALL_MEMORY_HEAT_HINT"},
};

// include/xen/interface/xen.h: every __HYPERVISOR_* (Linux 6.1 through
// 7.x list the same; 11 and 42..47 are unassigned).
constexpr HypercallName kXen[] = {
    {0, "__HYPERVISOR_set_trap_table", nullptr},
    {1, "__HYPERVISOR_mmu_update", nullptr},
    {2, "__HYPERVISOR_set_gdt", nullptr},
    {3, "__HYPERVISOR_stack_switch", nullptr},
    {4, "__HYPERVISOR_set_callbacks", nullptr},
    {5, "__HYPERVISOR_fpu_taskswitch", nullptr},
    {6, "__HYPERVISOR_sched_op_compat", nullptr},
    {7, "__HYPERVISOR_platform_op", nullptr},
    {8, "__HYPERVISOR_set_debugreg", nullptr},
    {9, "__HYPERVISOR_get_debugreg", nullptr},
    {10, "__HYPERVISOR_update_descriptor", nullptr},
    {12, "__HYPERVISOR_memory_op", nullptr},
    {13, "__HYPERVISOR_multicall", nullptr},
    {14, "__HYPERVISOR_update_va_mapping", nullptr},
    {15, "__HYPERVISOR_set_timer_op", nullptr},
    {16, "__HYPERVISOR_event_channel_op_compat", nullptr},
    {17, "__HYPERVISOR_xen_version", nullptr},
    {18, "__HYPERVISOR_console_io", nullptr},
    {19, "__HYPERVISOR_physdev_op_compat", nullptr},
    {20, "__HYPERVISOR_grant_table_op", nullptr},
    {21, "__HYPERVISOR_vm_assist", nullptr},
    {22, "__HYPERVISOR_update_va_mapping_otherdomain", nullptr},
    {23, "__HYPERVISOR_iret", nullptr},
    {24, "__HYPERVISOR_vcpu_op", nullptr},
    {25, "__HYPERVISOR_set_segment_base", nullptr},
    {26, "__HYPERVISOR_mmuext_op", nullptr},
    {27, "__HYPERVISOR_xsm_op", nullptr},
    {28, "__HYPERVISOR_nmi_op", nullptr},
    {29, "__HYPERVISOR_sched_op", nullptr},
    {30, "__HYPERVISOR_callback_op", nullptr},
    {31, "__HYPERVISOR_xenoprof_op", nullptr},
    {32, "__HYPERVISOR_event_channel_op", nullptr},
    {33, "__HYPERVISOR_physdev_op", nullptr},
    {34, "__HYPERVISOR_hvm_op", nullptr},
    {35, "__HYPERVISOR_sysctl", nullptr},
    {36, "__HYPERVISOR_domctl", nullptr},
    {37, "__HYPERVISOR_kexec_op", nullptr},
    {38, "__HYPERVISOR_tmem_op", nullptr},
    {39, "__HYPERVISOR_xc_reserved_op", nullptr},
    {40, "__HYPERVISOR_xenpmu_op", nullptr},
    {41, "__HYPERVISOR_dm_op", nullptr},
    {48, "__HYPERVISOR_arch_0", nullptr},
    {49, "__HYPERVISOR_arch_1", nullptr},
    {50, "__HYPERVISOR_arch_2", nullptr},
    {51, "__HYPERVISOR_arch_3", nullptr},
    {52, "__HYPERVISOR_arch_4", nullptr},
    {53, "__HYPERVISOR_arch_5", nullptr},
    {54, "__HYPERVISOR_arch_6", nullptr},
    {55, "__HYPERVISOR_arch_7", nullptr},
};

// clang-format on

constexpr HypercallTable kTables[] = {
    {kKvm, std::size(kKvm), "include/uapi/linux/kvm_para.h"},
    {kHyperv, std::size(kHyperv), "include/hyperv/hvgdk_mini.h, include/hyperv/hvgdk_ext.h"},
    {kXen, std::size(kXen), "include/xen/interface/xen.h"},
};

}  // namespace

const HypercallTable& hypercall_table(HypercallAbi abi) { return kTables[static_cast<std::size_t>(abi)]; }

}  // namespace hypertrace
