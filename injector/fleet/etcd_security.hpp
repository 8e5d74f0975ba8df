// How fleet mode reaches etcd safely: TLS (a CA, a client certificate and key) and etcd's own
// authentication (user and password, the password never only on the command line). Shared by
// `injector run --fleet` and `injector agent`: each adds these options and reads them back.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "common/result.hpp"

namespace inj::fleet {

struct EtcdSecurity {
    std::string cacert;    // PEM bundle the server's certificate must chain to (https endpoints)
    std::string cert;      // client certificate (PEM), for --client-cert-auth
    std::string key;       // its private key (PEM)
    std::string user;      // etcd user (empty: no etcd authentication)
    std::string password;  // from a file, the config file or INJECTOR_ETCD_PASSWORD
    bool tls() const { return !cacert.empty() || !cert.empty(); }
};

// --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user, --etcd-password-file, --etcd-config.
void add_etcd_options(boost::program_options::options_description& d);

// Reads the options back. --etcd-config FILE (YAML or JSON: cacert, cert, key, user, password,
// password_file) comes first; options given on the command line override it. The password comes
// from --etcd-password-file, the config file, or the environment variable INJECTOR_ETCD_PASSWORD;
// a user without any of them is an error, as is a certificate without its key.
Result<EtcdSecurity> etcd_security_from(const boost::program_options::variables_map& vm);

// The same, from a config file alone (tests and tools).
Result<EtcdSecurity> etcd_security_from_file(const std::string& path);

}  // namespace inj::fleet
