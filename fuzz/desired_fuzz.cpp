// libFuzzer target: any bytes as the JSON an agent reads from etcd (desired state, status, agent
// info). The parsers must return a value or nullopt, never crash or throw.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fleet/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    if (auto d = inj::fleet::desired_from_json(text)) (void)inj::fleet::to_json(*d);
    if (auto s = inj::fleet::status_from_json(text)) (void)inj::fleet::to_json(*s);
    if (auto a = inj::fleet::agent_info_from_json(text)) (void)inj::fleet::to_json(*a);
    return 0;
}
