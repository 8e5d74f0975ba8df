// Real Podman containers for the privileged tests and the benchmarks (recipe in
// shared/CONTAINERS.md): runc, cgroupfs, the host's root with a private overlay, --init. Each
// container joins a namespace the world made, wired by a veth to one client namespace, and serves
// HTTP (python3 -m http.server) on a lab address, so "it serves" is real traffic. Everything
// carries the project's test prefix and remove() takes it all away, cgroup parents included.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::test {

// The podman command prefix the tests use (same as targets::podman_runtime()).
std::vector<std::string> podman();

class ContainerWorld {
public:
    // `count` containers named inj-test-<tag>-<pid>-<i>, serving on 198.19.<octet>.<4i+1>:8080,
    // all under cgroup parent /inj-test-<tag>-<pid>. Nothing exists until create().
    ContainerWorld(std::string tag, int count, int octet);
    ~ContainerWorld();  // remove(), if create() was called and remove() was not
    ContainerWorld(const ContainerWorld&) = delete;
    ContainerWorld& operator=(const ContainerWorld&) = delete;

    // Namespaces, veths, containers; returns once every container serves (or an error naming
    // the step that failed). `volume`: a host directory each container mounts at /data.
    Result<void> create(const std::string& volume = {});
    // podman rm -f, then the namespaces and the cgroup-parent directories; the error lists what
    // is still there.
    Result<void> remove();

    int count() const { return count_; }
    std::string name(int i) const;
    std::string server_ip(int i) const;
    std::string server_ns(int i) const;                           // /run/netns/... the container joined
    const std::string& client_ns() const { return client_ns_; }   // /run/netns/... of the client
    const std::string& cgroup_parent() const { return parent_; }  // "/inj-test-<tag>-<pid>"
    static constexpr int kPort = 8080;

    // One HTTP GET from the client namespace; true on a 200 within `timeout`.
    bool serves(int i, std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) const;
    // Waits until every container in `which` (empty: all) serves; the elapsed time, or an error
    // naming those that did not within `bound`.
    Result<std::chrono::nanoseconds> await_serving(std::chrono::milliseconds bound, std::vector<int> which = {}) const;
    // podman's State.Status of container i ("running", "exited", ...).
    std::string status(int i) const;

private:
    std::string tag_, client_ns_, parent_;
    int count_, octet_;
    bool created_ = false;
};

}  // namespace inj::test
