// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Output: every write failure seen with its errno; -o FILE destroys nothing
// before claim(); the bytes are exactly those streamed in.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include "output/output.h"
#include "output/record_format.h"
#include "util/unique_fd.h"

using namespace hypertrace;

namespace {

std::string read_all(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

bool exists(const std::string& path)
{
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// A scratch directory, removed with what is in it.
class TempDir {
public:
    TempDir()
    {
        char tmpl[] = "/tmp/ht-output-test.XXXXXX";
        if (!::mkdtemp(tmpl))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_file(const std::string& path, const std::string& content)
{
    std::ofstream(path, std::ios::binary) << content;
}

// SIGPIPE ignored for the test's duration, as hypertrace's main() does.
class IgnoreSigpipe {
public:
    IgnoreSigpipe() { old_ = std::signal(SIGPIPE, SIG_IGN); }
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old_); }

private:
    void (*old_)(int);
};

// Redirects fd 1 for the scope: Output() writes to whatever fd 1 is.
class StdoutTo {
public:
    explicit StdoutTo(int fd) : saved_(::dup(STDOUT_FILENO)) { ::dup2(fd, STDOUT_FILENO); }
    ~StdoutTo()
    {
        ::dup2(saved_, STDOUT_FILENO);
        ::close(saved_);
    }

private:
    int saved_;
};

TEST(Output, ExistingFileKeepsItsContentUntilClaimed)
{
    TempDir dir;
    const std::string path = dir.file("previous.jsonl");
    write_file(path, "the user's previous trace\n");
    {
        Output out(path);  // a run whose backend then fails
    }
    EXPECT_EQ(read_all(path), "the user's previous trace\n");
    {
        Output out(path);
        ASSERT_TRUE(out.claim());
        EXPECT_EQ(read_all(path), "") << "claim() truncates: this run's output replaces the file";
        out.stream() << "new\n";
        EXPECT_TRUE(out.flush());
    }
    EXPECT_EQ(read_all(path), "new\n");
}

TEST(Output, CreatedFileIsRemovedUnlessClaimed)
{
    TempDir dir;
    const std::string path = dir.file("new.txt");
    {
        Output out(path);
        EXPECT_TRUE(exists(path));
    }
    EXPECT_FALSE(exists(path)) << "a failed run left the file it created";
    {
        Output out(path);
        ASSERT_TRUE(out.claim());
    }
    EXPECT_TRUE(exists(path)) << "a run that traced keeps its (empty) output";
    EXPECT_EQ(read_all(path), "");
}

TEST(Output, UnwritablePathThrowsWithErrno)
{
    try {
        Output out("/nonexistent-dir/out");
        FAIL() << "opened";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
    }
    TempDir dir;
    try {
        Output out(dir.file(""));  // the directory itself
        FAIL() << "opened a directory";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EISDIR);
    }
}

TEST(Output, DevicesAndFifosNeedNoTruncation)
{
    {
        Output out("/dev/null");
        EXPECT_TRUE(out.claim());
        out.stream() << "discarded\n";
        EXPECT_TRUE(out.flush());
    }
    EXPECT_TRUE(exists("/dev/null"));  // never unlinked, never truncated
    TempDir dir;
    const std::string fifo = dir.file("fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(reader);
    {
        Output out(fifo);
        EXPECT_TRUE(out.claim());
        out.stream() << "through the fifo\n";
        EXPECT_TRUE(out.flush());
    }
    char buf[64] = {};
    EXPECT_EQ(::read(reader.get(), buf, sizeof buf), 17);
    EXPECT_STREQ(buf, "through the fifo\n");
}

TEST(Output, FullDeviceFailsWithEnospcAndNamesTheFile)
{
    Output out("/dev/full");
    ASSERT_TRUE(out.claim());
    out.stream() << "header\n";
    EXPECT_FALSE(out.failed()) << "buffered, not written yet";
    EXPECT_FALSE(out.flush());
    EXPECT_TRUE(out.failed());
    EXPECT_EQ(out.error_message(), "writing to '/dev/full' failed: No space left on device");
    // Sticky: nothing later succeeds or changes the cause.
    out.stream() << "more\n";
    EXPECT_FALSE(out.flush());
    EXPECT_EQ(out.error_message(), "writing to '/dev/full' failed: No space left on device");
}

TEST(Output, LargeWriteToFullDeviceFailsWithoutFlush)
{
    // A record writer's 64 KiB block goes straight to write(2).
    Output out("/dev/full");
    ASSERT_TRUE(out.claim());
    const std::string block(64 * 1024, 'x');
    out.stream().write(block.data(), static_cast<std::streamsize>(block.size()));
    EXPECT_TRUE(out.failed());
    EXPECT_FALSE(out.stream().good());
}

TEST(Output, ClosedPipeIsEpipeOnStdout)
{
    IgnoreSigpipe ignore;
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[0]);  // the reader went away (hypertrace ... | head)
    {
        StdoutTo redirect(p[1]);
        Output out;
        EXPECT_TRUE(out.claim());
        out.stream() << "a record\n";
        EXPECT_FALSE(out.flush());
        EXPECT_EQ(out.error_message(), "writing to stdout failed: Broken pipe");
    }
    ::close(p[1]);
}

TEST(Output, BytesArriveExactlyThroughAPipe)
{
    // More than a pipe holds, in small and large pieces, read concurrently:
    // partial writes are resumed, nothing is reordered or lost.
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    std::string want;
    for (int i = 0; i < 20000; i++)
        want += std::to_string(i) + (i % 7 ? "," : "\n");
    want += std::string(300 * 1024, 'L');
    for (int i = 0; i < 1000; i++)
        want += std::to_string(i);
    std::string got;
    std::thread reader([&] {
        char buf[4096];
        ssize_t n;
        while ((n = ::read(p[0], buf, sizeof buf)) > 0)
            got.append(buf, static_cast<std::size_t>(n));
    });
    {
        // The pipe reopened by path, as `-o /dev/stdout` would be.
        Output out("/proc/self/fd/" + std::to_string(p[1]));
        ::close(p[1]);
        EXPECT_TRUE(out.claim());
        std::size_t at = 0;
        for (std::size_t piece : {1u, 10u, 5000u, 70000u, 3u, 400000u})
            if (at < want.size()) {
                const std::size_t n = std::min(piece, want.size() - at);
                out.stream().write(want.data() + at, static_cast<std::streamsize>(n));
                at += n;
            }
        out.stream() << want.substr(at);
        EXPECT_TRUE(out.flush());
    }  // the pipe's last writer is gone: the reader sees EOF
    reader.join();
    ::close(p[0]);
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want);
}

TEST(Output, RecordWriterBytesUnchanged)
{
    // The same writer into a std::ostringstream and into an Output file:
    // identical bytes.
    TempDir dir;
    const std::string path = dir.file("records.csv");
    std::ostringstream expect;
    TimeBase tb{};
    ht_record r{};
    r.version = HT_RECORD_VERSION;
    r.size = sizeof r;
    r.pid = 7;
    r.nr = 42;
    r.t_exit_ns = 10;
    r.t_hypercall_ns = 20;
    r.t_entry_ns = 35;
    for (Format f : {Format::Text, Format::Json, Format::Csv}) {
        SCOPED_TRACE(format_name(f));
        {
            std::ostringstream s;
            auto w = make_record_writer(f, s, tb);
            for (int i = 0; i < 3000; i++)
                w->write(r);
            w->finish();
            expect.str(s.str());
        }
        {
            Output out(path);
            ASSERT_TRUE(out.claim());
            auto w = make_record_writer(f, out.stream(), tb);
            for (int i = 0; i < 3000; i++)
                w->write(r);
            w->finish();
            EXPECT_TRUE(out.flush());
        }
        EXPECT_TRUE(read_all(path) == expect.str());
        EXPECT_EQ(read_all(path).size(), expect.str().size());
    }
}

}  // namespace
