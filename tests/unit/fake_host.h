// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A fake host for the VM-naming tests: a /proc tree of processes (stat with a
// start time, cmdline, cgroup) and threads (comm), and a libvirt status
// directory, under a scratch directory, for a VmResolver pointed at them.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "vm/vm_resolver.h"

namespace hypertrace::testing {

// A command line as /proc/PID/cmdline has it: each argument NUL-terminated.
inline std::string nul_joined(std::initializer_list<std::string> args)
{
    std::string s;
    for (const std::string& a : args) {
        s += a;
        s += '\0';
    }
    return s;
}

// "/proc/PID/stat" with the command in parentheses and a start time.
inline std::string stat_line(std::uint32_t pid, const std::string& comm, std::uint64_t start)
{
    std::string s = std::to_string(pid) + " (" + comm + ") S 1 " + std::to_string(pid) + " " + std::to_string(pid);
    // fields 7..21, then starttime (22), then more
    for (int f = 7; f <= 21; f++)
        s += " 0";
    return s + " " + std::to_string(start) + " 1000 200 18446744073709551615\n";
}

class FakeHost {
public:
    FakeHost()
    {
        char t[] = "/tmp/ht-vmnames-XXXXXX";
        root_ = ::mkdtemp(t);
        proc_ = root_ + "/proc";
        libvirt_ = root_ + "/libvirt";
        ::mkdir(proc_.c_str(), 0755);
        ::mkdir(libvirt_.c_str(), 0755);
    }
    ~FakeHost() { std::system(("rm -rf '" + root_ + "'").c_str()); }

    void write(const std::string& path, const std::string& text)
    {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    }
    void process(std::uint32_t pid, std::uint64_t start, const std::string& cmdline,
                 const std::string& cgroup = "0::/\n")
    {
        const std::string d = proc_ + "/" + std::to_string(pid);
        ::mkdir(d.c_str(), 0755);
        ::mkdir((d + "/task").c_str(), 0755);
        write(d + "/stat", stat_line(pid, "qemu-system-x86", start));
        write(d + "/cmdline", cmdline);
        write(d + "/cgroup", cgroup);
    }
    void thread(std::uint32_t pid, std::uint32_t tid, const std::string& comm)
    {
        const std::string d = proc_ + "/" + std::to_string(pid) + "/task/" + std::to_string(tid);
        ::mkdir(d.c_str(), 0755);
        write(d + "/comm", comm + "\n");
    }
    VmResolverConfig config(std::vector<std::string>* warnings)
    {
        VmResolverConfig c;
        c.proc_root = proc_;
        c.libvirt_dir = libvirt_;
        c.warn = [warnings](const std::string& w) { warnings->push_back(w); };
        return c;
    }
    const std::string& libvirt() const { return libvirt_; }
    const std::string& proc() const { return proc_; }

private:
    std::string root_, proc_, libvirt_;
};

}  // namespace hypertrace::testing
