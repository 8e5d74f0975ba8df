// Shared test helpers.
#include "support/test_support.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

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

}  // namespace inj::test
