// The reader of the daemon's power loss account (<control>.lost.json): what the daemon writes
// (the shape of loss.cpp's account) is read back whole, older accounts without reasons still
// read, malformed ones are refused naming the field, and the summary names each file, the
// missing fsync and the trigger.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "faultfs/control.hpp"
#include "faultfs/lost_report.hpp"

namespace inj::faultfs {
namespace {

const char* kAccount = R"({
  "cut": 2, "monotonic_ns": 123, "model": "torn", "metadata": "volatile", "writeback_ns": 0,
  "trigger": {"kind": "crash point", "operation": "rename", "path": "/data/current", "nth": 1,
              "when": "after", "realtime_ns": 1700000000000000000},
  "files": [
    {"path": "/data/new.tmp", "writes": 3, "write_bytes": 12288, "held_bytes": 12288, "writes_kept": 1,
     "bytes_kept": 512, "bytes_lost": 11776, "missing": "fsync of /data/new.tmp",
     "last_fsync_ns_before_cut": 0, "oldest_write_ns_before_cut": 5000000,
     "reason": "3 write(s) of 12288 bytes not made durable: no fsync of /data/new.tmp after them",
     "operations": [{"operation": "write", "offset": 0, "bytes": 4096, "bytes_kept": 512},
                    {"operation": "write", "offset": 4096, "bytes": 4096, "bytes_kept": 0},
                    {"operation": "write", "offset": 8192, "bytes": 4096, "bytes_kept": 0}],
     "operations_listed": 3}
  ],
  "entries": [
    {"operation": "rename", "path": "/data/new.tmp -> /data/current", "missing": "fsync of directory /data",
     "reason": "rename of /data/new.tmp -> /data/current not made durable: no fsync of directory /data after it"}
  ]
})";

TEST(LostReport, ReadsTheDaemonsAccountWhole) {
    auto r = parse_lost_report(kAccount, "ctl.lost.json");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->cut, 2u);
    EXPECT_EQ(r->model, "torn");
    EXPECT_EQ(r->metadata, "volatile");
    EXPECT_EQ(r->trigger.kind, "crash point");
    EXPECT_EQ(r->trigger.operation, "rename");
    EXPECT_EQ(r->trigger.when, "after");
    EXPECT_EQ(r->trigger.nth, 1u);
    ASSERT_EQ(r->files.size(), 1u);
    const LostFile& f = r->files[0];
    EXPECT_EQ(f.path, "/data/new.tmp");
    EXPECT_EQ(f.bytes_lost, 11776u);
    EXPECT_EQ(f.missing, "fsync of /data/new.tmp");
    ASSERT_EQ(f.operations.size(), 3u);
    EXPECT_EQ(f.operations[1].offset, 4096u);
    EXPECT_EQ(f.operations[0].bytes_kept, 512u);
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].missing, "fsync of directory /data");
    EXPECT_EQ(r->bytes_lost(), 11776u);
}

TEST(LostReport, SummaryNamesEachFileTheMissingFsyncAndTheTrigger) {
    auto r = parse_lost_report(kAccount, "x");
    ASSERT_TRUE(r.ok());
    auto lines = summarize(*r, "h1:/var/lib/app");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("h1:/var/lib/app: power cut 2 (model torn, metadata volatile)"), std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("at crash point after rename /data/current (match 1)"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("11776 bytes in 1 file(s), 1 entry change(s) lost"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("/data/new.tmp: 11776 bytes lost; 3 write(s)"), std::string::npos) << lines[1];
    EXPECT_NE(lines[2].find("rename /data/new.tmp -> /data/current undone; "), std::string::npos) << lines[2];
    EXPECT_NE(lines[2].find("no fsync of directory /data"), std::string::npos) << lines[2];
    auto j = to_json(*r);
    EXPECT_EQ(j["bytes_lost"], 11776);
    EXPECT_EQ(j["trigger"]["path"], "/data/current");
    EXPECT_EQ(j["files"][0]["missing"], "fsync of /data/new.tmp");
}

TEST(LostReport, AnAccountWithoutReasonsOrTriggerStillReads) {
    // The shape of control block version 2's daemon: no trigger, metadata, missing or reason.
    auto r = parse_lost_report(R"({"cut": 1, "model": "unsynced", "files": [{"path": "/wal/1", "writes": 1,
        "write_bytes": 10, "held_bytes": 4096, "writes_kept": 0, "bytes_kept": 0, "bytes_lost": 10}],
        "entries": [{"operation": "create", "path": "/d/new"}]})",
                               "old");
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->trigger.kind, "power loss");
    EXPECT_EQ(r->metadata, "durable");
    EXPECT_EQ(r->files[0].missing, "fsync of /wal/1");
    auto lines = summarize(*r, "v");
    EXPECT_NE(lines[1].find("/wal/1: 10 bytes lost; missing fsync of /wal/1"), std::string::npos) << lines[1];
}

TEST(LostReport, MalformedAccountsAreRefusedNamingTheField) {
    struct Case {
        const char* text;
        const char* want;
    } cases[] = {
        {"not json", "src: not a JSON object"},
        {"[1]", "src: not a JSON object"},
        {R"({"model": "torn", "files": [], "entries": []})", "src: missing field 'cut'"},
        {R"({"cut": "two", "model": "torn", "files": [], "entries": []})", "field 'cut' has the wrong type"},
        {R"({"cut": 1, "model": "torn", "entries": []})", "field 'files' is missing or not a list"},
        {R"({"cut": 1, "model": "torn", "files": [{"path": "/x"}], "entries": []})",
         "src.files[0]: missing field 'writes'"},
        {R"({"cut": 1, "model": "torn", "files": [], "entries": [7]})", "src.entries[0]: not an object"},
        {R"({"cut": 1, "model": "t", "files": [], "entries": [], "trigger": {"kind": "crash point", "operation": "x"}})",
         "src.trigger: missing field 'path'"},
        {R"({"cut": 1, "model": "t", "files": [{"path": "/x", "writes": 1, "write_bytes": 1, "bytes_kept": 0,
             "bytes_lost": 1, "operations": [{"offset": 0}]}], "entries": []})",
         "src.files[0].operations[0]: missing field 'bytes'"},
        {R"({"cut": -1, "model": "t", "files": [], "entries": []})", "field 'cut' has the wrong type"},
    };
    for (auto& c : cases) {
        auto r = parse_lost_report(c.text, "src");
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.error().message().find(c.want), std::string::npos) << c.text << " -> " << r.error().message();
    }
}

TEST(LostReport, NoAccountMeansNoCutAndAFileIsReadNextToTheControlFile) {
    std::string ctl = std::filesystem::temp_directory_path() / ("inj-lost-" + std::to_string(::getpid()) + "-ctl");
    auto none = read_lost_report(ctl);
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_FALSE(none->has_value());
    std::ofstream(lost_path(ctl)) << kAccount;
    auto got = read_lost_report(ctl);
    ::unlink(lost_path(ctl).c_str());
    ASSERT_TRUE(got.ok()) << got.error().message();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->files.size(), 1u);
    EXPECT_NE(read_lost_report("/nonexistent-dir/ctl").ok(), false);  // ENOENT too: never cut
}

}  // namespace
}  // namespace inj::faultfs
