// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "vm/libvirt_status.h"

#include <dirent.h>
#include <sys/stat.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "vm/proc_read.h"

namespace hypertrace {

namespace pt = boost::property_tree;

namespace {

std::uint32_t number_attr(const pt::ptree& node, const char* attr, const std::string& where)
{
    const auto text = node.get_optional<std::string>(std::string("<xmlattr>.") + attr);
    if (!text)
        throw MalformedSource(where + " has no " + attr + "='...'");
    const auto v = parse_decimal_u32(*text);
    if (!v)
        throw MalformedSource(where + " " + attr + "='" + *text + "' is not a number");
    return *v;
}

}  // namespace

LibvirtStatus parse_libvirt_status(const std::string& xml)
{
    pt::ptree tree;
    try {
        std::istringstream in(xml);
        pt::read_xml(in, tree, pt::xml_parser::no_comments);
    } catch (const pt::xml_parser_error& e) {
        throw MalformedSource("not XML: " + e.message() + " at line " + std::to_string(e.line()));
    }
    const auto root = tree.get_child_optional("domstatus");
    if (!root)
        throw MalformedSource("no <domstatus> element");
    LibvirtStatus s;
    s.pid = number_attr(*root, "pid", "<domstatus>");
    if (s.pid == 0)
        throw MalformedSource("<domstatus> pid='0'");
    // <vcpus> of <domstatus> (the live threads), not <domain>'s <vcpu
    // placement='static'>N</vcpu>, which is a count.
    if (const auto vcpus = root->get_child_optional("vcpus")) {
        for (const auto& [tag, node] : *vcpus) {
            if (tag != "vcpu")
                continue;
            const std::uint32_t id = number_attr(node, "id", "<vcpus><vcpu>");
            s.vcpus.emplace_back(number_attr(node, "pid", "<vcpu id='" + std::to_string(id) + "'>"), id);
        }
    }
    const auto domain = root->get_child_optional("domain");
    if (!domain)
        throw MalformedSource("no <domain> in <domstatus>");
    s.name = domain->get<std::string>("name", "");
    if (s.name.empty())
        throw MalformedSource("<domain> has no <name>");
    if (const auto uuid = domain->get_optional<std::string>("uuid")) {
        const auto c = canonical_uuid(*uuid);
        if (!c)
            throw MalformedSource("<uuid>" + *uuid + "</uuid> is not a UUID");
        s.uuid = *c;
    }
    return s;
}

LibvirtRunDir::LibvirtRunDir(std::string dir, std::function<void(const std::string&)> warn)
    : dir_(std::move(dir)), warn_(std::move(warn))
{
}

void LibvirtRunDir::refresh()
{
    DIR* d = ::opendir(dir_.c_str());
    if (!d) {
        if (errno != ENOENT && !warned_unreadable_) {
            warned_unreadable_ = true;
            warn_("cannot read libvirt's status directory " + dir_ + ": " + std::strerror(errno) +
                  "; VMs are named from their command line or cgroup instead");
        }
        files_.clear();
        return;
    }
    std::map<std::string, File> next;
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() <= 4 || name[0] == '.' || name.compare(name.size() - 4, 4, ".xml") != 0)
            continue;
        const std::string path = dir_ + "/" + name;
        struct stat st;
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        File f;
        f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        f.size = st.st_size;
        f.ino = st.st_ino;
        const auto old = files_.find(name);
        if (old != files_.end() && old->second.mtime_ns == f.mtime_ns && old->second.size == f.size &&
            old->second.ino == f.ino) {
            next.emplace(name, std::move(old->second));
            continue;
        }
        const auto text = read_small_file(path);
        if (!text)
            continue;  // removed between readdir and open: the VM stopped
        try {
            f.status = parse_libvirt_status(*text);
            f.ok = true;
        } catch (const MalformedSource& m) {
            warn_("libvirt status file " + path + " is malformed (" + m.what() +
                  "): its VM is named from its command line or cgroup instead");
        }
        next.emplace(name, std::move(f));
    }
    ::closedir(d);
    files_ = std::move(next);
}

const LibvirtStatus* LibvirtRunDir::find(std::uint32_t pid) const
{
    for (const auto& [name, f] : files_)
        if (f.ok && f.status.pid == pid)
            return &f.status;
    return nullptr;
}

std::vector<const LibvirtStatus*> LibvirtRunDir::all() const
{
    std::vector<const LibvirtStatus*> v;
    for (const auto& [name, f] : files_)
        if (f.ok)
            v.push_back(&f.status);
    return v;
}

}  // namespace hypertrace
