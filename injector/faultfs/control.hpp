// The control block of one fault filesystem: a small file, mmap'd shared by the runner (writer)
// and the faultfs daemon (reader), so a fault changes for the next operation with no remount and
// no round trip. Settings are published under a seqlock; the daemon re-reads them only when the
// sequence moved (one atomic load per operation otherwise). A futex word in the block wakes the
// daemon's watcher at once for the things it must act on (drop volatile writes, owner changed).
//
// Why a file and not a socket: the daemon outlives the runner, and a file survives either side
// dying; the owner pid in the block lets the daemon notice the runner is gone (pidfd) and drop
// every fault by itself, so a crashed tool never leaves a service on a failing disk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace inj::faultfs {

// Operations, as bits of an error rule's filter. Classes (read, write, fsync, metadata) are the
// unions below; latency is set per class.
enum Op : uint32_t {
    kOpRead = 1u << 0,
    kOpWrite = 1u << 1,
    kOpFsync = 1u << 2,  // fsync, fdatasync, fsyncdir
    kOpLookup = 1u << 3,
    kOpGetattr = 1u << 4,
    kOpSetattr = 1u << 5,  // chmod, chown, utimes, truncate
    kOpOpen = 1u << 6,     // open, opendir
    kOpCreate = 1u << 7,   // create, mknod
    kOpMkdir = 1u << 8,
    kOpUnlink = 1u << 9,
    kOpRmdir = 1u << 10,
    kOpRename = 1u << 11,
    kOpLink = 1u << 12,  // link, symlink
    kOpReaddir = 1u << 13,
    kOpStatfs = 1u << 14,
    kOpFallocate = 1u << 15,
    kOpReadlink = 1u << 16,
    kOpFlush = 1u << 17,  // close(2) of a descriptor
};
constexpr uint32_t kOpsMetadata = kOpLookup | kOpGetattr | kOpSetattr | kOpOpen | kOpCreate | kOpMkdir | kOpUnlink |
                                  kOpRmdir | kOpRename | kOpLink | kOpReaddir | kOpStatfs | kOpFallocate | kOpReadlink |
                                  kOpFlush;
constexpr uint32_t kOpsAll = kOpRead | kOpWrite | kOpFsync | kOpsMetadata;
// The operations a read-only volume refuses (EROFS) and a full one may refuse (ENOSPC).
constexpr uint32_t kOpsMutating =
    kOpWrite | kOpSetattr | kOpCreate | kOpMkdir | kOpUnlink | kOpRmdir | kOpRename | kOpLink | kOpFallocate;
constexpr uint32_t kOpsGrowing = kOpWrite | kOpCreate | kOpMkdir | kOpLink | kOpFallocate;

enum OpClass : uint32_t { kClassRead = 0, kClassWrite = 1, kClassFsync = 2, kClassMetadata = 3, kClasses = 4 };
OpClass class_of(uint32_t op);
// "read", "write", "fsync", "metadata", "all" or one operation name ("open", "unlink", ...);
// 0 when unknown.
uint32_t ops_by_name(const std::string& name);
// The name of one operation bit ("fsync", "rename"), or "?".
const char* op_name(uint32_t op_bit);
const char* class_name(OpClass c);
// "EIO" -> 5 (the errnos a disk or filesystem can return, and a few more); 0 when unknown.
int errno_by_name(const std::string& name);
std::string errno_name(int err);

constexpr int kMaxErrorRules = 8;
constexpr int kPatternLen = 112;

struct Latency {
    uint64_t fixed_ns = 0;
    uint64_t jitter_ns = 0;  // the delay is uniform in [fixed - jitter, fixed + jitter], at least 0
};

struct ErrorRule {
    int32_t err = 0;   // positive errno
    uint32_t ppm = 0;  // probability, parts per million (1000000 = always)
    uint32_t ops = 0;  // Op bits
    uint32_t pad = 0;
    char pattern[kPatternLen] = {};  // fnmatch(3) on the path inside the volume ("/wal/*"); empty = any
};

enum Flag : uint32_t {
    kFlagFull = 1u << 0,      // statfs shows no space; growing operations fail with ENOSPC
    kFlagReadOnly = 1u << 1,  // mutating operations fail with EROFS; statfs shows ST_RDONLY
    kFlagVolatile = 1u << 2,  // writes not made durable are held in memory until fsync
    // With kFlagVolatile: creations, renames and unlinks not made durable by an fsync of their
    // directory are undone at a power loss too (ext4 data=ordered without a directory fsync).
    kFlagMetadataVolatile = 1u << 3,
};

// What a power loss does to the unsynced writes of a volatile volume (Settings::loss_model).
enum LossModel : uint32_t {
    kLossUnsynced = 0,  // every unsynced write is lost (the default)
    kLossTorn = 1,      // of each unsynced write, a prefix of at most torn_sectors sectors reaches
                        //   the disk (torn_sectors 0: a random subset of its pages instead)
    kLossReorder = 2,   // each unsynced write reaches the disk or not, independently (survive_ppm)
};
constexpr uint32_t kSector = 512;

// A crash point: the volume loses power when a target performs the nth operation matching `ops`
// and `pattern` (counted from the arming), before that operation (it is lost too) or after it
// (it completes, then the loss applies, then it is answered). Until the runner re-arms or clears
// it (power back), every operation on the volume fails with EIO. See crash_point.hpp.
struct CrashPoint {
    uint32_t ops = 0;                // Op bits; 0 = no crash point
    uint32_t nth = 1;                // the nth matching operation fires (1 = the first)
    uint32_t after = 0;              // 0: before the operation, 1: after it
    uint32_t arm = 0;                // arming id: a new id restarts the count and powers back on
    char pattern[kPatternLen] = {};  // fnmatch(3) on the path inside the volume; empty = any
};

// Everything a fault can set; all zero = a plain passthrough.
struct Settings {
    Latency latency[kClasses];
    ErrorRule errors[kMaxErrorRules];
    uint32_t nerrors = 0;
    uint32_t flags = 0;
    uint64_t read_bps = 0, write_bps = 0;  // token bucket; 0 = unlimited
    uint64_t read_iops = 0, write_iops = 0;
    // CLOCK_MONOTONIC ns past which every fault is void (the daemon clears them), whatever the
    // runner does; 0 = none.
    uint64_t deadline_ns = 0;
    // Volatile volumes: what a power loss keeps of the unsynced writes.
    uint32_t loss_model = kLossUnsynced;  // LossModel
    uint32_t torn_sectors = 0;            // kLossTorn: the prefix bound, in 512-byte sectors
    uint32_t survive_ppm = 500000;        // kLossReorder: the chance each write survives
    uint32_t pad1 = 0;
    uint64_t writeback_ns = 0;  // data dirty longer than this is written back (kernel's dirty
                                //   expiry); 0 = never without fsync
    uint64_t loss_seed = 0;     // the random choices of torn/reorder; 0 = from the clock
    CrashPoint crash;           // a power loss at an operation instead of at a time
};

// Counters the daemon keeps (read by the engine for the report).
struct Counters {
    std::atomic<uint64_t> ops[kClasses];
    std::atomic<uint64_t> errors_injected;
    std::atomic<uint64_t> delayed;        // operations that waited for latency
    std::atomic<uint64_t> throttled_ns;   // time spent waiting in the token bucket
    std::atomic<uint64_t> dirty_bytes;    // volatile bytes held now
    std::atomic<uint64_t> dropped_bytes;  // volatile bytes thrown away by power losses
    std::atomic<uint64_t> owner_lost;     // times the owner died and faults were cleared
    std::atomic<uint64_t> stuck_writers;  // seqlocks taken over from a writer that died inside
    std::atomic<uint64_t> lost_reports;   // power losses accounted in the lost file (<control>.lost.json)
    std::atomic<uint64_t> crash_matches;  // operations that matched the armed crash point
};

// What the daemon records when a crash point fires (written once per arming, `arm` last).
struct Fired {
    std::atomic<uint32_t> arm;      // futex word: the arming id that fired (0 = none yet)
    std::atomic<uint32_t> applied;  // the arming id whose loss is applied (after `arm`)
    uint32_t op = 0;                // the Op bit of the operation
    uint32_t nth = 0;               // which matching operation it was
    uint32_t after = 0;
    uint32_t pad = 0;
    uint64_t realtime_ns = 0;   // when it matched (CLOCK_REALTIME) ...
    uint64_t monotonic_ns = 0;  // ... and CLOCK_MONOTONIC
    uint64_t applied_ns = 0;    // CLOCK_MONOTONIC when the loss had been applied
    char path[256] = {};        // the path that matched (truncated)
};

constexpr uint64_t kMagic = 0x736674666a6e69ULL;  // "injftfs"
constexpr uint32_t kVersion = 3;                  // 2: writer_pid; loss models; lost account. 3: crash points

enum class DaemonState : uint32_t { starting = 0, serving = 1, stopped = 2 };

struct Block {
    uint64_t magic;
    uint32_t version;
    uint32_t size;
    std::atomic<uint64_t> seq;  // seqlock: odd while a writer is inside
    // The process inside the seqlock (0 between writes). A writer killed inside leaves the
    // sequence odd: readers keep the last settings they read, and the next writer (or the
    // daemon's watcher) takes the lock over once this pid is gone (kStuckWriter).
    std::atomic<uint32_t> writer_pid;
    uint32_t pad0;
    Settings settings;                // guarded by seq
    std::atomic<uint32_t> owner_pid;  // the run that set the faults; 0 = none
    std::atomic<uint32_t> doorbell;   // futex word: bumped to wake the daemon's watcher
    std::atomic<uint64_t> drop_req;   // power loss requests: the daemon drops volatile data and
    std::atomic<uint64_t> drop_done;  //   sets drop_done = drop_req
    std::atomic<uint32_t> daemon_pid;
    std::atomic<uint32_t> state;  // DaemonState
    Counters counters;
    Fired fired;
};

static_assert(sizeof(Settings) == 1296, "Settings layout changed: bump kVersion");
static_assert(sizeof(Block) == 1768, "Block layout changed: bump kVersion");

// How a volatile volume loses data at a power cut, as a plan states it (the plan keys map onto
// this one to one); to_settings() puts it in the control block.
struct Loss {
    enum class Model { unsynced, torn, reorder } model = Model::unsynced;
    uint32_t torn_sectors = 8;              // torn: the longest prefix of a write that reaches the disk
    bool torn_pages = false;                // torn: a random subset of each write's pages instead
    double survive = 0.5;                   // reorder: the chance each unsynced write reaches the disk
    bool metadata_volatile = false;         // entries not made durable by a directory fsync are lost too
    std::chrono::nanoseconds writeback{0};  // dirty longer than this is written back; 0 = never
    uint64_t seed = 0;                      // the random choices; 0 = from the clock
};
// Makes `s` a volatile volume with this loss model (sets kFlagVolatile and the loss fields).
void to_settings(const Loss& loss, Settings& s);
// "unsynced", "torn", "reorder" -> the model; false when unknown.
bool loss_model_by_name(const std::string& name, Loss::Model& out);

// How long a sequence may stay odd, its writer gone, before a writer or the daemon takes it over.
constexpr std::chrono::milliseconds kStuckWriter{100};

// The power loss account the daemon writes next to the control file: per file, the bytes and
// operations thrown away by the last cut (JSON, replaced at each cut).
std::string lost_path(const std::string& control);

// A mapping of a control file. Move-only; unmaps on destruction (the file stays).
class Control {
public:
    // Creates (or truncates) the file with an all-clear block.
    static Result<Control> create(const std::string& path);
    static Result<Control> open(const std::string& path);
    Control(Control&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
    Control& operator=(Control&& o) noexcept;
    ~Control();

    Block* block() const { return b_; }
    // Publishes new settings (seqlock writer; safe against the daemon clearing them concurrently).
    void write(const Settings& s, uint32_t owner_pid);
    // A consistent copy of the settings and its sequence number. A writer that died inside the
    // seqlock is taken over (the half-written settings are void: cleared) after kStuckWriter.
    Settings read(uint64_t* seq_out = nullptr) const;
    // One attempt, never waiting: false while a writer is inside (or moved the sequence).
    bool try_read(Settings& out, uint64_t* seq_out = nullptr) const;
    // The sequence is odd and its writer gone for longer than kStuckWriter (tracked by the caller
    // in `since`, reset when the sequence moves).
    bool writer_stuck(uint64_t seq, uint64_t& tracked, std::chrono::steady_clock::time_point& since) const;
    // Clears every fault (keeps nothing of `settings`) and the owner.
    void clear();
    void ring();  // wakes the daemon's watcher
    // Asks the daemon to throw away every write not yet durable; waits for it (bounded).
    Result<void> drop_volatile(std::chrono::milliseconds bound);

private:
    explicit Control(Block* b) : b_(b) {}
    Block* b_ = nullptr;
};

}  // namespace inj::faultfs
