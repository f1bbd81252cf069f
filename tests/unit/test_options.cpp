// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Command line: every option, every error (message names problem and fix).
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "cli/options.h"

extern "C" {
#include "ht_state_machine.h"
}

using namespace hypertrace;

namespace {

Options parse(std::vector<std::string> args)
{
    args.insert(args.begin(), "hypertrace");
    std::vector<char*> argv;
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    return parse_options(static_cast<int>(args.size()), argv.data());
}

// The UsageError message of parsing `args`, or "" if it parsed.
std::string error_of(std::vector<std::string> args)
{
    try {
        parse(std::move(args));
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define EXPECT_USAGE(args, ...)                                                               \
    do {                                                                                      \
        std::string msg_ = error_of(args);                                                    \
        EXPECT_FALSE(msg_.empty()) << "no error for " #args;                                  \
        for (const char* part_ : {__VA_ARGS__})                                               \
            EXPECT_TRUE(contains(msg_, part_)) << "'" << msg_ << "' lacks '" << part_ << "'"; \
    } while (0)

using Args = std::vector<std::string>;

}  // namespace

TEST(Options, Defaults)
{
    Options o = parse({});
    EXPECT_TRUE(o.nr_ranges.empty());
    EXPECT_TRUE(o.hyperv_ranges.empty());
    EXPECT_TRUE(o.xen_ranges.empty());
    EXPECT_FALSE(o.nr_given);
    EXPECT_FALSE(o.list_hypercalls);
    EXPECT_EQ(o.pid, HT_PID_ANY);
    EXPECT_EQ(o.vcpu, HT_VCPU_ANY);
    EXPECT_EQ(o.min_latency_ns, 0u);
    EXPECT_EQ(o.duration_ns, 0u);
    EXPECT_EQ(o.format, Format::Text);
    EXPECT_EQ(o.output, "");
    EXPECT_FALSE(o.summary);
    EXPECT_EQ(o.backend, BackendKind::Auto);
    EXPECT_FALSE(o.check);
    EXPECT_FALSE(o.timestamp);
    EXPECT_FALSE(o.hypercall_exits_only);
    EXPECT_EQ(o.ring_bytes, 8u << 20);
    EXPECT_FALSE(o.help);
    EXPECT_FALSE(o.version);
}

TEST(Options, Nr)
{
    EXPECT_EQ(parse({"-n", "42"}).nr_ranges, (std::vector<NrRange>{{42, 42}}));
    EXPECT_EQ(parse({"--nr", "0x2a"}).nr_ranges, (std::vector<NrRange>{{42, 42}}));
    EXPECT_EQ(parse({"--nr=1,2,3"}).nr_ranges, (std::vector<NrRange>{{1, 3}}));
    EXPECT_EQ(parse({"-n42"}).nr_ranges, (std::vector<NrRange>{{42, 42}}));
    EXPECT_EQ(parse({"-n", "40-50,45-60,10"}).nr_ranges, (std::vector<NrRange>{{10, 10}, {40, 60}}));
    // Repeated -n adds up, merged across occurrences.
    EXPECT_EQ(parse({"-n", "5", "-n", "1-4", "-n", "9"}).nr_ranges, (std::vector<NrRange>{{1, 5}, {9, 9}}));
}

TEST(Options, NrManyItems)
{
    // 100 separate numbers: accepted (fits 128 ranges).
    std::string list;
    for (int i = 0; i < 100; i++)
        list += (i ? "," : "") + std::to_string(i * 10);
    EXPECT_EQ(parse({"-n", list}).nr_ranges.size(), 100u);
    // 300 items that merge into one range: accepted.
    list.clear();
    for (int i = 0; i < 300; i++)
        list += (i ? "," : "") + std::to_string(i);
    EXPECT_EQ(parse({"-n", list}).nr_ranges, (std::vector<NrRange>{{0, 299}}));
    // Exactly HT_MAX_NR_RANGES ranges: accepted; one more: error.
    list.clear();
    for (int i = 0; i < HT_MAX_NR_RANGES; i++)
        list += (i ? "," : "") + std::to_string(i * 2);
    EXPECT_EQ(parse({"-n", list}).nr_ranges.size(), static_cast<std::size_t>(HT_MAX_NR_RANGES));
    EXPECT_USAGE(Args({"-n", list + ",1000"}), "129 ranges", "128", "ranges like 40-50");
}

TEST(Options, NrByName)
{
    Options o = parse({"-n", "KVM_HC_SEND_IPI"});
    EXPECT_EQ(o.nr_ranges, (std::vector<NrRange>{{10, 10}}));
    EXPECT_TRUE(o.nr_given);
    EXPECT_EQ(parse({"-n", "kvm_hc_mips_exit_vm,42"}).nr_ranges, (std::vector<NrRange>{{7, 7}, {42, 42}}));
    EXPECT_EQ(parse({"-n", "10-12,42"}).nr_ranges, (std::vector<NrRange>{{10, 12}, {42, 42}}));
    EXPECT_EQ(parse({"-n", "KVM_HC_SEND_IPI", "-n", "kvm:11", "--nr=KVM_HC_MAP_GPA_RANGE"}).nr_ranges,
              (std::vector<NrRange>{{10, 12}}));
    EXPECT_EQ(parse({"-n", "KVM_HC_SEND_IPI-KVM_HC_MAP_GPA_RANGE"}).nr_ranges, (std::vector<NrRange>{{10, 12}}));
    ht_filter f = make_filter(parse({"-n", "KVM_HC_MIPS_EXIT_VM,42"}));
    ASSERT_EQ(f.nr_range_count, 2u);
    EXPECT_EQ(f.nr_ranges[0].lo, 7u);
    EXPECT_EQ(f.nr_ranges[0].hi, 7u);
    EXPECT_EQ(f.nr_ranges[1].lo, 42u);
}

TEST(Options, NrNameErrors)
{
    EXPECT_USAGE(Args({"-n", "KVM_HC_SEND_IP"}), "invalid --nr 'KVM_HC_SEND_IP'", "is not a number",
                 "closest: KVM_HC_SEND_IPI,", "'hypertrace --list-hypercalls'", "names like KVM_HC_SEND_IPI");
    EXPECT_USAGE(Args({"-n", "42", "-n", "hv:bogus"}), "invalid --nr 'hv:bogus'", "no Hyper-V hypercall");
    EXPECT_USAGE(Args({"-n", "foo:1"}), "unknown prefix 'foo:'", "kvm:, hv: or xen:");
    EXPECT_USAGE(Args({"-n", "hv:0x10000"}), "16 bits");
}

// The Hyper-V and Xen ranges merge and are bounded like KVM's.
TEST(Options, NrRangeLimitPerAbi)
{
    std::string list;
    for (int i = 0; i <= HT_MAX_NR_RANGES; i++)
        list += std::string(i ? "," : "") + "hv:" + std::to_string(i * 2);
    EXPECT_USAGE(Args({"-n", list}), "129 Hyper-V ranges", "128");
}

// Hyper-V selections are traced: -n fills each ABI's ranges, and an ABI it
// does not name is not traced at all (make_filter).
TEST(Options, HypervSelections)
{
    constexpr __u32 kNoKvm = 1u << HT_ABI_KVM, kNoHv = 1u << HT_ABI_HYPERV, kNoXen = 1u << HT_ABI_XEN;
    struct Case {
        Args args;
        std::vector<NrRange> kvm, hyperv;
        __u32 abi_none;
    };
    const Case cases[] = {
        {{"-n", "hv:HvCallFlushVirtualAddressSpace"}, {}, {{2, 2}}, kNoKvm | kNoXen},
        {{"-n", "HvCallPostMessage,42"}, {{42, 42}}, {{0x5c, 0x5c}}, kNoXen},
        {{"-n", "hv:2-0x14", "-n", "10"}, {{10, 10}}, {{2, 0x14}}, kNoXen},
        {{"-n", "hv:1,hv:3,hv:5,hv:7,hv:9"}, {}, {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {9, 9}}, kNoKvm | kNoXen},
        {{"-n", "42"}, {{42, 42}}, {}, kNoHv | kNoXen},
        {{"-n", "KVM_HC_SEND_IPI"}, {{10, 10}}, {}, kNoHv | kNoXen},
    };
    for (const Case& c : cases) {
        const Options o = parse(c.args);
        EXPECT_TRUE(o.nr_given);
        EXPECT_EQ(o.nr_ranges, c.kvm);
        EXPECT_EQ(o.hyperv_ranges, c.hyperv);
        EXPECT_TRUE(o.xen_ranges.empty());
        const ht_filter f = make_filter(o);
        EXPECT_EQ(f.abi_none, c.abi_none) << c.args.front() << ' ' << c.args.back();
        EXPECT_EQ(f.nr_range_count, c.kvm.size());
        EXPECT_EQ(f.hv_range_count, c.hyperv.size());
        // What the hot path asks (common/ht_hot_path.h): KVM nr 42 and
        // Hyper-V's PostMessage (0x5c) wanted only where -n named them.
        const bool kvm42 = !(c.abi_none & kNoKvm) && std::any_of(c.kvm.begin(), c.kvm.end(), [](const NrRange& r) {
            return r.lo <= 42 && 42 <= r.hi;
        });
        const bool post = !(c.abi_none & kNoHv) && std::any_of(c.hyperv.begin(), c.hyperv.end(), [](const NrRange& r) {
            return r.lo <= 0x5c && 0x5c <= r.hi;
        });
        EXPECT_EQ(ht_nr_wanted(&f, 42) != 0, kvm42) << c.args.back();
        EXPECT_EQ(ht_hv_code_wanted(&f, 0x5c) != 0, post) << c.args.back();
    }
}

// Xen items select Xen numbers like Hyper-V's select codes: parsed, merged,
// the filter wants exactly them in Xen's ABI and no other ABI where -n
// named none of its numbers.
TEST(Options, XenSelections)
{
    constexpr __u32 kNoKvm = 1u << HT_ABI_KVM, kNoHv = 1u << HT_ABI_HYPERV;
    struct Case {
        Args args;
        std::vector<NrRange> kvm, xen;
        __u32 abi_none;
    };
    const Case cases[] = {
        {{"-n", "xen:__HYPERVISOR_event_channel_op", "-n", "xen:0-5"}, {}, {{0, 5}, {32, 32}}, kNoKvm | kNoHv},
        {{"-n", "xen:__HYPERVISOR_xen_version,42"}, {{42, 42}}, {{17, 17}}, kNoHv},
        {{"-n", "__HYPERVISOR_hvm_op"}, {}, {{34, 34}}, kNoKvm | kNoHv},
    };
    for (const Case& c : cases) {
        const Options o = parse(c.args);
        EXPECT_EQ(o.nr_ranges, c.kvm);
        EXPECT_EQ(o.xen_ranges, c.xen);
        const ht_filter f = make_filter(o);
        EXPECT_EQ(f.abi_none, c.abi_none) << c.args.back();
        EXPECT_EQ(f.xen_range_count, c.xen.size());
        // What the hot path asks (ht_abi_wanted): Xen's numbers in Xen's
        // ranges only; the same number in another ABI is another call.
        for (const NrRange& r : c.xen) {
            EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_XEN, r.lo), 1) << r.lo;
            EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_XEN, r.hi), 1) << r.hi;
        }
        EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_XEN, 33), 0);
        EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_XEN, 42), 0);
        EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_HYPERV, 17), 0);
        EXPECT_EQ(ht_abi_wanted(&f, HT_ABI_KVM, 17), 0);
    }
    // Without -n, Xen is traced whole as every ABI is.
    const ht_filter all = make_filter(parse({}));
    EXPECT_EQ(ht_abi_wanted(&all, HT_ABI_XEN, 12345), 1);
}

// Where the kernel cannot trace Xen hypercalls (main() asks the kernel
// facts), a Xen selection is refused naming it, the kernel's reason and
// what to do; without one there is nothing to refuse.
TEST(Options, XenUntraceableError)
{
    const std::string why = "kvm_xen_hypercall cannot fire here: (reason)";
    EXPECT_EQ(xen_untraceable_error(parse({}), why), "");
    EXPECT_EQ(xen_untraceable_error(parse({"-n", "42,hv:HvCallPostMessage"}), why), "");
    const std::pair<Args, const char*> cases[] = {
        {{"-n", "xen:__HYPERVISOR_event_channel_op", "-n", "xen:0-5"},
         "--nr selects Xen hypercalls (xen:0-5, xen:__HYPERVISOR_event_channel_op)"},
        {{"-n", "hv:2-0x14,xen:7,10"}, "Xen hypercalls (xen:__HYPERVISOR_platform_op)"},
        {{"-n", "xen:1,xen:3,xen:5,xen:7,xen:9"}, "xen:__HYPERVISOR_fpu_taskswitch, ...)"},
    };
    for (const auto& [args, names] : cases) {
        const std::string e = xen_untraceable_error(parse(args), why);
        for (const char* part : {names, "cannot be traced on this kernel: kvm_xen_hypercall cannot fire here: (reason)",
                                 "drop the xen: items", "--list-hypercalls"})
            EXPECT_NE(e.find(part), std::string::npos) << part << " not in: " << e;
    }
}

TEST(Options, ListHypercalls)
{
    Options o = parse({"--list-hypercalls"});
    EXPECT_TRUE(o.list_hypercalls);
    EXPECT_FALSE(o.list_abi);
    EXPECT_EQ(parse({"--list-hypercalls", "kvm"}).list_abi, HypercallAbi::Kvm);
    EXPECT_EQ(parse({"--list-hypercalls", "hv"}).list_abi, HypercallAbi::Hyperv);
    EXPECT_EQ(parse({"--list-hypercalls", "HyperV"}).list_abi, HypercallAbi::Hyperv);
    EXPECT_EQ(parse({"--list-hypercalls=xen"}).list_abi, HypercallAbi::Xen);
    // Like -h: the rest of the line is not validated (nor refused).
    EXPECT_TRUE(parse({"-n", "hv:1", "--list-hypercalls"}).list_hypercalls);
    EXPECT_TRUE(parse({"--list-hypercalls", "-f", "bogus"}).list_hypercalls);
    EXPECT_USAGE(Args({"--list-hypercalls=foo"}), "invalid --list-hypercalls 'foo'", "kvm, hv or xen");
    EXPECT_USAGE(Args({"--list-hypercalls", "foo"}), "invalid --list-hypercalls 'foo'", "kvm, hv or xen");
    EXPECT_USAGE(Args({"--list-hypercalls", "kvm", "10"}), "unexpected argument '10' after --list-hypercalls",
                 "kvm, hv or xen");
}

TEST(Options, NrErrors)
{
    const char* fix =
        "expected names like KVM_HC_SEND_IPI or hv:HvCallPostMessage, numbers like 42, 0x2a or ranges 40-50, "
        "comma-separated";
    EXPECT_USAGE(Args({"-n", "foo"}), "invalid --nr 'foo'", "not a number", fix);
    EXPECT_USAGE(Args({"-n", "-1"}), "invalid --nr '-1'", "negative", fix);
    EXPECT_USAGE(Args({"--nr", "-1"}), "invalid --nr '-1'", "negative");
    EXPECT_USAGE(Args({"--nr=-1"}), "invalid --nr '-1'", "negative");
    EXPECT_USAGE(Args({"-n", "1,,2"}), "invalid --nr '1,,2'", "empty item", fix);
    EXPECT_USAGE(Args({"-n", ""}), "invalid --nr ''", "empty item");
    EXPECT_USAGE(Args({"-n", "50-40"}), "invalid --nr '50-40'", "backwards");
    EXPECT_USAGE(Args({"-n", "18446744073709551616"}), "64 bits");
    EXPECT_USAGE(Args({"-n"}), "--nr", "--help");  // missing value
}

TEST(Options, Pid)
{
    Options o = parse({"-p", std::to_string(getpid())});
    EXPECT_EQ(o.pid, static_cast<std::uint32_t>(getpid()));
    EXPECT_EQ(parse({"--pid", "1"}).pid, 1u);  // init always exists
}

TEST(Options, PidErrors)
{
    const char* fix = "expected a positive process id";
    EXPECT_USAGE(Args({"-p", "0"}), "invalid --pid '0'", fix);
    EXPECT_USAGE(Args({"-p", "abc"}), "invalid --pid 'abc'", fix);
    EXPECT_USAGE(Args({"-p", "-5"}), "invalid --pid '-5'", fix);
    EXPECT_USAGE(Args({"-p", "0x10"}), "invalid --pid '0x10'", fix);
    EXPECT_USAGE(Args({"-p", "99999999999"}), "invalid --pid", fix);
    // Above PID_MAX_LIMIT (4194304): can never exist.
    EXPECT_USAGE(Args({"-p", "2147483647"}), "no process with pid 2147483647", "pgrep");
    EXPECT_USAGE(Args({"-p", "4194304"}), "no process with pid 4194304");
}

TEST(Options, PidOfThreadIsRejected)
{
    std::atomic<long> tid{0};
    std::atomic<bool> done{false};
    std::thread t([&] {
        tid = syscall(SYS_gettid);
        while (!done)
            std::this_thread::yield();
    });
    while (tid == 0)
        std::this_thread::yield();
    std::string msg = error_of({"-p", std::to_string(tid.load())});
    done = true;
    t.join();
    EXPECT_TRUE(contains(msg, "is a thread of process " + std::to_string(getpid()))) << msg;
    EXPECT_TRUE(contains(msg, "-p " + std::to_string(getpid()))) << msg;
}

TEST(Options, Vcpu)
{
    EXPECT_EQ(parse({"--vcpu", "3"}).vcpu, 3u);
    EXPECT_EQ(parse({"--vcpu", "0"}).vcpu, 0u);
    EXPECT_EQ(parse({"--vcpu", "4294967294"}).vcpu, 4294967294u);
    EXPECT_USAGE(Args({"--vcpu", "4294967295"}), "invalid --vcpu", "omit --vcpu");
    EXPECT_USAGE(Args({"--vcpu", "0xffffffff"}), "invalid --vcpu");
    EXPECT_USAGE(Args({"--vcpu", "x"}), "invalid --vcpu 'x'", "like 0 or 3");
    EXPECT_USAGE(Args({"--vcpu", "-1"}), "invalid --vcpu '-1'", "negative");
}

TEST(Options, MinLatency)
{
    EXPECT_EQ(parse({"--min-latency", "100us"}).min_latency_ns, 100000u);
    EXPECT_EQ(parse({"--min-latency=1.5ms"}).min_latency_ns, 1500000u);
    EXPECT_EQ(parse({"--min-latency", "0"}).min_latency_ns, 0u);
    const char* fix = "expected a number with a unit like 100us";
    EXPECT_USAGE(Args({"--min-latency", "5parsecs"}), "invalid --min-latency '5parsecs'", "unknown unit 'parsecs'",
                 fix);
    EXPECT_USAGE(Args({"--min-latency", "5"}), "invalid --min-latency '5'", "no unit", fix);
    EXPECT_USAGE(Args({"--min-latency", "-5us"}), "invalid --min-latency '-5us'", "negative");
}

TEST(Options, Duration)
{
    EXPECT_EQ(parse({"-d", "5"}).duration_ns, 5000000000u);
    EXPECT_EQ(parse({"--duration", "500ms"}).duration_ns, 500000000u);
    EXPECT_EQ(parse({"10"}).duration_ns, 10000000000u);
    EXPECT_EQ(parse({"2m"}).duration_ns, 120000000000u);
    EXPECT_EQ(parse({"-n", "42", "10"}).duration_ns, 10000000000u);
    EXPECT_EQ(parse({"10", "-n", "42"}).nr_ranges, (std::vector<NrRange>{{42, 42}}));
}

TEST(Options, DurationErrors)
{
    EXPECT_USAGE(Args({"-d", "5", "10"}), "duration given twice", "-d 5", "'10'", "not both");
    EXPECT_USAGE(Args({"10", "-d", "5"}), "duration given twice");
    EXPECT_USAGE(Args({"10", "20"}), "unexpected argument '20'", "only positional");
    EXPECT_USAGE(Args({"-d", "0"}), "invalid --duration '0'", "greater than zero");
    EXPECT_USAGE(Args({"-d", "5parsecs"}), "invalid --duration '5parsecs'", "unknown unit");
    EXPECT_USAGE(Args({"5parsecs"}), "invalid duration '5parsecs'", "expected seconds like 10");
    EXPECT_USAGE(Args({"-d", "-5"}), "invalid --duration '-5'", "negative");
}

// Durations are converted to signed 64-bit nanoseconds for the run's timers:
// 2^63 ns and more used to wrap negative (the run ended at once, exit 0).
// Everything above the documented maximum is refused, naming it.
TEST(Options, DurationMaximum)
{
    EXPECT_EQ(kMaxDurationNs, 365ull * 24 * 3600 * 1000000000);
    EXPECT_EQ(parse({"-d", "525600m"}).duration_ns, kMaxDurationNs);
    EXPECT_EQ(parse({"31536000"}).duration_ns, kMaxDurationNs);
    EXPECT_EQ(parse({"-s", "-i", "525600m"}).interval_ns, kMaxDurationNs);
    for (const char* text : {"31536000.000000001", "525601m", "9223372036854775807ns", "9223372036854775808ns",
                             "18446744073709551615ns", "153722868m", "18446744073709551616ns", "307445734561m"}) {
        SCOPED_TRACE(text);
        const std::string t = text, d = "invalid --duration '" + t + "'", pos = "invalid duration '" + t + "'",
                          i = "invalid --interval '" + t + "'";
        EXPECT_USAGE(Args({"-d", t}), d.c_str(), "longer than the maximum of 525600m (365 days)",
                     "omit it to trace until Ctrl-C");
        EXPECT_USAGE(Args({t}), pos.c_str(), "525600m (365 days)");
        EXPECT_USAGE(Args({"-s", "-i", t}), i.c_str(), "longer than the maximum of 525600m (365 days)", "omit -i");
    }
    // The limit is only for what feeds a timer: --min-latency is compared
    // as an unsigned 64-bit number in the kernel.
    EXPECT_EQ(parse({"--min-latency", "18446744073709551615ns"}).min_latency_ns, 18446744073709551615ull);
}

TEST(Options, FormatOutputBackend)
{
    EXPECT_EQ(parse({"-f", "text"}).format, Format::Text);
    EXPECT_EQ(parse({"-f", "json"}).format, Format::Json);
    EXPECT_EQ(parse({"--format", "csv"}).format, Format::Csv);
    EXPECT_USAGE(Args({"-f", "xml"}), "invalid --format 'xml'", "text, json, csv or chrome");
    EXPECT_USAGE(Args({"-f", "JSON"}), "invalid --format 'JSON'");

    EXPECT_EQ(parse({"-o", "/tmp/x.jsonl"}).output, "/tmp/x.jsonl");
    EXPECT_USAGE(Args({"-o", ""}), "invalid --output ''", "omit -o");

    EXPECT_EQ(parse({"-b", "bpf"}).backend, BackendKind::Bpf);
    EXPECT_EQ(parse({"--backend", "kmod"}).backend, BackendKind::Kmod);
    EXPECT_EQ(parse({"-b", "auto"}).backend, BackendKind::Auto);
    EXPECT_USAGE(Args({"-b", "dtrace"}), "invalid --backend 'dtrace'", "auto, bpf or kmod");

    EXPECT_STREQ(format_name(Format::Csv), "csv");
    EXPECT_STREQ(backend_name(BackendKind::Kmod), "kmod");
}

TEST(Options, Flags)
{
    Options o = parse({"-s", "-T", "--check", "--hypercall-exits-only"});
    EXPECT_TRUE(o.summary);
    EXPECT_TRUE(o.timestamp);
    EXPECT_TRUE(o.check);
    EXPECT_TRUE(o.hypercall_exits_only);
    Options sticky = parse({"-sT"});
    EXPECT_TRUE(sticky.summary);
    EXPECT_TRUE(sticky.timestamp);
    EXPECT_TRUE(parse({"--summary", "--timestamp"}).summary);
}

TEST(Options, RingSize)
{
    EXPECT_EQ(parse({"--ring-size", "4096"}).ring_bytes, 4096u);
    EXPECT_EQ(parse({"--ring-size", "64K"}).ring_bytes, 65536u);
    EXPECT_EQ(parse({"--ring-size", "64k"}).ring_bytes, 65536u);
    EXPECT_EQ(parse({"--ring-size", "8M"}).ring_bytes, 8u << 20);
    EXPECT_EQ(parse({"--ring-size", "1G"}).ring_bytes, 1u << 30);
    EXPECT_EQ(parse({"--ring-size", "0x100000"}).ring_bytes, 1u << 20);
    const char* fix = "expected a power of two";
    EXPECT_USAGE(Args({"--ring-size", "1000"}), "invalid --ring-size '1000'", fix);
    EXPECT_USAGE(Args({"--ring-size", "3M"}), "invalid --ring-size '3M'", fix);
    EXPECT_USAGE(Args({"--ring-size", "2048"}), "invalid --ring-size '2048'", fix);
    EXPECT_USAGE(Args({"--ring-size", "2G"}), "too large", fix);
    EXPECT_USAGE(Args({"--ring-size", "abc"}), "invalid --ring-size 'abc'", fix);
    EXPECT_USAGE(Args({"--ring-size", "K"}), "invalid --ring-size 'K'");
    EXPECT_USAGE(Args({"--ring-size", "0"}), "invalid --ring-size '0'");
}

TEST(Options, HelpAndVersion)
{
    EXPECT_TRUE(parse({"-h"}).help);
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"-V"}).version);
    EXPECT_TRUE(parse({"--version"}).version);
    // Help wins over an otherwise bad command line.
    EXPECT_TRUE(parse({"-n", "foo", "-h"}).help);
    std::string help = help_text();
    EXPECT_TRUE(contains(help, "usage: hypertrace"));
    EXPECT_TRUE(contains(help, "hypertrace -n 42 "));
    EXPECT_TRUE(contains(help, "# trace hypercall 42 of every VM"));
    for (const char* example : {"hypertrace -n KVM_HC_SEND_IPI ", "hv:HvCallFlushVirtualAddressSpace",
                                "hypertrace -n 10-12,42 ", "hypertrace --list-hypercalls kvm "})
        EXPECT_TRUE(contains(help, example)) << example;
    for (const char* opt : {"--nr", "--pid", "--vcpu", "--min-latency", "--duration", "--format", "--output",
                            "--summary", "--backend", "--check", "--timestamp", "--hypercall-exits-only", "--ring-size",
                            "--version", "--help", "--list-hypercalls"})
        EXPECT_TRUE(contains(help, opt)) << opt;
    EXPECT_EQ(help.back(), '\n');
    EXPECT_EQ(version_text().rfind("hypertrace ", 0), 0u);
    EXPECT_EQ(version_text().back(), '\n');
}

TEST(Options, UnknownAndMisspelled)
{
    EXPECT_USAGE(Args({"--foo"}), "--foo", "hypertrace --help");
    EXPECT_USAGE(Args({"-x"}), "-x", "hypertrace --help");
    EXPECT_USAGE(Args({"--dur", "5"}), "--dur");  // no guessing of abbreviations
    EXPECT_USAGE(Args({"-p", "1", "-p", "1"}), "more than once");
    EXPECT_USAGE(Args({"--summary=yes"}), "--help");
}

TEST(Options, MakeFilter)
{
    Options o = parse({"-n", "7,1-3", "-p", "1", "--vcpu", "2", "--min-latency", "1us", "--hypercall-exits-only"});
    ht_filter f = make_filter(o);
    EXPECT_EQ(f.nr_range_count, 2u);
    EXPECT_EQ(f.nr_ranges[0].lo, 1u);
    EXPECT_EQ(f.nr_ranges[0].hi, 3u);
    EXPECT_EQ(f.nr_ranges[1].lo, 7u);
    EXPECT_EQ(f.nr_ranges[1].hi, 7u);
    EXPECT_EQ(f.nr_ranges[2].lo, 0u);  // rest zeroed
    EXPECT_EQ(f.reason_mode, static_cast<__u32>(HT_REASON_HYPERCALL_ONLY));
    EXPECT_EQ(f.pid, 1u);
    EXPECT_EQ(f.vcpu, 2u);
    EXPECT_EQ(f.min_latency_ns, 1000u);

    ht_filter any = make_filter(parse({}));
    EXPECT_EQ(any.nr_range_count, 0u);
    EXPECT_EQ(any.reason_mode, static_cast<__u32>(HT_REASON_ANY));
    EXPECT_EQ(any.pid, HT_PID_ANY);
    EXPECT_EQ(any.vcpu, HT_VCPU_ANY);
    EXPECT_EQ(any.min_latency_ns, 0u);
    EXPECT_EQ(any.abi_none, 0u);  // nothing selected: every ABI whole
    EXPECT_EQ(any.hv_range_count + any.xen_range_count, 0u);
    // -n selects KVM numbers only: Hyper-V and Xen calls are not traced.
    EXPECT_EQ(f.abi_none, (1u << HT_ABI_HYPERV) | (1u << HT_ABI_XEN));
}

// Per-ABI selection (the Options pair the -n parser of dev-hcnames fills):
// an ABI with nothing selected is not traced once another ABI is selected.
TEST(Options, MakeFilterPerAbi)
{
    Options o = parse({});
    o.hyperv_ranges = {{2, 3}, {0x5c, 0x5d}};
    ht_filter f = make_filter(o);
    EXPECT_EQ(f.hv_range_count, 2u);
    EXPECT_EQ(f.hv_ranges[1].lo, 0x5cu);
    EXPECT_EQ(f.hv_ranges[1].hi, 0x5du);
    EXPECT_EQ(f.nr_range_count, 0u);
    EXPECT_EQ(f.abi_none, (1u << HT_ABI_KVM) | (1u << HT_ABI_XEN));
    EXPECT_EQ(ht_nr_wanted(&f, 42), 0);
    EXPECT_EQ(ht_hv_code_wanted(&f, 3), 1);
    EXPECT_EQ(ht_hv_code_wanted(&f, 4), 0);
    o.xen_ranges = {{17, 17}};
    o.nr_ranges = {{12, 12}};
    f = make_filter(o);
    EXPECT_EQ(f.abi_none, 0u);
    EXPECT_EQ(f.xen_range_count, 1u);
    EXPECT_EQ(ht_nr_wanted(&f, 12), 1);
    EXPECT_EQ(ht_nr_wanted(&f, 42), 0);
    const ht_filter all = make_filter(parse({}));
    EXPECT_EQ(ht_nr_wanted(&all, 42), 1);
    EXPECT_EQ(ht_hv_code_wanted(&all, 0x8003), 1);
}

TEST(Options, Interval)
{
    EXPECT_EQ(parse({}).interval_ns, 0u);
    EXPECT_EQ(parse({"-s", "-i", "2"}).interval_ns, 2000000000u);
    EXPECT_EQ(parse({"--summary", "--interval", "500ms"}).interval_ns, 500000000u);
    EXPECT_EQ(parse({"-s", "-i500ms", "10"}).duration_ns, 10000000000u);
}

TEST(Options, IntervalErrors)
{
    std::string e = error_of({"-i", "1"});
    EXPECT_TRUE(contains(e, "--interval") && contains(e, "add -s")) << e;
    e = error_of({"-s", "-i", "0"});
    EXPECT_TRUE(contains(e, "greater than zero")) << e;
    e = error_of({"-s", "-i", "soon"});
    EXPECT_TRUE(contains(e, "invalid --interval 'soon'") && contains(e, "500ms")) << e;
    e = error_of({"-s", "-i", "-1"});
    EXPECT_TRUE(contains(e, "invalid --interval '-1'")) << e;
}

TEST(Options, VmRepeatableNamesAndUuids)
{
    const Options o = parse({"--vm", "web1", "--vm=db 2", "--vm", "C7A5FDBD-EDAF-9455-926A-D65C16DB1809"});
    EXPECT_EQ(o.vms, (std::vector<std::string>{"web1", "db 2", "C7A5FDBD-EDAF-9455-926A-D65C16DB1809"}));
    EXPECT_TRUE(parse({}).vms.empty());
    // A value that looks like an option is still the name (getopt-like).
    EXPECT_EQ(parse({"--vm", "-x"}).vms, std::vector<std::string>{"-x"});
    EXPECT_TRUE(contains(error_of({"--vm", ""}), "invalid --vm '': expected a VM name or UUID"))
        << error_of({"--vm", ""});
    EXPECT_TRUE(contains(help_text(), "--vm NAME"));
    EXPECT_TRUE(contains(help_text(), "HYPERTRACE_LIBVIRT_RUN_DIR"));
}

// --serve, --max-series, --series-grace (exporter/serve.h).
TEST(Options, Serve)
{
    Options o = parse({"--serve"});
    EXPECT_TRUE(o.serve);
    EXPECT_EQ(o.serve_address, "");
    EXPECT_EQ(o.serve_port, kDefaultServePort);
    EXPECT_NE(kDefaultServePort, 9177);  // the libvirt exporter's
    EXPECT_NE(kDefaultServePort, 9435);  // ebpf_exporter's
    EXPECT_EQ(o.max_series, 5000u);
    EXPECT_EQ(o.series_grace_ns, 300ull * 1000000000);
    o = parse({"--serve", "127.0.0.1:9000", "--max-series", "7", "--series-grace", "30s", "-b", "kmod", "-n", "42"});
    EXPECT_EQ(o.serve_address, "127.0.0.1");
    EXPECT_EQ(o.serve_port, 9000);
    EXPECT_EQ(o.max_series, 7u);
    EXPECT_EQ(o.series_grace_ns, 30ull * 1000000000);
    EXPECT_EQ(o.nr_ranges.size(), 1u);
    o = parse({"--serve", "[::1]:9857"});
    EXPECT_EQ(o.serve_address, "::1");
    EXPECT_FALSE(parse({}).serve);

    EXPECT_TRUE(contains(error_of({"--serve", "x"}), "invalid --serve 'x'"));
    EXPECT_TRUE(contains(error_of({"--serve", ":0"}), "from 1 to 65535"));
    EXPECT_TRUE(contains(error_of({"--serve", "-s"}), "--serve cannot be combined with --summary"));
    EXPECT_TRUE(contains(error_of({"--serve", "-f", "json"}), "--serve cannot be combined with --format"));
    EXPECT_TRUE(contains(error_of({"--serve", "-o", "x"}), "--serve cannot be combined with --output"));
    EXPECT_TRUE(contains(error_of({"--serve", "--vm", "a"}), "select a VM with -p"));
    EXPECT_TRUE(contains(error_of({"--serve", "--max-series", "0"}), "invalid --max-series '0'"));
    EXPECT_TRUE(contains(error_of({"--serve", "--max-series", "-3"}), "invalid --max-series"));
    EXPECT_TRUE(contains(error_of({"--serve", "--series-grace", "soon"}), "--series-grace"));
    EXPECT_TRUE(contains(error_of({"--max-series", "3"}), "only applies to --serve"));
    EXPECT_TRUE(contains(error_of({"--series-grace", "3s"}), "only applies to --serve"));
}
