// Shared test helpers.
#include "support/test_support.hpp"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace inj::test {

std::string source_path(const std::string& rel) { return std::string(INJ_SOURCE_DIR) + "/" + rel; }
std::string binary_path(const std::string& rel) { return std::string(INJ_BINARY_DIR) + "/" + rel; }

bool has_cap(int cap) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

std::string privileged_missing() {
    std::string why;
    if (!has_cap(CAP_SYS_ADMIN)) why += "CAP_SYS_ADMIN ";
    if (!has_cap(CAP_NET_ADMIN)) why += "CAP_NET_ADMIN ";
#ifdef CAP_BPF
    if (!has_cap(CAP_BPF) && !has_cap(CAP_SYS_ADMIN)) why += "CAP_BPF ";
#endif
    return why;
}

int connect_loopback(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

std::string http_exchange(uint16_t port, const std::string& request) {
    int fd = connect_loopback(port);
    if (fd < 0) return "";
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fd);
    return out;
}

}  // namespace inj::test
