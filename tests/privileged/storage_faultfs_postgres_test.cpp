// A real database that refuses to run as root (PostgreSQL 15, Debian's `postgresql`) on a fault
// filesystem, as its own user: initdb, a server on a unix socket only, a few hundred inserts read
// back; with a latency fault in force, and in volatile mode across a power cut.
//
// PostgreSQL's documentation (15, "30.1 Reliability" and "20.5.1 Settings", synchronous_commit):
// with fsync=on and synchronous_commit=on (the defaults) a transaction is reported committed only
// once its WAL is flushed to durable storage, so no acknowledged commit may be lost by a crash or
// a power loss. The volatile case holds the server to exactly that.
#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/faultfs_fixture.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace inj::faultfs::test;

namespace inj::faultfs {
namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

class FaultfsPostgresTest : public FaultfsTest {
protected:
    void SetUp() override {
        FaultfsTest::SetUp();
        if (HasFatalFailure()) return;
        if (!fs::exists(kBin + "initdb")) GTEST_SKIP() << "PostgreSQL 15 is not installed (scripts/install-deps.sh)";
        passwd* pw = ::getpwnam("postgres");
        ASSERT_NE(pw, nullptr) << "no postgres user";
        // The data directory's parent, given to postgres through the mount (chown passes through);
        // the socket directory (and the server log) is outside the volume.
        ASSERT_EQ(::mkdir(p("pg").c_str(), 0755), 0);
        ASSERT_EQ(::chown(p("pg").c_str(), pw->pw_uid, pw->pw_gid), 0);
        sock_ = (base_ / "sock").string();
        fs::create_directories(sock_);
        ASSERT_EQ(::chown(sock_.c_str(), pw->pw_uid, pw->pw_gid), 0);
        data_ = p("pg/data");
        // A port of our own: the socket's name, never a TCP listener (listen_addresses is empty).
        port_ = std::to_string(40000 + ::getpid() % 20000);
    }
    void TearDown() override {
        if (started_) pg("pg_ctl -D " + data_ + " -m immediate stop");
        FaultfsTest::TearDown();
    }
    // Runs a PostgreSQL program as postgres; returns its output, expecting success.
    std::string pg(const std::string& cmd, bool expect_ok = true) {
        auto r = run({"runuser", "-u", "postgres", "--", "sh", "-c", "umask 077; " + kBin + cmd}, 120s);
        if (!r) {
            ADD_FAILURE() << cmd << ": " << r.error().message();
            return {};
        }
        if (expect_ok) {
            EXPECT_EQ(r->exit_code, 0) << cmd << ":\n" << r->output;
        }
        return r->output;
    }
    void start_server() {
        pg("pg_ctl -D " + data_ + " -w -t 60 -l " + sock_ + "/pg.log" + " -o \"-c listen_addresses='' -k " + sock_ +
           " -p " + port_ + "\" start");
        started_ = true;
    }
    std::string sql(const std::string& q) {
        return pg("psql -X -q -A -t -h " + sock_ + " -p " + port_ + " -d postgres -c \"" + q + "\"");
    }
    // n inserts, each its own transaction (autocommit): each acknowledged after its WAL flush.
    void insert(int from, int n) {
        std::string script;
        for (int i = from; i < from + n; ++i)
            script += "INSERT INTO t VALUES (" + std::to_string(i) + ", md5('" + std::to_string(i) + "'));\n";
        std::ofstream(base_ / "ins.sql") << script;
        pg("psql -X -q -v ON_ERROR_STOP=1 -h " + sock_ + " -p " + port_ + " -d postgres -f " +
           (base_ / "ins.sql").string());
    }
    // "count|sum|digest" of the rows, to compare with what was inserted.
    std::string rows() { return sql("SELECT count(*), sum(i), md5(string_agg(v, ',' ORDER BY i)) FROM t"); }
    std::string expected_rows(int n) {
        return sql("SELECT count(*), sum(i), md5(string_agg(md5(i::text), ',' ORDER BY i)) FROM generate_series(0, " +
                   std::to_string(n - 1) + ") i");
    }

    void cut_and_recover(const Settings& s);

    std::string sock_, data_, port_;
    bool started_ = false;
};

TEST_F(FaultfsPostgresTest, RunsAsItsOwnUserWithALatencyFaultInForce) {
    Settings s;
    s.latency[kClassFsync] = {2'000'000, 1'000'000};  // 2 ms +- 1 ms per fsync
    s.latency[kClassMetadata] = {200'000, 100'000};   // 0.2 ms per metadata operation
    set(s);
    pg("initdb -D " + data_ + " -A trust -U postgres");
    struct stat st {};
    ASSERT_EQ(::stat(data_.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::getpwnam("postgres")->pw_uid);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    start_server();
    sql("CREATE TABLE t (i int PRIMARY KEY, v text)");
    insert(0, 300);
    auto got = rows();
    EXPECT_EQ(got, expected_rows(300));
    EXPECT_NE(got.find("300|44850|"), std::string::npos) << got;
    EXPECT_GT(ctl_->block()->counters.delayed.load(), 300u);  // the fault was really in force
}

// The power cut on a volatile volume with the given loss model: no acknowledged commit lost.
void FaultfsPostgresTest::cut_and_recover(const Settings& s) {
    pg("initdb -D " + data_ + " -A trust -U postgres");
    set(s);
    start_server();
    sql("CREATE TABLE t (i int PRIMARY KEY, v text)");
    insert(0, 300);
    EXPECT_EQ(rows(), expected_rows(300));
    EXPECT_GT(ctl_->block()->counters.dirty_bytes.load(), 0u);  // the server left writes unsynced
    // The power cut: every process of the server dies at once, then what was not made durable is
    // thrown away.
    pg("pg_ctl -D " + data_ + " -m immediate stop");
    started_ = false;
    auto d = ctl_->drop_volatile(5000ms);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_GT(ctl_->block()->counters.dropped_bytes.load(), 0u);
    // Recovery replays the WAL: every acknowledged insert is back, and the server takes more.
    start_server();
    EXPECT_EQ(rows(), expected_rows(300));
    insert(300, 50);
    EXPECT_EQ(rows(), expected_rows(350));
}

TEST_F(FaultfsPostgresTest, VolatileVolumeLosesNoAcknowledgedCommitAtAPowerCut) {
    Settings s;
    s.flags = kFlagVolatile;
    cut_and_recover(s);
}

// Torn writes and lost directory entries too: PostgreSQL's full_page_writes (on by default)
// exists for torn pages ("30.1 Reliability": a partial page write is repaired from the full page
// image in the WAL), and it fsyncs the directories of the files it creates and renames.
TEST_F(FaultfsPostgresTest, TornWritesAndVolatileMetadataLoseNoAcknowledgedCommit) {
    Loss loss;
    loss.model = Loss::Model::torn;
    loss.torn_sectors = 8;
    loss.metadata_volatile = true;
    Settings s;
    to_settings(loss, s);
    cut_and_recover(s);
}

}  // namespace
}  // namespace inj::faultfs
