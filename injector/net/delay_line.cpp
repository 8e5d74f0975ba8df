// Taps and the delay-line thread (see delay_line.hpp).
#include "net/delay_line.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <random>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"

namespace inj::net {
namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr size_t kFrameMax = 65536;
constexpr int kTxQueueLen = 10000;  // the tap's queue towards us: bursts wait here, not dropped

Result<void> ifreq_call(int sock, unsigned long req, ifreq& ifr, const char* what) {
    if (ioctl(sock, req, &ifr) != 0) return errno_error(what, ifr.ifr_name);
    return {};
}

}  // namespace

struct DelayLine::Line {
    Spec spec;
    Fd fd;  // the tap: closing it removes the (non-persistent) interface
    int ifindex = 0;
    std::string name;
    struct Held {
        uint64_t due;
        std::vector<uint8_t> frame;
    };
    std::deque<Held> held;
    uint64_t last_due = 0;
    std::mt19937_64 rng{std::random_device{}()};
    std::atomic<uint64_t> frames{0}, overflow{0}, late_max{0};
};

Result<std::unique_ptr<DelayLine>> DelayLine::start(const std::string& netns_path, const std::vector<Spec>& specs) {
    std::unique_ptr<DelayLine> dl(new DelayLine());
    {
        INJ_ASSIGN_OR_RETURN(auto guard, NetnsGuard::enter_unless_empty(netns_path));
        Fd sock_fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!sock_fd) return errno_error("socket", "for tap setup");
        const int sock = sock_fd.get();
        for (auto& s : specs) {
            auto line = std::make_unique<Line>();
            line->spec = s;
            line->name = "nfdl" + std::to_string(s.rule);
            line->fd.reset(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
            if (!line->fd) return errno_error("open", "/dev/net/tun (the delay line needs TUN/TAP)");
            ifreq ifr{};
            std::strncpy(ifr.ifr_name, line->name.c_str(), IFNAMSIZ - 1);
            ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
            if (ioctl(line->fd.get(), TUNSETIFF, &ifr) != 0) return errno_error("TUNSETIFF", line->name);
            // No IPv6 on the tap: its own router solicitations would come to us as frames.
            if (auto f = open_fd("/proc/sys/net/ipv6/conf/" + line->name + "/disable_ipv6", O_WRONLY); f.ok()) {
                if (write(f->get(), "1", 1) != 1)
                    log::get("net")->debug("disable_ipv6 on {}: {}", line->name, std::strerror(errno));
            }
            ifr.ifr_qlen = kTxQueueLen;
            INJ_TRY(ifreq_call(sock, SIOCSIFTXQLEN, ifr, "SIOCSIFTXQLEN"));
            INJ_TRY(ifreq_call(sock, SIOCGIFFLAGS, ifr, "SIOCGIFFLAGS"));
            ifr.ifr_flags |= IFF_UP;
            INJ_TRY(ifreq_call(sock, SIOCSIFFLAGS, ifr, "SIOCSIFFLAGS"));
            INJ_TRY(ifreq_call(sock, SIOCGIFINDEX, ifr, "SIOCGIFINDEX"));
            line->ifindex = ifr.ifr_ifindex;
            dl->lines_.push_back(std::move(line));
        }
    }
    dl->epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!dl->epoll_fd_) return errno_error("epoll_create1");
    dl->stop_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!dl->stop_fd_) return errno_error("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    if (epoll_ctl(dl->epoll_fd_.get(), EPOLL_CTL_ADD, dl->stop_fd_.get(), &ev) != 0) return errno_error("epoll_ctl");
    for (size_t i = 0; i < dl->lines_.size(); ++i) {
        ev.data.u64 = i;
        if (epoll_ctl(dl->epoll_fd_.get(), EPOLL_CTL_ADD, dl->lines_[i]->fd.get(), &ev) != 0)
            return errno_error("epoll_ctl");
    }
    dl->thread_ = std::thread([p = dl.get()] { p->run(); });
    return dl;
}

DelayLine::~DelayLine() {
    stop_ = true;
    if (stop_fd_) {
        uint64_t one = 1;
        if (write(stop_fd_.get(), &one, sizeof one) != sizeof one) { /* the flag is checked each wakeup */
        }
    }
    if (thread_.joinable()) thread_.join();
    flush_all();
    // The Fd members close epoll and eventfd; lines_ close their tap fds: the kernel removes the
    // (non-persistent) taps.
}

int DelayLine::ifindex(int rule) const {
    for (auto& l : lines_)
        if (l->spec.rule == rule) return l->ifindex;
    return 0;
}

std::string DelayLine::ifname(int rule) const {
    for (auto& l : lines_)
        if (l->spec.rule == rule) return l->name;
    return {};
}

DelayLine::Stats DelayLine::stats(int rule) const {
    Stats s;
    for (auto& l : lines_)
        if (l->spec.rule == rule) {
            s.frames = l->frames.load();
            s.overflow = l->overflow.load();
            s.late_ns_max = l->late_max.load();
        }
    return s;
}

void DelayLine::flush_all() noexcept {
    for (auto& l : lines_) {
        for (auto& h : l->held)
            if (write(l->fd.get(), h.frame.data(), h.frame.size()) > 0) l->frames++;
        l->held.clear();
    }
}

void DelayLine::run() noexcept {
    // Wake-ups at the due time, not 50 us later (the default timer slack).
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    std::vector<uint8_t> buf(kFrameMax);
    epoll_event events[16];
    while (!stop_) {
        uint64_t next = UINT64_MAX;
        for (auto& l : lines_)
            if (!l->held.empty()) next = std::min(next, l->held.front().due);
        uint64_t now = now_ns();
        timespec ts{0, 100'000'000};  // idle: look at the stop flag ten times a second
        if (next != UINT64_MAX) {
            uint64_t wait = next > now ? next - now : 0;
            ts.tv_sec = static_cast<time_t>(wait / 1'000'000'000ull);
            ts.tv_nsec = static_cast<long>(wait % 1'000'000'000ull);
        }
        int n = epoll_pwait2(epoll_fd_.get(), events, 16, &ts, nullptr);
        if (n < 0 && errno != EINTR) {
            log::get("net")->error("delay line: epoll_pwait2: {}", std::strerror(errno));
            break;
        }
        for (int e = 0; e < n; ++e) {
            if (events[e].data.u64 == UINT64_MAX) continue;
            Line& l = *lines_[events[e].data.u64];
            // Bounded per wake-up so one busy tap cannot starve the releases of the others.
            for (int k = 0; k < 256; ++k) {
                ssize_t got = read(l.fd.get(), buf.data(), buf.size());
                if (got <= 0) break;
                uint64_t t = now_ns();
                if (l.held.size() >= kMaxQueued) {
                    l.overflow++;
                    continue;
                }
                uint64_t due = t + l.spec.delay_ns;
                if (l.spec.jitter_ns) {
                    uint64_t span = 2 * l.spec.jitter_ns + 1;
                    due = due - l.spec.jitter_ns + l.rng() % span;
                }
                // In order: a frame never overtakes the one before it.
                due = std::max(due, l.last_due);
                l.last_due = due;
                l.held.push_back({due, std::vector<uint8_t>(buf.begin(), buf.begin() + got)});
            }
        }
        now = now_ns();
        for (auto& l : lines_) {
            while (!l->held.empty() && l->held.front().due <= now) {
                auto& h = l->held.front();
                uint64_t late = now - h.due;
                if (late > l->late_max.load(std::memory_order_relaxed))
                    l->late_max.store(late, std::memory_order_relaxed);
                if (write(l->fd.get(), h.frame.data(), h.frame.size()) > 0) l->frames++;
                l->held.pop_front();
            }
        }
    }
}

}  // namespace inj::net
