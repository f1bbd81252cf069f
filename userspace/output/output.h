// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Where records and summaries go: standard output or -o FILE.
//
// Two promises the std::ofstream this replaces could not keep:
//  - every write failure is seen, with its errno (a full disk, a closed pipe:
//    SIGPIPE is ignored, so EPIPE arrives here as an error).  A std::ostream
//    only sets badbit, and errno is whatever the library left behind by then,
//    so the bytes go through write(2) here and the first failing call's
//    errno is kept;
//  - a run that fails before tracing destroys nothing: -o FILE is opened
//    without truncating, and truncated only by claim(), once the backend
//    runs.  Until then, the destructor removes a file this object created
//    and leaves an existing one as it was.
// The bytes written are exactly those streamed in, in order.
#pragma once

#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace hypertrace {

// A std::streambuf over an fd: buffered, written with a write(2) loop that
// resumes after EINTR and partial writes.  After the first failure it writes
// nothing more and every operation fails (the stream goes bad).
class FdStreambuf : public std::streambuf {
public:
    explicit FdStreambuf(int fd);
    FdStreambuf(const FdStreambuf&) = delete;
    FdStreambuf& operator=(const FdStreambuf&) = delete;

    // errno of the first failed write(2), or 0.
    int error() const { return error_; }

protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int sync() override;

private:
    bool write_all(const char* p, std::size_t n);
    bool flush_buffer();

    int fd_;
    int error_ = 0;
    std::vector<char> buf_;
};

class Output {
public:
    // Standard output (fd 1, not closed here), named "stdout" in errors.
    Output();
    // -o PATH: open for writing, creating it if missing, never truncating.
    // Throws std::system_error (with the errno of open(2)) if it cannot be
    // opened for writing.
    explicit Output(const std::string& path);
    // Closes the file.  Before claim(): removes the file if it was created
    // here, so a failed run leaves nothing behind.
    ~Output();
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    // The backend runs, so this run's output replaces the file's content:
    // truncate a regular file that existed (devices, FIFOs and sockets are
    // written as they are).  False (see error_message()) if truncating failed.
    bool claim();

    std::ostream& stream() { return stream_; }

    // Write out what is buffered.  False if this or any earlier write failed.
    bool flush();
    bool failed() const { return buf_.error() != 0; }
    // "writing to stdout failed: Broken pipe" (no "hypertrace: " prefix).
    std::string error_message() const;
    // "stdout" or the path in quotes.
    const std::string& name() const { return name_; }

private:
    struct Opened {
        int fd;
        bool created;
    };
    static Opened open_file(const std::string& path);
    Output(Opened opened, const std::string& path);

    int fd_;                // standard output or owned_fd_
    UniqueFd owned_fd_;     // the -o file (closed in the destructor); empty for stdout
    bool created_ = false;  // the file did not exist before open
    bool claimed_ = false;
    int claim_error_ = 0;  // errno of ftruncate in claim()
    std::string path_;
    std::string name_;
    FdStreambuf buf_;
    std::ostream stream_;
};

}  // namespace hypertrace
