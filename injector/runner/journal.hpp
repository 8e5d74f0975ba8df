// The run journal: JSON lines appended as the run goes, so a crashed or killed run still leaves
// a record of what it did and what it created (recover reads it). Lives in
// /run/injector/runs/<run-id>/journal.jsonl.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace inj::runner {

std::string new_run_id();  // 20261125T091800-3fa2c1

class Journal {
public:
    // Starts the journal of a new run; a run id that has a journal already is refused.
    static Result<Journal> open(const std::string& run_id);
    // Appends to the journal of an earlier run (recover closes interrupted runs this way).
    static Result<Journal> reopen(const std::string& run_id);
    Journal(Journal&& o) noexcept;
    Journal& operator=(Journal&&) = delete;
    ~Journal();

    // Appends {"t": wall-clock ISO time, "mono_ns": ..., "event": event, ...fields}. Thread-safe.
    // Important events (durable=true) are fsync'ed before returning. Returns the line written.
    nlohmann::json write(const std::string& event, nlohmann::json fields = nlohmann::json::object(),
                         bool durable = false);
    const std::string& dir() const { return dir_; }
    const std::string& path() const { return path_; }
    const std::string& run_id() const { return run_id_; }

private:
    static Result<Journal> open_with(const std::string& run_id, bool fresh);
    Journal(std::string run_id, std::string dir, std::string path, int fd)
        : run_id_(std::move(run_id)), dir_(std::move(dir)), path_(std::move(path)), fd_(fd) {}
    std::string run_id_, dir_, path_;
    int fd_ = -1;
    std::mutex mu_;
};

// Reads every event of a journal (lines that do not parse, e.g. a torn last line, are skipped).
std::vector<nlohmann::json> read_journal(const std::string& path);

}  // namespace inj::runner
