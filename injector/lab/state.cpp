// state.json of a lab, through nlohmann-json. Field names are the struct's, so the file reads
// like the struct; a version field lets a later layout refuse (or migrate) an older file.
#include "lab/state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace inj::lab::state {
namespace {

using nlohmann::json;
constexpr int kVersion = 1;

Result<Cidr> cidr_field(const json& j, const char* key) {
    auto c = Cidr::parse(j.value(key, std::string{}));
    if (!c) return plain_error("read lab state", std::string("bad or missing address in ") + key);
    return *c;
}

json to_json(const LabState& s) {
    json hosts = json::array();
    for (auto& h : s.hosts) {
        json addrs = json::array();
        for (auto& a : h.addresses) addrs.push_back(a.str());
        hosts.push_back({{"name", h.name},
                         {"index", h.index},
                         {"netns", h.netns},
                         {"fabric_port", h.fabric_port},
                         {"cgroup", h.cgroup},
                         {"pooled", h.pooled},
                         {"addresses", addrs}});
    }
    json services = json::array();
    for (auto& p : s.services)
        services.push_back({{"service", p.service}, {"host", p.host}, {"pid", p.pid}, {"log", p.log}});
    json routes = json::array();
    for (auto& r : s.routes) routes.push_back(r.str());
    json faultfs = json::array();
    for (auto& m : s.faultfs)
        faultfs.push_back(
            {{"host", m.host}, {"volume", m.volume}, {"path", m.path}, {"control", m.control}, {"pid", m.pid}});
    json j = {{"version", kVersion},
              {"id", s.id},
              {"plan_name", s.plan_name},
              {"plan_file", s.plan_file},
              {"dir", s.dir},
              {"phase", s.phase},
              {"fabric_netns", s.fabric_netns},
              {"control_if", s.control_if},
              {"control_port", s.control_port},
              {"control_addr", s.control_addr.str()},
              {"control_gateway", s.control_gateway.str()},
              {"routes", routes},
              {"cgroup_root", s.cgroup_root},
              {"hosts", hosts},
              {"services", services},
              {"faultfs", faultfs}};
    if (s.control_addr6) j["control_addr6"] = s.control_addr6->str();
    if (s.control_gateway6) j["control_gateway6"] = s.control_gateway6->str();
    return j;
}

Result<LabState> from_json(const json& j) {
    if (!j.is_object()) return plain_error("read lab state", "not a JSON object");
    if (j.value("version", 0) != kVersion)
        return plain_error("read lab state", "unsupported version " + std::to_string(j.value("version", 0)));
    LabState s;
    s.id = j.value("id", "");
    s.plan_name = j.value("plan_name", "");
    s.plan_file = j.value("plan_file", "");
    s.dir = j.value("dir", "");
    s.phase = j.value("phase", "");
    s.fabric_netns = j.value("fabric_netns", "");
    s.control_if = j.value("control_if", "");
    s.control_port = j.value("control_port", "");
    s.cgroup_root = j.value("cgroup_root", "");
    if (s.id.empty() || s.dir.empty() || s.fabric_netns.empty() || s.control_if.empty())
        return plain_error("read lab state", "missing id, dir, fabric_netns or control_if");
    auto ca = cidr_field(j, "control_addr");
    if (!ca) return ca.error();
    s.control_addr = *ca;
    auto cg = cidr_field(j, "control_gateway");
    if (!cg) return cg.error();
    s.control_gateway = *cg;
    if (j.contains("control_addr6")) {
        auto c = cidr_field(j, "control_addr6");
        if (!c) return c.error();
        s.control_addr6 = *c;
    }
    if (j.contains("control_gateway6")) {
        auto c = cidr_field(j, "control_gateway6");
        if (!c) return c.error();
        s.control_gateway6 = *c;
    }
    for (auto& r : j.value("routes", json::array())) {
        auto c = Cidr::parse(r.get<std::string>());
        if (!c) return plain_error("read lab state", "bad route " + r.dump());
        s.routes.push_back(*c);
    }
    for (auto& h : j.value("hosts", json::array())) {
        HostRuntime hr;
        hr.name = h.value("name", "");
        hr.index = h.value("index", 0);
        hr.netns = h.value("netns", "");
        hr.fabric_port = h.value("fabric_port", "");
        hr.cgroup = h.value("cgroup", "");
        hr.pooled = h.value("pooled", false);
        for (auto& a : h.value("addresses", json::array())) {
            auto c = Cidr::parse(a.get<std::string>());
            if (!c) return plain_error("read lab state", "bad address " + a.dump() + " of " + hr.name);
            hr.addresses.push_back(*c);
        }
        s.hosts.push_back(std::move(hr));
    }
    for (auto& p : j.value("services", json::array()))
        s.services.push_back({p.value("service", ""), p.value("host", ""), p.value("pid", 0), p.value("log", "")});
    for (auto& m : j.value("faultfs", json::array()))
        s.faultfs.push_back({m.value("host", ""), m.value("volume", ""), m.value("path", ""), m.value("control", ""),
                             m.value("pid", 0)});
    return s;
}

}  // namespace

std::string file_of(const std::string& dir) { return dir + "/state.json"; }

Result<void> save(const LabState& lab) {
    std::string file = file_of(lab.dir);
    std::string tmp = file + ".tmp";
    std::string text = to_json(lab).dump(2) + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return errno_error("open", tmp);
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto e = errno_error("write", tmp);
            ::close(fd);
            return e;
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto e = errno_error("fsync", tmp);
        ::close(fd);
        return e;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0) return errno_error("rename", tmp + " -> " + file);
    return {};
}

Result<LabState> read(const std::string& file) {
    std::ifstream in(file);
    if (!in) return errno_error("open", file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded()) return plain_error("read lab state", file + " is not valid JSON");
    auto s = from_json(j);
    if (!s) return Error{s.error().code, s.error().op, file + ": " + s.error().context};
    return s;
}

}  // namespace inj::lab::state
