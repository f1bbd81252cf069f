// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/chrome_trace.h"

#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "output/exit_reasons.h"
#include "vm/vm_resolver.h"

namespace hypertrace {

namespace {

// A timeline is read by a viewer, not piped at a million records a second:
// std::to_chars into one string, handed to the stream when it is this big
// and at every flush() (the session flushes after each pass over the ring).
constexpr std::size_t kFlushBytes = 256 * 1024;
// Bounds the names remembered per thread and process: a host that runs
// through many short VMs re-emits a name (harmless) instead of growing.
constexpr std::size_t kMaxNamed = 65536;

void put_u64(std::string& s, std::uint64_t v)
{
    char b[24];
    s.append(b, static_cast<std::size_t>(std::to_chars(b, b + sizeof b, v).ptr - b));
}

// "0x2a": 64-bit values as strings, which a JavaScript viewer cannot round.
void put_hex(std::string& s, std::uint64_t v)
{
    char b[24] = {'"', '0', 'x'};
    char* e = std::to_chars(b + 3, b + sizeof b - 1, v, 16).ptr;
    *e++ = '"';
    s.append(b, static_cast<std::size_t>(e - b));
}

// Nanoseconds as microseconds with three decimals: "1634549.123".
void put_us(std::string& s, std::uint64_t ns)
{
    put_u64(s, ns / 1000);
    const unsigned frac = static_cast<unsigned>(ns % 1000);
    const char d[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                       static_cast<char>('0' + frac % 10)};
    s.append(d, 4);
}

void put_key(std::string& s, std::string_view key)
{
    s += ",\"";
    s += key;
    s += "\":";
}

class ChromeWriter : public RecordWriter {
public:
    ChromeWriter(std::ostream& out, VmColumns* vms)
        : out_(out), vms_(vms ? vms : &own_vms_), own_vms_(Format::Chrome, nullptr)
    {
        buf_.reserve(kFlushBytes + 4096);
        buf_ = "[\n";
    }

    void write(const ht_record& r) override
    {
        name_thread(r);
        slice(r);
        if (buf_.size() >= kFlushBytes)
            drain();
    }

    void flush() override
    {
        drain();
        out_.flush();
    }

    void finish() override
    {
        if (finished_)
            return;
        finished_ = true;
        buf_ += "\n]\n";
        flush();
    }

private:
    struct Named {
        std::string name;  // as emitted
        std::uint64_t epoch = 0;
    };

    void drain()
    {
        if (!buf_.empty())
            out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        buf_.clear();
    }

    // Events are separated, not terminated: a file cut short after any
    // event is an array that lacks only its "]".
    void begin_event()
    {
        if (events_++)
            buf_ += ",\n";
    }

    // {"ph":P,"cat":C,"name":N,"pid":..,"tid":..,"ts":..: the keys every event has.
    void head(const ht_record& r, const char* ph, const char* cat, std::string_view name, std::uint64_t ts_ns)
    {
        begin_event();
        buf_ += "{\"ph\":\"";
        buf_ += ph;
        buf_ += "\",\"cat\":\"";
        buf_ += cat;
        buf_ += "\",\"name\":";
        buf_ += name;
        buf_ += ",\"pid\":";
        put_u64(buf_, r.pid);
        buf_ += ",\"tid\":";
        put_u64(buf_, r.tid);
        buf_ += ",\"ts\":";
        put_us(buf_, ts_ns);
    }

    // A metadata event (ph "M"): name and one argument.  Its ts is the
    // record's, so no viewer stretches the timeline to 0.
    void metadata(const ht_record& r, const char* what, const char* key, const std::string& value)
    {
        head(r, "M", "__metadata", std::string("\"") + what + "\"", r.t_exit_ns);
        buf_ += ",\"args\":{\"";
        buf_ += key;
        buf_ += "\":";
        buf_ += value;
        buf_ += "}}";
    }

    // The process and thread names, emitted when a thread is first seen
    // and again when the resolver's answer changed (a reused pid, a
    // libvirt status file that appeared later: vm_resolver.h).  One compare
    // per record while the same thread's records follow one another.
    void name_thread(const ht_record& r)
    {
        VmResolver* res = vms_->resolver();
        const std::uint64_t epoch = res ? res->epoch() : 0;
        if (have_last_ && r.pid == last_pid_ && r.tid == last_tid_ && epoch == last_epoch_)
            return;
        have_last_ = true;
        last_pid_ = r.pid;
        last_tid_ = r.tid;
        last_epoch_ = epoch;
        if (threads_.size() >= kMaxNamed || processes_.size() >= kMaxNamed) {
            threads_.clear();
            processes_.clear();
        }
        Named& thread = threads_[std::uint64_t{r.pid} << 32 | r.tid];
        if (!thread.name.empty() && thread.epoch == epoch)
            return;
        thread.epoch = epoch;

        std::string process = "pid " + std::to_string(r.pid);
        std::optional<std::uint32_t> index;
        if (res) {
            const VmThread t = res->lookup(r.pid, r.tid);
            if (t.vm->source != VmSource::None)
                process = VmColumns::text_name(*t.vm);  // "NAME (cgroup)" when only the cgroup named it
            index = t.vcpu_index;
        }
        if (!index && !(r.flags & HT_REC_F_VCPU_UNKNOWN))
            index = r.vcpu_id;
        const std::string vcpu = index ? std::to_string(*index) : std::string("?");
        const std::string name = VmColumns::json_string("vCPU " + vcpu + " (tid " + std::to_string(r.tid) + ")");

        std::string& proc = processes_[r.pid];
        const std::string pname = VmColumns::json_string(process);
        if (proc != pname) {
            proc = pname;
            metadata(r, "process_name", "name", pname);
        }
        if (thread.name != name) {
            thread.name = name;
            metadata(r, "thread_name", "name", name);
            if (index)
                metadata(r, "thread_sort_index", "sort_index", std::to_string(*index));
        }
    }

    // The hypercall's slice and its phases inside it, as begin/end pairs in
    // nesting order.  Not complete events (ph "X"): a viewer reads ts and
    // dur as doubles and adds them, so a phase that ends with its call
    // (hypercall->entry, VMM) could end an ulp after it and be nested wrong
    // (speedscope did so); an "E" carries the very same ts text as its
    // parent's "E", so the ends compare equal in every reader.
    void slice(const ht_record& r)
    {
        const std::uint64_t t0 = r.t_exit_ns, t1 = r.t_hypercall_ns, t2 = r.t_entry_ns, tu = r.t_userspace_exit_ns;
        const std::string name = slice_name(r);
        head(r, "B", "hypercall", name, t0);
        args(r);
        buf_ += '}';
        if (t0 <= t1 && t1 <= t2) {
            edge(r, "B", "\"exit->hypercall\"", t0);
            edge(r, "E", "\"exit->hypercall\"", t1);
            edge(r, "B", "\"hypercall->entry\"", t1);
            if (tu && t1 <= tu && tu <= t2) {
                head(r, "B", "phase", "\"VMM\"", tu);
                buf_ += ",\"args\":{\"uexit_reason\":";
                put_u64(buf_, r.uexit_reason);
                buf_ += "}}";
                edge(r, "E", "\"VMM\"", t2);
            }
            edge(r, "E", "\"hypercall->entry\"", t2);
        }
        head(r, "E", "hypercall", name, t2 >= t0 ? t2 : t0);
        buf_ += '}';
    }

    void edge(const ht_record& r, const char* ph, std::string_view name, std::uint64_t t)
    {
        head(r, ph, "phase", name, t);
        buf_ += '}';
    }

    // "KVM_HC_SEND_IPI", else "nr 42" (KVM) or "hyperv nr 92": a name that
    // never mixes ABIs when a viewer groups slices by name.  Names are
    // [A-Za-z0-9_]: nothing to escape.
    std::string slice_name(const ht_record& r) const
    {
        const std::string_view known = hypercall_name_of(r.abi, r.nr);
        if (!known.empty())
            return "\"" + std::string(known) + "\"";
        std::string s = "\"";
        if (r.abi != HT_ABI_KVM) {
            s += abi_name(r.abi);
            s += ' ';
        }
        s += "nr ";
        put_u64(s, r.nr);
        return s + "\"";
    }

    void args(const ht_record& r)
    {
        buf_ += ",\"args\":{\"nr\":";
        put_u64(buf_, r.nr);
        buf_ += ",\"abi\":\"";
        buf_ += abi_name(r.abi);
        buf_ += '"';
        if (r.abi == HT_ABI_HYPERV) {
            for (auto [key, v] : {std::pair<const char*, std::uint64_t>{"hv_fast", r.hv_fast},
                                  {"hv_rep_cnt", r.hv_rep_cnt},
                                  {"hv_rep_idx", r.hv_rep_idx},
                                  {"hv_var_cnt", r.hv_var_cnt}}) {
                put_key(buf_, key);
                put_u64(buf_, v);
            }
            put_key(buf_, "hv_ingpa");
            put_hex(buf_, r.hv_ingpa);
            put_key(buf_, "hv_outgpa");
            put_hex(buf_, r.hv_outgpa);
            put_key(buf_, "hv_result");
            if (r.flags & HT_REC_F_HV_RESULT)
                put_hex(buf_, r.hv_result);
            else
                buf_ += "null";
        } else {
            // KVM passes a0..a3; Xen (and an ABI this build does not know) a0..a5.
            const std::uint64_t a[6] = {r.a0, r.a1, r.a2, r.a3, r.a4, r.a5};
            const int n = r.abi == HT_ABI_KVM ? 4 : 6;
            for (int i = 0; i < n; i++) {
                const char key[3] = {'a', static_cast<char>('0' + i), 0};
                put_key(buf_, key);
                put_hex(buf_, a[i]);
            }
        }
        put_key(buf_, "exit_reason");
        if (r.flags & HT_REC_F_REASON_UNKNOWN) {
            buf_ += "null";
        } else {
            const char* reason = exit_reason_name(r.isa, r.exit_reason);
            if (std::strcmp(reason, "unknown") == 0) {
                put_hex(buf_, r.exit_reason);
            } else {
                buf_ += '"';
                buf_ += reason;
                buf_ += '"';
            }
        }
        put_key(buf_, "vcpu_id");
        if (r.flags & HT_REC_F_VCPU_UNKNOWN)
            buf_ += "null";
        else
            put_u64(buf_, r.vcpu_id);
        put_key(buf_, "cpu");
        put_u64(buf_, r.cpu);
        put_key(buf_, "served_by");
        buf_ += (r.flags & HT_REC_F_VMM_SERVED) ? "\"vmm\"" : "\"kernel\"";
        put_key(buf_, "vmm_ns");
        if (r.t_userspace_exit_ns && r.t_entry_ns >= r.t_userspace_exit_ns)
            put_u64(buf_, r.t_entry_ns - r.t_userspace_exit_ns);
        else
            buf_ += "null";
        buf_ += vms_->get(r.pid, r.tid).text;  // ,"vm":..,"vm_uuid":..,"vm_source":..,"vcpu_index":..
        buf_ += '}';
    }

    std::ostream& out_;
    std::string buf_;
    std::uint64_t events_ = 0;
    bool finished_ = false;
    VmColumns* vms_;
    VmColumns own_vms_;                                         // without a resolver: every VM unknown
    std::unordered_map<std::uint64_t, Named> threads_;          // by pid << 32 | tid: the thread_name emitted
    std::unordered_map<std::uint32_t, std::string> processes_;  // by pid: the process_name emitted
    bool have_last_ = false;
    std::uint32_t last_pid_ = 0, last_tid_ = 0;
    std::uint64_t last_epoch_ = 0;
};

}  // namespace

std::unique_ptr<RecordWriter> make_chrome_writer(std::ostream& out, VmColumns* vms)
{
    return std::make_unique<ChromeWriter>(out, vms);
}

}  // namespace hypertrace
