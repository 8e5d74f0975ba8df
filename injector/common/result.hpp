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
    int code = 0;         // positive errno, or 0 when the error is not a syscall error
    std::string op;       // what was attempted, e.g. "bpf_link_create"
    std::string context;  // on what, e.g. "ifname h3 in netns inj-lab-fabric"

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
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const& { return std::get<1>(v_); }
    // From a temporary, a copy: `const Error& e = f().error();` must not dangle.
    Error error() && { return std::get<1>(std::move(v_)); }

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
    const Error& error() const& { return err_; }
    Error error() && { return std::move(err_); }

private:
    Error err_;
    bool ok_ = true;
};

}  // namespace inj

// Propagates an error from an expression returning Result<...>, from a function returning any
// Result: `INJ_TRY(write_all(fd, data));`.
#define INJ_TRY(expr)                                               \
    do {                                                            \
        auto inj_try_r_ = (expr);                                   \
        if (!inj_try_r_.ok()) return std::move(inj_try_r_).error(); \
    } while (0)

// Declares or assigns lhs from a Result<T>'s value, or returns its error:
//   INJ_ASSIGN_OR_RETURN(Fd fd, open_fd(path, O_RDONLY));
//   INJ_ASSIGN_OR_RETURN(auto pipe, make_pipe());
//   INJ_ASSIGN_OR_RETURN(existing, parse(text));
// One statement per use (it expands to three): not the body of an unbraced if/for. A type with a
// comma in it (std::pair<A, B>) needs `auto` or an alias.
#define INJ_ASSIGN_OR_RETURN(lhs, expr) INJ_ASSIGN_OR_RETURN_IMPL_(INJ_RESULT_CONCAT_(inj_aor_r_, __LINE__), lhs, expr)
#define INJ_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
    auto tmp = (expr);                             \
    if (!tmp.ok()) return std::move(tmp).error();  \
    lhs = std::move(tmp).value()
#define INJ_RESULT_CONCAT_(a, b) INJ_RESULT_CONCAT_INNER_(a, b)
#define INJ_RESULT_CONCAT_INNER_(a, b) a##b
