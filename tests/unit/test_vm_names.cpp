// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// VMs by name (userspace/vm/): each source's parser on real-looking and
// malformed input, the resolver's order, caching and pid-reuse check on a
// fake /proc tree, --vm matching, and the VM fields the record writers add.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "fake_host.h"
#include "output/record_format.h"
#include "output/vm_columns.h"
#include "ring_producer.h"
#include "vm/cgroup_scope.h"
#include "vm/libvirt_status.h"
#include "vm/qemu_cmdline.h"
#include "vm/thread_name.h"
#include "vm/vm_filter.h"
#include "vm/vm_resolver.h"

using namespace hypertrace;
using hypertrace::testing::FakeHost;
using hypertrace::testing::nul_joined;
using hypertrace::testing::stat_line;

namespace {

// A libvirt status file as libvirtd writes it (the shape of libvirt's
// tests/qemustatusxml2xmldata/*-in.xml, with the header comment of
// /run/libvirt/qemu/*.xml): <domain>'s own <vcpu> is a count, not the map.
std::string status_xml(std::uint32_t pid, const std::string& name, const std::string& uuid,
                       const std::vector<std::pair<std::uint32_t, std::uint32_t>>& vcpus)
{
    std::string x =
        "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
        "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
        "  virsh edit " +
        name + "\nor other application using the libvirt API.\n-->\n\n" +
        "<domstatus state='running' reason='booted' pid='" + std::to_string(pid) +
        "'>\n  <taint flag='high-privileges'/>\n"
        "  <monitor path='/var/lib/libvirt/qemu/domain-1-x/monitor.sock' type='unix'/>\n  <vcpus>\n";
    for (const auto& [tid, id] : vcpus)
        x += "    <vcpu id='" + std::to_string(id) + "' pid='" + std::to_string(tid) + "'/>\n";
    x += "  </vcpus>\n  <qemuCaps>\n    <flag name='kvm'/>\n  </qemuCaps>\n  <allowReboot value='yes'/>\n"
         "  <agentTimeout>-2</agentTimeout>\n  <domain type='kvm' id='7'>\n    <name>" +
         name + "</name>\n    <uuid>" + uuid + "</uuid>\n    <memory unit='KiB'>219100</memory>\n" +
         "    <vcpu placement='static'>" + std::to_string(vcpus.size()) +
         "</vcpu>\n    <os>\n      <type arch='x86_64' machine='q35'>hvm</type>\n    </os>\n  </domain>\n"
         "</domstatus>\n";
    return x;
}

constexpr const char* kUuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809";

}  // namespace

// ---- libvirt -------------------------------------------------------------

TEST(LibvirtStatus, RealLookingFile)
{
    const LibvirtStatus s = parse_libvirt_status(status_xml(
        3803518, "QEMUGuest1", "C7A5FDBD-EDAF-9455-926a-d65c16db1809", {{3803519, 0}, {3803520, 1}, {3803521, 2}}));
    EXPECT_EQ(s.pid, 3803518u);
    EXPECT_EQ(s.name, "QEMUGuest1");
    EXPECT_EQ(s.uuid, kUuid);  // canonical: lowercase
    ASSERT_EQ(s.vcpus.size(), 3u);
    EXPECT_EQ(s.vcpus[2], std::make_pair(3803521u, 2u));
}

TEST(LibvirtStatus, EntitiesAndNoVcpus)
{
    const LibvirtStatus s =
        parse_libvirt_status("<domstatus pid='12'><domain><name>web &amp; db&apos;s</name></domain></domstatus>");
    EXPECT_EQ(s.name, "web & db's");
    EXPECT_EQ(s.uuid, "");
    EXPECT_TRUE(s.vcpus.empty());
}

TEST(LibvirtStatus, Malformed)
{
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"<domstatus pid='12'><domain><name>x</name></domain>", "not XML"},
        {"<domain><name>x</name></domain>", "no <domstatus>"},
        {"<domstatus><domain><name>x</name></domain></domstatus>", "no pid"},
        {"<domstatus pid='-3'><domain><name>x</name></domain></domstatus>", "is not a number"},
        {"<domstatus pid='12'></domstatus>", "no <domain>"},
        {"<domstatus pid='12'><domain><uuid>" + std::string(kUuid) + "</uuid></domain></domstatus>", "no <name>"},
        {"<domstatus pid='12'><domain><name>x</name><uuid>1234</uuid></domain></domstatus>", "not a UUID"},
        {"<domstatus pid='12'><vcpus><vcpu id='0'/></vcpus><domain><name>x</name></domain></domstatus>", "no pid"},
        {"<domstatus pid='12'><vcpus><vcpu id='z' pid='3'/></vcpus><domain><name>x</name></domain></domstatus>",
         "is not a number"},
    };
    for (const auto& [xml, says] : bad) {
        try {
            parse_libvirt_status(xml);
            ADD_FAILURE() << "accepted: " << xml;
        } catch (const MalformedSource& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what() << " for " << xml;
        }
    }
}

// ---- QEMU's command line ---------------------------------------------------

TEST(QemuCmdline, GuestKeyAndDebugThreads)
{
    const auto c = parse_qemu_cmdline(nul_joined(
        {"/usr/bin/qemu-system-x86_64", "-name", "guest=web1,debug-threads=on", "-S", "-uuid", kUuid, "-m", "2048"}));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->name, "web1");
    EXPECT_EQ(c->uuid, kUuid);
}

TEST(QemuCmdline, PlainFirstTokenAndCommaEscapes)
{
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "lab,,vm 1"}))->name, "lab,vm 1");
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "a,,,,b,process=qemu-a"}))->name, "a,,b");
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "guest=x,,y,debug-threads=on"}))->name, "x,y");
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "debug-threads=on,guest=late"}))->name, "late");
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "guest=a=b"}))->name, "a=b");
    // The last -name wins, as QEMU merges its "name" options.
    EXPECT_EQ(parse_qemu_cmdline(nul_joined({"qemu", "-name", "one", "--name", "guest=two"}))->name, "two");
    EXPECT_EQ(qemu_name_option_guest("debug-threads=on"), "");
}

TEST(QemuCmdline, NoNameIsNotAVmName)
{
    EXPECT_FALSE(parse_qemu_cmdline(""));  // zombie, kernel thread
    EXPECT_FALSE(parse_qemu_cmdline(nul_joined({"/usr/sbin/sshd", "-D"})));
    EXPECT_FALSE(parse_qemu_cmdline(nul_joined({"qemu", "-uuid", kUuid})));  // a UUID alone names nothing
    EXPECT_FALSE(parse_qemu_cmdline(nul_joined({"-name"})));                 // argv[0] is the program
}

TEST(QemuCmdline, Malformed)
{
    for (const std::string& raw :
         {nul_joined({"qemu", "-name"}), nul_joined({"qemu", "-name", "guest=,debug-threads=on"}),
          nul_joined({"qemu", "-name", "debug-threads=on"}), nul_joined({"qemu", "-name", "x", "-uuid", "1234"}),
          nul_joined({"qemu", "-name", "x", "-uuid"})}) {
        EXPECT_THROW(parse_qemu_cmdline(raw), MalformedSource) << raw;
    }
}

// ---- cgroup ------------------------------------------------------------------

TEST(CgroupScope, V2LibvirtScope)
{
    const auto m = parse_machine_cgroup("0::/machine.slice/machine-qemu\\x2d3\\x2dweb\\x2d1.scope/libvirt/emulator\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->machine, "qemu-3-web-1");
    EXPECT_EQ(m->name, "web-1");
    EXPECT_EQ(m->domain_id, 3u);
}

TEST(CgroupScope, V1LinesEmbedAndCut)
{
    const auto m = parse_machine_cgroup(
        "12:pids:/\n11:cpu,cpuacct:/machine.slice/"
        "machine-qemu\\x2dembed\\x2d1a2b3c4d\\x2d12\\x2dvery.long.name.scope/vcpu0\n1:name=systemd:/\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->name, "very.long.name");
    EXPECT_EQ(m->domain_id, 12u);
    // libvirt cuts the machine name at 64 bytes: the name part is what is left.
    const std::string cut = "qemu-4-" + std::string(57, 'a');
    std::string esc = cut;
    esc.replace(4, 1, "\\x2d").replace(esc.find('-'), 1, "\\x2d");
    const auto c = parse_machine_cgroup("0::/machine.slice/machine-" + esc + ".scope\n");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->name, std::string(57, 'a'));
}

TEST(CgroupScope, NotAQemuScope)
{
    EXPECT_FALSE(parse_machine_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"));
    EXPECT_FALSE(parse_machine_cgroup("0::/machine.slice/machine-debian\\x2dcontainer.scope/payload\n"));  // nspawn
    EXPECT_FALSE(parse_machine_cgroup(""));
    EXPECT_FALSE(parse_machine_cgroup("garbage without colons\n"));
}

TEST(CgroupScope, Malformed)
{
    EXPECT_THROW(parse_machine_cgroup("0::/machine.slice/machine-qemu\\x2dX\\x2dweb.scope\n"), MalformedSource);
    EXPECT_THROW(parse_machine_cgroup("0::/machine.slice/machine-qemu\\x2dweb.scope\n"), MalformedSource);
    EXPECT_THROW(parse_machine_cgroup("0::/machine.slice/machine-qemu\\x2g3\\x2dweb.scope\n"), MalformedSource);
    EXPECT_THROW(unescape_unit_name("a\\x2"), MalformedSource);
}

// ---- thread names, start times ----------------------------------------------

TEST(ThreadName, CpuNKvm)
{
    EXPECT_EQ(vcpu_index_from_thread_name("CPU 0/KVM\n"), 0u);
    EXPECT_EQ(vcpu_index_from_thread_name("CPU 37/KVM"), 37u);
    EXPECT_FALSE(vcpu_index_from_thread_name("CPU 01/KVM"));
    EXPECT_FALSE(vcpu_index_from_thread_name("CPU /KVM"));
    EXPECT_FALSE(vcpu_index_from_thread_name("CPU 1/TCG"));
    EXPECT_FALSE(vcpu_index_from_thread_name("qemu-system-x86"));
    EXPECT_FALSE(vcpu_index_from_thread_name("CPU -1/KVM"));
}

TEST(ProcStat, StartTimeAfterTheLastParen)
{
    EXPECT_EQ(proc_start_time(stat_line(42, "a) (b c", 987654321)), 987654321u);
    EXPECT_FALSE(proc_start_time("42 (x) S 1 2"));
    EXPECT_FALSE(proc_start_time("no paren at all"));
}

// ---- the resolver ------------------------------------------------------------

TEST(VmResolver, SourcesInOrder)
{
    FakeHost h;
    std::vector<std::string> warnings;
    // 100: libvirt (and a cmdline that says otherwise), 200: cmdline,
    // 300: cgroup only, 400: nothing.
    h.process(100, 5, nul_joined({"qemu", "-name", "guest=cmdline-name"}));
    h.write(h.libvirt() + "/lv.xml", status_xml(100, "lv", kUuid, {{101, 0}, {102, 1}}));
    h.write(h.libvirt() + "/lv.pid", "100");
    h.process(200, 6, nul_joined({"qemu", "-name", "guest=cmd,,line,debug-threads=on", "-uuid", kUuid}));
    h.thread(200, 201, "CPU 3/KVM");
    h.process(300, 7, nul_joined({"qemu", "-m", "1G"}), "0::/machine.slice/machine-qemu\\x2d9\\x2dcg.scope\n");
    h.process(400, 8, nul_joined({"qemu"}));
    VmResolver r(h.config(&warnings));

    VmThread t = r.lookup(100, 102);
    EXPECT_EQ(t.vm->source, VmSource::Libvirt);
    EXPECT_EQ(t.vm->name, "lv");
    EXPECT_EQ(t.vm->uuid, kUuid);
    EXPECT_EQ(t.vcpu_index, 1u);  // libvirt's map
    t = r.lookup(200, 201);
    EXPECT_EQ(t.vm->source, VmSource::Cmdline);
    EXPECT_EQ(t.vm->name, "cmd,line");
    EXPECT_EQ(t.vcpu_index, 3u);  // the thread name
    t = r.lookup(300, 300);
    EXPECT_EQ(t.vm->source, VmSource::Cgroup);
    EXPECT_EQ(t.vm->name, "cg");
    EXPECT_FALSE(t.vcpu_index);
    t = r.lookup(400, 400);
    EXPECT_EQ(t.vm->source, VmSource::None);
    EXPECT_EQ(t.vm->name, "");
    t = r.lookup(999, 999);  // gone before we looked: shown by pid
    EXPECT_EQ(t.vm->source, VmSource::None);
    EXPECT_TRUE(warnings.empty());
}

TEST(VmResolver, MalformedSourcesWarnOnceAndFallThrough)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "guest=fallback"}));
    h.write(h.libvirt() + "/broken.xml", "<domstatus pid='100'><domain><name>x</name>");
    h.process(200, 5, nul_joined({"qemu", "-name"}), "0::/machine.slice/machine-qemu\\x2d2\\x2dfrom\\x2dcg.scope\n");
    VmResolver r(h.config(&warnings));
    EXPECT_EQ(r.lookup(100, 100).vm->name, "fallback");
    EXPECT_EQ(r.lookup(100, 101).vm->name, "fallback");  // new thread: the directory is looked at again
    const VmThread t = r.lookup(200, 200);
    EXPECT_EQ(t.vm->source, VmSource::Cgroup);
    EXPECT_EQ(t.vm->name, "from-cg");
    r.lookup(200, 201);
    ASSERT_EQ(warnings.size(), 2u) << ::testing::PrintToString(warnings);
    EXPECT_NE(warnings[0].find("broken.xml is malformed"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("command line of pid 200 is malformed"), std::string::npos) << warnings[1];
}

TEST(VmResolver, PidReuseIsNoticedOnANewThread)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "first"}));
    VmResolver r(h.config(&warnings));
    EXPECT_EQ(r.lookup(100, 101).vm->name, "first");
    const std::uint64_t epoch = r.epoch();
    // The VM exits; another one gets pid 100 (a later start time).
    h.process(100, 77, nul_joined({"qemu", "-name", "second"}));
    EXPECT_EQ(r.lookup(100, 101).vm->name, "first");  // a known thread: cached, no file read
    EXPECT_EQ(r.lookup(100, 105).vm->name, "second");
    EXPECT_GT(r.epoch(), epoch);
    // Same start time: a new thread of the same process changes nothing.
    const std::uint64_t e2 = r.epoch();
    EXPECT_EQ(r.lookup(100, 106).vm->name, "second");
    EXPECT_EQ(r.epoch(), e2);
}

TEST(VmResolver, LateStatusFileUpgrades)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "guest=web,debug-threads=on"}));
    VmResolver r(h.config(&warnings));
    EXPECT_EQ(r.lookup(100, 101).vm->source, VmSource::Cmdline);
    h.write(h.libvirt() + "/web.xml", status_xml(100, "web", kUuid, {{101, 0}, {102, 1}}));
    const VmThread t = r.lookup(100, 102);
    EXPECT_EQ(t.vm->source, VmSource::Libvirt);
    EXPECT_EQ(t.vcpu_index, 1u);
}

TEST(VmResolver, ScanRenamesAReusedPidAndForgetsGoneUnnamed)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "first"}));
    h.process(200, 5, nul_joined({"bash"}));
    VmResolver r(h.config(&warnings));
    r.scan_processes();
    EXPECT_EQ(r.vm(100).name, "first");
    h.process(100, 9, nul_joined({"qemu", "-name", "second"}));
    std::system(("rm -rf '" + h.proc() + "/200'").c_str());
    r.scan_processes();
    EXPECT_EQ(r.vm(100).name, "second");
    EXPECT_EQ(r.named().size(), 1u);
}

TEST(VmResolver, ScanFindsRunningVms)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "a"}));
    h.process(200, 5, nul_joined({"bash"}));
    VmResolver r(h.config(&warnings));
    r.scan_processes();
    const auto named = r.named();
    ASSERT_EQ(named.size(), 1u);
    EXPECT_EQ(named[0].first, 100u);
    EXPECT_EQ(named[0].second->name, "a");
}

TEST(VmFilter, NameOrUuid)
{
    VmIdentity vm;
    vm.source = VmSource::Cmdline;
    vm.name = "web1";
    vm.uuid = kUuid;
    EXPECT_TRUE(VmFilter({"web1"}).matches(vm));
    EXPECT_TRUE(VmFilter({"db", "web1"}).matches(vm));
    EXPECT_FALSE(VmFilter({"Web1"}).matches(vm));
    EXPECT_TRUE(VmFilter({"C7A5FDBD-EDAF-9455-926A-D65C16DB1809"}).matches(vm));
    EXPECT_FALSE(VmFilter({"c7a5fdbd-edaf-9455-926a-d65c16db1800"}).matches(vm));
    VmIdentity none;
    EXPECT_FALSE(VmFilter({""}).matches(none));
    EXPECT_FALSE(VmFilter().active());
}

// ---- the writers' VM fields --------------------------------------------------

namespace {

// The ring tests' record (latency 2000 ns) of another VM thread, vcpu_id 2.
ht_record record(std::uint32_t pid, std::uint32_t tid)
{
    ht_record r = hypertrace::testing::make_test_record(0);
    r.pid = pid;
    r.tid = tid;
    r.vcpu_id = 2;
    return r;
}

std::string render(Format f, VmColumns& cols, std::initializer_list<ht_record> recs)
{
    std::ostringstream out;
    auto w = make_record_writer(f, out, TimeBase{0, 0, false}, &cols);
    for (const ht_record& r : recs)
        w->write(r);
    w->finish();
    return out.str();
}

}  // namespace

TEST(VmColumns, JsonCsvTextFields)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "guest=lab,,\"q\" \xff,debug-threads=on", "-uuid", kUuid}));
    h.thread(100, 101, "CPU 1/KVM");
    h.process(200, 5, nul_joined({"qemu"}));
    VmResolver r(h.config(&warnings));

    VmColumns json(Format::Json, &r);
    std::istringstream lines(render(Format::Json, json, {record(100, 101), record(200, 201)}));
    std::string line;
    std::vector<boost::property_tree::ptree> objs;
    while (std::getline(lines, line)) {
        boost::property_tree::ptree pt;
        std::istringstream in(line);
        ASSERT_NO_THROW(boost::property_tree::read_json(in, pt)) << line;
        objs.push_back(pt);
        // Appended after every existing field: the hypercall's name, then
        // record v2's fields (served_by last of those).
        EXPECT_NE(line.find("\"latency_ns\":2000,\"name\":null,\"abi\":\"kvm\","), std::string::npos) << line;
        EXPECT_NE(line.find(",\"served_by\":\"kernel\",\"vm\":"), std::string::npos) << line;
    }
    ASSERT_EQ(objs.size(), 2u);
    EXPECT_EQ(objs[0].get<std::string>("vm"), "lab,\"q\" \xef\xbf\xbd");  // invalid byte -> U+FFFD
    EXPECT_EQ(objs[0].get<std::string>("vm_uuid"), kUuid);
    EXPECT_EQ(objs[0].get<std::string>("vm_source"), "cmdline");
    EXPECT_EQ(objs[0].get<std::string>("vcpu_index"), "1");
    EXPECT_EQ(objs[0].get<std::string>("vcpu"), "2");  // KVM's vcpu_id beside it
    EXPECT_EQ(objs[1].get<std::string>("vm"), "null");
    EXPECT_EQ(objs[1].get<std::string>("vm_source"), "none");
    EXPECT_EQ(objs[1].get<std::string>("vcpu_index"), "null");

    VmColumns csv(Format::Csv, &r);
    const std::string c = render(Format::Csv, csv, {record(100, 101), record(200, 201)});
    EXPECT_NE(c.find(",vmm_ns,served_by,vm,vm_uuid,vm_source,vcpu_index\n"), std::string::npos) << c;
    EXPECT_NE(c.find(",,kernel,\"lab,\"\"q\"\" \xef\xbf\xbd\"," + std::string(kUuid) + ",cmdline,1\n"),
              std::string::npos)
        << c;
    EXPECT_NE(c.find(",,kernel,,,none,\n"), std::string::npos) << c;

    VmColumns text(Format::Text, &r);
    const std::string t = render(Format::Text, text, {record(100, 101), record(200, 201)});
    EXPECT_NE(t.find("LAT(us) ABI       VMM(us) VIDX VM\n"), std::string::npos) << t;
    EXPECT_NE(t.find("      2.000 kvm             - 1    lab,\"q\" \xef\xbf\xbd\n"), std::string::npos) << t;
    EXPECT_NE(t.find("      2.000 kvm             - ?    -\n"), std::string::npos) << t;
}

// All three appended parts at once: a Hyper-V call the VMM served, then a
// KVM call with the same nr on the same thread of a named VM.  The name
// follows the ABI (0x5c is HvCallPostMessage in Hyper-V's table, nothing in
// KVM's), record v2's fields come before the VM's, and the VM (with a space)
// stays the text line's rest.
TEST(VmColumns, HypervRecordOfANamedVm)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "guest=lab vm,debug-threads=on", "-uuid", kUuid}));
    h.thread(100, 101, "CPU 1/KVM");
    VmResolver r(h.config(&warnings));
    ht_record hv = record(100, 101), kvm = record(100, 101);
    hv.abi = HT_ABI_HYPERV;
    hv.nr = kvm.nr = 0x5c;
    hv.flags |= HT_REC_F_VMM_SERVED;
    hv.t_userspace_exit_ns = 2500;  // VMM part: entry (3000) - this
    hv.uexit_reason = HT_KVM_EXIT_HYPERV;

    VmColumns text(Format::Text, &r);
    std::istringstream lines(render(Format::Text, text, {hv, kvm}));
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_NE(line.find(" LAT(us) ABI       VMM(us) VIDX VM"), std::string::npos) << line;
    const std::vector<std::vector<std::string>> want = {{"HvCallPostMessage", "hyperv", "0.500"}, {"-", "kvm", "-"}};
    for (const auto& w : want) {
        ASSERT_TRUE(std::getline(lines, line));
        std::istringstream in(line);
        std::vector<std::string> f{std::istream_iterator<std::string>(in), {}};
        ASSERT_EQ(f.size(), 19u) << line;  // 17 columns, then "lab vm"
        EXPECT_EQ(std::vector<std::string>({f[5], f[14], f[15]}), w) << line;
        EXPECT_EQ(f[16], "1") << line;
        EXPECT_EQ(line.substr(line.size() - 7), " lab vm") << line;
    }

    VmColumns json(Format::Json, &r);
    const std::string j = render(Format::Json, json, {hv, kvm});
    EXPECT_NE(j.find("\"name\":\"HvCallPostMessage\",\"abi\":\"hyperv\","), std::string::npos) << j;
    EXPECT_NE(j.find(",\"uexit_reason\":27,\"vmm_ns\":500,\"served_by\":\"vmm\",\"vm\":\"lab vm\",\"vm_uuid\":\"" +
                     std::string(kUuid) + "\",\"vm_source\":\"cmdline\",\"vcpu_index\":1}\n"),
              std::string::npos)
        << j;
    EXPECT_NE(j.find("\"name\":null,\"abi\":\"kvm\","), std::string::npos) << j;

    VmColumns csv(Format::Csv, &r);
    const std::string c = render(Format::Csv, csv, {hv});
    EXPECT_NE(c.find(",HvCallPostMessage,hyperv,"), std::string::npos) << c;
    EXPECT_NE(c.find(",2500,27,500,vmm,lab vm," + std::string(kUuid) + ",cmdline,1\n"), std::string::npos) << c;
}

TEST(VmColumns, CgroupNameIsMarkedAndFilterKeeps)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(300, 5, nul_joined({"qemu"}), "0::/machine.slice/machine-qemu\\x2d9\\x2dcg.scope\n");
    h.process(400, 5, nul_joined({"qemu", "-name", "other"}));
    VmResolver r(h.config(&warnings));
    const VmFilter f({"cg"});
    VmColumns cols(Format::Text, &r, &f);
    EXPECT_TRUE(cols.get(300, 300).keep);
    EXPECT_EQ(cols.get(300, 300).text, " ?    cg (cgroup)");
    EXPECT_FALSE(cols.get(400, 400).keep);
    EXPECT_FALSE(cols.get(500, 500).keep);  // unnamed: --vm cannot keep it
    VmColumns all(Format::Text, &r);
    EXPECT_TRUE(all.get(500, 500).keep);
}

TEST(VmColumns, ReusedPidRemakesTails)
{
    FakeHost h;
    std::vector<std::string> warnings;
    h.process(100, 5, nul_joined({"qemu", "-name", "first"}));
    VmResolver r(h.config(&warnings));
    VmColumns cols(Format::Text, &r);
    EXPECT_EQ(cols.get(100, 101).text, " ?    first");
    h.process(100, 9, nul_joined({"qemu", "-name", "second"}));
    EXPECT_EQ(cols.get(100, 102).text, " ?    second");
    EXPECT_EQ(cols.get(100, 101).text, " ?    second");  // remade after the epoch moved
}
