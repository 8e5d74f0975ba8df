// Component loggers share one stderr sink so output interleaves in order.
#include "common/log.hpp"

#include <mutex>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace inj::log {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
spdlog::sink_ptr sink() {
    static spdlog::sink_ptr s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    return s;
}
}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& component) {
    std::lock_guard lk(g_mu);
    if (auto l = spdlog::get(component)) return l;
    auto l = std::make_shared<spdlog::logger>(component, sink());
    l->set_level(g_level);
    l->set_pattern("%H:%M:%S.%e %^%-5l%$ [%n] %v");
    spdlog::register_logger(l);
    return l;
}

void set_level(spdlog::level::level_enum level) {
    std::lock_guard lk(g_mu);
    g_level = level;
    spdlog::apply_all([level](std::shared_ptr<spdlog::logger> l) { l->set_level(level); });
}

}  // namespace inj::log
