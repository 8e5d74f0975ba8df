// Audit records: one O_APPEND write per line (concurrent writers, threads or processes, never
// interleave inside a line) and fdatasync before returning.
#include "common/audit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/safe_file.hpp"

namespace inj::audit {
namespace {

std::mutex g_mu;  // guards g_run and serialises this process's writes (one fd at a time)
std::string g_run;
std::atomic<bool> g_warned{false};

Result<void> mkdirs(const std::string& dir) {
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        std::string part = dir.substr(0, pos);
        if (part.empty()) continue;
        if (::mkdir(part.c_str(), 0750) != 0 && errno != EEXIST) return errno_error("mkdir", part);
    }
    return {};
}

Result<int> open_log(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) INJ_TRY(mkdirs(path.substr(0, slash)));
    // 0640: the log names every namespace and process the tool touched; not for everyone.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) return errno_error("open audit log", path);
    return fd;
}

}  // namespace

std::string log_path() {
    if (auto e = trusted_env_path("INJECTOR_AUDIT_LOG")) return *e;
    return "/var/lib/injector/audit.jsonl";
}

void set_run(const std::string& run_id) {
    std::lock_guard lk(g_mu);
    g_run = run_id;
}

void set_run_if_unset(const std::string& run_id) {
    std::lock_guard lk(g_mu);
    if (g_run.empty()) g_run = run_id;
}

std::string run() {
    std::lock_guard lk(g_mu);
    return g_run;
}

std::string format_time(std::chrono::system_clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& s) {
    std::tm tm{};
    int msec = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &msec) != 7)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    std::time_t secs = timegm(&tm);
    if (secs == static_cast<std::time_t>(-1)) return std::nullopt;
    return std::chrono::system_clock::from_time_t(secs) + std::chrono::milliseconds(msec);
}

void record(const std::string& action, const std::string& target, bool ok, const std::string& error,
            const std::vector<std::string>& items, Sync sync) {
    std::string line;
    std::string path = log_path();
    try {
        nlohmann::json j = {{"time", format_time(std::chrono::system_clock::now())},
                            {"run", run()},
                            {"action", action},
                            {"target", target},
                            {"result", ok ? "ok" : "failed"}};
        if (!ok || !error.empty()) j["error"] = error;
        if (!items.empty()) j["items"] = items;
        // Invalid UTF-8 in an interface or path name must not lose the record.
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } catch (const std::exception& e) {
        log::get("audit")->error("cannot format audit record {} {}: {}", action, target, e.what());
        return;
    }
    std::lock_guard lk(g_mu);
    auto fd = open_log(path);
    Result<void> r;
    if (!fd) {
        r = fd.error();
    } else {
        ssize_t n;
        do n = ::write(*fd, line.data(), line.size());
        while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(line.size()))
            r = errno_error("write audit log", path);
        else if (sync == Sync::durable && ::fdatasync(*fd) != 0)
            r = errno_error("fdatasync audit log", path);
        ::close(*fd);
    }
    if (!r && !g_warned.exchange(true))
        log::get("audit")->error("audit records are being lost: {}", r.error().message());
}

void record(const std::string& action, const std::string& target, const Result<void>& r,
            const std::vector<std::string>& items, Sync sync) {
    record(action, target, r.ok(), r.ok() ? std::string() : r.error().message(), items, sync);
}

Result<void> check_writable() {
    auto fd = open_log(log_path());
    if (!fd) return fd.error();
    ::close(*fd);
    return {};
}

std::vector<Entry> read(const std::string& path) {
    std::vector<Entry> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) continue;
        Entry e;
        auto t = parse_time(j.value("time", ""));
        if (!t) continue;
        e.time = *t;
        e.run = j.value("run", "");
        e.action = j.value("action", "");
        e.target = j.value("target", "");
        e.result = j.value("result", "");
        e.error = j.value("error", "");
        if (j.contains("items") && j["items"].is_array())
            for (auto& i : j["items"])
                if (i.is_string()) e.items.push_back(i.get<std::string>());
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace inj::audit
