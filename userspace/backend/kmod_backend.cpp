// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The kernel-module backend (see kmod_backend.h).
//
// The module cannot know the kvm tracepoints' prototypes reliably (distros
// backport changes; the headers packages lack arch/x86/kvm/trace.h), and a
// probe with the wrong prototype corrupts silently.  So we take them from the
// kernel facts (kvm's BTF, kernel/kernel_facts.h) and tell the module at
// START; without BTF we accept the module's compile-time guess (clearly
// reported), and refuse what we do not recognise.  The same goes for the exit
// reason on >= 5.16: offsets into the vendor vCPU struct, from the vendor
// module's BTF.
#include "backend/kmod_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "kernel/kernel_facts.h"
#include "util/files.h"
#include "util/unique_fd.h"

extern "C" {
#include "ht_ioctl.h"
}

namespace hypertrace {

namespace {

std::string errstr(int err) { return std::strerror(err); }

// ---- module loading ----------------------------------------------------

int run_quiet(const std::vector<std::string>& argv, std::string* err)
{
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    UniqueFd rd(pfd[0]), wr(pfd[1]);
    pid_t pid = ::fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        std::vector<char*> a;
        for (const auto& s : argv)
            a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        ::dup2(wr.get(), 1);
        ::dup2(wr.get(), 2);
        // hypertrace ignores SIGPIPE (main.cpp); an ignored signal stays
        // ignored across exec, and modprobe expects the default.
        ::signal(SIGPIPE, SIG_DFL);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    wr.reset();  // EOF once the child is gone
    char buf[512];
    ssize_t n;
    while ((n = ::read(rd.get(), buf, sizeof(buf))) > 0)
        if (err->size() < 4096)
            err->append(buf, static_cast<std::size_t>(n));
    rd.reset();
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    while (!err->empty() && (err->back() == '\n' || err->back() == ' '))
        err->pop_back();
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// modprobe hypertrace, or insmod of HT_KMOD_PATH when set (kmod_path).
void load_module(const std::string& kmod_path)
{
    std::vector<std::string> argv;
    if (!kmod_path.empty())
        argv = {"insmod", kmod_path};
    else
        argv = {"modprobe", "hypertrace"};
    std::string out;
    int rc = run_quiet(argv, &out);
    if (rc != 0) {
        std::string how = argv[0] + " " + argv[1];
        std::string msg = "kmod backend: " HT_DEVICE_PATH " is missing and `" + how + "` failed (exit " +
                          std::to_string(rc) + ")" + (out.empty() ? "" : ": " + out) + ". ";
        if (!kmod_path.empty())
            msg +=
                "Check HT_KMOD_PATH: it must name a hypertrace.ko built for "
                "this kernel (make -C kmod KDIR=/lib/modules/$(uname -r)/build).";
        else
            msg += "The hypertrace module is not installed for this kernel: install " HT_KMOD_PACKAGE
                   " (and the linux-headers package of the running "
                   "kernel), or build kmod/ (make -C kmod) and set HT_KMOD_PATH to "
                   "the hypertrace.ko.";
        throw BackendError(msg);
    }
    // udev or devtmpfs creates the node; give it a moment.
    for (int i = 0; i < 200 && !path_exists(HT_DEVICE_PATH); i++)
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
                     "it loaded ("
                  << errstr(err) << "): unload it with 'rmmod hypertrace'\n";
}

const char* attached_names(std::uint32_t bits)
{
    static const char* names[8] = {"none",
                                   "kvm_exit",
                                   "kvm_hypercall",
                                   "kvm_exit, kvm_hypercall",
                                   "kvm_entry",
                                   "kvm_exit, kvm_entry",
                                   "kvm_hypercall, kvm_entry",
                                   "all three"};
    return names[bits & HT_ATTACHED_ALL];
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
        throw BackendError(
            "kmod backend: the module could not attach its probes to the kvm "
            "tracepoints (" +
            std::to_string(st.attach_errors) + " error(s); attached to: " + attached_names(st.attached) +
            "; the kernel log says why: dmesg | grep hypertrace). Use -b bpf, "
            "or report it with the kernel version.");
    if ((st.attached & HT_ATTACHED_ALL) == HT_ATTACHED_ALL)
        return;
    if (!path_exists("/sys/module/kvm"))
        throw BackendError(
            "kmod backend: the kvm tracepoints kvm_exit/kvm_hypercall/kvm_entry "
            "do not exist: this is not a KVM host or kvm is not loaded "
            "(modprobe kvm_intel or kvm_amd)");
    throw BackendError(std::string("kmod backend: kvm is loaded but the module attached to ") +
                       attached_names(st.attached) +
                       " of kvm_exit/kvm_hypercall/kvm_entry: "
                       "this kernel's kvm lacks some of them. Use -b bpf.");
}

UniqueFd open_device()
{
    UniqueFd fd(::open(HT_DEVICE_PATH, O_RDWR | O_CLOEXEC));
    if (fd)
        return fd;
    int err = errno;
    if (err == EBUSY)
        throw BackendError("kmod backend: " HT_DEVICE_PATH
                           " is busy: another "
                           "hypertrace session (-b kmod) is running, and the module "
                           "serves one at a time. Stop it, or use -b bpf.");
    if (err == EACCES || err == EPERM)
        throw BackendError("kmod backend: cannot open " HT_DEVICE_PATH ": " + errstr(err) +
                           ". It needs root (CAP_PERFMON or CAP_SYS_ADMIN): "
                           "run hypertrace as root.");
    throw BackendError("kmod backend: cannot open " HT_DEVICE_PATH ": " + errstr(err));
}

void handshake(int fd)
{
    __u32 ver = 0;
    if (::ioctl(fd, HT_IOC_VERSION, &ver) < 0)
        throw BackendError("kmod backend: " HT_DEVICE_PATH
                           " does not answer the "
                           "hypertrace version handshake (" +
                           errstr(errno) + "): is it the hypertrace module? Reinstall " HT_KMOD_PACKAGE ".");
    if (ver != HT_IOCTL_VERSION)
        throw BackendError(
            "kmod backend: the loaded hypertrace module speaks interface "
            "version " +
            std::to_string(ver) + ", this hypertrace needs " + std::to_string(HT_IOCTL_VERSION) +
            ". Update " HT_KMOD_PACKAGE
            " to the version of this hypertrace, then reload the module "
            "(rmmod hypertrace).");
}

// ---- the backend -------------------------------------------------------

class KmodBackend final : public Backend {
public:
    ~KmodBackend() override;
    const char* name() const override { return "kmod"; }
    // How the prototypes and the exit reason were found, e.g. "kvm module
    // BTF: kvm_exit(vcpu, isa), ...; exit reason from kvm_amd BTF: ...".
    std::string detail() const override { return detail_; }
    RingMapping ring() const override;
    Counters counters() const override;
    // Summary mode: HT_IOC_AGG_TAKE until the interval is drained.
    std::vector<AggregateEntry> take_aggregates() override;
    void stop() override;

private:
    friend std::unique_ptr<Backend> hypertrace::open_kmod_backend(const BackendConfig&);
    KmodBackend() = default;
    // Declared first so that it is released last: the mappings go before the
    // fd (closing it detaches and frees, and unmapping first lets the
    // module's release run now, so that it is unused when unloaded).
    UniqueFd fd_;
    Mapping cons_;  // consumer page, read-write
    Mapping rest_;  // producer page + data twice, read-only
    std::size_t page_ = 0;
    std::uint64_t size_ = 0;
    bool stopped_ = false;
    bool started_ = false;          // START succeeded and was verified
    bool loaded_module_ = false;    // we loaded the module (modprobe/insmod)
    bool unload_on_close_ = false;  // --check: leave the module as found
    bool aggregate_ = false;
    std::vector<ht_ioc_agg_entry> agg_buf_;  // take buffer, kept between calls
    ht_ioc_info info_{};
    std::string detail_;
};

}  // namespace

KmodBackend::~KmodBackend()
{
    cons_.reset();
    rest_.reset();
    fd_.reset();
    if (loaded_module_ && (unload_on_close_ || !started_))
        unload_module();
}

RingMapping KmodBackend::ring() const
{
    RingMapping m;
    m.consumer_pos = static_cast<volatile std::uint64_t*>(cons_.get());
    m.producer_pos = static_cast<const volatile std::uint64_t*>(rest_.get());
    m.data = static_cast<const std::uint8_t*>(rest_.get()) + page_;
    m.size = size_;
    m.fd = fd_.get();
    return m;
}

Counters KmodBackend::counters() const
{
    ht_ioc_counters c{};
    Counters out{};
    if (::ioctl(fd_.get(), HT_IOC_GET_COUNTERS, &c) == 0)
        for (std::size_t i = 0; i < out.size(); i++)
            out[i] = c.c[i];
    return out;
}

std::vector<AggregateEntry> KmodBackend::take_aggregates()
{
    std::vector<AggregateEntry> out;
    if (!aggregate_ || !fd_)
        return out;
    // One buffer of agg_keys entries (~9.5 KB each) takes a whole interval
    // in one call; `remaining` covers a module with more keys than that.
    if (agg_buf_.empty())
        agg_buf_.resize(std::max<std::uint32_t>(info_.agg_keys, 1));
    for (;;) {
        ht_ioc_agg_take t{};
        t.entries = reinterpret_cast<std::uintptr_t>(agg_buf_.data());
        t.capacity = static_cast<std::uint32_t>(agg_buf_.size());
        if (::ioctl(fd_.get(), HT_IOC_AGG_TAKE, &t) < 0)
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
    if (stopped_ || !fd_)
        return;
    // What happened to the probes during the session, read before STOP
    // detaches them (attach_count counts the times all three got attached).
    ht_ioc_status st;
    const bool have = get_status(fd_.get(), &st);
    ::ioctl(fd_.get(), HT_IOC_STOP);
    stopped_ = true;
    if (!have || !started_)
        return;
    if (st.attach_count > 1)
        std::cerr << "hypertrace: kvm was unloaded and loaded " << st.attach_count - 1
                  << (st.attach_count == 2 ? " time" : " times") << "; the probes followed it\n";
    if ((st.attached & HT_ATTACHED_ALL) != HT_ATTACHED_ALL)
        std::cerr << "hypertrace: kvm was unloaded during the session and the probes were on "
                  << attached_names(st.attached)
                  << " of kvm_exit/kvm_hypercall/kvm_entry "
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
        throw BackendError("kmod backend: ring size " + std::to_string(rb) + " must be a power of two between " +
                           std::to_string(HT_KRING_MIN_BYTES) + " and " + std::to_string(HT_KRING_MAX_BYTES) +
                           " bytes");

    // Look first: refuse before touching the module.  A prototype BTF shows
    // but this hypertrace does not know is refused.
    const std::shared_ptr<const KernelFacts> probed = facts_for(cfg);
    const KernelFacts& facts = *probed;
    const TracepointPrototypes& protos = facts.prototypes.value;
    const ExitReasonLocation& reason = facts.exit_reason.value;
    if (!protos.known() && (!protos.exit_params.empty() || !protos.entry_params.empty()))
        throw BackendError("kmod backend: refusing to attach: " + facts.prototypes.how +
                           ". A probe with the wrong prototype would corrupt the "
                           "kernel silently; this hypertrace does not know this "
                           "kernel: update hypertrace and " HT_KMOD_PACKAGE ", or use -b bpf.");

    bool loaded = false;
    if (!path_exists(HT_DEVICE_PATH)) {
        load_module(cfg.env.kmod_path);
        loaded = true;
    }

    // From here on, a throw destroys b: unmapped, closed (detached) and the
    // module unloaded if we loaded it.
    std::unique_ptr<KmodBackend> b(new KmodBackend());
    b->loaded_module_ = loaded;
    b->unload_on_close_ = cfg.probe_only;
    b->fd_ = open_device();
    handshake(b->fd_.get());
    if (::ioctl(b->fd_.get(), HT_IOC_INFO, &b->info_) < 0)
        throw BackendError("kmod backend: HT_IOC_INFO failed: " + errstr(errno));
    b->page_ = b->info_.page_size;
    if (b->info_.record_size != sizeof(ht_record) || b->info_.record_version != HT_RECORD_VERSION)
        throw BackendError(
            "kmod backend: the module writes records of another "
            "version; update " HT_KMOD_PACKAGE " to match hypertrace.");
    if (rb % b->page_)
        throw BackendError(
            "kmod backend: ring size must be a multiple of the "
            "page size (" +
            std::to_string(b->page_) + ")");

    ht_ioc_start start{};
    std::string hv_how;
    start.hv_proto = hv_hypercall_proto(facts.classic_records.value, &hv_how);
    std::string xen_how;
    start.xen_proto = xen_hypercall_proto(facts, &xen_how);
    std::string how;
    if (protos.known()) {
        start.exit_proto = protos.exit;
        start.entry_proto = protos.entry;
        how = facts.prototypes.how;
    } else if (b->info_.guess_source != HT_GUESS_NONE && b->info_.guess_exit_proto != HT_EXIT_PROTO_AUTO &&
               b->info_.guess_entry_proto != HT_ENTRY_PROTO_AUTO) {
        start.exit_proto = b->info_.guess_exit_proto;
        start.entry_proto = b->info_.guess_entry_proto;
        how = std::string("module's compile-time guess (") +
              (b->info_.guess_source == HT_GUESS_HEADERS ? "kernel headers" : "kernel version") + ", " +
              facts.prototypes.how + "): " + proto_pair(start.exit_proto, start.entry_proto);
    } else {
        throw BackendError(
            "kmod backend: cannot tell the kvm tracepoint prototypes "
            "of this kernel (" +
            facts.prototypes.how +
            ", and the module "
            "has no compile-time guess for " +
            std::string(b->info_.kernel_release) + "). Load kvm first, or use -b bpf.");
    }

    ht_ioc_config c{};
    c.ring_bytes = rb;
    c.flags = cfg.aggregate ? HT_CONFIG_F_AGGREGATE : 0;
    c.filter = cfg.filter;
    if (::ioctl(b->fd_.get(), HT_IOC_SET_CONFIG, &c) < 0)
        throw BackendError("kmod backend: the module rejected the configuration (" + errstr(errno) +
                           "): hypercall ranges must be sorted and "
                           "merged (at most " +
                           std::to_string(HT_MAX_NR_RANGES) + "), ring size a power of two");

    std::string reason_how;
    if (start.exit_proto == HT_EXIT_PROTO_REASON_VCPU_ISA) {
        reason_how = "exit reason from kvm_exit's argument";
    } else if (reason.offsets.isa != HT_ISA_UNKNOWN) {
        ht_ioc_reason offsets = reason.offsets;
        if (::ioctl(b->fd_.get(), HT_IOC_SET_REASON, &offsets) < 0)
            throw BackendError(
                "kmod backend: the module rejected the exit-reason "
                "offsets (" +
                errstr(errno) + "): " + facts.exit_reason.how);
        reason_how = "exit reason from " + facts.exit_reason.how;
    } else {
        reason_how = "exit reason unknown (" + facts.exit_reason.how + ")";
    }

    b->aggregate_ = cfg.aggregate;
    b->size_ = rb;
    b->cons_ = Mapping::map(b->page_, PROT_READ | PROT_WRITE, b->fd_.get(), 0);
    if (!b->cons_.valid())
        throw BackendError("kmod backend: cannot map the ring's consumer page: " + errstr(errno));
    b->rest_ = Mapping::map(b->page_ + 2 * static_cast<std::size_t>(rb), PROT_READ, b->fd_.get(),
                            static_cast<off_t>(b->page_));
    if (!b->rest_.valid())
        throw BackendError("kmod backend: cannot map the ring: " + errstr(errno));

    if (::ioctl(b->fd_.get(), HT_IOC_START, &start) < 0)
        throw BackendError("kmod backend: cannot start tracing (" + errstr(errno) + ") with " +
                           proto_pair(start.exit_proto, start.entry_proto));
    ht_ioc_status st;
    if (!get_status(b->fd_.get(), &st))
        throw BackendError("kmod backend: HT_IOC_GET_STATUS failed: " + errstr(errno));
    verify_attached(st);
    b->started_ = true;
    b->detail_ = how + "; " + reason_how +
                 ((st.attached & HT_ATTACHED_USERSPACE_EXIT)
                      ? "; kvm_userspace_exit attached"
                      : "; kvm_userspace_exit not attached (this kvm has no such tracepoint)") +
                 "; " + hv_how + "; " + xen_how;
    return b;
}

}  // namespace hypertrace
