// tcx attach through bpf_link_create(): Debian's libbpf 1.1 predates bpf_program__attach_tcx()
// but passes unknown attach types through to the kernel, which (6.6+) knows them.
#include "net/tcx_link.hpp"

#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>
#include <optional>

#include "common/log.hpp"
#include "common/netns.hpp"
#include "netfault_compat.h"

namespace inj::net {

Result<TcxLink> TcxLink::attach(int prog_fd, const std::string& netns_path, const std::string& ifname, bool ingress) {
    std::string where = "ifname " + ifname + (netns_path.empty() ? "" : " in " + netns_path);
    INJ_ASSIGN_OR_RETURN(auto guard, NetnsGuard::enter_unless_empty(netns_path));
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) return errno_error("if_nametoindex", where);
    auto type = static_cast<enum bpf_attach_type>(ingress ? NF_ATTACH_TCX_INGRESS : NF_ATTACH_TCX_EGRESS);
    int rc = bpf_link_create(prog_fd, static_cast<int>(ifindex), type, nullptr);
    if (rc < 0) return libbpf_error(rc, "bpf_link_create tcx", where);
    Fd fd(rc);
    bpf_link_info info{};
    uint32_t len = sizeof info;
    uint32_t id = bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.id : 0;
    return TcxLink(std::move(fd), id, ifname, static_cast<int>(ifindex));
}

TcxLink& TcxLink::operator=(TcxLink&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = std::move(o.fd_);
        id_ = o.id_;
        ifname_ = std::move(o.ifname_);
        ifindex_ = o.ifindex_;
    }
    return *this;
}

TcxLink::~TcxLink() { reset(); }

void TcxLink::reset() noexcept {
    if (!fd_) return;
    // Closing the last reference detaches; no netns switch needed. A failure is only logged:
    // the descriptor is gone either way.
    try {
        if (auto r = fd_.close(); !r)
            log::get("net")->warn("closing tcx link {} on {}: {}", id_, ifname_, r.error().message());
    } catch (...) {}
}

}  // namespace inj::net
