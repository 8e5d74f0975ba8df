// Result<T>: the error type of every kernel, libbpf and syscall wrapper (std::expected-shaped).
// Errors carry a positive errno, the operation that failed and context, converted in one place.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace inj {

struct Error {
    int code = 0;          // positive errno, or 0 when the error is not a syscall error
    std::string op;        // what was attempted, e.g. "bpf_link_create"
    std::string context;   // on what, e.g. "ifname h3 in netns inj-lab-fabric"

    std::string message() const {
        std::string m = op;
        if (!context.empty()) m += " (" + context + ")";
        if (code != 0) m += ": " + std::string(std::strerror(code));
        return m;
    }
};

// Builds an Error from errno right after a failing syscall.
inline Error errno_error(std::string op, std::string context = {}) {
    return Error{errno, std::move(op), std::move(context)};
}
// libbpf returns negative error codes; normalise them here and nowhere else.
inline Error libbpf_error(int rc, std::string op, std::string context = {}) {
    return Error{rc < 0 ? -rc : (rc ? rc : EINVAL), std::move(op), std::move(context)};
}
inline Error plain_error(std::string op, std::string context = {}) {
    return Error{0, std::move(op), std::move(context)};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T& operator*() & { return value(); }
    T* operator->() { return &value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error e) : err_(std::move(e)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }

private:
    Error err_;
    bool ok_ = true;
};

}  // namespace inj

// Propagate an error from an expression returning Result<...>.
#define INJ_TRY(expr)                                   \
    do {                                                \
        auto inj_try_r_ = (expr);                       \
        if (!inj_try_r_.ok()) return inj_try_r_.error(); \
    } while (0)
