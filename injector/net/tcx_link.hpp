// One tcx attachment (a bpf_link) of a program to an interface. The link lives exactly as long
// as its fd: destroying the owner, or the process dying (kill -9 included), detaches it.
#pragma once

#include <cstdint>
#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace inj::net {

class TcxLink {
public:
    // Attaches prog_fd at tcx ingress (or egress) of ifname inside the namespace at netns_path
    // (empty: the caller's). The interface index is resolved inside that namespace, which is
    // why the calling thread enters it for the duration of the call.
    static Result<TcxLink> attach(int prog_fd, const std::string& netns_path, const std::string& ifname, bool ingress);

    TcxLink(TcxLink&& o) noexcept = default;
    TcxLink& operator=(TcxLink&& o) noexcept;
    TcxLink(const TcxLink&) = delete;
    TcxLink& operator=(const TcxLink&) = delete;
    ~TcxLink();

    int fd() const { return fd_.get(); }
    uint32_t id() const { return id_; }  // kernel link id, as `bpftool link` shows it
    const std::string& ifname() const { return ifname_; }
    int ifindex() const { return ifindex_; }

private:
    TcxLink(Fd fd, uint32_t id, std::string ifname, int ifindex)
        : fd_(std::move(fd)), id_(id), ifname_(std::move(ifname)), ifindex_(ifindex) {}
    void reset() noexcept;

    Fd fd_;
    uint32_t id_ = 0;
    std::string ifname_;
    int ifindex_ = 0;
};

}  // namespace inj::net
