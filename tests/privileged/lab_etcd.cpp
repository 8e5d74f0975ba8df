// The flagship workload: a 3-member etcd cluster, one member per zone, written to from the
// control position through the lab's routes.
#include <gtest/gtest.h>

#include <thread>

#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "privileged/lab_support.hpp"
#include "support/test_support.hpp"

namespace inj::lab::test {
namespace {

class LabEtcd : public LabFixture {};

TEST_F(LabEtcd, ThreeZoneClusterAcceptsWritesFromControl) {
    INJ_REQUIRE_PRIVILEGE();
    if (run({"etcd", "--version"}, std::chrono::seconds(10)).ok() == false) GTEST_SKIP() << "etcd is not installed";
    auto plan = make_plan("lab-test-etcd", {{"pangyo", {"kv-1"}}, {"ansan", {"kv-2"}}, {"gasan", {"kv-3"}}});
    plan::Service etcd;
    etcd.name = "etcd";
    etcd.hosts = {"kv-1", "kv-2", "kv-3"};
    etcd.volume = "etcd-data";
    etcd.port = 2379;
    etcd.command =
        "exec etcd --name {host} --data-dir {volume} --listen-client-urls http://{addr}:2379 "
        "--advertise-client-urls http://{addr}:2379 --listen-peer-urls http://{addr}:2380 "
        "--initial-advertise-peer-urls http://{addr}:2380 "
        "--initial-cluster {each:etcd:{host}=http://{addr}:2380} --initial-cluster-state new "
        "--heartbeat-interval 100 --election-timeout 1000 --pre-vote";
    etcd.ready.kind = plan::Check::Kind::tcp;
    etcd.ready.target = "{addr}:2379";
    etcd.ready.timeout = std::chrono::seconds(30);
    plan.lab.services.push_back(etcd);

    auto lab = bring_up(plan);
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    auto endpoints = expand("{endpoints:etcd}", plan, *lab, "");
    ASSERT_TRUE(endpoints.ok()) << endpoints.error().message();

    // Listening is not yet having a leader: retry the write for a bounded time.
    std::string last;
    bool written = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!written && std::chrono::steady_clock::now() < deadline) {
        auto r = run({"etcdctl", "--endpoints", *endpoints, "--command-timeout=3s", "put", "drill", "v1"},
                     std::chrono::seconds(10));
        ASSERT_TRUE(r.ok()) << r.error().message();
        written = r->exit_code == 0;
        last = r->output;
        if (!written) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    ASSERT_TRUE(written) << last;
    auto get =
        run({"etcdctl", "--endpoints", *endpoints, "get", "drill", "--print-value-only"}, std::chrono::seconds(10));
    ASSERT_TRUE(get.ok());
    EXPECT_EQ(get->output, "v1\n");
    auto members = run({"etcdctl", "--endpoints", *endpoints, "member", "list"}, std::chrono::seconds(10));
    ASSERT_TRUE(members.ok());
    for (auto& h : {"kv-1", "kv-2", "kv-3"}) EXPECT_NE(members->output.find(h), std::string::npos) << members->output;

    auto d = down(*lab);
    ASSERT_TRUE(d.ok()) << d.error().message();
    auto left = leftovers(*lab);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
}

}  // namespace
}  // namespace inj::lab::test
