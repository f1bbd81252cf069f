// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The kernel-module backend: hypertrace.ko behind /dev/hypertrace (kmod/,
// ioctl ABI in common/ht_ioctl.h).  Same records, same ring layout and
// protocol, same counters as the eBPF backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

extern "C" {
#include "ht_ioctl.h"
}

namespace hypertrace {

// What the running kernel's BTF says about the kvm tracepoints and where the
// vendor module keeps the exit reason (arch/x86/kvm/trace.h: since 5.16 it is
// not a kvm_exit argument).
struct KmodDetection {
    std::uint32_t exit_proto = HT_EXIT_PROTO_AUTO;    // AUTO: not detected
    std::uint32_t entry_proto = HT_ENTRY_PROTO_AUTO;  // AUTO: not detected
    ht_ioc_reason reason{};                           // isa 0: none
    std::string protos_how;   // how the prototypes were found, or why not
    std::string reason_how;   // how the reason offsets were found, or why not
    bool refuse = false;      // BTF says something we do not know: refuse
};

// Reads /sys/kernel/btf/{kvm,kvm_amd,kvm_intel} (vmlinux when kvm is built
// in).  Never throws.
KmodDetection detect_kmod_kernel();

// Prototype names for messages, e.g. "(vcpu, u32 isa)".
const char* exit_proto_name(std::uint32_t p);
const char* entry_proto_name(std::uint32_t p);

// The backend object open_kmod_backend() returns (dynamic_cast to it for the
// module-only extras below).
class KmodBackend : public Backend {
public:
    ~KmodBackend() override;
    const char* name() const override { return "kmod"; }
    // How the prototypes and the exit reason were found, e.g. "kvm module
    // BTF: kvm_exit(vcpu, isa), ...; exit reason from kvm_amd BTF: ...".
    std::string detail() const override { return detection_; }
    RingMapping ring() const override;
    Counters counters() const override;
    // Summary mode: HT_IOC_AGG_TAKE until the interval is drained.
    std::vector<AggregateEntry> take_aggregates() override;
    void stop() override;

    ht_ioc_status status() const;         // attached tracepoints etc.
    // Unload the module when this backend is destroyed, if opening it
    // loaded the module (--check: look, leave nothing behind).  A backend
    // that failed to start always does that.
    void unload_module_on_close() { unload_on_close_ = true; }
    const ht_ioc_info& info() const { return info_; }
    const std::string& detection() const { return detection_; }  // one line

private:
    friend std::unique_ptr<Backend> open_kmod_backend(const BackendConfig&);
    KmodBackend() = default;
    int fd_ = -1;
    void* cons_ = nullptr;      // consumer page, read-write
    void* rest_ = nullptr;      // producer page + data twice, read-only
    std::size_t rest_len_ = 0;
    std::size_t page_ = 0;
    std::uint64_t size_ = 0;
    bool stopped_ = false;
    bool started_ = false;          // START succeeded and was verified
    bool loaded_module_ = false;    // we loaded the module (modprobe/insmod)
    bool unload_on_close_ = false;
    bool aggregate_ = false;
    std::vector<ht_ioc_agg_entry> agg_buf_;  // take buffer, kept between calls
    ht_ioc_info info_{};
    std::string detection_;
};

// Opens /dev/hypertrace (loading the module with modprobe, or insmod of
// $HT_KMOD_PATH, if the device is missing), checks the interface version,
// configures, maps the ring, starts tracing and checks that the probes are
// on all three kvm tracepoints.  Throws BackendError naming the problem and
// the fix; then nothing is left attached, open or mapped, and a module this
// call loaded is unloaded again.  stop() reports on stderr when kvm was
// reloaded during the session or a probe could not attach.
std::unique_ptr<Backend> open_kmod_backend(const BackendConfig& cfg);

// For `hypertrace --check`: whether the module backend can run here and why
// (or why not); several lines, no trailing newline.  Does not load the
// module.  *usable is set when given.
std::string kmod_check(bool* usable = nullptr);

}  // namespace hypertrace
