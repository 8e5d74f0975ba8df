// The Fd owner's out-of-line parts: closing, and the open/pipe calls that return one.
#include "common/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace inj {

void Fd::reset(int fd) noexcept {
    int old = std::exchange(fd_, fd);
    // Linux releases the descriptor even when close() fails (EINTR included), so it is never
    // retried: a retry could close a descriptor another thread has just been given.
    if (old >= 0 && old != fd) ::close(old);
}

Result<void> Fd::close() {
    int old = release();
    if (old < 0) return {};
    if (::close(old) != 0) return errno_error("close");
    return {};
}

Result<Fd> open_fd(const std::string& path, int flags, unsigned mode) {
    int fd;
    do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_error("open", path);
    return Fd(fd);
}

Result<Pipe> make_pipe(int flags) {
    int p[2];
    if (::pipe2(p, flags | O_CLOEXEC) != 0) return errno_error("pipe2");
    return Pipe{Fd(p[0]), Fd(p[1])};
}

}  // namespace inj
