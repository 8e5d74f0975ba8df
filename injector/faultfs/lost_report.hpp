// What a volume lost at its last power cut, read back from the account the faultfs daemon writes
// next to its control file (`<control>.lost.json`, see loss.cpp): per file the writes and bytes
// thrown away and the fsync that was missing, per entry the creation, rename or unlink undone and
// the directory fsync that was missing, and what triggered the cut (the runner's power loss or a
// crash point). The run's report includes it so a lost acknowledged write can be traced to the
// missing fsync.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace inj::faultfs {

struct LostWrite {
    uint64_t offset = 0, bytes = 0, bytes_kept = 0;
};

struct LostFile {
    std::string path;
    uint64_t writes = 0, write_bytes = 0, bytes_kept = 0, bytes_lost = 0;
    std::string missing;                // "fsync of /wal/0001.log"
    std::string reason;                 // one sentence: the writes, the missing fsync, the model
    std::vector<LostWrite> operations;  // the first writes (the daemon lists up to 64)
};

struct LostEntry {
    std::string operation;  // create, unlink, rename
    std::string path;       // "/d/new", or "/d/tmp -> /d/current" for a rename
    std::string missing;    // "fsync of directory /d"
    std::string reason;
};

struct LostTrigger {
    std::string kind = "power loss";  // or "crash point"
    std::string operation, path, when;
    uint32_t nth = 0;
    uint64_t realtime_ns = 0;
};

struct LostReport {
    uint64_t cut = 0;      // the daemon's count of cuts (this is the last)
    std::string model;     // unsynced, torn, reorder
    std::string metadata;  // durable, volatile
    LostTrigger trigger;
    std::vector<LostFile> files;
    std::vector<LostEntry> entries;

    uint64_t bytes_lost() const;
};

// Parses an account; errors name `source` and the field.
Result<LostReport> parse_lost_report(const std::string& text, const std::string& source);
// The account of the volume whose control file is `control`; nullopt when it never lost power.
Result<std::optional<LostReport>> read_lost_report(const std::string& control);
// Lines for a human report: the trigger, then each file and entry with its reason.
std::vector<std::string> summarize(const LostReport& r, const std::string& volume);
// The account as the run's JSON report carries it.
nlohmann::json to_json(const LostReport& r);

}  // namespace inj::faultfs
