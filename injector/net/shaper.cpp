// tc batches for HTB/fq and the ethtool ioctl for checksum offload (see shaper.hpp).
#include "net/shaper.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/fd.hpp"
#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "net/compile.hpp"

namespace inj::net {
namespace {

std::string hex(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}

Result<void> tc_batch(const std::string& netns_path, const std::vector<std::string>& lines, bool force) {
    std::error_code ec;
    std::filesystem::create_directories(state_root(), ec);
    std::string file = state_root() + "/tc-" + std::to_string(getpid()) + ".batch";
    {
        std::ofstream out(file, std::ios::trunc);
        for (auto& l : lines) out << l << "\n";
        if (!out) return plain_error("tc", "cannot write " + file);
    }
    std::vector<std::string> argv{"tc"};
    if (force) argv.push_back("-force");
    argv.insert(argv.end(), {"-batch", file});
    auto r = run(argv, std::chrono::seconds(60), netns_path);
    std::remove(file.c_str());
    if (!r.ok()) return r.error();
    if (r.value().exit_code != 0 && !force) return plain_error("tc -batch", r.value().output);
    return {};
}

}  // namespace

std::vector<std::string> shaper_lines(const std::vector<std::string>& ports, const std::vector<RateCap>& caps,
                                      bool fq) {
    std::vector<std::string> out;
    constexpr const char* kOpen = "ffff";  // the uncapped class EDT needs (HTB's direct queue has no fq)
    for (auto& p : ports) {
        if (caps.empty()) {
            if (fq) out.push_back("qdisc replace dev " + p + " root fq");
            continue;
        }
        // default 0: unmarked traffic takes HTB's direct queue, unshaped, unless EDT needs fq.
        out.push_back("qdisc replace dev " + p + " root handle 1: htb default " + (fq ? kOpen : "0"));
        if (fq) {
            out.push_back("class add dev " + p + " parent 1: classid 1:" + kOpen + " htb rate 100gbit");
            out.push_back("qdisc add dev " + p + " parent 1:" + kOpen + " fq");
        }
        for (auto& c : caps) {
            char cls[16];
            std::snprintf(cls, sizeof cls, "%x", c.rule + 1);
            std::string rate = std::to_string(c.bps) + "bit";
            out.push_back("class add dev " + p + " parent 1: classid 1:" + cls + " htb rate " + rate + " ceil " + rate);
            if (fq) out.push_back("qdisc add dev " + p + " parent 1:" + cls + " fq");
            out.push_back("filter add dev " + p + " parent 1: protocol all prio 1" + " u32 match mark " +
                          hex(rate_mark(c.rule)) + " 0xffffffff classid 1:" + cls);
        }
    }
    return out;
}

Result<void> shaper_install(const std::string& netns_path, const std::vector<std::string>& lines) {
    if (lines.empty()) return {};
    return tc_batch(netns_path, lines, false);
}

Result<void> shaper_remove(const std::string& netns_path, const std::vector<std::string>& ports) {
    std::vector<std::string> lines;
    for (auto& p : ports) lines.push_back("qdisc del dev " + p + " root");
    if (lines.empty()) return {};
    return tc_batch(netns_path, lines, true);
}

Result<void> set_tx_checksum(const std::string& netns_path, const std::string& ifname, bool on) {
    INJ_ASSIGN_OR_RETURN(auto guard, NetnsGuard::enter_unless_empty(netns_path));
    Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return errno_error("socket", "ethtool");
    ethtool_value ev{};
    ev.cmd = ETHTOOL_STXCSUM;
    ev.data = on ? 1 : 0;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&ev);
    if (ioctl(sock.get(), SIOCETHTOOL, &ifr) != 0) return errno_error("ETHTOOL_STXCSUM", ifname + " in " + netns_path);
    return {};
}

}  // namespace inj::net
