// Append-only JSON-lines journal with O_APPEND writes (one write per line: no torn interleaving).
#include "runner/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/log.hpp"
#include "runner/engine.hpp"

namespace inj::runner {

std::string new_run_id() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y%m%dT%H%M%S", &tm);
    std::random_device rd;
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%06x", rd() & 0xffffff);
    return std::string(ts) + "-" + suffix;
}

Result<Journal> Journal::open(const std::string& run_id) { return open_with(run_id, true); }
Result<Journal> Journal::reopen(const std::string& run_id) { return open_with(run_id, false); }

Result<Journal> Journal::open_with(const std::string& run_id, bool fresh) {
    std::string dir = runs_root() + "/" + run_id;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error{ec.value(), "create journal directory", dir};
    std::string path = dir + "/journal.jsonl";
    // A run id names one run: never append to another run's journal.
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (fresh ? O_CREAT | O_EXCL : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0 && errno == EEXIST) return Error{EEXIST, "run id " + run_id + " was used before", path};
    if (fd < 0) return errno_error("open journal", path);
    return Journal(run_id, dir, path, fd);
}

Journal::Journal(Journal&& o) noexcept
    : run_id_(std::move(o.run_id_)), dir_(std::move(o.dir_)), path_(std::move(o.path_)), fd_(o.fd_) {
    o.fd_ = -1;
}

Journal::~Journal() {
    if (fd_ >= 0) {
        fsync(fd_);
        close(fd_);
    }
}

nlohmann::json Journal::write(const std::string& event, nlohmann::json fields, bool durable) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = ms / 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char full[48];
    std::snprintf(full, sizeof full, "%s.%03lldZ", ts, static_cast<long long>(ms % 1000));
    nlohmann::json line = {{"t", full}, {"mono_ns", monotonic_ns()}, {"run", run_id_}, {"event", event}};
    if (fields.is_object())
        for (auto& [k, v] : fields.items()) line[k] = v;
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::lock_guard lk(mu_);
    if (fd_ < 0) return line;
    if (::write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        log::get("runner")->warn("journal write failed: {}", std::strerror(errno));
    if (durable) fdatasync(fd_);
    return line;
}

std::vector<nlohmann::json> read_journal(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

}  // namespace inj::runner
