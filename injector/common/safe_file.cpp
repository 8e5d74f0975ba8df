// Symlink-safe writes and trusted environment paths (see safe_file.hpp).
#include "common/safe_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <set>

namespace inj {
namespace {

// Why `st` (of `what`) is not safe to trust, or "".
std::string untrusted(const struct stat& st, const std::string& what) {
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return what + " is owned by uid " + std::to_string(st.st_uid) + ", not by root";
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        // A sticky directory (/tmp) lets others create, not replace what is ours.
        if (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0) return "";
        return what + " is writable by " + ((st.st_mode & S_IWOTH) ? "others" : "its group");
    }
    return "";
}

std::string why_untrusted(const std::string& path) {
    if (path.empty() || path[0] != '/') return "it is not an absolute path";
    struct stat st {};
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (lstat(p.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) return p + " is a symbolic link";
        if (auto w = untrusted(st, p); !w.empty()) return w;
    } else if (errno != ENOENT) {
        return p + ": " + std::strerror(errno);
    }
    // Its directory decides who could replace it (or create it, when it does not exist yet).
    auto parent = std::filesystem::path(p).parent_path().string();
    if (parent.empty()) parent = "/";
    if (stat(parent.c_str(), &st) != 0) return parent + ": " + std::strerror(errno);
    return untrusted(st, parent);
}

}  // namespace

Result<void> write_file_nofollow(const std::string& path, std::string_view text, unsigned mode) {
    std::filesystem::path p(path);
    auto dir = p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) return errno_error("open directory (symbolic links are not followed)", dir.string());
    const std::string name = p.filename().string();
    std::string tmp = "." + name + ".tmp" + std::to_string(std::random_device{}());
    int fd = ::openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        auto e = errno_error("create", (dir / tmp).string());
        ::close(dfd);
        return e;
    }
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    bool ok = off == text.size() && ::fsync(fd) == 0;
    ::close(fd);
    // Renamed into place: a reader never sees half a file, and a symlink planted at `name` is
    // replaced rather than written through.
    if (!ok || ::renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0) {
        auto e = errno_error("write", path);
        ::unlinkat(dfd, tmp.c_str(), 0);
        ::close(dfd);
        return e;
    }
    ::close(dfd);
    return {};
}

Result<void> copy_file_nofollow(const std::string& from, const std::string& to) {
    int fd = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno_error("open", from);
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    ::close(fd);
    if (n < 0) return errno_error("read", from);
    return write_file_nofollow(to, text);
}

std::optional<std::string> trusted_env_path(const char* var) {
    const char* e = std::getenv(var);
    if (!e || !*e) return std::nullopt;
    std::string why = why_untrusted(e);
    if (why.empty()) return std::string(e);
    static std::mutex mu;
    static std::set<std::string> said;
    std::lock_guard lk(mu);
    if (said.insert(var).second)
        std::cerr << "injector: ignoring " << var << "=" << e << ": " << why
                  << " (an override of a root path must be owned by root and writable by nobody else)\n";
    return std::nullopt;
}

}  // namespace inj
