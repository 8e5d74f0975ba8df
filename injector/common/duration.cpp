// Duration parsing and formatting shared by plans, CLI flags and reports.
#include "common/duration.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace inj {

std::optional<Duration> parse_duration(std::string_view s, std::string* why) {
    auto fail = [&](const char* reason) -> std::optional<Duration> {
        if (why) *why = reason;
        return std::nullopt;
    };
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    if (s.empty()) return fail("empty duration");
    if (s.front() == '-') return fail("negative duration");
    if (s == "0") return Duration{0};
    long double total_ns = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t start = i;
        bool dot = false;
        while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot))) {
            if (s[i] == '.') dot = true;
            ++i;
        }
        // A number needs a digit: "." or ".s" is not one (std::stold would throw on it).
        std::string digits(s.substr(start, i - start));
        if (digits.find_first_of("0123456789") == std::string::npos)
            return fail("expected a number (durations look like 500ms, 30s, 5m, 1h)");
        errno = 0;
        char* end = nullptr;
        long double num = std::strtold(digits.c_str(), &end);
        if (end != digits.c_str() + digits.size())
            return fail("expected a number (durations look like 500ms, 30s, 5m, 1h)");
        if (errno == ERANGE || !std::isfinite(num) || num > 1e18L) return fail("duration too large");
        size_t ustart = i;
        while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
        std::string_view unit = s.substr(ustart, i - ustart);
        long double mul;
        if (unit == "ns")
            mul = 1;
        else if (unit == "us" || unit == "µs")
            mul = 1e3;
        else if (unit == "ms")
            mul = 1e6;
        else if (unit == "s")
            mul = 1e9;
        else if (unit == "m")
            mul = 60e9;
        else if (unit == "h")
            mul = 3600e9;
        else if (unit.empty())
            return fail("missing unit (ns, us, ms, s, m, h)");
        else
            return fail("unknown unit (use ns, us, ms, s, m, h)");
        total_ns += num * mul;
        if (total_ns > 1e18L) return fail("duration too large");
    }
    return Duration{static_cast<long long>(std::llround(total_ns))};
}

std::string format_duration(Duration d) {
    using namespace std::chrono;
    long long ns = d.count();
    char buf[64];
    if (ns < 0) return "-" + format_duration(Duration{-ns});
    if (ns == 0) return "0s";
    if (ns < 1000000) {
        std::snprintf(buf, sizeof buf, "%.3gms", ns / 1e6);
        return buf;
    }
    if (ns < 1000000000LL) {
        std::snprintf(buf, sizeof buf, "%.4gms", ns / 1e6);
        return buf;
    }
    double secs = ns / 1e9;
    if (secs < 60) {
        std::snprintf(buf, sizeof buf, "%.4gs", secs);
        return buf;
    }
    long long whole = static_cast<long long>(secs);
    long long h = whole / 3600, m = (whole % 3600) / 60, s = whole % 60;
    std::string out;
    if (h) out += std::to_string(h) + "h";
    if (m) out += std::to_string(m) + "m";
    if (s || out.empty()) out += std::to_string(s) + "s";
    return out;
}

}  // namespace inj
