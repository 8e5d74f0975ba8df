// Fd: the one owner of a file descriptor. Every descriptor the project opens lives in one, so
// no error path can leak it and no hand-written close() pair can close it twice.
#pragma once

#include <utility>

#include "common/result.hpp"

namespace inj {

class Fd {
public:
    Fd() noexcept = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    // Closes; an error closing is lost here (the descriptor is gone either way on Linux): call
    // close() first where the error matters.
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    // Gives the descriptor up without closing it.
    int release() noexcept { return std::exchange(fd_, -1); }
    // Closes the descriptor held (if any) and takes fd instead.
    void reset(int fd = -1) noexcept;
    // Closes now and says whether the kernel reported an error (EIO on a file written through
    // NFS or FUSE, for instance). The Fd is empty afterwards in every case.
    Result<void> close();

private:
    int fd_ = -1;
};

// open(2) with O_CLOEXEC added; the error names the path.
Result<Fd> open_fd(const std::string& path, int flags, unsigned mode = 0);

// A pipe2(2) pair: read end first, write end second (O_CLOEXEC always).
struct Pipe {
    Fd read;
    Fd write;
};
Result<Pipe> make_pipe(int flags = 0);

}  // namespace inj
