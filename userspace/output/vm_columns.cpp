// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/vm_columns.h"

#include <cstdio>

namespace hypertrace {

namespace {

// Bounds the cache: a host that runs through many short VMs re-makes tails
// instead of growing without end.
constexpr std::size_t kMaxTails = 65536;

// s with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(const std::string& s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n != 0 && i + n <= s.size();
        for (std::size_t k = 1; ok && k < n; k++)
            ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (ok && n == 2 && c < 0xc2)
            ok = false;  // overlong
        if (ok) {
            out.append(s, i, n);
            i += n;
        } else {
            out += "\xef\xbf\xbd";
            i++;
        }
    }
    return out;
}

std::string csv_cell(const std::string& s)
{
    if (s.find_first_of(",\"\r\n") == std::string::npos)
        return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace

std::string VmColumns::json_string(const std::string& raw)
{
    std::string out = "\"";
    for (char ch : valid_utf8(raw)) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string VmColumns::text_name(const VmIdentity& vm)
{
    if (vm.source == VmSource::None)
        return "-";
    std::string out = valid_utf8(vm.name);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = '?';
    if (vm.source == VmSource::Cgroup)
        out += " (cgroup)";
    return out;
}

std::string VmColumns::render(Format f, const VmIdentity& vm, std::optional<std::uint32_t> vcpu_index)
{
    const bool named = vm.source != VmSource::None;
    const std::string index = vcpu_index ? std::to_string(*vcpu_index) : std::string();
    switch (f) {
    case Format::Json:
    case Format::Chrome:
        return ",\"vm\":" + (named ? json_string(vm.name) : "null") +
               ",\"vm_uuid\":" + (vm.uuid.empty() ? "null" : json_string(vm.uuid)) + ",\"vm_source\":\"" +
               vm_source_name(vm.source) + "\",\"vcpu_index\":" + (vcpu_index ? index : "null");
    case Format::Csv:
        return "," + (named ? csv_cell(valid_utf8(vm.name)) : std::string()) + "," + vm.uuid + "," +
               vm_source_name(vm.source) + "," + index;
    case Format::Text:
    default: {
        std::string vidx = vcpu_index ? index : "?";
        if (vidx.size() < 4)
            vidx.resize(4, ' ');
        return " " + vidx + " " + text_name(vm);
    }
    }
}

VmColumns::VmColumns(Format f, VmResolver* resolver, const VmFilter* filter)
    : format_(f), resolver_(resolver), filter_(filter && filter->active() ? filter : nullptr)
{
    unknown_.text = render(f, VmIdentity{}, std::nullopt);
    unknown_.keep = filter_ == nullptr;
}

const VmColumns::Tail& VmColumns::miss(std::uint32_t pid, std::uint32_t tid)
{
    last_pid_ = pid;
    last_tid_ = tid;
    if (!resolver_) {
        last_ = &unknown_;
        return unknown_;
    }
    if (resolver_->epoch() != epoch_) {
        tails_.clear();
        epoch_ = resolver_->epoch();
    }
    const std::uint64_t key = std::uint64_t{pid} << 32 | tid;
    auto it = tails_.find(key);
    if (it == tails_.end()) {
        // A thread not seen yet: name it (this may move the epoch: a reused pid).
        const VmThread t = resolver_->lookup(pid, tid);
        if (resolver_->epoch() != epoch_ || tails_.size() >= kMaxTails) {
            tails_.clear();
            epoch_ = resolver_->epoch();
        }
        Tail tail;
        tail.text = render(format_, *t.vm, t.vcpu_index);
        tail.keep = !filter_ || filter_->matches(*t.vm);
        it = tails_.emplace(key, std::move(tail)).first;
    }
    last_ = &it->second;
    return it->second;
}

}  // namespace hypertrace
