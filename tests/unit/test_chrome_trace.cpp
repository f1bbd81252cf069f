// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// -f chrome (output/chrome_trace.h): the Trace Event Format's JSON Array
// Format, parsed back with a strict JSON parser (Boost.PropertyTree's):
// the keys every event needs, microsecond units with exact ns, phases
// nested inside their hypercall and hypercalls apart on each track, the
// names and args, escaping of VM names, and valid JSON however the run ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli/options.h"
#include "fake_host.h"
#include "output/chrome_trace.h"
#include "output/record_format.h"
#include "output/vm_columns.h"
#include "ring_producer.h"

using namespace hypertrace;
using boost::property_tree::ptree;

namespace {

// A KVM record of thread tid: exit at t0 ns, hypercall 1.5 us later, entry
// 2.25 us after that (so every ts has a fraction of a microsecond).
ht_record kvm_record(std::uint32_t tid, std::uint64_t t0, std::uint64_t nr = 42)
{
    ht_record r = hypertrace::testing::make_test_record(0);
    r.tid = tid;
    r.vcpu_id = tid - 100;
    r.nr = nr;
    r.a0 = 0x1000000 | tid;
    r.a1 = 0xa1;
    r.a2 = 0xa2;
    r.a3 = 0xffffffffffffffffull;  // above 2^53: only a string keeps it exact
    r.t_exit_ns = t0;
    r.t_hypercall_ns = t0 + 1500;
    r.t_entry_ns = t0 + 3750;
    return r;
}

std::string render(const std::vector<ht_record>& recs, VmColumns* cols = nullptr, bool finish = true)
{
    std::ostringstream out;
    auto w = make_record_writer(Format::Chrome, out, TimeBase{}, cols);
    for (const ht_record& r : recs)
        w->write(r);
    if (finish)
        w->finish();
    else
        w->flush();
    return out.str();
}

// The events of a JSON Array Format file; fails the test if it is not JSON.
std::vector<ptree> parse(const std::string& text)
{
    ptree root;
    std::istringstream in(text);
    try {
        boost::property_tree::read_json(in, root);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON: " << e.what() << "\n" << text;
        return {};
    }
    std::vector<ptree> events;
    for (const auto& [key, ev] : root) {
        EXPECT_EQ(key, "") << "the top level must be an array";
        events.push_back(ev);
    }
    return events;
}

// "1234.567" (microseconds, three decimals) -> 1234567 ns; exact, no double.
std::uint64_t ns_of(const std::string& us)
{
    const auto dot = us.find('.');
    EXPECT_NE(dot, std::string::npos) << us;
    EXPECT_EQ(us.size() - dot, 4u) << "three decimals: " << us;
    return std::stoull(us.substr(0, dot)) * 1000 + std::stoull(us.substr(dot + 1));
}

// A slice: a B/E pair of one track.
struct Span {
    std::string name, cat;
    std::uint64_t begin = 0, end = 0;  // ns
    std::size_t depth = 0;             // 0: a hypercall
    std::string parent;
    ptree args;
};

// Per track (tid), the slices in begin order, after checking the track is a
// proper tree in file order: ts never goes back, each "E" closes the
// innermost open slice of the same name, nothing is left open.
std::map<std::string, std::vector<Span>> spans(const std::vector<ptree>& events)
{
    std::map<std::string, std::vector<Span>> out;
    std::map<std::string, std::vector<std::size_t>> open;  // indices into out[tid]
    std::map<std::string, std::uint64_t> last;
    for (const ptree& e : events) {
        const std::string ph = e.get<std::string>("ph"), tid = e.get<std::string>("tid");
        if (ph != "B" && ph != "E")
            continue;
        const std::uint64_t ts = ns_of(e.get<std::string>("ts"));
        EXPECT_GE(ts, last[tid]) << "tid " << tid << ": ts goes back at " << e.get<std::string>("name");
        last[tid] = ts;
        std::vector<Span>& track = out[tid];
        std::vector<std::size_t>& stack = open[tid];
        if (ph == "B") {
            Span sp;
            sp.name = e.get<std::string>("name");
            sp.cat = e.get<std::string>("cat");
            sp.begin = ts;
            sp.depth = stack.size();
            sp.parent = stack.empty() ? "" : track[stack.back()].name;
            if (auto a = e.get_child_optional("args"))
                sp.args = *a;
            stack.push_back(track.size());
            track.push_back(sp);
            continue;
        }
        if (stack.empty()) {
            ADD_FAILURE() << "tid " << tid << ": E " << e.get<std::string>("name") << " closes nothing";
            continue;
        }
        EXPECT_EQ(track[stack.back()].name, e.get<std::string>("name")) << "tid " << tid << ": E closes another slice";
        track[stack.back()].end = ts;
        stack.pop_back();
    }
    for (const auto& [tid, stack] : open)
        EXPECT_TRUE(stack.empty()) << "tid " << tid << ": slices left open";
    return out;
}

// Each key's value in args, as text (JSON null as "null").
void expect_args(const ptree& args, const std::map<std::string, std::string>& want)
{
    for (const auto& [key, value] : want)
        EXPECT_EQ(args.get<std::string>(key, "<missing>"), value) << key;
}

std::vector<ptree> of(const std::vector<ptree>& events, const std::string& ph, const std::string& name = "")
{
    std::vector<ptree> out;
    for (const ptree& e : events)
        if (e.get<std::string>("ph") == ph && (name.empty() || e.get<std::string>("name") == name))
            out.push_back(e);
    return out;
}

}  // namespace

TEST(ChromeTrace, EveryEventHasTheRequiredKeysInMicroseconds)
{
    const std::vector<ptree> events = parse(render({kvm_record(101, 1234567891), kvm_record(102, 1234577000, 7)}));
    ASSERT_FALSE(events.empty());
    for (const ptree& e : events) {
        for (const char* key : {"ph", "ts", "pid", "tid", "name", "cat"})
            EXPECT_TRUE(e.get_child_optional(key)) << "no " << key;
        const std::string ph = e.get<std::string>("ph");
        EXPECT_TRUE(ph == "B" || ph == "E" || ph == "M") << ph;
        EXPECT_EQ(e.get<std::string>("pid"), "100");
    }
    const std::vector<ptree> begin = of(events, "B", "nr 42"), end = of(events, "E", "nr 42");
    ASSERT_EQ(begin.size(), 1u);
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(begin[0].get<std::string>("cat"), "hypercall");
    EXPECT_EQ(begin[0].get<std::string>("ts"), "1234567.891");  // CLOCK_MONOTONIC ns / 1000
    EXPECT_EQ(end[0].get<std::string>("ts"), "1234571.641");    // 3.75 us later
    EXPECT_EQ(begin[0].get<std::string>("tid"), "101");
    // A named hypercall is named so (KVM's table: 7 is KVM_HC_MIPS_EXIT_VM).
    ASSERT_EQ(of(events, "B", "KVM_HC_MIPS_EXIT_VM").size(), 1u);
    EXPECT_EQ(of(events, "B", "KVM_HC_MIPS_EXIT_VM")[0].get<std::string>("ts"), "1234577.000");

    // Metadata: the process by pid (no resolver here), each thread by its
    // vCPU and tid, sorted by vCPU.
    const std::vector<ptree> pname = of(events, "M", "process_name");
    ASSERT_EQ(pname.size(), 1u);
    EXPECT_EQ(pname[0].get<std::string>("args.name"), "pid 100");
    std::map<std::string, std::string> threads;
    for (const ptree& e : of(events, "M", "thread_name"))
        threads[e.get<std::string>("tid")] = e.get<std::string>("args.name");
    EXPECT_EQ(threads, (std::map<std::string, std::string>{{"101", "vCPU 1 (tid 101)"}, {"102", "vCPU 2 (tid 102)"}}));
    std::map<std::string, std::string> order;
    for (const ptree& e : of(events, "M", "thread_sort_index"))
        order[e.get<std::string>("tid")] = e.get<std::string>("args.sort_index");
    EXPECT_EQ(order, (std::map<std::string, std::string>{{"101", "1"}, {"102", "2"}}));
}

TEST(ChromeTrace, PhasesNestInsideTheirHypercallAndCallsNeverOverlapOnATrack)
{
    std::vector<ht_record> recs;
    std::uint64_t t = 5000000000;
    for (int i = 0; i < 20; i++) {
        // Two vCPU threads interleaved; every third call went to the VMM.
        ht_record r = kvm_record(101 + i % 2, t);
        if (i % 3 == 0) {
            r.t_userspace_exit_ns = r.t_hypercall_ns + 250;
            r.uexit_reason = HT_KVM_EXIT_HYPERCALL;
            r.flags |= HT_REC_F_VMM_SERVED;
        }
        recs.push_back(r);
        t += 2000 + 977 * static_cast<std::uint64_t>(i);  // the other thread's call overlaps this one
    }
    const std::map<std::string, std::vector<Span>> tracks = spans(parse(render(recs)));
    ASSERT_EQ(tracks.size(), 2u);
    std::size_t calls = 0, vmm = 0;
    for (const auto& [tid, slices] : tracks) {
        std::uint64_t last_end = 0;
        const Span* call = nullptr;
        for (const Span& sp : slices) {
            if (sp.depth == 0) {
                EXPECT_EQ(sp.name, "nr 42");
                EXPECT_GE(sp.begin, last_end) << "call on tid " << tid << " overlaps the one before";
                last_end = sp.end;
                call = &sp;
                calls++;
                continue;
            }
            ASSERT_NE(call, nullptr);
            EXPECT_GE(sp.begin, call->begin) << sp.name;
            EXPECT_LE(sp.end, call->end) << sp.name << " ends after its call";
            if (sp.name == "VMM") {
                EXPECT_EQ(sp.parent, "hypercall->entry");
                EXPECT_EQ(sp.depth, 2u);
                vmm++;
            } else {
                EXPECT_EQ(sp.parent, "nr 42") << sp.name;
            }
        }
    }
    EXPECT_EQ(calls, 20u);
    EXPECT_EQ(vmm, 7u);  // i = 0, 3, ..., 18

    // The phases' exact bounds, for the first (VMM-served) call.
    const ht_record& r = recs[0];
    using Bounds = std::pair<std::uint64_t, std::uint64_t>;
    std::map<std::string, Bounds> first;
    for (const Span& sp : tracks.at("101"))
        if (sp.begin <= r.t_entry_ns && !first.count(sp.name))
            first[sp.name] = {sp.begin, sp.end};
    EXPECT_EQ(first["nr 42"], Bounds(r.t_exit_ns, r.t_entry_ns));
    EXPECT_EQ(first["exit->hypercall"], Bounds(r.t_exit_ns, r.t_hypercall_ns));
    EXPECT_EQ(first["hypercall->entry"], Bounds(r.t_hypercall_ns, r.t_entry_ns));
    EXPECT_EQ(first["VMM"], Bounds(r.t_userspace_exit_ns, r.t_entry_ns));
}

TEST(ChromeTrace, ArgsPerAbi)
{
    ht_record kvm = kvm_record(101, 1000000);
    kvm.t_userspace_exit_ns = kvm.t_hypercall_ns + 1000;
    kvm.uexit_reason = HT_KVM_EXIT_HYPERCALL;
    kvm.flags |= HT_REC_F_VMM_SERVED;
    ht_record hv = kvm_record(102, 2000000, 0x5c);
    hv.abi = HT_ABI_HYPERV;
    hv.a0 = hv.a1 = hv.a2 = hv.a3 = 0;
    hv.hv_fast = 1;
    hv.hv_rep_cnt = 3;
    hv.hv_rep_idx = 1;
    hv.hv_var_cnt = 2;
    hv.hv_ingpa = 0x123000;
    hv.hv_outgpa = 0x456000;
    hv.hv_result = 0;
    hv.flags |= HT_REC_F_HV_RESULT;
    ht_record xen = kvm_record(103, 3000000, 0x7777);
    xen.abi = HT_ABI_XEN;
    xen.a4 = 0xa4;
    xen.a5 = 0xa5;
    xen.flags |= HT_REC_F_VCPU_UNKNOWN | HT_REC_F_REASON_UNKNOWN;
    const std::vector<ptree> events = parse(render({kvm, hv, xen}));

    const std::vector<ptree> k = of(events, "B", "nr 42");
    ASSERT_EQ(k.size(), 1u);
    const ptree& a = k[0].get_child("args");
    expect_args(a, {{"nr", "42"},
                    {"abi", "kvm"},
                    {"a0", "0x1000065"},
                    {"a1", "0xa1"},
                    {"a3", "0xffffffffffffffff"},
                    {"exit_reason", "vmmcall"},
                    {"vcpu_id", "1"},
                    {"served_by", "vmm"},
                    {"vmm_ns", "1250"},
                    {"vm", "null"},
                    {"vm_source", "none"}});
    EXPECT_FALSE(a.get_child_optional("a4"));
    ASSERT_EQ(of(events, "B", "VMM").size(), 1u);
    EXPECT_EQ(of(events, "B", "VMM")[0].get<std::string>("args.uexit_reason"), "3");

    const std::vector<ptree> h = of(events, "B", "HvCallPostMessage");  // Hyper-V's table names 0x5c
    ASSERT_EQ(h.size(), 1u);
    const ptree& b = h[0].get_child("args");
    expect_args(b, {{"abi", "hyperv"},
                    {"nr", "92"},
                    {"hv_fast", "1"},
                    {"hv_rep_cnt", "3"},
                    {"hv_rep_idx", "1"},
                    {"hv_var_cnt", "2"},
                    {"hv_ingpa", "0x123000"},
                    {"hv_outgpa", "0x456000"},
                    {"hv_result", "0x0"},
                    {"served_by", "kernel"},
                    {"vmm_ns", "null"}});
    EXPECT_FALSE(b.get_child_optional("a0"));

    const std::vector<ptree> x = of(events, "B", "xen nr 30583");  // no name: the ABI says whose nr
    ASSERT_EQ(x.size(), 1u);
    const ptree& c = x[0].get_child("args");
    expect_args(c, {{"a4", "0xa4"}, {"a5", "0xa5"}, {"exit_reason", "null"}, {"vcpu_id", "null"}});
    bool unknown_vcpu = false;
    for (const ptree& e : of(events, "M", "thread_name"))
        unknown_vcpu |= e.get<std::string>("args.name") == "vCPU ? (tid 103)";
    EXPECT_TRUE(unknown_vcpu);
}

TEST(ChromeTrace, VmNamesAreEscapedAndTheIndexNamesTheTrack)
{
    hypertrace::testing::FakeHost h;
    std::vector<std::string> warnings;
    // A name with a quote, a backslash, a control character and an invalid byte.
    h.process(100, 5,
              hypertrace::testing::nul_joined({"qemu", "-name", "guest=web \"1\"\\x\x01\xff,debug-threads=on", "-uuid",
                                               "c7a5fdbd-edaf-9455-926a-d65c16db1809"}));
    h.thread(100, 101, "CPU 3/KVM");
    VmResolver resolver(h.config(&warnings));
    VmColumns cols(Format::Chrome, &resolver);
    const std::vector<ptree> events = parse(render({kvm_record(101, 1000000), kvm_record(101, 1010000)}, &cols));
    const std::vector<ptree> pname = of(events, "M", "process_name");
    ASSERT_EQ(pname.size(), 1u) << "named once";
    // The process name as the text output shows it: control characters as
    // '?', an invalid byte as U+FFFD; the args carry -f json's value.
    EXPECT_EQ(pname[0].get<std::string>("args.name"), "web \"1\"\\x?\xef\xbf\xbd");
    const std::vector<ptree> threads = of(events, "M", "thread_name");
    ASSERT_EQ(threads.size(), 1u);
    EXPECT_EQ(threads[0].get<std::string>("args.name"), "vCPU 3 (tid 101)");  // the VMM's index, not vcpu_id 1
    const std::vector<ptree> calls = of(events, "B", "nr 42");
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].get<std::string>("args.vm"), "web \"1\"\\x\x01\xef\xbf\xbd");
    EXPECT_EQ(calls[0].get<std::string>("args.vm_uuid"), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
    EXPECT_EQ(calls[0].get<std::string>("args.vm_source"), "cmdline");
    EXPECT_EQ(calls[0].get<std::string>("args.vcpu_index"), "3");
    EXPECT_TRUE(warnings.empty());
}

TEST(ChromeTrace, ValidJsonHoweverTheRunEnds)
{
    // Nothing traced: an empty array.
    EXPECT_TRUE(parse(render({})).empty());
    EXPECT_EQ(render({}), "[\n\n]\n");

    // Stopped by a signal or the duration: main() calls finish(), which
    // closes the array after what was flushed.
    const std::vector<ht_record> recs = {kvm_record(101, 1000000), kvm_record(102, 1001000)};
    const std::string full = render(recs);
    EXPECT_EQ(of(parse(full), "B", "nr 42").size(), 2u);
    ASSERT_GE(full.size(), 3u);
    EXPECT_EQ(full.substr(full.size() - 3), "\n]\n");

    // Cut short after a flush (kill -9): every event whole and no comma
    // dangling, so only the "]" is missing, which the format lets a reader add.
    const std::string cut = render(recs, nullptr, false);
    EXPECT_EQ(cut.back(), '}');
    EXPECT_EQ(full.compare(0, cut.size(), cut), 0);
    EXPECT_EQ(parse(cut + "]").size(), parse(full).size());

    // finish() twice closes once.
    std::ostringstream out;
    auto w = make_record_writer(Format::Chrome, out, TimeBase{}, nullptr);
    w->write(recs[0]);
    w->finish();
    w->finish();
    EXPECT_EQ(parse(out.str()).size(), parse(render({recs[0]})).size());
}

TEST(ChromeTrace, OutOfOrderTimestampsGiveNoChildren)
{
    ht_record r = kvm_record(101, 1000000);
    r.t_hypercall_ns = r.t_entry_ns + 1;  // never seen; a defence
    const std::map<std::string, std::vector<Span>> tracks = spans(parse(render({r})));
    ASSERT_EQ(tracks.at("101").size(), 1u);
    EXPECT_EQ(tracks.at("101")[0].end - tracks.at("101")[0].begin, 3750u);
}

TEST(ChromeTrace, Options)
{
    std::vector<std::string> args = {"hypertrace", "-f", "chrome"};
    auto parse_args = [](std::vector<std::string> a) {
        std::vector<char*> argv;
        for (std::string& s : a)
            argv.push_back(s.data());
        return parse_options(static_cast<int>(argv.size()), argv.data());
    };
    EXPECT_EQ(parse_args(args).format, Format::Chrome);
    EXPECT_STREQ(format_name(Format::Chrome), "chrome");
    args.push_back("-s");
    try {
        parse_args(args);
        ADD_FAILURE() << "-f chrome -s accepted";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("-f chrome draws one slice per hypercall"), std::string::npos) << e.what();
    }
    try {
        parse_args({"hypertrace", "-f", "perfetto"});
        ADD_FAILURE() << "-f perfetto accepted";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("expected text, json, csv or chrome"), std::string::npos) << e.what();
    }
    EXPECT_NE(help_text().find("chrome: a timeline"), std::string::npos);
}
