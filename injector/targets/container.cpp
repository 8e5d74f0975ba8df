// Resolving a container through its runtime's inspect and /proc (see container.hpp).
#include "targets/container.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/proc.hpp"
#include "targets/cgroups.hpp"

namespace inj::targets {
namespace {

using nlohmann::json;

const json* field(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}
std::string str_field(const json& obj, const char* key) {
    const json* f = field(obj, key);
    return f && f->is_string() ? f->get<std::string>() : std::string();
}
bool bool_field(const json& obj, const char* key) {
    const json* f = field(obj, key);
    return f && f->is_boolean() && f->get<bool>();
}

bool is_hex64(std::string_view s) {
    return s.size() == 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Error container_error(const std::string& who, const std::string& what) { return plain_error("container " + who, what); }

std::vector<BindMount> parse_mounts(const json& c) {
    std::vector<BindMount> out;
    const json* mounts = field(c, "Mounts");
    if (!mounts || !mounts->is_array()) return out;
    for (auto& m : *mounts) {
        if (str_field(m, "Type") != "bind") continue;
        BindMount b{str_field(m, "Source"), str_field(m, "Destination"), true};
        const json* rw = field(m, "RW");
        if (rw && rw->is_boolean()) b.read_write = rw->get<bool>();
        if (!b.source.empty() && !b.destination.empty()) out.push_back(std::move(b));
    }
    return out;
}

}  // namespace

ContainerRuntime podman_runtime() {
    return {ContainerRuntime::Kind::podman,
            {"podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}};
}
ContainerRuntime docker_runtime() { return {ContainerRuntime::Kind::docker, {"docker"}}; }

Result<ContainerInspect> parse_inspect(std::string_view text, ContainerRuntime::Kind kind, const std::string& who) {
    json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return container_error(who, "inspect printed something that is not JSON");
    if (doc.is_array()) {
        if (doc.size() != 1)
            return container_error(who, "inspect listed " + std::to_string(doc.size()) + " objects, expected one");
        doc = doc[0];
    }
    if (!doc.is_object()) return container_error(who, "inspect printed no container object");
    ContainerInspect c;
    c.id = str_field(doc, "Id");
    if (!is_hex64(c.id)) return container_error(who, "inspect gave no 64-hex-digit Id (got \"" + c.id + "\")");
    c.name = str_field(doc, "Name");
    // Docker names start with '/'; podman's do not.
    if (kind == ContainerRuntime::Kind::docker && !c.name.empty() && c.name[0] == '/') c.name.erase(0, 1);
    const json* state = field(doc, "State");
    if (!state || !state->is_object()) return container_error(who, "inspect gave no State");
    c.status = str_field(*state, "Status");
    c.running = bool_field(*state, "Running");
    c.paused = bool_field(*state, "Paused");
    const json* pid = field(*state, "Pid");
    if (pid && pid->is_number_integer()) {
        long long p = pid->get<long long>();
        if (p < 0 || p > 0x3fffffff) return container_error(who, "inspect gave State.Pid " + std::to_string(p));
        c.pid = pid_t(p);
    }
    if (const json* hc = field(doc, "HostConfig")) {
        c.init = bool_field(*hc, "Init");
        c.network_mode = str_field(*hc, "NetworkMode");
        c.cgroup_parent = str_field(*hc, "CgroupParent");
    }
    c.mounts = parse_mounts(doc);
    return c;
}

bool is_container_cgroup(std::string_view rel, const std::string& id) {
    if (id.empty() || is_root_or_escaping(rel)) return false;
    while (!rel.empty() && rel.back() == '/') rel.remove_suffix(1);
    size_t slash = rel.rfind('/');
    std::string_view last = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
    std::string_view parent = slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
    if (last == "libpod-" + id || last == "libpod-" + id + ".scope" || last == "docker-" + id + ".scope") return true;
    size_t pslash = parent.rfind('/');
    std::string_view parent_last = pslash == std::string_view::npos ? parent : parent.substr(pslash + 1);
    // Podman under systemd on cgroup v2 runs the processes in a "container" leaf of its scope.
    if (last == "container") return parent_last == "libpod-" + id + ".scope";
    return last == id && parent_last == "docker";
}

std::vector<std::string> Container::start_command() const {
    auto v = runtime.command;
    v.insert(v.end(), {"start", inspect.id});
    return v;
}
std::vector<std::string> Container::stop_command(int timeout_s) const {
    auto v = runtime.command;
    v.insert(v.end(), {"stop", "-t", std::to_string(timeout_s), inspect.id});
    return v;
}
std::vector<std::string> Container::kill_command() const {
    auto v = runtime.command;
    v.insert(v.end(), {"kill", inspect.id});
    return v;
}

Result<Container> resolve_inspected(const ContainerInspect& in, const ContainerRuntime& rt) {
    const std::string who = in.name.empty() ? in.id : in.name;
    if (!in.running || in.pid <= 0)
        return container_error(
            who, "not running (" + rt.name() + " says status \"" + in.status + "\"); looked for its main pid");
    if (!pid_alive(in.pid))
        return container_error(who, "main pid " + std::to_string(in.pid) + " from " + rt.name() + " inspect is gone");
    Container c;
    c.runtime = rt;
    c.inspect = in;
    c.main_pid = in.pid;
    c.service_pid = in.pid;
    if (in.init) {
        // The init wrapper (catatonit, tini) runs one child: the service.
        auto kids = children_of(in.pid);
        if (kids.size() != 1)
            return container_error(who, "started with --init, its init (pid " + std::to_string(in.pid) + ") has " +
                                            std::to_string(kids.size()) + " children; looked for one service");
        c.service_pid = kids[0];
    }
    const std::string own_ns = "/proc/" + std::to_string(in.pid) + "/ns/net";
    c.netns = own_ns;
    c.host_network = in.network_mode == "host";
    if (in.network_mode.rfind("ns:", 0) == 0) {
        std::string joined = in.network_mode.substr(3);
        if (!same_file(joined, own_ns))
            return container_error(who, "joined network namespace " + joined + " but pid " + std::to_string(in.pid) +
                                            " is in another (or the path is gone)");
        c.netns = joined;
        c.netns_survives_restart = true;
    }
    auto text = read_small_file("/proc/" + std::to_string(in.pid) + "/cgroup");
    if (!text) return container_error(who, "main pid " + std::to_string(in.pid) + " is gone (reading its cgroups)");
    auto rel = parse_proc_cgroup(*text);
    auto mounts = cgroup_mounts();
    for (auto& h : used_hierarchies()) {
        auto r = rel.find(h);
        auto m = mounts.find(h);
        if (r == rel.end() || m == mounts.end()) continue;
        if (!is_container_cgroup(r->second, in.id))
            return container_error(who, "pid " + std::to_string(in.pid) + " is in " + h + " cgroup \"" + r->second +
                                            "\", not the container's own (.../libpod-" + in.id + ")");
        c.cgroups[h] = m->second + r->second;
    }
    if (!c.cgroups.count("freezer") && !c.cgroups.count("unified"))
        return container_error(who, "no freezer or cgroup v2 directory found for pid " + std::to_string(in.pid));
    return c;
}

Result<Container> resolve_container(const std::string& name, const ContainerRuntime& rt) {
    auto argv = rt.command;
    argv.insert(argv.end(), {"inspect", "--type", "container", name});
    auto r = run(argv, std::chrono::seconds(30), {}, 4 * 1024 * 1024);
    if (!r) return container_error(name, rt.name() + " inspect could not run: " + r.error().message());
    if (r->exit_code != 0) {
        if (lower(r->output).find("no such") != std::string::npos)
            return container_error(name, "no such container (" + rt.name() + " inspect)");
        std::string out = r->output.substr(0, 300);
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return container_error(name, rt.name() + " inspect exited " + std::to_string(r->exit_code) + ": " + out);
    }
    // run() captures stderr with stdout; a warning line before the JSON is skipped.
    std::string_view out = r->output;
    size_t start = out.find_first_of("[{");
    if (start == std::string_view::npos) return container_error(name, rt.name() + " inspect printed no JSON");
    auto in = parse_inspect(out.substr(start), rt.kind, name);
    if (!in) return std::move(in).error();
    return resolve_inspected(*in, rt);
}

}  // namespace inj::targets

namespace inj::targets {
namespace {

// The part of `dir` below its hierarchy's mount point, checked to be the container's own.
Result<void> check_own(const Container& c, const std::string& hierarchy, const std::string& dir) {
    auto mounts = cgroup_mounts();
    auto m = mounts.find(hierarchy);
    if (m == mounts.end() || dir.size() <= m->second.size() || dir.compare(0, m->second.size(), m->second) != 0 ||
        !is_container_cgroup(dir.substr(m->second.size()), c.inspect.id))
        return plain_error("container " + c.inspect.name, "refusing to kill in " + dir + ": not its own cgroup");
    return {};
}

}  // namespace

Result<int> kill_container_processes(const Container& c) {
    auto v2 = c.cgroups.find("unified");
    if (v2 != c.cgroups.end()) {
        INJ_TRY(check_own(c, "unified", v2->second));
        // No cgroup.kill (a kernel before 5.14): every pid of the v1 cgroup below.
        if (::access((v2->second + "/cgroup.kill").c_str(), F_OK) == 0) {
            INJ_TRY(write_control(v2->second + "/cgroup.kill", "1"));
            return 0;
        }
    }
    std::string hierarchy = c.cgroups.count("pids") ? "pids" : "freezer";
    auto dir = c.cgroups.find(hierarchy);
    if (dir == c.cgroups.end()) return plain_error("container " + c.inspect.name, "no cgroup to kill in");
    INJ_TRY(check_own(c, hierarchy, dir->second));
    auto procs = read_small_file(dir->second + "/cgroup.procs");
    if (!procs) return std::move(procs).error();
    const std::string rel = dir->second.substr(cgroup_mounts()[hierarchy].size());
    int n = 0;
    std::istringstream in(*procs);
    for (long p; in >> p;) {
        auto text = read_small_file("/proc/" + std::to_string(p) + "/cgroup");
        if (!text || parse_proc_cgroup(*text)[hierarchy] != rel) continue;  // gone or moved
        if (::kill(pid_t(p), SIGKILL) == 0) ++n;
    }
    return n;
}

}  // namespace inj::targets

namespace inj::targets {

Result<void> ensure_running(const std::vector<std::string>& rt, const std::vector<std::string>& ids,
                            std::chrono::milliseconds bound) {
    using Clock = std::chrono::steady_clock;
    auto until = Clock::now() + bound;
    std::vector<std::string> waiting = ids;
    while (!waiting.empty()) {
        auto inspect = rt;
        inspect.insert(inspect.end(),
                       {"inspect", "--type", "container", "--format", "{{.Id}} {{.State.Status}} {{.State.Pid}}"});
        inspect.insert(inspect.end(), waiting.begin(), waiting.end());
        auto r = run(inspect, std::chrono::seconds(30), {}, 1 << 20);
        std::vector<std::string> to_start, not_yet;
        std::map<std::string, std::pair<std::string, long>> state;  // id -> status, pid
        if (r) {
            std::istringstream in(r->output);
            for (std::string id, status; in >> id >> status;) {
                long pid = 0;
                in >> pid;
                state[id] = {status, pid};
            }
        }
        for (auto& id : waiting) {
            auto s = state.find(id);
            if (s == state.end()) {
                not_yet.push_back(id);  // inspect failed for it: try again
            } else if (s->second.first == "running") {
                if (!pid_alive(pid_t(s->second.second))) not_yet.push_back(id);  // exit not recorded yet
            } else {
                to_start.push_back(id);
            }
        }
        if (!to_start.empty()) {
            auto start = rt;
            start.push_back("start");
            start.insert(start.end(), to_start.begin(), to_start.end());
            (void)run(start, std::chrono::seconds(120));
            not_yet.insert(not_yet.end(), to_start.begin(), to_start.end());  // checked next pass
        }
        waiting = not_yet;
        if (waiting.empty()) break;
        if (Clock::now() > until) {
            std::string left;
            for (auto& id : waiting) left += " " + id.substr(0, 12);
            return plain_error("start containers again",
                               "not running after " + std::to_string(bound.count()) + " ms:" + left);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(to_start.empty() ? 50 : 10));
    }
    return {};
}

}  // namespace inj::targets
