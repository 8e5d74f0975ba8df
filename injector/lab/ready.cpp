// TCP and exec readiness checks (see ready.hpp).
#include "lab/ready.hpp"

#include <thread>

#include "common/netaddr.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"

namespace inj::lab::ready {
namespace {

constexpr auto kRetry = std::chrono::milliseconds(100);
constexpr auto kMaxAttempt = std::chrono::milliseconds(2000);

std::chrono::milliseconds left(Deadline d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now());
}

}  // namespace

Result<std::pair<std::string, int>> split_host_port(const std::string& target) {
    auto hp = parse_host_port(target);
    if (!hp) return hp.error();
    return std::make_pair(hp->first.str(), hp->second);
}

Result<void> try_connect(const std::string& addr, int port, std::chrono::milliseconds timeout) {
    auto ip = IpAddr::parse(addr);
    if (!ip) return plain_error("connect", "not an IP address: " + addr);
    return tcp_connect(*ip, port, timeout);
}

Result<void> wait_tcp(const std::string& target, Deadline deadline, const std::atomic<bool>* cancel) {
    auto hp = split_host_port(target);
    if (!hp) return hp.error();
    while (true) {
        auto budget = std::min(left(deadline), std::chrono::milliseconds(kMaxAttempt));
        auto r = try_connect(hp->first, hp->second, std::max(budget, std::chrono::milliseconds(1)));
        if (r) return {};
        if (left(deadline) <= kRetry) return r;
        if (cancel && cancel->load()) return plain_error("`" + target + "`", "wait cancelled: " + r.error().message());
        std::this_thread::sleep_for(kRetry);
    }
}

Result<void> wait_exec(const std::string& command, const std::string& netns_path, Deadline deadline,
                       const std::atomic<bool>* cancel) {
    while (true) {
        auto budget = std::max(left(deadline), std::chrono::milliseconds(1));
        auto r = run_shell(command, budget, netns_path);
        if (!r) return r.error();  // could not even start it: retrying will not help
        if (r->exit_code == 0) return {};
        if (left(deadline) <= kRetry) {
            std::string out = r->output;
            while (!out.empty() && out.back() == '\n') out.pop_back();
            if (out.size() > 500) out = "..." + out.substr(out.size() - 500);
            std::string why = r->timed_out ? "timed out" : "exit " + std::to_string(r->exit_code);
            return plain_error("`" + command + "`", why + (out.empty() ? "" : ": " + out));
        }
        if (cancel && cancel->load()) return plain_error("`" + command + "`", "wait cancelled");
        std::this_thread::sleep_for(kRetry);
    }
}

}  // namespace inj::lab::ready
