// Non-blocking standard output (see output.hpp).
#include "common/output.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <streambuf>
#include <string>

namespace inj::output {
namespace {

std::atomic<uint64_t> g_dropped{0};

void on_sigpipe(int) {}

// A description of our own for fd, non-blocking, in place of the inherited one. Only pipes and
// terminals: files never block for long, and a socket is written with MSG_DONTWAIT instead.
void reopen_nonblocking(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return;
    if (!S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) && isatty(fd))) return;
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    // A pipe whose reader is gone cannot be opened (ENXIO): writes to it fail at once anyway.
    int nfd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (nfd < 0) return;
    // Keep O_APPEND and the like of the original (a terminal in append mode stays so).
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_APPEND)) fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_APPEND);
    dup2(nfd, fd);  // dup2 clears O_CLOEXEC on fd, as stdout and stderr had it
    close(nfd);
}

// std::cout and std::cerr over write_within: a flush waits at most 2 s for room; once a reader
// has been stuck that long, the stream drops what it is given from then on (counted).
class StdBuf : public std::streambuf {
public:
    explicit StdBuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }

protected:
    int overflow(int c) override {
        if (sync() != 0) return traits_type::eof();
        if (c != traits_type::eof()) {
            *pptr() = static_cast<char>(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }
    int sync() override {
        std::string_view s(pbase(), static_cast<size_t>(pptr() - pbase()));
        if (!s.empty()) {
            if (stuck_ || !write_within(fd_, s, std::chrono::steady_clock::now() + std::chrono::seconds(2))) {
                stuck_ = true;
                g_dropped += s.size();
            }
        }
        setp(buf_, buf_ + sizeof buf_);
        return 0;  // dropping is not an error of the program: the stream stays usable
    }

private:
    int fd_;
    bool stuck_ = false;
    char buf_[4096];
};

}  // namespace

void protect_stdio() {
    struct sigaction sa {};
    sa.sa_handler = on_sigpipe;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, nullptr);
    reopen_nonblocking(STDOUT_FILENO);
    reopen_nonblocking(STDERR_FILENO);
    // Never freed: the streams are flushed at exit, after every static object is gone.
    static auto* out = new StdBuf(STDOUT_FILENO);
    static auto* err = new StdBuf(STDERR_FILENO);
    std::cout.flush();
    std::cerr.flush();
    std::cout.rdbuf(out);
    std::cerr.rdbuf(err);
    std::cerr.setf(std::ios::unitbuf);
}

long write_some(int fd, std::string_view s, int timeout_ms) {
    if (s.empty()) return 0;
    pollfd p{fd, POLLOUT, 0};
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0 || (p.revents & (POLLERR | POLLNVAL))) return -1;
    // At most PIPE_BUF: a pipe with room (POLLOUT) takes that much without blocking even when
    // its description is a blocking one.
    size_t len = std::min<size_t>(s.size(), 4096);
    ssize_t n;
    do {
        n = send(fd, s.data(), len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) n = write(fd, s.data(), len);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

bool write_within(int fd, std::string_view s, std::chrono::steady_clock::time_point deadline) {
    while (!s.empty()) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        long n = write_some(fd, s, static_cast<int>(std::min<long long>(left, 100)));
        if (n < 0) return false;
        if (n == 0) {
            // A paused terminal may say "writable" and still refuse: do not spin on it.
            usleep(10000);
            continue;
        }
        s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

uint64_t dropped_bytes() { return g_dropped.load(); }

}  // namespace inj::output
