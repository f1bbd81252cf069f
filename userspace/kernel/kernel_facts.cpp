// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "kernel/kernel_facts.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "util/files.h"
#include "util/unique_fd.h"

namespace hypertrace {
namespace {

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

// libbpf prints its own complaints about missing BTF files; the facts say it
// in their `how` instead.  Restores the previous printer on scope exit.
class QuietLibbpf {
public:
    QuietLibbpf() : old_(libbpf_set_print(nullptr)) {}
    ~QuietLibbpf() { libbpf_set_print(old_); }
    QuietLibbpf(const QuietLibbpf&) = delete;
    QuietLibbpf& operator=(const QuietLibbpf&) = delete;

private:
    libbpf_print_fn_t old_;
};

// A module's BTF split on vmlinux's, or null when the module has none.
BtfPtr module_btf(const char* module, btf* vmlinux)
{
    if (!vmlinux || !path_exists(std::string("/sys/kernel/btf/") + module))
        return nullptr;
    return BtfPtr(btf__load_module_btf(module, vmlinux));
}

// Parameter kinds of btf_trace_<ev>, see TracepointPrototypes.
std::string trace_params(const btf* b, const char* ev)
{
    const std::string name = std::string("btf_trace_") + ev;
    const int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
    if (id < 0)
        return "";
    const btf_type* t = btf__type_by_id(b, btf__type_by_id(b, id)->type);
    if (!t || !btf_is_ptr(t))
        return "?";
    t = btf__type_by_id(b, t->type);
    if (!t || !btf_is_func_proto(t))
        return "?";
    std::string out;
    const btf_param* p = btf_params(t);
    for (unsigned i = 0; i < btf_vlen(t); ++i) {
        const int rid = btf__resolve_type(b, p[i].type);
        const btf_type* pt = rid < 0 ? nullptr : btf__type_by_id(b, rid);
        if (!pt)
            out += '?';
        else if (btf_is_ptr(pt))
            out += 'p';
        else if (btf_is_int(pt))
            out += (btf_int_encoding(pt) & BTF_INT_BOOL) || pt->size == 1 ? 'b' : 'i';
        else if (btf_is_any_enum(pt))
            out += 'i';
        else
            out += '?';
    }
    return out;
}

Fact<TracepointPrototypes> read_prototypes(const btf* b, const std::string& where)
{
    Fact<TracepointPrototypes> f;
    TracepointPrototypes& p = f.value;
    p.exit_params = trace_params(b, "kvm_exit");
    p.entry_params = trace_params(b, "kvm_entry");
    p.hypercall_params = trace_params(b, "kvm_hypercall");
    if (p.exit_params == "pipi")
        p.exit = HT_EXIT_PROTO_REASON_VCPU_ISA;  // <= 5.15
    else if (p.exit_params == "ppi")
        p.exit = HT_EXIT_PROTO_VCPU_ISA;  // >= 5.16
    if (p.entry_params == "pi")
        p.entry = HT_ENTRY_PROTO_VCPU_ID;  // <= 5.9
    else if (p.entry_params == "pp")
        p.entry = HT_ENTRY_PROTO_VCPU;
    else if (p.entry_params == "ppb")
        p.entry = HT_ENTRY_PROTO_VCPU_FORCE;
    p.hypercall = p.hypercall_params == "piiiii";
    if (p.known())
        f.how = where + ": " + proto_pair(p.exit, p.entry);
    else
        f.how = where + ": unknown tracepoint prototypes (kvm_exit params '" + p.exit_params + "', kvm_entry params '" +
                p.entry_params + "')";
    return f;
}

// A member by name, looking into anonymous struct/union members; byte offset
// from the start of type `id`.  False if absent or a bitfield.
bool find_member(const btf* b, int id, const char* name, std::uint32_t* off, int* member_type, int depth = 0)
{
    const int rid = btf__resolve_type(b, id);
    const btf_type* t = rid < 0 ? nullptr : btf__type_by_id(b, rid);
    if (!t || !btf_is_composite(t) || depth > 4)
        return false;
    const btf_member* m = btf_members(t);
    for (unsigned i = 0; i < btf_vlen(t); i++) {
        const std::uint32_t bits = btf_member_bit_offset(t, i);
        const char* mname = btf__name_by_offset(b, m[i].name_off);
        if (mname && !std::strcmp(mname, name)) {
            if (btf_member_bitfield_size(t, i) || bits % 8)
                return false;
            *off = bits / 8;
            *member_type = static_cast<int>(m[i].type);
            return true;
        }
        if (mname && !*mname) {
            std::uint32_t sub;
            if (find_member(b, static_cast<int>(m[i].type), name, &sub, member_type, depth + 1)) {
                *off = bits / 8 + sub;
                return true;
            }
        }
    }
    return false;
}

// vcpu_svm.vmcb->control.exit_code (arch/x86/kvm/svm/svm.h).  False with
// *how saying why when absent.
bool svm_reason(const btf* b, const std::string& source, ExitReasonLocation* loc, std::string* how)
{
    const int svm = btf__find_by_name_kind(b, "vcpu_svm", BTF_KIND_STRUCT);
    int mt, ctl_t, code_t;
    std::uint32_t vcpu_off, vmcb_off, ctl_off, code_off;
    if (svm <= 0) {
        *how = "no struct vcpu_svm in " + source + "'s BTF";
        return false;
    }
    if (!find_member(b, svm, "vcpu", &vcpu_off, &mt) || !find_member(b, svm, "vmcb", &vmcb_off, &mt)) {
        *how = "vcpu_svm has no vcpu/vmcb member";
        return false;
    }
    const btf_type* pt = btf__type_by_id(b, btf__resolve_type(b, mt));
    if (!pt || !btf_is_ptr(pt)) {
        *how = "vcpu_svm.vmcb is not a pointer";
        return false;
    }
    if (!find_member(b, static_cast<int>(pt->type), "control", &ctl_off, &ctl_t) ||
        !find_member(b, ctl_t, "exit_code", &code_off, &code_t)) {
        *how = "vmcb.control.exit_code not found";
        return false;
    }
    const long sz = btf__resolve_size(b, code_t);
    if (sz != 4 && sz != 8) {
        *how = "vmcb.control.exit_code has size " + std::to_string(sz);
        return false;
    }
    ht_ioc_reason& r = loc->offsets;
    r.isa = HT_ISA_SVM;
    r.vcpu_off = vcpu_off;
    r.ptr_off = vmcb_off;
    r.reason_off = ctl_off + code_off;
    r.reason_size = static_cast<std::uint32_t>(sz);
    loc->vendor_struct = "vcpu_svm";
    loc->btf_source = source;
    std::ostringstream os;
    os << source << " BTF: vcpu_svm.vcpu @" << vcpu_off << ", .vmcb @" << vmcb_off << ", vmcb.control.exit_code @"
       << r.reason_off << " (" << sz << " bytes)";
    *how = os.str();
    return true;
}

// vcpu_vmx.exit_reason (.full) (arch/x86/kvm/vmx/vmx.h).
bool vmx_reason(const btf* b, const std::string& source, ExitReasonLocation* loc, std::string* how)
{
    const int vmx = btf__find_by_name_kind(b, "vcpu_vmx", BTF_KIND_STRUCT);
    int mt, rt;
    std::uint32_t vcpu_off, reason_off;
    if (vmx <= 0) {
        *how = "no struct vcpu_vmx in " + source + "'s BTF";
        return false;
    }
    if (!find_member(b, vmx, "vcpu", &vcpu_off, &mt) || !find_member(b, vmx, "exit_reason", &reason_off, &rt)) {
        *how = "vcpu_vmx has no vcpu/exit_reason member";
        return false;
    }
    const long sz = btf__resolve_size(b, rt);
    if (sz != 4) {
        *how = "vcpu_vmx.exit_reason has size " + std::to_string(sz);
        return false;
    }
    ht_ioc_reason& r = loc->offsets;
    r.isa = HT_ISA_VMX;
    r.vcpu_off = vcpu_off;
    r.ptr_off = HT_REASON_NO_PTR;
    r.reason_off = reason_off;
    r.reason_size = 4;
    loc->vendor_struct = "vcpu_vmx";
    loc->btf_source = source;
    std::ostringstream os;
    os << source << " BTF: vcpu_vmx.vcpu @" << vcpu_off << ", .exit_reason @" << reason_off;
    *how = os.str();
    return true;
}

Fact<ExitReasonLocation> read_exit_reason(btf* vmlinux)
{
    Fact<ExitReasonLocation> f;
    // The vendor module: only one of them can be loaded.
    for (const char* vendor : {"kvm_amd", "kvm_intel"}) {
        if (!path_exists(std::string("/sys/kernel/btf/") + vendor))
            continue;
        BtfPtr vb = module_btf(vendor, vmlinux);
        if (!vb) {
            f.how = std::string("cannot read ") + vendor + "'s BTF";
            return f;
        }
        if (!std::strcmp(vendor, "kvm_amd"))
            svm_reason(vb.get(), vendor, &f.value, &f.how);
        else
            vmx_reason(vb.get(), vendor, &f.value, &f.how);
        return f;
    }
    // Built in: the structs are in vmlinux.
    std::string how;
    if (svm_reason(vmlinux, "vmlinux", &f.value, &how) || vmx_reason(vmlinux, "vmlinux", &f.value, &how))
        f.how = how;
    else
        f.how = "no kvm_amd/kvm_intel BTF (vendor module not loaded?)";
    return f;
}

// Does /proc/kallsyms give `name` a non-zero address?  (Zero: hidden by
// kptr_restrict, which is as good as absent for libbpf's ksym resolution.)
bool kallsyms_has_address(const char* name)
{
    std::ifstream in("/proc/kallsyms");
    std::string line;
    const std::size_t len = std::strlen(name);
    while (std::getline(in, line)) {
        // "ffffffffc0a1b2c0 d kvm_running_vcpu\t[kvm]"
        const std::size_t sym = line.find(' ', line.find(' ') + 1);
        if (sym == std::string::npos || line.compare(sym + 1, len, name) != 0)
            continue;
        const char after = sym + 1 + len < line.size() ? line[sym + 1 + len] : '\0';
        if (after != '\0' && after != '\t' && after != ' ')
            continue;
        return std::strtoull(line.c_str(), nullptr, 16) != 0;
    }
    return false;
}

Fact<bool> read_running_vcpu(const btf* protos, const std::string& where)
{
    Fact<bool> f;
    if (!protos || btf__find_by_name_kind(protos, "kvm_running_vcpu", BTF_KIND_VAR) <= 0) {
        f.how = "no kvm_running_vcpu variable in " + (protos ? where : std::string("any BTF"));
        return f;
    }
    if (!kallsyms_has_address("kvm_running_vcpu")) {
        f.how = "kvm_running_vcpu has no address in kallsyms";
        return f;
    }
    f.value = true;
    f.how = "kvm_running_vcpu in " + where + " and kallsyms";
    return f;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return in ? text.str() : std::string();
}

// Which BTF describes kvm's classic records, and their format files.
Fact<ClassicRecords> read_classic_records(const btf* protos, const std::string& where, const std::string& events)
{
    Fact<ClassicRecords> f;
    ClassicRecords& r = f.value;
    if (protos && btf__find_by_name_kind(protos, "trace_event_raw_kvm_exit", BTF_KIND_STRUCT) > 0 &&
        btf__find_by_name_kind(protos, "trace_event_raw_kvm_hypercall", BTF_KIND_STRUCT) > 0 &&
        btf__find_by_name_kind(protos, "trace_event_raw_kvm_entry", BTF_KIND_STRUCT) > 0)
        r.btf_source = where;
    if (!events.empty()) {
        r.exit = parse_record_format(read_file(events + "/kvm_exit/format"));
        r.hypercall = parse_record_format(read_file(events + "/kvm_hypercall/format"));
        r.entry = parse_record_format(read_file(events + "/kvm_entry/format"));
        r.userspace_exit = parse_record_format(read_file(events + "/kvm_userspace_exit/format"));
        r.hv_hypercall = parse_record_format(read_file(events + "/kvm_hv_hypercall/format"));
        r.hv_hypercall_done = parse_record_format(read_file(events + "/kvm_hv_hypercall_done/format"));
        r.xen_hypercall = parse_record_format(read_file(events + "/kvm_xen_hypercall/format"));
    }
    f.how = r.btf_source.empty() ? "kvm's records (trace_event_raw_kvm_*) are in no BTF"
                                 : "kvm's records (trace_event_raw_kvm_*) in " + r.btf_source;
    f.how += events.empty() ? ", no format files (no kvm tracepoints in tracefs)" : ", format files in " + events;
    return f;
}

Fact<XenIntercept> read_xen_intercept()
{
    Fact<XenIntercept> f;
    const UniqueFd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm) {
        f.how = std::string("/dev/kvm cannot be opened (") + std::strerror(errno) + ")";
        return f;
    }
    const int caps = ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM);
    if (caps < 0) {
        f.how = std::string("KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM) failed (") + std::strerror(errno) + ")";
        return f;
    }
    f.value = caps > 0 && (caps & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL) ? XenIntercept::Yes : XenIntercept::No;
    std::ostringstream how;
    how << "KVM_CAP_XEN_HVM is " << std::showbase << std::hex << caps
        << (f.value == XenIntercept::Yes ? ", with" : ", without") << " KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL";
    f.how = how.str();
    return f;
}

// CapEff from /proc/self/status: no libcap dependency for one bitmask.
std::uint64_t effective_caps()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0)
            return std::stoull(line.substr(7), nullptr, 16);
    }
    return 0;
}

}  // namespace

std::uint32_t xen_hypercall_proto(const KernelFacts& k, std::string* how)
{
    // What to do, for every "no": Xen HVM guests' hypercalls reach
    // kvm_xen_hypercall only in such a kernel (QEMU's -accel kvm,xen-version=...).
    static const char* const kFix = "; Xen hypercalls are traced on kernels built with CONFIG_KVM_XEN (Linux 5.12+)";
    const RecordFormat& r = k.classic_records.value.xen_hypercall;
    if (r.empty()) {
        *how = std::string("kvm_xen_hypercall: no format file (this kernel has no such tracepoint)") + kFix;
        return HT_XEN_PROTO_NONE;
    }
    for (const char* f : {"nr", "a0", "a1", "a2", "a3", "a4", "a5"})
        if (r.find(f) == r.end()) {
            *how = std::string("kvm_xen_hypercall's format file has no field ") + f + ": Xen hypercalls not traced";
            return HT_XEN_PROTO_NONE;
        }
    if (k.xen_intercept.value == XenIntercept::No) {
        *how = "kvm_xen_hypercall cannot fire here (" + k.xen_intercept.how +
               "): this KVM cannot intercept Xen hypercalls, its kernel is built without CONFIG_KVM_XEN" + kFix;
        return HT_XEN_PROTO_NONE;
    }
    const bool cpl = r.find("cpl") != r.end();
    *how = std::string("kvm_xen_hypercall ") + (cpl ? "with" : "without") + " cpl" +
           (k.xen_intercept.value == XenIntercept::Yes ? "" : " (" + k.xen_intercept.how + ": attached anyway)");
    return cpl ? HT_XEN_PROTO_CPL : HT_XEN_PROTO_NR;
}

std::uint32_t hv_hypercall_proto(const ClassicRecords& r, std::string* how)
{
    if (r.hv_hypercall.empty()) {
        *how = "kvm_hv_hypercall: no format file (this kvm has no such tracepoint)";
        return HT_HV_PROTO_NONE;
    }
    for (const char* f : {"code", "fast", "rep_cnt", "rep_idx", "ingpa", "outgpa"})
        if (r.hv_hypercall.find(f) == r.hv_hypercall.end()) {
            *how = std::string("kvm_hv_hypercall's format file has no field ") + f;
            return HT_HV_PROTO_NONE;
        }
    const bool var_cnt = r.hv_hypercall.find("var_cnt") != r.hv_hypercall.end();
    *how = std::string("kvm_hv_hypercall ") + (var_cnt ? "with" : "without") + " var_cnt" +
           (r.hv_hypercall_done.empty() ? ", no kvm_hv_hypercall_done (results not known)" : ", kvm_hv_hypercall_done");
    return var_cnt ? HT_HV_PROTO_VAR_CNT : HT_HV_PROTO_NO_VAR_CNT;
}

KernelFacts probe_kernel_facts()
{
    QuietLibbpf quiet;
    KernelFacts k;
    k.kvm_events_dir = find_kvm_events_dir();
    k.xen_intercept = read_xen_intercept();
    BtfPtr vmlinux(btf__load_vmlinux_btf());
    k.vmlinux_btf = vmlinux != nullptr;
    if (!vmlinux) {
        k.prototypes.how = "no kernel BTF (/sys/kernel/btf/vmlinux)";
        k.bpf_mem_alloc.how = k.prototypes.how;
        k.exit_reason.how = k.prototypes.how;
        k.running_vcpu.how = k.prototypes.how;
        k.classic_records = read_classic_records(nullptr, "", k.kvm_events_dir.value);
        return k;
    }
    k.bpf_mem_alloc.value = btf__find_by_name_kind(vmlinux.get(), "bpf_mem_alloc", BTF_KIND_STRUCT) > 0;
    k.bpf_mem_alloc.how = k.bpf_mem_alloc.value ? "struct bpf_mem_alloc in vmlinux BTF"
                                                : "no bpf_mem_alloc in vmlinux BTF: no run-time allocation in "
                                                  "tracing programs";
    BtfPtr kvm = module_btf("kvm", vmlinux.get());
    const btf* protos = nullptr;
    std::string where;
    if (kvm) {
        protos = kvm.get();
        where = "kvm module BTF";
    } else if (btf__find_by_name_kind(vmlinux.get(), "btf_trace_kvm_exit", BTF_KIND_TYPEDEF) > 0) {
        protos = vmlinux.get();
        where = "vmlinux BTF (kvm built in)";
    }
    if (protos)
        k.prototypes = read_prototypes(protos, where);
    else
        k.prototypes.how = "no BTF for kvm (kvm not loaded, or a kernel without module BTF)";
    k.running_vcpu = read_running_vcpu(protos, where);
    k.exit_reason = read_exit_reason(vmlinux.get());
    k.classic_records = read_classic_records(protos, where, k.kvm_events_dir.value);
    return k;
}

Fact<bool> probe_task_storage()
{
    Fact<bool> f;
    f.value = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1 &&
              libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr) == 1 &&
              libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, nullptr) == 1;
    f.how = f.value ? "task storage map and helpers probed" : "no task storage map or helpers (before 5.11)";
    return f;
}

Fact<bool> probe_ringbuf()
{
    Fact<bool> f;
    f.value = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
    f.how = f.value ? "BPF ring buffer probed" : "no BPF ring buffer map (before 5.8)";
    return f;
}

Fact<std::string> find_kvm_events_dir()
{
    Fact<std::string> f;
    // libbpf looks in the same two places, in this order, for tracepoint ids.
    bool tracefs = false;
    for (const std::string root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        if (!path_exists(root + "/events"))
            continue;
        tracefs = true;
        const std::string dir = root + "/events/kvm";
        if (path_exists(dir + "/kvm_exit") && path_exists(dir + "/kvm_hypercall") && path_exists(dir + "/kvm_entry")) {
            f.value = dir;
            f.how = "tracefs: " + dir;
            return f;
        }
    }
    if (!tracefs)
        f.how = "tracefs is not mounted: mount it with 'mount -t tracefs nodev /sys/kernel/tracing'";
    else
        f.how =
            "the kvm tracepoints kvm_exit/kvm_hypercall/kvm_entry do not exist: this is not a KVM host "
            "or kvm is not loaded (modprobe kvm_intel or kvm_amd)";
    return f;
}

std::string missing_bpf_capabilities()
{
    constexpr int kSysAdmin = 21, kPerfmon = 38, kBpf = 39;
    const std::uint64_t caps = effective_caps();
    auto has = [caps](int bit) { return (caps >> bit) & 1u; };
    if (has(kSysAdmin) || (has(kBpf) && has(kPerfmon)))
        return {};
    std::ostringstream msg;
    msg << "missing capabilities:";
    if (!has(kBpf))
        msg << " CAP_BPF";
    if (!has(kPerfmon))
        msg << " CAP_PERFMON";
    msg << " (or CAP_SYS_ADMIN); run hypertrace as root";
    return msg.str();
}

const char* exit_proto_name(std::uint32_t p)
{
    switch (p) {
    case HT_EXIT_PROTO_REASON_VCPU_ISA: return "(exit_reason, vcpu, isa)";
    case HT_EXIT_PROTO_VCPU_ISA: return "(vcpu, isa)";
    default: return "(unknown)";
    }
}

const char* entry_proto_name(std::uint32_t p)
{
    switch (p) {
    case HT_ENTRY_PROTO_VCPU_ID: return "(vcpu_id)";
    case HT_ENTRY_PROTO_VCPU: return "(vcpu)";
    case HT_ENTRY_PROTO_VCPU_FORCE: return "(vcpu, force_immediate_exit)";
    default: return "(unknown)";
    }
}

std::string proto_pair(std::uint32_t exit, std::uint32_t entry)
{
    return std::string("kvm_exit") + exit_proto_name(exit) + ", kvm_entry" + entry_proto_name(entry);
}

}  // namespace hypertrace
