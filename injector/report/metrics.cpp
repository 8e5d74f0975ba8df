// The metrics endpoint (see metrics.hpp).
#include "report/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <vector>

namespace inj::report {
namespace {

const char* kPhases[] = {"starting", "preflight", "lab",          "engines", "steady_before",
                         "timeline", "judging",   "steady_after", "cleanup", "done"};

std::string label(const std::string& v) {
    std::string o;
    for (char c : v) {
        if (c == '\\')
            o += "\\\\";
        else if (c == '"')
            o += "\\\"";
        else if (c == '\n')
            o += "\\n";
        else
            o += c;
    }
    return o;
}

std::string num(double v) {
    std::ostringstream os;
    os.precision(10);
    os << v;
    return os.str();
}

}  // namespace

std::optional<MetricsServer::Address> MetricsServer::parse_address(const std::string& text, std::string* why) {
    auto fail = [&](const std::string& w) -> std::optional<Address> {
        if (why) *why = w;
        return std::nullopt;
    };
    Address a;
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected [ADDRESS]:PORT, got \"" + text + "\"");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos)
            return fail("expected ADDRESS:PORT (e.g. 127.0.0.1:9464), got \"" + text + "\"");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
        return fail("port must be a number 0..65535, got \"" + port + "\"");
    a.port = static_cast<uint16_t>(std::stoul(port));
    if (host == "localhost") host = "127.0.0.1";
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127)
            return fail(host + " is not a loopback address: metrics are served on 127.0.0.0/8 or [::1] only");
    } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6))
            return fail(host + " is not a loopback address: metrics are served on 127.0.0.0/8 or [::1] only");
        a.v6 = true;
    } else {
        return fail("\"" + host + "\" is not a numeric loopback address (127.0.0.1, ::1 or localhost)");
    }
    a.host = host;
    return a;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const Address& a) {
    std::unique_ptr<MetricsServer> m(new MetricsServer());
    m->addr_ = a;
    int fd = socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno_error("socket", "metrics");
    m->listen_fd_ = fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (a.v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a.port);
        inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a.port);
        inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
        len = sizeof *s4;
    }
    std::string where = (a.v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno_error("bind", where);
    if (listen(fd, 16) != 0) return errno_error("listen", where);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        m->port_ = ntohs(a.v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    m->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->stop_fd_ < 0) return errno_error("eventfd", "metrics");
    auto* raw = m.get();
    m->thread_ = std::thread([raw] { raw->serve(); });
    return m;
}

MetricsServer::~MetricsServer() {
    if (stop_fd_ >= 0) {
        uint64_t one = 1;
        (void)!write(stop_fd_, &one, sizeof one);
    }
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
}

std::string MetricsServer::url() const {
    return "http" + std::string("://") + (addr_.v6 ? "[" + addr_.host + "]" : addr_.host) + ":" +
           std::to_string(port_) + "/metrics";
}

// One thread serves every connection from one poll loop, so a slow client (slowloris) delays
// nobody: at most kMaxConns connections at once (a new one closes the oldest), each with
// kMaxRequest bytes of request head and kRequestMs for the whole exchange; sends never block and
// never raise SIGPIPE (a client that resets its connection only loses its answer).
void MetricsServer::serve() {
    struct Conn {
        int fd;
        std::chrono::steady_clock::time_point deadline;
        std::string in, out;
        size_t sent = 0;
    };
    std::vector<Conn> conns;
    auto drop = [&](size_t i) {
        close(conns[i].fd);
        conns.erase(conns.begin() + static_cast<long>(i));
    };
    while (true) {
        std::vector<pollfd> p = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        auto now = std::chrono::steady_clock::now();
        int timeout = -1;
        for (auto& c : conns) {
            p.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
            timeout = timeout < 0 ? static_cast<int>(std::max<long long>(left, 0))
                                  : std::min(timeout, static_cast<int>(std::max<long long>(left, 0)));
        }
        if (poll(p.data(), p.size(), timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        now = std::chrono::steady_clock::now();
        // Walk backwards: drop() shifts the connections after i.
        for (size_t i = conns.size(); i-- > 0;) {
            auto& c = conns[i];
            short ev = p[i + 2].revents;
            if (ev && c.out.empty()) {
                char buf[1024];
                ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) c.in.append(buf, static_cast<size_t>(n));
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    drop(i);
                    continue;
                }
                if (c.in.find("\r\n\r\n") != std::string::npos || c.in.size() >= kMaxRequest) c.out = answer(c.in);
            } else if (ev && !c.out.empty()) {
                ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) c.sent += static_cast<size_t>(n);
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || c.sent == c.out.size()) {
                    drop(i);
                    continue;
                }
            }
            if (now >= c.deadline) drop(i);
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            // Full: the oldest connection makes room, so idle holders cannot lock scrapes out.
            if (fd >= 0 && conns.size() >= kMaxConns) drop(0);
            if (fd >= 0) conns.push_back({fd, now + std::chrono::milliseconds(kRequestMs), {}, {}, 0});
        }
    }
    for (auto& c : conns) close(c.fd);
}

// The answer to one request head (complete, or cut at kMaxRequest bytes).
std::string MetricsServer::answer(const std::string& req) {
    std::string status = "200 OK", body;
    if (req.find("\r\n\r\n") == std::string::npos) {
        status = "431 Request Header Fields Too Large";
        body = "the request head is limited to " + std::to_string(kMaxRequest) + " bytes\n";
    } else {
        std::string path;
        if (req.rfind("GET ", 0) == 0) path = req.substr(4, req.find(' ', 4) - 4);
        if (path == "/metrics" || path == "/") {
            body = render();
        } else {
            status = req.rfind("GET ", 0) == 0 ? "404 Not Found" : "405 Method Not Allowed";
            body = "only GET /metrics is served here\n";
        }
    }
    return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

void MetricsServer::on_event(const nlohmann::json& ev) noexcept {
    try {
        std::lock_guard lk(mu_);
        const std::string type = ev.value("event", "");
        ++events_[type];
        if (type == "run_start") {
            run_ = ev.value("run", "");
            plan_ = ev.value("plan", "");
            phase_ = "preflight";
        } else if (type == "plan") {
            for (auto& f : ev.value("faults", nlohmann::json::array()))
                faults_[f.value("name", "")].kind = f.value("kind", "");
            for (auto& p : ev.value("probes", nlohmann::json::array())) {
                auto& x = probes_[p.value("name", "")];
                if (p.contains("slo")) {
                    x.window_ms = p["slo"].value("window_ms", 10000.0);
                    if (p["slo"].contains("success_rate")) x.slo = p["slo"]["success_rate"].get<double>();
                }
            }
        } else if (type == "lab_up_begin" || type == "lab_reused")
            phase_ = "lab";
        else if (type == "engine_prepared")
            phase_ = "engines";
        else if (type == "steady_before")
            phase_ = "steady_before";
        else if (type == "timeline_start") {
            phase_ = "timeline";
            t0_ = std::chrono::steady_clock::now();
        } else if (type == "inject") {
            auto& f = faults_[ev.value("fault", "")];
            f.kind = ev.value("kind", f.kind);
            f.active = ev.value("ok", false);
        } else if (type == "heal") {
            faults_[ev.value("fault", "")].active = false;
        } else if (type == "heal_all") {
            for (auto& [n, f] : faults_) f.active = false;
            phase_ = "cleanup";
        } else if (type == "counters") {
            for (auto& c : ev.value("counters", nlohmann::json::array())) {
                auto& f = faults_[c.value("fault", "")];
                f.dropped = c.value("dropped", uint64_t{0});
                f.passed = c.value("passed", uint64_t{0});
            }
        } else if (type == "probe") {
            auto& p = probes_[ev.value("probe", "")];
            bool ok = ev.value("ok", false);
            double at = ev.value("at_ms", 0.0);
            ++p.attempts;
            p.failures += !ok;
            p.last_ok = ok;
            p.last_latency_ms = ev.value("latency_ms", 0.0);
            p.recent.emplace_back(at, ok);
            while (!p.recent.empty() && p.recent.front().first <= at - p.window_ms) p.recent.pop_front();
        } else if (type == "slo")
            phase_ = "judging";
        else if (type == "steady_after")
            phase_ = "steady_after";
        else if (type == "engine_released" || type == "lab_down")
            phase_ = "cleanup";
        else if (type == "verdict") {
            phase_ = "done";
            verdict_ = ev.value("verdict", "");
        }
    } catch (...) {}
}

std::string MetricsServer::render() const {
    std::lock_guard lk(mu_);
    std::ostringstream os;
    auto family = [&](const char* name, const char* type, const char* help) {
        os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    };
    const std::string run = "run=\"" + label(run_) + "\",plan=\"" + label(plan_) + "\"";
    family("injector_run_info", "gauge", "The run in progress (value 1; its run id and plan are labels).");
    os << "injector_run_info{" << run << "} 1\n";
    family("injector_run_phase", "gauge", "1 for the phase the run is in, 0 for the others.");
    for (auto* ph : kPhases)
        os << "injector_run_phase{" << run << ",phase=\"" << ph << "\"} " << (phase_ == ph) << "\n";
    family("injector_run_elapsed_seconds", "gauge", "Time since the timeline started (T+).");
    os << "injector_run_elapsed_seconds{" << run << "} "
       << num(t0_ ? std::chrono::duration<double>(std::chrono::steady_clock::now() - *t0_).count() : 0.0) << "\n";
    size_t active = 0;
    for (auto& [n, f] : faults_) active += f.active;
    family("injector_faults_active", "gauge", "Faults in force now.");
    os << "injector_faults_active{" << run << "} " << active << "\n";
    family("injector_fault_active", "gauge", "1 while the fault is in force.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_active{" << run << ",fault=\"" << label(n) << "\",kind=\"" << label(f.kind) << "\"} "
           << f.active << "\n";
    family("injector_fault_dropped_packets_total", "counter", "Packets the fault's rule dropped.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_dropped_packets_total{" << run << ",fault=\"" << label(n) << "\"} " << f.dropped << "\n";
    family("injector_fault_passed_packets_total", "counter", "Packets the fault's rule judged and let pass.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_passed_packets_total{" << run << ",fault=\"" << label(n) << "\"} " << f.passed << "\n";
    family("injector_probe_attempts_total", "counter", "Probe attempts since the timeline started.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_attempts_total{" << run << ",probe=\"" << label(n) << "\"} " << p.attempts << "\n";
    family("injector_probe_failures_total", "counter", "Failed probe attempts.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_failures_total{" << run << ",probe=\"" << label(n) << "\"} " << p.failures << "\n";
    family("injector_probe_success", "gauge", "1 if the probe's last attempt succeeded.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_success{" << run << ",probe=\"" << label(n) << "\"} " << p.last_ok << "\n";
    family("injector_probe_success_rate", "gauge", "Success rate over the probe's SLO window.");
    for (auto& [n, p] : probes_) {
        size_t ok = 0;
        for (auto& r : p.recent) ok += r.second;
        os << "injector_probe_success_rate{" << run << ",probe=\"" << label(n) << "\"} "
           << num(p.recent.empty() ? 1.0 : double(ok) / double(p.recent.size())) << "\n";
    }
    family("injector_probe_slo_success_rate", "gauge", "The success rate the probe's SLO requires.");
    for (auto& [n, p] : probes_)
        if (p.slo)
            os << "injector_probe_slo_success_rate{" << run << ",probe=\"" << label(n) << "\"} " << num(*p.slo) << "\n";
    family("injector_probe_latency_seconds", "gauge", "Latency of the probe's last attempt.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_latency_seconds{" << run << ",probe=\"" << label(n) << "\"} "
           << num(p.last_latency_ms / 1000) << "\n";
    family("injector_journal_events_total", "counter", "Journal events written, by type.");
    for (auto& [t, c] : events_)
        os << "injector_journal_events_total{" << run << ",event=\"" << label(t) << "\"} " << c << "\n";
    return os.str();
}

}  // namespace inj::report
