// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "cli/options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>

#include "cli/duration.h"
#include "cli/listen_address.h"
#include "names/hypercall_lookup.h"

#ifndef HT_VERSION
#define HT_VERSION "unknown"
#endif

namespace po = boost::program_options;

namespace hypertrace {

namespace {

constexpr const char* kSeeHelp = "; see 'hypertrace --help'";
constexpr const char* kOmitDuration = "omit it to trace until Ctrl-C";
constexpr const char* kOmitInterval = "omit -i to print one summary at the end";

// Long names of the options that take a value, with their short alias.
struct ValueOption {
    const char* long_name;
    const char* short_name;  // nullptr if none
};
constexpr ValueOption kValueOptions[] = {
    {"--nr", "-n"},           {"--pid", "-p"},      {"--vcpu", nullptr}, {"--min-latency", nullptr},
    {"--duration", "-d"},     {"--format", "-f"},   {"--output", "-o"},  {"--backend", "-b"},
    {"--ring-size", nullptr}, {"--interval", "-i"}, {"--vm", nullptr},
};

// "-n -1" would make Boost read "-1" as an option and report a confusing
// "missing argument"; we want "-1 is negative".  So a value-taking option
// written as its own token is glued to the next token ("--nr=-1") before
// Boost sees it: whatever follows such an option is its value, as in getopt.
std::vector<std::string> glue_values(int argc, char** argv)
{
    std::vector<std::string> out;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--") {
            for (; i < argc; i++)
                out.emplace_back(argv[i]);
            break;
        }
        const char* glued = nullptr;
        for (const ValueOption& o : kValueOptions)
            if (a == o.long_name || (o.short_name && a == o.short_name))
                glued = o.long_name;
        if (glued && i + 1 < argc && argv[i + 1][0] == '\0') {
            // Boost rejects "--opt=" (empty after '='); as two tokens an empty
            // value reaches our own check, which says what to do instead.
            out.emplace_back(glued);
            out.emplace_back(argv[++i]);
        } else if (glued && i + 1 < argc) {
            out.push_back(std::string(glued) + "=" + argv[++i]);
        } else {
            out.emplace_back(a);
        }
    }
    return out;
}

[[noreturn]] void usage(const std::string& msg) { throw UsageError(msg); }

// Items of every -n, merged per ABI; each ABI's ranges must fit the filter.
NrSelection parse_nr_option(const std::vector<std::string>& items)
{
    NrSelection all;
    std::string joined;
    for (const std::string& text : items) {
        try {
            NrSelection one = parse_nr_list(text);
            for (HypercallAbi abi : kHypercallAbis)
                all.of(abi).insert(all.of(abi).end(), one.of(abi).begin(), one.of(abi).end());
        } catch (const std::invalid_argument& e) {
            usage("invalid --nr '" + text + "': " + e.what() +
                  "; expected names like KVM_HC_SEND_IPI or hv:HvCallPostMessage, "
                  "numbers like 42, 0x2a or ranges 40-50, comma-separated");
        }
        joined += (joined.empty() ? "" : ",") + text;
    }
    for (HypercallAbi abi : kHypercallAbis) {
        std::vector<NrRange>& r = all.of(abi);
        r = merge_nr_ranges(std::move(r));
        if (r.size() > HT_MAX_NR_RANGES)
            usage("--nr '" + joined + "' merges into " + std::to_string(r.size()) + " " +
                  (abi == HypercallAbi::Kvm ? "" : std::string(abi_title(abi)) + " ") + "ranges, more than the " +
                  std::to_string(HT_MAX_NR_RANGES) + " supported; cover neighbouring numbers with ranges like 40-50");
    }
    return all;
}

bool all_digits(std::string_view s)
{
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

// Reads "Tgid:" from /proc/PID/status; 0 if unreadable.
std::uint32_t read_tgid(std::uint32_t pid)
{
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("Tgid:", 0) == 0)
            return static_cast<std::uint32_t>(std::strtoul(line.c_str() + 5, nullptr, 10));
    return 0;
}

std::uint32_t parse_pid(const std::string& text)
{
    std::uint64_t v = 0;
    if (all_digits(text)) {
        try {
            v = parse_u64(text);
        } catch (const std::invalid_argument&) {
            v = 0;
        }
    }
    if (v == 0 || v > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
        usage("invalid --pid '" + text +
              "': expected a positive process id like 4242, the VM's qemu "
              "process (find it with: pgrep -f qemu)");
    auto pid = static_cast<std::uint32_t>(v);
    struct stat st;
    if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0)
        usage("no process with pid " + std::to_string(pid) +
              ": is the VM running? find its qemu process with: pgrep -f qemu");
    // /proc/TID exists for threads too (just not listed); the filter matches
    // the process (tgid), so a vCPU thread id would silently match nothing.
    std::uint32_t tgid = read_tgid(pid);
    if (tgid != 0 && tgid != pid)
        usage("pid " + std::to_string(pid) + " is a thread of process " + std::to_string(tgid) +
              "; pass the process: -p " + std::to_string(tgid));
    return pid;
}

std::uint32_t parse_vcpu(const std::string& text)
{
    std::uint64_t v;
    try {
        v = parse_u64(text);
    } catch (const std::invalid_argument& e) {
        usage("invalid --vcpu '" + text + "': " + e.what() + "; expected a vCPU id like 0 or 3");
    }
    if (v >= HT_VCPU_ANY)
        usage("invalid --vcpu '" + text + "': vCPU ids go up to " + std::to_string(HT_VCPU_ANY - 1) +
              "; omit --vcpu to trace every vCPU");
    return static_cast<std::uint32_t>(v);
}

// `omit` says what leaving the option out does (the fix for a value that
// is zero or too long).
std::uint64_t parse_duration_option(const std::string& what, const std::string& text, const std::string& omit)
{
    const std::string too_long =
        "invalid " + what + " '" + text + "': longer than the maximum of " + kMaxDurationText + "; " + omit;
    std::uint64_t ns;
    try {
        ns = parse_duration_ns(text, BareNumber::Seconds);
    } catch (const DurationOverflow&) {
        usage(too_long);
    } catch (const std::invalid_argument& e) {
        usage("invalid " + what + " '" + text + "': " + e.what() +
              "; expected seconds like 10, or a number with a unit like "
              "500ms, 1.5s or 2m (units: ns, us, \xc2\xb5s, ms, s, m)");
    }
    if (ns == 0)
        usage("invalid " + what + " '" + text + "': must be greater than zero; " + omit);
    if (ns > kMaxDurationNs)
        usage(too_long);
    return ns;
}

std::uint64_t parse_min_latency(const std::string& text)
{
    try {
        return parse_duration_ns(text, BareNumber::Reject);
    } catch (const std::invalid_argument& e) {
        usage("invalid --min-latency '" + text + "': " + e.what() +
              "; expected a number with a unit like 100us, 1.5ms or 2s "
              "(units: ns, us, \xc2\xb5s, ms, s, m)");
    }
}

std::uint32_t parse_ring_size(const std::string& text)
{
    const std::uint64_t page = std::max<long>(4096, sysconf(_SC_PAGESIZE));
    constexpr std::uint64_t kMax = 1ull << 30;
    const std::string fix = "; expected a power of two from " + std::to_string(page) +
                            " bytes to 1G, like 64K or 8M (suffixes K, M, G = 1024-based)";
    std::string_view num = text;
    unsigned shift = 0;
    if (!num.empty()) {
        switch (num.back()) {
        case 'k':
        case 'K': shift = 10; break;
        case 'm':
        case 'M': shift = 20; break;
        case 'g':
        case 'G': shift = 30; break;
        }
        if (shift)
            num.remove_suffix(1);
    }
    std::uint64_t v;
    try {
        v = parse_u64(num);
    } catch (const std::invalid_argument& e) {
        usage("invalid --ring-size '" + text + "': " + e.what() + fix);
    }
    if (v > (kMax >> shift))
        usage("invalid --ring-size '" + text + "': too large" + fix);
    v <<= shift;
    if (v < page)
        usage("invalid --ring-size '" + text + "': below the minimum" + fix);
    if ((v & (v - 1)) != 0)
        usage("invalid --ring-size '" + text + "': " + std::to_string(v) + " is not a power of two" + fix);
    return static_cast<std::uint32_t>(v);
}

// --serve, --max-series, --series-grace, and what --serve cannot go with.
void parse_serve_options(const po::variables_map& vm, const std::string& serve, const std::string& max_series,
                         const std::string& series_grace, Options& o)
{
    if (!vm.count("serve")) {
        if (vm.count("max-series") || vm.count("series-grace"))
            usage(std::string(vm.count("max-series") ? "--max-series" : "--series-grace") +
                  " only applies to --serve: add --serve [ADDR]:PORT");
        return;
    }
    o.serve = true;
    if (!serve.empty()) {
        try {
            std::tie(o.serve_address, o.serve_port) = parse_listen_address(serve);
        } catch (const std::invalid_argument& e) {
            usage("invalid --serve '" + serve + "': " + e.what() +
                  " (e.g. --serve :" + std::to_string(kDefaultServePort) +
                  " or --serve 127.0.0.1:" + std::to_string(kDefaultServePort) + ")");
        }
    }
    const char* other = o.summary              ? "summary"
                        : vm.count("interval") ? "interval"
                        : vm.count("format")   ? "format"
                        : vm.count("output")   ? "output"
                        : o.timestamp          ? "timestamp"
                        : o.check              ? "check"
                        : !o.vms.empty()       ? "vm"
                                               : nullptr;
    if (other)
        usage(
            std::string("--serve cannot be combined with --") + other +
            ": the exporter keeps its statistics in the kernel and serves them at /metrics" +
            (std::string(other) == "vm" ? " (select a VM with -p, or drop series with Prometheus's relabelling)" : ""));
    if (vm.count("max-series")) {
        if (max_series.empty() || max_series.size() > 9 ||
            max_series.find_first_not_of("0123456789") != std::string::npos || std::stoul(max_series) == 0)
            usage("invalid --max-series '" + max_series + "': expected a number of series from 1 to 999999999");
        o.max_series = std::stoul(max_series);
    }
    if (vm.count("series-grace"))
        o.series_grace_ns = parse_duration_option("--series-grace", series_grace, "omit it for 5m");
}

}  // namespace

Options parse_options(int argc, char** argv)
{
    Options o;
    std::vector<std::string> nr_items, positional, vm_items;
    std::string pid, vcpu, min_latency, duration, format, output, backend, ring, interval, list_abi;
    std::string serve, max_series, series_grace;

    // --list-hypercalls has an optional value (implicit_value): Boost takes
    // the next token for it unless that is an option.
    po::options_description desc;
    desc.add_options()("help,h", po::bool_switch(&o.help))("version,V", po::bool_switch(&o.version))(
        "nr,n", po::value(&nr_items)->composing())("pid,p", po::value(&pid))("vm", po::value(&vm_items)->composing())(
        "vcpu", po::value(&vcpu))("min-latency", po::value(&min_latency))("duration,d", po::value(&duration))(
        "format,f", po::value(&format))("output,o", po::value(&output))("summary,s", po::bool_switch(&o.summary))(
        "interval,i", po::value(&interval))("backend,b", po::value(&backend))("check", po::bool_switch(&o.check))(
        "timestamp,T", po::bool_switch(&o.timestamp))("hypercall-exits-only", po::bool_switch(&o.hypercall_exits_only))(
        "ring-size", po::value(&ring))("list-hypercalls", po::value(&list_abi)->implicit_value(""))(
        "positional", po::value(&positional))("serve", po::value(&serve)->implicit_value(""))(
        "max-series", po::value(&max_series))("series-grace", po::value(&series_grace));
    po::positional_options_description pos;
    pos.add("positional", -1);

    po::variables_map vm;
    try {
        // No abbreviations of long options: "--dur" is an error, not a guess.
        int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
        po::store(po::command_line_parser(glue_values(argc, argv)).options(desc).positional(pos).style(style).run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        usage(std::string(e.what()) + kSeeHelp);
    }
    if (o.help || o.version)
        return o;
    if (vm.count("list-hypercalls")) {
        o.list_hypercalls = true;
        if (!list_abi.empty() && !(o.list_abi = parse_abi(list_abi)))
            usage("invalid --list-hypercalls '" + list_abi + "': expected kvm, hv or xen (or nothing for all three)");
        if (!positional.empty())
            usage("unexpected argument '" + positional[0] +
                  "' after --list-hypercalls: it takes kvm, hv or xen (or nothing for all three)");
        return o;
    }

    if (!nr_items.empty()) {
        NrSelection sel = parse_nr_option(nr_items);
        o.nr_ranges = std::move(sel.kvm);
        o.hyperv_ranges = std::move(sel.hyperv);
        o.xen_ranges = std::move(sel.xen);
        o.nr_given = true;
    }
    if (vm.count("pid"))
        o.pid = parse_pid(pid);
    for (const std::string& v : vm_items) {
        if (v.empty())
            usage("invalid --vm '': expected a VM name or UUID (omit --vm to trace every VM)");
        o.vms.push_back(v);
    }
    if (vm.count("vcpu"))
        o.vcpu = parse_vcpu(vcpu);
    if (vm.count("min-latency"))
        o.min_latency_ns = parse_min_latency(min_latency);

    if (positional.size() > 1)
        usage("unexpected argument '" + positional[1] + "': the only positional argument is the duration" + kSeeHelp);
    if (vm.count("duration") && !positional.empty())
        usage("duration given twice (-d " + duration + " and '" + positional[0] +
              "'): use either -d DUR or the positional duration, not both");
    if (vm.count("duration"))
        o.duration_ns = parse_duration_option("--duration", duration, kOmitDuration);
    else if (!positional.empty())
        o.duration_ns = parse_duration_option("duration", positional[0], kOmitDuration);

    if (vm.count("format")) {
        if (format == "text")
            o.format = Format::Text;
        else if (format == "json")
            o.format = Format::Json;
        else if (format == "csv")
            o.format = Format::Csv;
        else if (format == "chrome")
            o.format = Format::Chrome;
        else
            usage("invalid --format '" + format + "': expected text, json, csv or chrome");
    }
    if (o.format == Format::Chrome && o.summary)
        usage(
            "-f chrome draws one slice per hypercall, and --summary prints no hypercalls: use -f text or "
            "-f json with --summary, or drop --summary for a timeline");
    if (vm.count("output")) {
        if (output.empty())
            usage(
                "invalid --output '': expected a file name (omit -o to write "
                "to standard output)");
        o.output = output;
    }
    if (vm.count("backend")) {
        if (backend == "auto")
            o.backend = BackendKind::Auto;
        else if (backend == "bpf")
            o.backend = BackendKind::Bpf;
        else if (backend == "kmod")
            o.backend = BackendKind::Kmod;
        else
            usage("invalid --backend '" + backend + "': expected auto, bpf or kmod");
    }
    if (vm.count("ring-size"))
        o.ring_bytes = parse_ring_size(ring);
    if (vm.count("interval")) {
        o.interval_ns = parse_duration_option("--interval", interval, kOmitInterval);
        if (!o.summary)
            usage("--interval " + interval +
                  " prints the summary every interval: add -s "
                  "(records are printed as they come anyway)");
    }
    parse_serve_options(vm, serve, max_series, series_grace, o);
    return o;
}

std::string xen_untraceable_error(const Options& opts, const std::string& why)
{
    if (opts.xen_ranges.empty())
        return "";
    // "xen:__HYPERVISOR_event_channel_op, xen:0-5": the selection as -n
    // takes it; at most three items, then "...".
    std::string what;
    std::size_t n = 0;
    for (const NrRange& r : opts.xen_ranges) {
        if (n++ == 3) {
            what += ", ...";
            break;
        }
        const std::string_view name = r.lo == r.hi ? hypercall_name(HypercallAbi::Xen, r.lo) : std::string_view();
        what += std::string(what.empty() ? "" : ", ") + abi_prefix(HypercallAbi::Xen) + ":" +
                (!name.empty() ? std::string(name)
                               : std::to_string(r.lo) + (r.lo == r.hi ? "" : "-" + std::to_string(r.hi)));
    }
    return "--nr selects Xen hypercalls (" + what + "), but Xen hypercalls cannot be traced on this kernel: " + why +
           ". Run hypertrace on such a kernel, or drop the xen: items (KVM's and Hyper-V's hypercalls are traced here: "
           "'hypertrace --list-hypercalls' lists them)";
}

namespace {

// One ABI's ranges into the filter's array; the count. parse_options
// guarantees the count fits; clamp anyway so a hand-built Options can never
// overrun the fixed array.
__u32 put_ranges(const std::vector<NrRange>& from, ht_nr_range* to)
{
    const std::size_t n = std::min<std::size_t>(from.size(), HT_MAX_NR_RANGES);
    for (std::size_t i = 0; i < n; i++) {
        to[i].lo = from[i].lo;
        to[i].hi = from[i].hi;
    }
    return static_cast<__u32>(n);
}

}  // namespace

ht_filter make_filter(const Options& opts)
{
    ht_filter f{};
    f.nr_range_count = put_ranges(opts.nr_ranges, f.nr_ranges);
    f.hv_range_count = put_ranges(opts.hyperv_ranges, f.hv_ranges);
    f.xen_range_count = put_ranges(opts.xen_ranges, f.xen_ranges);
    // No -n: every ABI whole.  -n given: an ABI it did not name is not traced
    // at all (a count of 0 alone would mean "every number"), so "-n
    // hv:HvCallPostMessage" traces no KVM hypercall and "-n 42" no Hyper-V
    // call.  The counts are checked too for an Options built by hand.
    if (opts.nr_given || f.nr_range_count || f.hv_range_count || f.xen_range_count) {
        if (!f.nr_range_count)
            f.abi_none |= 1u << HT_ABI_KVM;
        if (!f.hv_range_count)
            f.abi_none |= 1u << HT_ABI_HYPERV;
        if (!f.xen_range_count)
            f.abi_none |= 1u << HT_ABI_XEN;
    }
    f.reason_mode = opts.hypercall_exits_only ? HT_REASON_HYPERCALL_ONLY : HT_REASON_ANY;
    f.pid = opts.pid;
    f.vcpu = opts.vcpu;
    f.min_latency_ns = opts.min_latency_ns;
    return f;
}

std::string version_text() { return std::string("hypertrace ") + HT_VERSION + "\n"; }

const char* format_name(Format f)
{
    switch (f) {
    case Format::Text: return "text";
    case Format::Json: return "json";
    case Format::Csv: return "csv";
    case Format::Chrome: return "chrome";
    }
    return "?";
}

const char* backend_name(BackendKind b)
{
    switch (b) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Bpf: return "bpf";
    case BackendKind::Kmod: return "kmod";
    }
    return "?";
}

std::string help_text()
{
    return R"(usage: hypertrace [-h] [-V] [-n LIST] [-p PID] [--vm NAME] [--vcpu N] [--min-latency DUR]
                  [--hypercall-exits-only] [-d DUR] [-f {text,json,csv,chrome}] [-o FILE]
                  [-s] [-i DUR] [-T] [-b {auto,bpf,kmod}] [--ring-size BYTES] [--check]
                  [--list-hypercalls [{kvm,hv,xen}]] [duration]

Trace KVM hypercalls on this host: one record per hypercall with its number,
arguments, exit reason and latency (VM exit -> kvm_hypercall -> VM entry).

positional arguments:
  duration               trace for this long, then exit (same as -d)

options:
  -h, --help             show this help and exit
  -V, --version          show the version and exit
  -n, --nr LIST          hypercalls to trace (default: all), comma-separated,
                         repeatable: names (KVM_HC_SEND_IPI, any case),
                         decimal or 0x-hex numbers, ranges LO-HI; an item
                         may start with its ABI: kvm: (the default), hv: or
                         xen: (hv:HvCallFlushVirtualAddressSpace); a name
                         only one ABI has needs no prefix.  With -n, an
                         ABI it does not name is not traced: -n 42 traces
                         no Hyper-V call, -n hv:HvCallPostMessage no KVM
                         hypercall.  Xen hypercalls are traced where
                         KVM can intercept them (CONFIG_KVM_XEN); elsewhere
                         a xen: item is refused
  -p, --pid PID          trace only this VM: the host pid of its qemu process
  --vm NAME              trace only the VM named NAME (libvirt domain or QEMU
                         -name), or with this UUID; repeatable (any of them).
                         Filtered in userspace, by pid, so a VM that starts or
                         restarts later is caught; what it removed is counted
                         (totals: vm_filtered).  A NAME that matches no running
                         VM at start is a warning, not an error
  --vcpu N               trace only this vCPU (KVM vcpu_id)
  --min-latency DUR      only hypercalls whose exit->entry latency is >= DUR;
                         a unit is required (100us, 1.5ms, ...)
  --hypercall-exits-only only hypercalls of VMCALL/VMMCALL exits (not those
                         KVM runs from another exit, e.g. emulation)
  -d, --duration DUR     trace for DUR, then exit (default: until Ctrl-C)
  -f, --format FMT       text (default), json (one object per line), csv, or
                         chrome: a timeline in the Trace Event Format (JSON)
                         that Perfetto's UI, chrome://tracing and speedscope
                         open: a process per VM, a track per vCPU thread, a
                         slice per hypercall with its phases as children
  -o, --output FILE      write records or summary to FILE instead of stdout
  -s, --summary          print latency statistics and histograms per pid and
                         hypercall number at the end, instead of records (kept
                         in the kernel: no per-hypercall records are moved)
  -i, --interval DUR     with -s: print the summary every DUR and start afresh
                         (a bare number means seconds)
  -T, --timestamp        text: wall-clock time (HH:MM:SS.us) instead of
                         seconds since start
  -b, --backend B        auto (default: bpf, else kmod), bpf or kmod
  --ring-size BYTES      ring buffer size: power of two, suffix K/M/G
                         (default 8M)
  --check                check that this host can trace, then exit
  --list-hypercalls [ABI]
                         print the hypercall names -n takes and the text NAME
                         column shows (all ABIs, or kvm, hv or xen), then exit
  --serve [[ADDR]:PORT]  run as a Prometheus exporter: serve /metrics (text
                         0.0.4 or OpenMetrics) on ADDR:PORT (default: every
                         address, port 9857) until SIGTERM; -n, -p, --vcpu,
                         --min-latency, -b, -d apply (README: Monitoring)
  --max-series N         --serve: at most N series (default 5000); the rest
                         are counted in one vm="_overflow_" series
  --series-grace DUR     --serve: drop a VM's series DUR after its process
                         exited (default 5m)

DUR is a number with a unit: ns, us (or µs), ms, s, m; for the duration a bare
number means seconds; -d and -i take at most 525600m (365 days).  Latency
columns are in microseconds.  The last columns name the VM: VIDX, the vCPU
index as the VMM numbers it (libvirt's map or the thread name "CPU N/KVM"; ?
when unknown; VCPU is KVM's vcpu_id), and VM, its name from libvirt's status
files, else QEMU's -name, else the cgroup machine scope (marked: NAME (cgroup)),
else - (the VM is still shown, by pid).

environment:
  HYPERTRACE_LIBVIRT_RUN_DIR  libvirt's status directory to name VMs from
                         (default /run/libvirt/qemu; e.g. a test's directory)
  HT_KMOD_PATH           -b kmod: insmod this hypertrace.ko instead of modprobe

examples:
    hypertrace                        # trace every hypercall of every VM
    hypertrace -n 42                  # trace hypercall 42 of every VM
    hypertrace -n 0x2a,5,10-12        # several numbers and a range
    hypertrace -n KVM_HC_SEND_IPI     # a hypercall by name
    hypertrace -n 10-12,42            # a range and a number
    hypertrace -n hv:HvCallPostMessage # Hyper-V's PostMessage calls only
    hypertrace --list-hypercalls kvm  # the names of KVM's hypercalls
    hypertrace -p 4242                # only the VM whose qemu pid is 4242
    hypertrace -p 4242 --vcpu 0       # only vCPU 0 of that VM
    hypertrace --vm web1 --vm db      # only the VMs named web1 and db
    hypertrace --min-latency 100us    # only hypercalls taking >= 100 us
    hypertrace --hypercall-exits-only # only VMCALL/VMMCALL exits
    hypertrace 10                     # trace for 10 seconds
    hypertrace -s 30                  # 30 s, then latency summary per pid, nr
    hypertrace -s -i 1                # a summary every second, until Ctrl-C
    hypertrace -f json -o calls.jsonl # JSON lines into a file
    hypertrace -f chrome -o vm.json 5 # a 5 s timeline to open in a trace viewer
    hypertrace -T                     # wall-clock time column
    hypertrace --check                # can this host trace? (exit status)
    hypertrace --serve :9857          # Prometheus exporter on port 9857
)";
}

}  // namespace hypertrace
