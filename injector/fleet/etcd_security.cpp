// The etcd security options: parsing, the config file, and where the password may come from.
#include "fleet/etcd_security.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace inj::fleet {
namespace po = boost::program_options;

namespace {

Result<std::string> read_secret(const std::string& path) {
    std::ifstream f(path);
    if (!f) return errno_error("etcd password file", path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    // A file written by `echo` ends in a newline that is not part of the password.
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) return plain_error("etcd password file", path + " is empty");
    return s;
}

Result<void> check(EtcdSecurity& s) {
    if (s.cert.empty() != s.key.empty())
        return plain_error("etcd security", "a client certificate needs its key (--etcd-cert with --etcd-key)");
    if (!s.user.empty() && s.password.empty()) {
        if (const char* env = std::getenv("INJECTOR_ETCD_PASSWORD"); env && *env)
            s.password = env;
        else
            return plain_error("etcd security", "user " + s.user +
                                                    " needs a password: --etcd-password-file, the config file's "
                                                    "password, or INJECTOR_ETCD_PASSWORD");
    }
    for (const std::string* f : {&s.cacert, &s.cert, &s.key})
        if (!f->empty() && !std::ifstream(*f)) return errno_error("etcd security: cannot read", *f);
    return {};
}

Result<EtcdSecurity> from_file(const std::string& path) {
    EtcdSecurity s;
    if (!std::ifstream(path)) return errno_error("etcd config: cannot read", path);
    try {
        YAML::Node n = YAML::LoadFile(path);
        if (!n.IsMap())
            return plain_error("etcd config", path + ": expected a mapping of cacert, cert, key, user, password");
        for (auto it = n.begin(); it != n.end(); ++it) {
            const std::string k = it->first.as<std::string>();
            const auto m = it->second.Mark();
            const std::string where = path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
            if (!it->second.IsScalar()) return plain_error("etcd config", where + ": " + k + " must be a string");
            const std::string v = it->second.as<std::string>();
            if (k == "cacert")
                s.cacert = v;
            else if (k == "cert")
                s.cert = v;
            else if (k == "key")
                s.key = v;
            else if (k == "user")
                s.user = v;
            else if (k == "password")
                s.password = v;
            else if (k == "password_file") {
                auto p = read_secret(v);
                if (!p) return p.error();
                s.password = *p;
            } else
                return plain_error("etcd config", where + ": unknown field " + k +
                                                      " (cacert, cert, key, user, password, password_file)");
        }
    } catch (const YAML::Exception& e) {
        return plain_error("etcd config", path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                              std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    return s;
}

}  // namespace

void add_etcd_options(po::options_description& d) {
    d.add_options()("etcd-cacert", po::value<std::string>()->default_value(""),
                    "CA bundle for etcd's certificate (https)")(
        "etcd-cert", po::value<std::string>()->default_value(""), "client certificate for etcd")(
        "etcd-key", po::value<std::string>()->default_value(""), "client certificate key")(
        "etcd-user", po::value<std::string>()->default_value(""),
        "etcd user (password: file, config or INJECTOR_ETCD_PASSWORD)")(
        "etcd-password-file", po::value<std::string>()->default_value(""), "file holding the etcd password")(
        "etcd-config", po::value<std::string>()->default_value(""),
        "YAML/JSON file: cacert, cert, key, user, password");
}

Result<EtcdSecurity> etcd_security_from_file(const std::string& path) {
    auto s = from_file(path);
    if (!s) return s;
    INJ_TRY(check(*s));
    return s;
}

Result<EtcdSecurity> etcd_security_from(const po::variables_map& vm) {
    auto opt = [&](const char* name) { return vm.count(name) ? vm[name].as<std::string>() : std::string(); };
    EtcdSecurity s;
    if (auto cfg = opt("etcd-config"); !cfg.empty()) {
        auto f = from_file(cfg);
        if (!f) return f.error();
        s = *f;
    }
    auto over = [&](const char* name, std::string& field) {
        if (auto v = opt(name); !v.empty()) field = v;
    };
    over("etcd-cacert", s.cacert);
    over("etcd-cert", s.cert);
    over("etcd-key", s.key);
    over("etcd-user", s.user);
    if (auto pf = opt("etcd-password-file"); !pf.empty()) {
        auto p = read_secret(pf);
        if (!p) return p.error();
        s.password = *p;
    }
    INJ_TRY(check(s));
    return s;
}

}  // namespace inj::fleet
