// libFuzzer target: any bytes as a plan file. The loader must answer with a plan or with errors,
// never crash, hang, throw or read out of bounds (ASan and UBSan are on).
#include <cstddef>
#include <cstdint>
#include <string>

#include "plan/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    auto r = inj::plan::load_string(text, "fuzz.yaml");
    // A result is either a plan or errors, never both nor neither.
    if (r.plan.has_value() == !r.errors.empty()) __builtin_trap();
    for (auto& e : r.errors) (void)e.str();
    return 0;
}
