// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// RAII for file descriptors and memory mappings: every fd and mapping the
// front end opens is released exactly once, on every path (errors included).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

namespace hypertrace {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept
    {
        if (this != &o)
            reset(std::exchange(o.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

class Mapping {
public:
    Mapping() = default;
    Mapping(void* addr, std::size_t len) : addr_(addr), len_(len) {}
    Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, MAP_FAILED)), len_(std::exchange(o.len_, 0)) {}
    Mapping& operator=(Mapping&& o) noexcept
    {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, MAP_FAILED);
            len_ = std::exchange(o.len_, 0);
        }
        return *this;
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { reset(); }

    // mmap() or an invalid Mapping (check valid(); errno tells why).
    static Mapping map(std::size_t len, int prot, int fd, off_t off)
    {
        void* p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, off);
        return p == MAP_FAILED ? Mapping() : Mapping(p, len);
    }

    bool valid() const { return addr_ != MAP_FAILED; }
    void* get() const { return addr_; }
    std::size_t size() const { return len_; }
    void reset()
    {
        if (addr_ != MAP_FAILED)
            ::munmap(addr_, len_);
        addr_ = MAP_FAILED;
        len_ = 0;
    }

private:
    void* addr_ = MAP_FAILED;
    std::size_t len_ = 0;
};

}  // namespace hypertrace
