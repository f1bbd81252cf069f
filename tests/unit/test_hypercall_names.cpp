// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// names/: the hypercall name tables, lookups both ways, --list-hypercalls.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>

#include "names/hypercall_abi.h"
#include "names/hypercall_listing.h"
#include "names/hypercall_lookup.h"
#include "names/hypercall_tables.h"

using namespace hypertrace;

namespace {

std::string upper(std::string s)
{
    for (char& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s)
{
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST(HypercallAbi, NamesAndPrefixes)
{
    EXPECT_STREQ(abi_name(HypercallAbi::Kvm), "kvm");
    EXPECT_STREQ(abi_name(HypercallAbi::Hyperv), "hyperv");
    EXPECT_STREQ(abi_name(HypercallAbi::Xen), "xen");
    EXPECT_STREQ(abi_prefix(HypercallAbi::Hyperv), "hv");
    EXPECT_EQ(parse_abi("kvm"), HypercallAbi::Kvm);
    EXPECT_EQ(parse_abi("HV"), HypercallAbi::Hyperv);
    EXPECT_EQ(parse_abi("HyperV"), HypercallAbi::Hyperv);
    EXPECT_EQ(parse_abi("Xen"), HypercallAbi::Xen);
    for (const char* bad : {"", "k", "kvm:", "hyper-v", "x en", "xen2"})
        EXPECT_FALSE(parse_abi(bad)) << bad;
}

// Every table: sorted by nr, no nr twice, no name (nor Linux name) twice
// within or across ABIs (an unprefixed -n name must find one ABI), names
// of [A-Za-z0-9_] (JSON and CSV print them unescaped), and every entry found
// again by its number and, in any case, by its name.
TEST(HypercallTables, EveryEntryRoundTrips)
{
    std::set<std::string> all_names;
    for (HypercallAbi abi : kHypercallAbis) {
        const HypercallTable& t = hypercall_table(abi);
        ASSERT_GT(t.size, 0u) << abi_name(abi);
        std::set<std::uint32_t> nrs;
        for (std::size_t i = 0; i < t.size; i++) {
            const HypercallName& e = t.entries[i];
            if (i) {  // braces: EXPECT_* is an if/else of its own (-Wdangling-else)
                EXPECT_LT(t.entries[i - 1].nr, e.nr) << e.name << ": not sorted";
            }
            EXPECT_TRUE(nrs.insert(e.nr).second) << e.name << ": nr twice";
            for (const char* n : {e.name, e.linux_name}) {
                if (!n)
                    continue;
                EXPECT_TRUE(all_names.insert(lower(n)).second) << n << ": name twice";
                for (const char* c = n; *c; c++)
                    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(*c)) || *c == '_') << n;
                EXPECT_EQ(find_hypercall(abi, n), &e) << n;
                EXPECT_EQ(find_hypercall(abi, upper(n)), &e) << n;
                EXPECT_EQ(find_hypercall(abi, lower(n)), &e) << n;
            }
            EXPECT_EQ(hypercall_name(abi, e.nr), e.name) << e.name;
            EXPECT_EQ(e.linux_name != nullptr, abi == HypercallAbi::Hyperv) << e.name;
        }
    }
}

// Spot checks against the headers (hypercall_tables.cpp names them).
TEST(HypercallTables, HeaderValues)
{
    // include/uapi/linux/kvm_para.h: 1..12, nothing else.
    const HypercallTable& kvm = hypercall_table(HypercallAbi::Kvm);
    EXPECT_EQ(kvm.size, 12u);
    EXPECT_EQ(kvm.entries[0].nr, 1u);
    EXPECT_EQ(kvm.entries[11].nr, 12u);
    // Hyper-V: Linux's HVCALL_* values, the TLFS's names.
    struct {
        std::uint32_t code;
        const char* tlfs;
        const char* linux_name;
    } hv[] = {
        {0x0002, "HvCallFlushVirtualAddressSpace", "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE"},
        {0x0003, "HvCallFlushVirtualAddressList", "HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST"},
        {0x0008, "HvCallNotifyLongSpinWait", "HVCALL_NOTIFY_LONG_SPIN_WAIT"},
        {0x000b, "HvCallSendSyntheticClusterIpi", "HVCALL_SEND_IPI"},
        {0x0013, "HvCallFlushVirtualAddressSpaceEx", "HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX"},
        {0x0014, "HvCallFlushVirtualAddressListEx", "HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX"},
        {0x0015, "HvCallSendSyntheticClusterIpiEx", "HVCALL_SEND_IPI_EX"},
        {0x005c, "HvCallPostMessage", "HVCALL_POST_MESSAGE"},
        {0x005d, "HvCallSignalEvent", "HVCALL_SIGNAL_EVENT"},
        {0x007e, "HvCallRetargetDeviceInterrupt", "HVCALL_RETARGET_INTERRUPT"},
        {0x0099, "HvCallStartVirtualProcessor", "HVCALL_START_VP"},
        {0x009a, "HvCallGetVpIndexFromApicId", "HVCALL_GET_VP_INDEX_FROM_APIC_ID"},
        {0x00af, "HvCallFlushGuestPhysicalAddressSpace", "HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE"},
        {0x00b0, "HvCallFlushGuestPhysicalAddressList", "HVCALL_FLUSH_GUEST_PHYSICAL_ADDRESS_LIST"},
        {0x00db, "HvCallModifySparseGpaPageHostVisibility", "HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY"},
        {0x0131, "HvCallMapStatsPage2", "HVCALL_MAP_STATS_PAGE2"},
        {0x8001, "HvExtCallQueryCapabilities", "HV_EXT_CALL_QUERY_CAPABILITIES"},
        {0x8003, "HvExtCallMemoryHeatHint", "HV_EXT_CALL_MEMORY_HEAT_HINT"},
    };
    for (const auto& h : hv) {
        EXPECT_EQ(hypercall_name(HypercallAbi::Hyperv, h.code), h.tlfs);
        const HypercallName* e = find_hypercall(HypercallAbi::Hyperv, h.linux_name);
        ASSERT_NE(e, nullptr) << h.linux_name;
        EXPECT_EQ(e->nr, h.code) << h.linux_name;
    }
    EXPECT_EQ(hypercall_table(HypercallAbi::Hyperv).size, 72u);  // every code Linux 7.3 lists
    // include/xen/interface/xen.h: 0..41 but 11, then arch_0..7 at 48..55.
    EXPECT_EQ(hypercall_table(HypercallAbi::Xen).size, 49u);
    struct {
        HypercallAbi abi;
        std::uint32_t nr;
        const char* name;
    } named[] = {
        {HypercallAbi::Kvm, 1, "KVM_HC_VAPIC_POLL_IRQ"},
        {HypercallAbi::Kvm, 5, "KVM_HC_KICK_CPU"},
        {HypercallAbi::Kvm, 7, "KVM_HC_MIPS_EXIT_VM"},
        {HypercallAbi::Kvm, 9, "KVM_HC_CLOCK_PAIRING"},
        {HypercallAbi::Kvm, 10, "KVM_HC_SEND_IPI"},
        {HypercallAbi::Kvm, 11, "KVM_HC_SCHED_YIELD"},
        {HypercallAbi::Kvm, 12, "KVM_HC_MAP_GPA_RANGE"},
        {HypercallAbi::Xen, 0, "__HYPERVISOR_set_trap_table"},
        {HypercallAbi::Xen, 12, "__HYPERVISOR_memory_op"},
        {HypercallAbi::Xen, 29, "__HYPERVISOR_sched_op"},
        {HypercallAbi::Xen, 32, "__HYPERVISOR_event_channel_op"},
        {HypercallAbi::Xen, 34, "__HYPERVISOR_hvm_op"},
        {HypercallAbi::Xen, 41, "__HYPERVISOR_dm_op"},
        {HypercallAbi::Xen, 55, "__HYPERVISOR_arch_7"},
    };
    for (const auto& n : named)
        EXPECT_EQ(hypercall_name(n.abi, n.nr), n.name) << abi_name(n.abi) << " " << n.nr;
}

TEST(HypercallLookup, UnnamedNumbersAreEmpty)
{
    for (std::uint64_t nr : {0ull, 13ull, 42ull, 43ull, 0x1000ull, ~0ull})
        EXPECT_TRUE(hypercall_name(HypercallAbi::Kvm, nr).empty()) << nr;
    for (std::uint64_t nr : {0ull, 1ull, 0x5eull, 0x0fffull, 0x1000ull, 0x8000ull, 0x8002ull, 0xffffull, ~0ull})
        EXPECT_TRUE(hypercall_name(HypercallAbi::Hyperv, nr).empty()) << nr;
    for (std::uint64_t nr : {11ull, 42ull, 47ull, 56ull, ~0ull})
        EXPECT_TRUE(hypercall_name(HypercallAbi::Xen, nr).empty()) << nr;
    // The same number is another ABI's call.
    EXPECT_EQ(hypercall_name(HypercallAbi::Xen, 10), "__HYPERVISOR_update_descriptor");
    EXPECT_TRUE(hypercall_name(HypercallAbi::Hyperv, 10).empty());
}

// Every number up to past the tables' ends, through the index, equals a
// scan of the table: the dense array and the far list agree with it.
TEST(HypercallLookup, IndexEqualsTableScan)
{
    for (HypercallAbi abi : kHypercallAbis) {
        for (std::uint64_t nr = 0; nr < 0x8100; nr++) {
            std::string_view want;
            for (const HypercallName& e : hypercall_table(abi))
                if (e.nr == nr)
                    want = e.name;
            ASSERT_EQ(hypercall_name(abi, nr), want) << abi_name(abi) << " " << nr;
        }
    }
}

TEST(HypercallLookup, NameToNumber)
{
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, "kvm_hc_send_ipi")->nr, 10u);
    EXPECT_EQ(find_hypercall(HypercallAbi::Hyperv, "hvcallpostmessage")->nr, 0x5cu);
    EXPECT_EQ(find_hypercall(HypercallAbi::Hyperv, "HVCALL_POST_MESSAGE")->nr, 0x5cu);
    EXPECT_EQ(find_hypercall(HypercallAbi::Xen, "__HYPERVISOR_EVENT_CHANNEL_OP")->nr, 32u);
    // Each ABI's names are its own; no partial or fuzzy matches.
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, "HvCallPostMessage"), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Hyperv, "KVM_HC_SEND_IPI"), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, "KVM_HC_SEND_IP"), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, "SEND_IPI"), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, "KVM_HC_SEND_IPI "), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Xen, "event_channel_op"), nullptr);
    EXPECT_EQ(find_hypercall(HypercallAbi::Kvm, ""), nullptr);
}

TEST(HypercallLookup, ClosestNames)
{
    using V = std::vector<std::string>;
    EXPECT_EQ(closest_hypercall_names("KVM_HC_SEND_IP", std::nullopt)[0], "KVM_HC_SEND_IPI");
    EXPECT_EQ(closest_hypercall_names("kvm_hc_sched_yeild", std::nullopt)[0], "KVM_HC_SCHED_YIELD");
    EXPECT_EQ(closest_hypercall_names("send_ipi", std::nullopt, 1), V{"KVM_HC_SEND_IPI"});
    // Within one ABI only, and by the TLFS name when the Linux one is nearer.
    EXPECT_EQ(closest_hypercall_names("send_ipi", HypercallAbi::Hyperv, 2),
              (V{"HvCallSendSyntheticClusterIpi", "HvCallSendSyntheticClusterIpiEx"}));
    EXPECT_EQ(closest_hypercall_names("HvCallPostMesage", std::nullopt, 1), V{"HvCallPostMessage"});
    EXPECT_EQ(closest_hypercall_names("event_channel_op", HypercallAbi::Xen, 1), V{"__HYPERVISOR_event_channel_op"});
    EXPECT_EQ(closest_hypercall_names("x", HypercallAbi::Kvm, 3).size(), 3u);
    EXPECT_EQ(closest_hypercall_names("x", HypercallAbi::Kvm, 100).size(), 12u);
}

TEST(HypercallListing, EveryTableAndOne)
{
    std::ostringstream all, kvm, hv, xen;
    print_hypercall_tables(all, std::nullopt);
    print_hypercall_tables(kvm, HypercallAbi::Kvm);
    print_hypercall_tables(hv, HypercallAbi::Hyperv);
    print_hypercall_tables(xen, HypercallAbi::Xen);
    EXPECT_EQ(all.str(), kvm.str() + "\n" + hv.str() + "\n" + xen.str());
    EXPECT_EQ(kvm.str().rfind("kvm: KVM hypercalls (Linux include/uapi/linux/kvm_para.h)\n", 0), 0u) << kvm.str();
    EXPECT_NE(kvm.str().find("\n  10      KVM_HC_SEND_IPI\n"), std::string::npos) << kvm.str();
    EXPECT_NE(hv.str().find("\n  0x005c  HvCallPostMessage" + std::string(41 - 17, ' ') + "HVCALL_POST_MESSAGE\n"),
              std::string::npos)
        << hv.str();
    EXPECT_NE(hv.str().find("hv:NAME"), std::string::npos) << hv.str();
    EXPECT_NE(xen.str().find("\n  32      __HYPERVISOR_event_channel_op\n"), std::string::npos) << xen.str();
    // One line per entry, plus the heading, the "select with" line and the
    // column header.
    for (HypercallAbi abi : kHypercallAbis) {
        std::ostringstream one;
        print_hypercall_tables(one, abi);
        const std::string s = one.str();
        EXPECT_EQ(static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')), hypercall_table(abi).size + 3)
            << abi_name(abi);
        for (const HypercallName& e : hypercall_table(abi))
            EXPECT_NE(s.find(std::string(" ") + e.name), std::string::npos) << e.name;
    }
}
