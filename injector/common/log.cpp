// Component loggers share one stderr sink so output interleaves in order.
#include "common/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <mutex>

namespace inj::log {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
// Loggers hold this one sink; what it forwards to can change (redirect()).
std::shared_ptr<spdlog::sinks::dist_sink_mt> sink() {
    static auto s = [] {
        auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
        d->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        return d;
    }();
    return s;
}

class CallbackSink : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit CallbackSink(std::function<void(const std::string&)> fn) : fn_(std::move(fn)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t buf;
        formatter_->format(msg, buf);
        std::string line(buf.data(), buf.size());
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        fn_(line);
    }
    void flush_() override {}

private:
    std::function<void(const std::string&)> fn_;
};
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

void redirect(std::function<void(const std::string&)> fn) {
    spdlog::sink_ptr to = fn ? spdlog::sink_ptr(std::make_shared<CallbackSink>(std::move(fn)))
                             : spdlog::sink_ptr(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    to->set_pattern("%H:%M:%S.%e %-5l [%n] %v");
    sink()->set_sinks({to});
}

}  // namespace inj::log
