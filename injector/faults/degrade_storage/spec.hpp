// degrade_storage: what a volume's disk does while the fault is in force.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/duration.hpp"
#include "plan/base.hpp"

namespace inj::plan {

struct IoLatency {
    Duration fixed{0};
    Duration jitter{0};  // uniform in [fixed - jitter, fixed + jitter], never below 0
    bool any() const { return fixed.count() > 0 || jitter.count() > 0; }
};

struct StorageError {
    std::string errno_name;  // "EIO", "ENOSPC", ...
    int err = 0;             // its value
    double probability = 1.0;
    std::vector<std::string> ops;  // operation classes or names; empty = every operation
    std::string path;              // fnmatch pattern inside the volume ("/wal/*"); empty = any
    Mark mark;
};

struct StorageDegrade {
    std::string volume;  // a volume declared on every target host
    std::string path;    // subtree of the volume the fault is limited to; "" = all
    IoLatency read, write, fsync, metadata;
    std::vector<StorageError> errors;
    bool full = false;       // statfs shows no space; growing writes fail with ENOSPC
    bool read_only = false;  // mutating operations fail with EROFS
    uint64_t read_bps = 0, write_bps = 0, read_iops = 0, write_iops = 0;  // 0 = unlimited
    Mark mark;
};

struct DegradeStorageSpec : SpecBase {
    static constexpr const char* kind = "degrade_storage";
    StorageDegrade disk;
    const std::string* volume() const { return &disk.volume; }
};

}  // namespace inj::plan
