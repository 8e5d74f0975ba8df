// A small etcd v3 client over etcd's JSON gateway (HTTP/1.1, libcurl): key-value reads and
// writes, transactions, leases and watches, failing over between endpoints, over TLS with client
// certificates and etcd authentication when asked. Only what fleet mode needs; keys and values are
// raw bytes here (the gateway's base64 stays inside the .cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "fleet/etcd_security.hpp"

namespace inj::fleet {

struct KeyValue {
    std::string key;
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t lease = 0;
};

// One operation of a transaction branch.
struct TxnOp {
    enum class Kind { put, del, del_prefix, get };
    Kind kind = Kind::put;
    std::string key;
    std::string value;  // put
    int64_t lease = 0;  // put: bind the key to this lease (0: none)
    static TxnOp put(std::string k, std::string v, int64_t lease = 0) {
        return {Kind::put, std::move(k), std::move(v), lease};
    }
    static TxnOp del(std::string k) { return {Kind::del, std::move(k), {}, 0}; }
    static TxnOp del_prefix(std::string k) { return {Kind::del_prefix, std::move(k), {}, 0}; }
};

// A comparison guarding a transaction: key's create revision (0: absent) or value, equal to.
struct TxnCompare {
    enum class Target { create_revision, value };
    std::string key;
    Target target = Target::create_revision;
    int64_t revision = 0;
    std::string value;
    static TxnCompare absent(std::string k) { return {std::move(k), Target::create_revision, 0, {}}; }
    static TxnCompare value_is(std::string k, std::string v) { return {std::move(k), Target::value, 0, std::move(v)}; }
};

struct WatchEvent {
    enum class Type { put, del };
    Type type = Type::put;
    KeyValue kv;
};

class EtcdClient {
public:
    // endpoints: "host:port", "http://host:port" or "https://host:port", comma-separated or one
    // each (no scheme: https when `security` asks for TLS). Checks that one answers (a range read)
    // within `timeout`; the error names every endpoint and why it failed. With a user, it
    // authenticates first and again whenever etcd says the token is no longer valid.
    static Result<EtcdClient> connect(const std::string& endpoints,
                                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                                      const EtcdSecurity& security = {});
    EtcdClient(EtcdClient&&) noexcept;
    EtcdClient& operator=(EtcdClient&&) noexcept;
    ~EtcdClient();

    const std::vector<std::string>& endpoints() const { return endpoints_; }
    const EtcdSecurity& security() const { return sec_; }
    // The current auth token (a watch stream sends it; empty without a user).
    const std::string& token() const { return token_; }
    // Per-request timeout (connect + transfer).
    void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

    // header_revision: set to the store revision the answer reflects (to order it against watch
    // events, whose mod_revision is comparable).
    Result<std::optional<KeyValue>> get(const std::string& key, int64_t* header_revision = nullptr);
    Result<std::vector<KeyValue>> get_prefix(const std::string& prefix);
    // Returns the store revision after the write.
    Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
    Result<int64_t> del(const std::string& key);  // number deleted
    Result<int64_t> del_prefix(const std::string& prefix);
    // All compares true -> `then` ops, else `otherwise`; returns whether the compares held.
    Result<bool> txn(const std::vector<TxnCompare>& compares, const std::vector<TxnOp>& then,
                     const std::vector<TxnOp>& otherwise = {});

    // Grants a lease of ttl seconds; returns its id.
    Result<int64_t> lease_grant(int ttl_seconds);
    // One keepalive; returns the TTL left (0: the lease has expired or never existed).
    Result<int64_t> lease_keepalive(int64_t id);
    Result<void> lease_revoke(int64_t id);
    // The lease's remaining TTL in seconds (<= 0: expired or unknown) and the TTL it was granted.
    struct LeaseTtl {
        int64_t ttl = 0;
        int64_t granted = 0;
    };
    Result<LeaseTtl> lease_ttl(int64_t id);

    // Current store revision (a cheap range read of nothing).
    Result<int64_t> revision();

private:
    EtcdClient(std::vector<std::string> endpoints, EtcdSecurity sec);
    // POSTs body to path on the current endpoint, failing over to the others on connection
    // errors; returns the parsed-JSON response text. Authenticates first when a user is set, and
    // once more when etcd answers 401 (the token expired or the member restarted).
    Result<std::string> call(const std::string& path, const std::string& body);
    Result<std::string> call_once(const std::string& path, const std::string& body, long* status);
    // POST /v3/auth/authenticate with the user and password; keeps the token. Caller holds mu_.
    Result<void> authenticate();

    std::vector<std::string> endpoints_;  // "http(s)://host:port"
    EtcdSecurity sec_;
    std::string token_;  // etcd auth token (empty: none yet)
    size_t current_ = 0;
    std::chrono::milliseconds timeout_{2000};
    std::unique_ptr<std::mutex> mu_;
    void* curl_ = nullptr;  // CURL*, reused so the connection stays open
};

// A watch on a key or prefix, streamed on its own thread from start_revision (0: now). Events
// arrive in order on the callback (on the watch thread). When the stream breaks it reconnects
// (on the next endpoint) from the revision after the last event seen, until stop().
class Watch {
public:
    using Callback = std::function<void(const std::vector<WatchEvent>&)>;
    // on_state(true/false): the stream is established / broken (for health tracking).
    Watch(std::vector<std::string> endpoints, std::string key, bool prefix, int64_t start_revision, Callback cb,
          std::function<void(bool)> on_state = {}, EtcdSecurity security = {});
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // Makes the current stream give up and reconnect (used when the caller knows the path broke).
    void reconnect() { reconnect_gen_++; }
    void stop();

private:
    void loop();
    std::vector<std::string> endpoints_;
    std::string key_;
    bool prefix_;
    std::atomic<int64_t> next_rev_;
    Callback cb_;
    std::function<void(bool)> on_state_;
    EtcdSecurity sec_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> reconnect_gen_{0};
    std::thread thread_;
};

// The end of the range of all keys with this prefix (etcd's range_end convention).
std::string prefix_end(const std::string& prefix);
std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);
// Splits "a,b,c" into normalised endpoint URLs (https when `tls` and no scheme is given).
std::vector<std::string> split_endpoints(const std::string& endpoints, bool tls);

}  // namespace inj::fleet
