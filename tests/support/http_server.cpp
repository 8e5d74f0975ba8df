// The loopback HTTP server of http_server.hpp: one thread, poll with a short timeout so that
// destruction stops it promptly.
#include "support/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace inj::test {

TinyHttpServer::TinyHttpServer(std::map<std::string, std::pair<int, std::string>> routes) : routes_(std::move(routes)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd_, 64) == 0) {
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] { loop(); });
}

TinyHttpServer::~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
}

std::string TinyHttpServer::last_method() const {
    std::lock_guard lk(mu_);
    return last_method_;
}

void TinyHttpServer::loop() {
    std::vector<int> held;  // /hang connections, closed at the end
    while (!stop_ && fd_ >= 0) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        char buf[4096];
        ssize_t n = read(c, buf, sizeof buf);
        std::string req(buf, n > 0 ? static_cast<size_t>(n) : 0);
        std::string method = req.substr(0, req.find(' '));
        size_t p1 = req.find(' ') == std::string::npos ? req.size() : req.find(' ') + 1;
        std::string path = req.substr(p1, req.find(' ', p1) - p1);
        {
            std::lock_guard lk(mu_);
            last_method_ = method;
        }
        if (path == "/hang") {
            held.push_back(c);
            continue;
        }
        auto it = routes_.find(path);
        int status = it == routes_.end() ? 404 : it->second.first;
        std::string body = it == routes_.end() ? "not found" : it->second.second;
        std::string resp = "HTTP/1.1 " + std::to_string(status) +
                           " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                           (method == "HEAD" ? "" : body);
        size_t off = 0;
        while (off < resp.size()) {
            ssize_t w = write(c, resp.data() + off, resp.size() - off);
            if (w <= 0) break;
            off += static_cast<size_t>(w);
        }
        close(c);
    }
    for (int c : held) close(c);
}

}  // namespace inj::test
