// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The kernel-module backend (see kmod_backend.h).
//
// The module cannot know the kvm tracepoints' prototypes reliably (distros
// backport changes; the headers packages lack arch/x86/kvm/trace.h), and a
// probe with the wrong prototype corrupts silently.  So we read them here from
// the kvm module's BTF and tell the module at START; without BTF we accept
// the module's compile-time guess (clearly reported), and refuse what we do
// not recognise.  The same goes for the exit reason on >= 5.16: offsets into
// the vendor vCPU struct, read from the vendor module's BTF.
#include "backend/kmod_backend.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <sstream>
#include <sys/mman.h>
#include <iostream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

namespace hypertrace {

namespace {

std::string errstr(int err) { return std::strerror(err); }

// ---- BTF ---------------------------------------------------------------

struct BtfPtr {
    struct btf* p = nullptr;
    BtfPtr() = default;
    explicit BtfPtr(struct btf* b) : p(b) {}
    BtfPtr(const BtfPtr&) = delete;
    BtfPtr& operator=(const BtfPtr&) = delete;
    ~BtfPtr() { if (p) btf__free(p); }
};

bool file_exists(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// Parameters of the typedef'd function pointer btf_trace_<ev>, as kinds:
// 'p' pointer, 'b' bool (1-byte int), 'i' other integer, '?' anything else.
// The first parameter (void *__data) is included.  Empty: not found.
std::string trace_params(const struct btf* btf, const char* ev)
{
    std::string name = std::string("btf_trace_") + ev;
    int id = btf__find_by_name_kind(btf, name.c_str(), BTF_KIND_TYPEDEF);
    if (id < 0)
        return "";
    const struct btf_type* t = btf__type_by_id(btf, id);
    t = btf__type_by_id(btf, t->type);
    if (!t || !btf_is_ptr(t))
        return "?";
    t = btf__type_by_id(btf, t->type);
    if (!t || !btf_is_func_proto(t))
        return "?";
    std::string out;
    const struct btf_param* p = btf_params(t);
    for (unsigned i = 0; i < btf_vlen(t); i++) {
        int rid = btf__resolve_type(btf, p[i].type);
        const struct btf_type* pt = rid < 0 ? nullptr : btf__type_by_id(btf, rid);
        if (!pt)
            out += '?';
        else if (btf_is_ptr(pt))
            out += 'p';
        else if (btf_is_int(pt))
            out += (btf_int_encoding(pt) & BTF_INT_BOOL) || pt->size == 1 ? 'b' : 'i';
        else if (btf_is_enum(pt))
            out += 'i';
        else
            out += '?';
    }
    return out;
}

// A member by name, looking into anonymous struct/union members; byte offset
// from the start of type `id`.  False if absent or a bitfield.
bool find_member(const struct btf* btf, int id, const char* name,
                 std::uint32_t* off, int* member_type, int depth = 0)
{
    int rid = btf__resolve_type(btf, id);
    const struct btf_type* t = rid < 0 ? nullptr : btf__type_by_id(btf, rid);
    if (!t || !btf_is_composite(t) || depth > 4)
        return false;
    const struct btf_member* m = btf_members(t);
    for (unsigned i = 0; i < btf_vlen(t); i++) {
        std::uint32_t bits = btf_member_bit_offset(t, i);
        const char* mname = btf__name_by_offset(btf, m[i].name_off);
        if (mname && !std::strcmp(mname, name)) {
            if (btf_member_bitfield_size(t, i) || bits % 8)
                return false;
            *off = bits / 8;
            *member_type = m[i].type;
            return true;
        }
        if (mname && !*mname) {
            std::uint32_t sub;
            if (find_member(btf, m[i].type, name, &sub, member_type, depth + 1)) {
                *off = bits / 8 + sub;
                return true;
            }
        }
    }
    return false;
}

bool find_struct(const struct btf* btf, const char* name, int* id)
{
    *id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
    return *id > 0;
}

// vcpu_svm.vmcb->control.exit_code
bool svm_reason(const struct btf* btf, ht_ioc_reason* r, std::string* how)
{
    int svm, mt, vmcb, ctl_t, code_t;
    std::uint32_t vcpu_off, vmcb_off, ctl_off, code_off;
    if (!find_struct(btf, "vcpu_svm", &svm)) {
        *how = "no struct vcpu_svm in kvm_amd's BTF";
        return false;
    }
    if (!find_member(btf, svm, "vcpu", &vcpu_off, &mt) ||
        !find_member(btf, svm, "vmcb", &vmcb_off, &mt)) {
        *how = "vcpu_svm has no vcpu/vmcb member";
        return false;
    }
    const struct btf_type* pt = btf__type_by_id(btf, btf__resolve_type(btf, mt));
    if (!pt || !btf_is_ptr(pt)) {
        *how = "vcpu_svm.vmcb is not a pointer";
        return false;
    }
    vmcb = pt->type;
    if (!find_member(btf, vmcb, "control", &ctl_off, &ctl_t) ||
        !find_member(btf, ctl_t, "exit_code", &code_off, &code_t)) {
        *how = "vmcb.control.exit_code not found";
        return false;
    }
    long sz = btf__resolve_size(btf, code_t);
    if (sz != 4 && sz != 8) {
        *how = "vmcb.control.exit_code has size " + std::to_string(sz);
        return false;
    }
    r->isa = HT_ISA_SVM;
    r->vcpu_off = vcpu_off;
    r->ptr_off = vmcb_off;
    r->reason_off = ctl_off + code_off;
    r->reason_size = static_cast<std::uint32_t>(sz);
    std::ostringstream os;
    os << "kvm_amd BTF: vcpu_svm.vcpu @" << vcpu_off << ", .vmcb @" << vmcb_off
       << ", vmcb.control.exit_code @" << r->reason_off << " (" << sz << " bytes)";
    *how = os.str();
    return true;
}

// vcpu_vmx.exit_reason (.full)
bool vmx_reason(const struct btf* btf, ht_ioc_reason* r, std::string* how)
{
    int vmx, mt, rt;
    std::uint32_t vcpu_off, reason_off;
    if (!find_struct(btf, "vcpu_vmx", &vmx)) {
        *how = "no struct vcpu_vmx in kvm_intel's BTF";
        return false;
    }
    if (!find_member(btf, vmx, "vcpu", &vcpu_off, &mt) ||
        !find_member(btf, vmx, "exit_reason", &reason_off, &rt)) {
        *how = "vcpu_vmx has no vcpu/exit_reason member";
        return false;
    }
    long sz = btf__resolve_size(btf, rt);
    if (sz != 4) {
        *how = "vcpu_vmx.exit_reason has size " + std::to_string(sz);
        return false;
    }
    r->isa = HT_ISA_VMX;
    r->vcpu_off = vcpu_off;
    r->ptr_off = HT_REASON_NO_PTR;
    r->reason_off = reason_off;
    r->reason_size = 4;
    std::ostringstream os;
    os << "kvm_intel BTF: vcpu_vmx.vcpu @" << vcpu_off << ", .exit_reason @"
       << reason_off;
    *how = os.str();
    return true;
}

// ---- module loading ----------------------------------------------------

int run_quiet(const std::vector<std::string>& argv, std::string* err)
{
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pfd[0]);
        ::close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        std::vector<char*> a;
        for (const auto& s : argv)
            a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        ::dup2(pfd[1], 1);
        ::dup2(pfd[1], 2);
        // hypertrace ignores SIGPIPE (main.cpp); an ignored signal stays
        // ignored across exec, and modprobe expects the default.
        ::signal(SIGPIPE, SIG_DFL);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    ::close(pfd[1]);
    char buf[512];
    ssize_t n;
    while ((n = ::read(pfd[0], buf, sizeof(buf))) > 0)
        if (err->size() < 4096)
            err->append(buf, static_cast<std::size_t>(n));
    ::close(pfd[0]);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    while (!err->empty() && (err->back() == '\n' || err->back() == ' '))
        err->pop_back();
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void load_module()
{
    const char* path = std::getenv("HT_KMOD_PATH");
    std::vector<std::string> argv;
    if (path && *path)
        argv = {"insmod", path};
    else
        argv = {"modprobe", "hypertrace"};
    std::string out;
    int rc = run_quiet(argv, &out);
    if (rc != 0) {
        std::string how = argv[0] + " " + argv[1];
        std::string msg = "kmod backend: " HT_DEVICE_PATH " is missing and `" + how +
                          "` failed (exit " + std::to_string(rc) + ")" +
                          (out.empty() ? "" : ": " + out) + ". ";
        if (path && *path)
            msg += "Check HT_KMOD_PATH: it must name a hypertrace.ko built for "
                   "this kernel (make -C kmod KDIR=/lib/modules/$(uname -r)/build).";
        else
            msg += "The hypertrace module is not installed for this kernel: install "
                   HT_KMOD_PACKAGE " (and the linux-headers package of the running "
                   "kernel), or build kmod/ (make -C kmod) and set HT_KMOD_PATH to "
                   "the hypertrace.ko.";
        throw BackendError(msg);
    }
    // udev or devtmpfs creates the node; give it a moment.
    for (int i = 0; i < 200 && !file_exists(HT_DEVICE_PATH); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Undo load_module(): rmmod without the tool.  O_NONBLOCK: if another
// session opened the device meanwhile, it keeps the module (EWOULDBLOCK).
void unload_module()
{
    if (::syscall(SYS_delete_module, HT_DEVICE_NAME, O_NONBLOCK) == 0)
        return;
    int err = errno;
    if (err != EWOULDBLOCK && err != EBUSY && err != ENOENT)
        std::cerr << "hypertrace: kmod backend: could not unload the hypertrace module "
                     "it loaded (" << errstr(err) << "): unload it with 'rmmod hypertrace'\n";
}

const char* attached_names(std::uint32_t bits)
{
    static const char* names[8] = {"none", "kvm_exit", "kvm_hypercall",
                                   "kvm_exit, kvm_hypercall", "kvm_entry",
                                   "kvm_exit, kvm_entry", "kvm_hypercall, kvm_entry",
                                   "all three"};
    return names[bits & 7];
}

// HT_IOC_GET_STATUS into *st; false (errno set) if the ioctl failed.
bool get_status(int fd, ht_ioc_status* st)
{
    *st = ht_ioc_status{};
    return ::ioctl(fd, HT_IOC_GET_STATUS, st) == 0;
}

// After START: the module attaches from the tracepoint module notifier and
// says nothing when kvm is absent, so ask it.  Throws BackendError.
void verify_attached(const ht_ioc_status& st)
{
    if (st.attach_errors)
        throw BackendError("kmod backend: the module could not attach its probes to the kvm "
                           "tracepoints (" + std::to_string(st.attach_errors) +
                           " error(s); attached to: " + attached_names(st.attached) +
                           "; the kernel log says why: dmesg | grep hypertrace). Use -b bpf, "
                           "or report it with the kernel version.");
    if (st.attached == HT_ATTACHED_ALL)
        return;
    if (!file_exists("/sys/module/kvm"))
        throw BackendError("kmod backend: the kvm tracepoints kvm_exit/kvm_hypercall/kvm_entry "
                           "do not exist: this is not a KVM host or kvm is not loaded "
                           "(modprobe kvm_intel or kvm_amd)");
    throw BackendError(std::string("kmod backend: kvm is loaded but the module attached to ") +
                       attached_names(st.attached) + " of kvm_exit/kvm_hypercall/kvm_entry: "
                       "this kernel's kvm lacks some of them. Use -b bpf.");
}

int open_device()
{
    int fd = ::open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int err = errno;
    if (err == EBUSY)
        throw BackendError("kmod backend: " HT_DEVICE_PATH " is busy: another "
                           "hypertrace session (-b kmod) is running, and the module "
                           "serves one at a time. Stop it, or use -b bpf.");
    if (err == EACCES || err == EPERM)
        throw BackendError("kmod backend: cannot open " HT_DEVICE_PATH ": " +
                           errstr(err) + ". It needs root (CAP_PERFMON or CAP_SYS_ADMIN): "
                           "run hypertrace as root.");
    throw BackendError("kmod backend: cannot open " HT_DEVICE_PATH ": " + errstr(err));
}

void handshake(int fd)
{
    __u32 ver = 0;
    if (::ioctl(fd, HT_IOC_VERSION, &ver) < 0)
        throw BackendError("kmod backend: " HT_DEVICE_PATH " does not answer the "
                           "hypertrace version handshake (" + errstr(errno) +
                           "): is it the hypertrace module? Reinstall " HT_KMOD_PACKAGE ".");
    if (ver != HT_IOCTL_VERSION)
        throw BackendError("kmod backend: the loaded hypertrace module speaks interface "
                           "version " + std::to_string(ver) + ", this hypertrace needs " +
                           std::to_string(HT_IOCTL_VERSION) + ". Update " HT_KMOD_PACKAGE
                           " to the version of this hypertrace, then reload the module "
                           "(rmmod hypertrace).");
}

std::string proto_pair(std::uint32_t ex, std::uint32_t en)
{
    return std::string("kvm_exit") + exit_proto_name(ex) + ", kvm_entry" +
           entry_proto_name(en);
}

}  // namespace

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

KmodDetection detect_kmod_kernel()
{
    KmodDetection d;
    libbpf_set_print(nullptr);
    BtfPtr vmlinux(btf__load_vmlinux_btf());
    if (!vmlinux.p) {
        d.protos_how = "no kernel BTF (/sys/kernel/btf/vmlinux)";
        d.reason_how = d.protos_how;
        return d;
    }
    BtfPtr kvm;
    const struct btf* tp_btf = nullptr;
    std::string where;
    if (file_exists("/sys/kernel/btf/kvm")) {
        kvm.p = btf__load_module_btf("kvm", vmlinux.p);
        tp_btf = kvm.p;
        where = "kvm module BTF";
    } else if (btf__find_by_name_kind(vmlinux.p, "btf_trace_kvm_exit",
                                      BTF_KIND_TYPEDEF) > 0) {
        tp_btf = vmlinux.p;
        where = "vmlinux BTF (kvm built in)";
    }
    if (!tp_btf) {
        d.protos_how = "no BTF for kvm (kvm not loaded, or a kernel without "
                       "module BTF)";
    } else {
        std::string ex = trace_params(tp_btf, "kvm_exit");
        std::string en = trace_params(tp_btf, "kvm_entry");
        // Parameters including the leading void *__data.
        if (ex == "pipi")
            d.exit_proto = HT_EXIT_PROTO_REASON_VCPU_ISA;
        else if (ex == "ppi")
            d.exit_proto = HT_EXIT_PROTO_VCPU_ISA;
        if (en == "pi")
            d.entry_proto = HT_ENTRY_PROTO_VCPU_ID;
        else if (en == "pp")
            d.entry_proto = HT_ENTRY_PROTO_VCPU;
        else if (en == "ppb")
            d.entry_proto = HT_ENTRY_PROTO_VCPU_FORCE;
        if (d.exit_proto == HT_EXIT_PROTO_AUTO || d.entry_proto == HT_ENTRY_PROTO_AUTO) {
            d.refuse = !ex.empty() || !en.empty();
            d.protos_how = where + ": unknown tracepoint prototypes (kvm_exit params '" +
                           ex + "', kvm_entry params '" + en + "')";
            d.exit_proto = HT_EXIT_PROTO_AUTO;
            d.entry_proto = HT_ENTRY_PROTO_AUTO;
        } else {
            d.protos_how = where + ": " + proto_pair(d.exit_proto, d.entry_proto);
        }
    }

    // The vendor module: only one of them can be loaded.
    for (const char* vendor : {"kvm_amd", "kvm_intel"}) {
        if (!file_exists(std::string("/sys/kernel/btf/") + vendor))
            continue;
        BtfPtr vb(btf__load_module_btf(vendor, vmlinux.p));
        if (!vb.p) {
            d.reason_how = std::string("cannot read ") + vendor + "'s BTF";
            break;
        }
        if (!std::strcmp(vendor, "kvm_amd"))
            svm_reason(vb.p, &d.reason, &d.reason_how);
        else
            vmx_reason(vb.p, &d.reason, &d.reason_how);
        break;
    }
    if (d.reason.isa == HT_ISA_UNKNOWN && d.reason_how.empty()) {
        const struct btf* b = vmlinux.p;  // built-in kvm_amd / kvm_intel
        std::string how;
        if (!svm_reason(b, &d.reason, &how))
            vmx_reason(b, &d.reason, &how);
        d.reason_how = d.reason.isa ? "vmlinux " + how
                                    : "no kvm_amd/kvm_intel BTF (vendor module not loaded?)";
    }
    return d;
}

// ---- the backend -------------------------------------------------------

KmodBackend::~KmodBackend()
{
    // Closing detaches and frees; unmapping first lets release run now, so
    // that the module is unused when we unload it.
    if (cons_)
        ::munmap(cons_, page_);
    if (rest_)
        ::munmap(rest_, rest_len_);
    if (fd_ >= 0)
        ::close(fd_);
    if (loaded_module_ && (unload_on_close_ || !started_))
        unload_module();
}

RingMapping KmodBackend::ring() const
{
    RingMapping m;
    m.consumer_pos = static_cast<volatile std::uint64_t*>(cons_);
    m.producer_pos = static_cast<const volatile std::uint64_t*>(rest_);
    m.data = static_cast<const std::uint8_t*>(rest_) + page_;
    m.size = size_;
    m.fd = fd_;
    return m;
}

Counters KmodBackend::counters() const
{
    ht_ioc_counters c{};
    Counters out{};
    if (::ioctl(fd_, HT_IOC_GET_COUNTERS, &c) == 0)
        for (std::size_t i = 0; i < out.size(); i++)
            out[i] = c.c[i];
    return out;
}

ht_ioc_status KmodBackend::status() const
{
    ht_ioc_status st;
    get_status(fd_, &st);  // zeros if it failed
    return st;
}

std::vector<AggregateEntry> KmodBackend::take_aggregates()
{
    std::vector<AggregateEntry> out;
    if (!aggregate_ || fd_ < 0)
        return out;
    // One buffer of agg_keys entries (~9.5 KB each) takes a whole interval
    // in one call; `remaining` covers a module with more keys than that.
    if (agg_buf_.empty())
        agg_buf_.resize(std::max<std::uint32_t>(info_.agg_keys, 1));
    for (;;) {
        ht_ioc_agg_take t{};
        t.entries = reinterpret_cast<std::uintptr_t>(agg_buf_.data());
        t.capacity = static_cast<std::uint32_t>(agg_buf_.size());
        if (::ioctl(fd_, HT_IOC_AGG_TAKE, &t) < 0)
            throw BackendError("kmod backend: HT_IOC_AGG_TAKE failed: " + errstr(errno));
        out.reserve(out.size() + t.count);
        for (std::uint32_t i = 0; i < t.count; i++) {
            AggregateEntry e;
            e.key = agg_buf_[i].key;
            e.value = agg_buf_[i].value;
            out.push_back(e);
        }
        if (t.remaining == 0)
            break;
    }
    return out;
}

void KmodBackend::stop()
{
    if (stopped_ || fd_ < 0)
        return;
    // What happened to the probes during the session, read before STOP
    // detaches them (attach_count counts the times all three got attached).
    ht_ioc_status st;
    const bool have = get_status(fd_, &st);
    ::ioctl(fd_, HT_IOC_STOP);
    stopped_ = true;
    if (!have || !started_)
        return;
    if (st.attach_count > 1)
        std::cerr << "hypertrace: kvm was unloaded and loaded " << st.attach_count - 1
                  << (st.attach_count == 2 ? " time" : " times")
                  << "; the probes followed it\n";
    if (st.attached != HT_ATTACHED_ALL)
        std::cerr << "hypertrace: kvm was unloaded during the session and the probes were on "
                  << attached_names(st.attached) << " of kvm_exit/kvm_hypercall/kvm_entry "
                     "at the end: hypercalls after that were not traced\n";
    if (st.attach_errors)
        std::cerr << "hypertrace: the module failed " << st.attach_errors
                  << " time(s) to attach a probe to a kvm tracepoint during the session "
                     "(dmesg | grep hypertrace): hypercalls were missed\n";
}

std::unique_ptr<Backend> open_kmod_backend(const BackendConfig& cfg)
{
    const std::uint32_t rb = cfg.ring_bytes;
    if (rb < HT_KRING_MIN_BYTES || rb > HT_KRING_MAX_BYTES || (rb & (rb - 1)))
        throw BackendError("kmod backend: ring size " + std::to_string(rb) +
                           " must be a power of two between " +
                           std::to_string(HT_KRING_MIN_BYTES) + " and " +
                           std::to_string(HT_KRING_MAX_BYTES) + " bytes");

    // Detect first: refuse before touching the module.
    KmodDetection det = detect_kmod_kernel();
    if (det.refuse)
        throw BackendError("kmod backend: refusing to attach: " + det.protos_how +
                           ". A probe with the wrong prototype would corrupt the "
                           "kernel silently; this hypertrace does not know this "
                           "kernel: update hypertrace and " HT_KMOD_PACKAGE ", or use -b bpf.");

    bool loaded = false;
    if (!file_exists(HT_DEVICE_PATH)) {
        load_module();
        loaded = true;
    }

    // From here on, a throw destroys b: unmapped, closed (detached) and the
    // module unloaded if we loaded it.
    std::unique_ptr<KmodBackend> b(new KmodBackend());
    b->loaded_module_ = loaded;
    b->fd_ = open_device();
    handshake(b->fd_);
    if (::ioctl(b->fd_, HT_IOC_INFO, &b->info_) < 0)
        throw BackendError("kmod backend: HT_IOC_INFO failed: " + errstr(errno));
    b->page_ = b->info_.page_size;
    if (b->info_.record_size != sizeof(ht_record) ||
        b->info_.record_version != HT_RECORD_VERSION)
        throw BackendError("kmod backend: the module writes records of another "
                           "version; update " HT_KMOD_PACKAGE " to match hypertrace.");
    if (rb % b->page_)
        throw BackendError("kmod backend: ring size must be a multiple of the "
                           "page size (" + std::to_string(b->page_) + ")");

    ht_ioc_start start{};
    std::string how;
    if (det.exit_proto != HT_EXIT_PROTO_AUTO) {
        start.exit_proto = det.exit_proto;
        start.entry_proto = det.entry_proto;
        how = det.protos_how;
    } else if (b->info_.guess_source != HT_GUESS_NONE &&
               b->info_.guess_exit_proto != HT_EXIT_PROTO_AUTO &&
               b->info_.guess_entry_proto != HT_ENTRY_PROTO_AUTO) {
        start.exit_proto = b->info_.guess_exit_proto;
        start.entry_proto = b->info_.guess_entry_proto;
        how = std::string("module's compile-time guess (") +
              (b->info_.guess_source == HT_GUESS_HEADERS ? "kernel headers"
                                                         : "kernel version") +
              ", " + det.protos_how + "): " +
              proto_pair(start.exit_proto, start.entry_proto);
    } else {
        throw BackendError("kmod backend: cannot tell the kvm tracepoint prototypes "
                           "of this kernel (" + det.protos_how + ", and the module "
                           "has no compile-time guess for " +
                           std::string(b->info_.kernel_release) +
                           "). Load kvm first, or use -b bpf.");
    }

    ht_ioc_config c{};
    c.ring_bytes = rb;
    c.flags = cfg.aggregate ? HT_CONFIG_F_AGGREGATE : 0;
    c.filter = cfg.filter;
    if (::ioctl(b->fd_, HT_IOC_SET_CONFIG, &c) < 0)
        throw BackendError("kmod backend: the module rejected the configuration (" +
                           errstr(errno) + "): hypercall ranges must be sorted and "
                           "merged (at most " + std::to_string(HT_MAX_NR_RANGES) +
                           "), ring size a power of two");

    std::string reason_how;
    if (start.exit_proto == HT_EXIT_PROTO_REASON_VCPU_ISA) {
        reason_how = "exit reason from kvm_exit's argument";
    } else if (det.reason.isa != HT_ISA_UNKNOWN) {
        if (::ioctl(b->fd_, HT_IOC_SET_REASON, &det.reason) < 0)
            throw BackendError("kmod backend: the module rejected the exit-reason "
                               "offsets (" + errstr(errno) + "): " + det.reason_how);
        reason_how = "exit reason from " + det.reason_how;
    } else {
        reason_how = "exit reason unknown (" + det.reason_how + ")";
    }

    b->aggregate_ = cfg.aggregate;
    b->size_ = rb;
    b->cons_ = ::mmap(nullptr, b->page_, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd_, 0);
    if (b->cons_ == MAP_FAILED) {
        b->cons_ = nullptr;
        throw BackendError("kmod backend: cannot map the ring's consumer page: " +
                           errstr(errno));
    }
    b->rest_len_ = b->page_ + 2 * static_cast<std::size_t>(rb);
    b->rest_ = ::mmap(nullptr, b->rest_len_, PROT_READ, MAP_SHARED, b->fd_,
                      static_cast<off_t>(b->page_));
    if (b->rest_ == MAP_FAILED) {
        b->rest_ = nullptr;
        throw BackendError("kmod backend: cannot map the ring: " + errstr(errno));
    }

    if (::ioctl(b->fd_, HT_IOC_START, &start) < 0)
        throw BackendError("kmod backend: cannot start tracing (" + errstr(errno) +
                           ") with " + proto_pair(start.exit_proto, start.entry_proto));
    ht_ioc_status st;
    if (!get_status(b->fd_, &st))
        throw BackendError("kmod backend: HT_IOC_GET_STATUS failed: " + errstr(errno));
    verify_attached(st);
    b->started_ = true;
    b->detection_ = how + "; " + reason_how;
    return b;
}

std::string kmod_check(bool* usable)
{
    std::ostringstream os;
    bool ok = true;
    struct utsname u {};
    ::uname(&u);
    KmodDetection d = detect_kmod_kernel();
    os << "kmod: tracepoint prototypes: " << d.protos_how;
    if (d.refuse) {
        os << " -> refused (unknown to this hypertrace)";
        ok = false;
    }
    os << "\nkmod: " << d.reason_how;
    if (file_exists(HT_DEVICE_PATH)) {
        int fd = ::open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            os << "\nkmod: " HT_DEVICE_PATH " present but cannot be opened: "
               << errstr(errno)
               << (errno == EBUSY ? " (another session uses it)" : "");
            ok = ok && errno == EBUSY;
        } else {
            __u32 ver = 0;
            if (::ioctl(fd, HT_IOC_VERSION, &ver) < 0 || ver != HT_IOCTL_VERSION) {
                os << "\nkmod: module interface version " << ver << ", need "
                   << HT_IOCTL_VERSION << ": update " HT_KMOD_PACKAGE;
                ok = false;
            } else {
                ht_ioc_info info{};
                ::ioctl(fd, HT_IOC_INFO, &info);
                os << "\nkmod: module loaded, interface " << ver << ", built for "
                   << info.kernel_release;
                if (d.exit_proto == HT_EXIT_PROTO_AUTO) {
                    if (info.guess_source == HT_GUESS_NONE) {
                        os << "; no prototype guess: cannot trace";
                        ok = false;
                    } else {
                        os << "; would use its compile-time guess "
                           << proto_pair(info.guess_exit_proto, info.guess_entry_proto);
                    }
                }
            }
            ::close(fd);
        }
    } else {
        const char* path = std::getenv("HT_KMOD_PATH");
        std::string mod_dir = std::string("/lib/modules/") + u.release;
        std::string out;
        bool installed = path && *path ? file_exists(path)
                                       : run_quiet({"modprobe", "-n", "hypertrace"}, &out) == 0;
        if (installed)
            os << "\nkmod: module not loaded; will be loaded with "
               << (path && *path ? std::string("insmod ") + path : "modprobe hypertrace");
        else
            os << "\nkmod: module not installed for " << u.release << ": install "
               HT_KMOD_PACKAGE " or build kmod/ (make -C kmod) and set HT_KMOD_PATH";
        ok = ok && installed;
    }
    if (usable)
        *usable = ok;
    return os.str();
}

}  // namespace hypertrace
