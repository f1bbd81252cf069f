// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output/output.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace hypertrace {

namespace {

// Records arrive from the writers in large blocks (record_format.cpp), which
// go straight to write(2), not copied (a copy of every output byte was a
// sixth of the reader's instructions per record); this buffer gathers the
// small writes of summaries and headers.
constexpr std::size_t kBufBytes = 64 * 1024;
constexpr std::size_t kDirectBytes = 4096;  // a block this large is not copied

}  // namespace

FdStreambuf::FdStreambuf(int fd) : fd_(fd), buf_(kBufBytes) { setp(buf_.data(), buf_.data() + buf_.size()); }

bool FdStreambuf::write_all(const char* p, std::size_t n)
{
    while (n && !error_) {
        const ssize_t w = ::write(fd_, p, n);
        if (w > 0) {
            p += w;
            n -= static_cast<std::size_t>(w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // An fd left non-blocking by whoever gave it to us: wait for
            // room rather than lose output.
            pollfd pfd{fd_, POLLOUT, 0};
            ::poll(&pfd, 1, -1);
        } else {
            error_ = w < 0 ? errno : EIO;  // write(2) of n > 0 bytes never returns 0
        }
    }
    return !error_;
}

bool FdStreambuf::flush_buffer()
{
    const auto n = static_cast<std::size_t>(pptr() - pbase());
    setp(buf_.data(), buf_.data() + buf_.size());
    return write_all(buf_.data(), n);
}

FdStreambuf::int_type FdStreambuf::overflow(int_type c)
{
    if (!flush_buffer())
        return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
        *pptr() = traits_type::to_char_type(c);
        pbump(1);
    }
    return traits_type::not_eof(c);
}

std::streamsize FdStreambuf::xsputn(const char* s, std::streamsize n)
{
    if (error_ || n <= 0)
        return 0;
    const auto len = static_cast<std::size_t>(n);
    if (len >= kDirectBytes)  // a block: after what is buffered, as it is
        return flush_buffer() && write_all(s, len) ? n : 0;
    if (len > static_cast<std::size_t>(epptr() - pptr()) && !flush_buffer())
        return 0;
    std::memcpy(pptr(), s, len);
    pbump(static_cast<int>(len));
    return n;
}

int FdStreambuf::sync() { return flush_buffer() ? 0 : -1; }

Output::Opened Output::open_file(const std::string& path)
{
    // Whether the file existed decides what a failed run may do to it, and
    // only O_EXCL tells that without a race: open an existing file, else
    // create it exclusively; if it appeared in between, start over.
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            return {fd, false};
        if (errno != ENOENT)
            throw std::system_error(errno, std::generic_category(), path);
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return {fd, true};
        if (errno != EEXIST)
            throw std::system_error(errno, std::generic_category(), path);
    }
    // Still both missing and existing: a dangling symlink (O_EXCL never
    // follows one).  Create its target as a plain open would; not marked as
    // created, since removing `path` would remove the link, not the target.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), path);
    return {fd, false};
}

Output::Output() : fd_(STDOUT_FILENO), claimed_(true), name_("stdout"), buf_(fd_), stream_(&buf_) {}

Output::Output(const std::string& path) : Output(open_file(path), path) {}

Output::Output(Opened opened, const std::string& path)
    : fd_(opened.fd),
      owned_fd_(opened.fd),
      created_(opened.created),
      path_(path),
      name_("'" + path + "'"),
      buf_(fd_),
      stream_(&buf_)
{
}

Output::~Output()
{
    if (claimed_)
        stream_.flush();  // best effort: the caller flushes and checks first
    if (!owned_fd_)
        return;
    if (!claimed_ && created_)
        ::unlink(path_.c_str());
}

bool Output::claim()
{
    if (claimed_)
        return claim_error_ == 0;
    claimed_ = true;
    struct stat st;
    if (::fstat(fd_, &st) != 0)
        claim_error_ = errno;
    else if (S_ISREG(st.st_mode) && ::ftruncate(fd_, 0) != 0)
        claim_error_ = errno;
    return claim_error_ == 0;
}

bool Output::flush()
{
    stream_.flush();
    return !failed();
}

std::string Output::error_message() const
{
    if (claim_error_)
        return "truncating " + name_ + " failed: " + std::strerror(claim_error_);
    return "writing to " + name_ + " failed: " + std::strerror(buf_.error());
}

}  // namespace hypertrace
