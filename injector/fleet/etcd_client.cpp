// EtcdClient over the v3 JSON gateway: POST /v3/kv/{range,put,deleterange,txn},
// /v3/lease/{grant,keepalive,revoke}, and /v3/watch as a chunked stream of JSON objects.
// The gateway writes int64 fields as JSON strings and leaves out fields at their default.
#include "fleet/etcd_client.hpp"

#include <curl/curl.h>

#include <charconv>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace inj::fleet {
namespace {

using nlohmann::json;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

int64_t i64(const json& j, const char* field) {
    auto it = j.find(field);
    if (it == j.end()) return 0;
    if (it->is_string()) {
        // etcd's JSON gateway sends int64 as strings; a malformed one reads as 0, never throws.
        const auto& s = it->get_ref<const std::string&>();
        int64_t v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return ec == std::errc() && end == s.data() + s.size() ? v : 0;
    }
    if (it->is_number()) return it->get<int64_t>();
    return 0;
}

KeyValue kv_of(const json& j) {
    KeyValue kv;
    kv.key = base64_decode(j.value("key", ""));
    kv.value = base64_decode(j.value("value", ""));
    kv.create_revision = i64(j, "create_revision");
    kv.mod_revision = i64(j, "mod_revision");
    kv.lease = i64(j, "lease");
    return kv;
}

size_t append_body(char* p, size_t sz, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, sz * n);
    return sz * n;
}

std::string normalise(std::string ep, bool tls) {
    while (!ep.empty() && (ep.back() == '/' || ep.back() == ' ')) ep.pop_back();
    while (!ep.empty() && ep.front() == ' ') ep.erase(ep.begin());
    if (ep.rfind("http://", 0) != 0 && ep.rfind("https://", 0) != 0) ep = (tls ? "https://" : "http://") + ep;
    return ep;
}

// The auth token header of one request (none without a token), freed with the request.
struct Headers {
    curl_slist* list = nullptr;
    explicit Headers(const std::string& token) {
        if (!token.empty()) list = curl_slist_append(nullptr, ("Authorization: " + token).c_str());
    }
    ~Headers() { curl_slist_free_all(list); }
    Headers(const Headers&) = delete;
    Headers& operator=(const Headers&) = delete;
};

// What every request shares: TLS material, the token header, no proxy, no signals.
void setup_request(CURL* h, const EtcdSecurity& s, curl_slist* headers) {
    if (!s.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, s.cacert.c_str());
    if (!s.cert.empty()) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, s.cert.c_str());
        curl_easy_setopt(h, CURLOPT_SSLKEY, s.key.c_str());
    }
    // Peer and host verification stay at libcurl's default (on): a server that cannot prove it
    // is the etcd of this CA is not one to take orders from.
    if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
}

json op_json(const TxnOp& op) {
    switch (op.kind) {
        case TxnOp::Kind::put: {
            json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
            if (op.lease) p["lease"] = std::to_string(op.lease);
            return {{"request_put", p}};
        }
        case TxnOp::Kind::del: return {{"request_delete_range", {{"key", base64_encode(op.key)}}}};
        case TxnOp::Kind::del_prefix:
            return {{"request_delete_range",
                     {{"key", base64_encode(op.key)}, {"range_end", base64_encode(prefix_end(op.key))}}}};
        case TxnOp::Kind::get: return {{"request_range", {{"key", base64_encode(op.key)}}}};
    }
    return {};
}

}  // namespace

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        auto& c = reinterpret_cast<unsigned char&>(end.back());
        if (c < 0xff) {
            ++c;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

std::string base64_encode(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += t[v & 63];
    }
    if (i + 1 == in.size()) {
        uint32_t v = uint8_t(in[i]) << 16;
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string base64_decode(const std::string& in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = val(c);
        if (v < 0) continue;  // padding and whitespace
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xff);
        }
    }
    return out;
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, EtcdSecurity sec)
    : endpoints_(std::move(endpoints)), sec_(std::move(sec)), mu_(std::make_unique<std::mutex>()) {
    global_init();
    curl_ = curl_easy_init();
}

EtcdClient::EtcdClient(EtcdClient&& o) noexcept
    : endpoints_(std::move(o.endpoints_)),
      sec_(std::move(o.sec_)),
      token_(std::move(o.token_)),
      current_(o.current_),
      timeout_(o.timeout_),
      mu_(std::move(o.mu_)),
      curl_(o.curl_) {
    o.curl_ = nullptr;
}

EtcdClient& EtcdClient::operator=(EtcdClient&& o) noexcept {
    if (this != &o) {
        if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
        endpoints_ = std::move(o.endpoints_);
        sec_ = std::move(o.sec_);
        token_ = std::move(o.token_);
        current_ = o.current_;
        timeout_ = o.timeout_;
        mu_ = std::move(o.mu_);
        curl_ = o.curl_;
        o.curl_ = nullptr;
    }
    return *this;
}

EtcdClient::~EtcdClient() {
    if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::vector<std::string> split_endpoints(const std::string& endpoints, bool tls) {
    std::vector<std::string> eps;
    size_t start = 0;
    while (start <= endpoints.size()) {
        size_t comma = endpoints.find(',', start);
        std::string ep =
            normalise(endpoints.substr(start, comma == std::string::npos ? std::string::npos : comma - start), tls);
        if (!ep.empty() && ep != "http://" && ep != "https://") eps.push_back(ep);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return eps;
}

Result<EtcdClient> EtcdClient::connect(const std::string& endpoints, std::chrono::milliseconds timeout,
                                       const EtcdSecurity& security) {
    auto eps = split_endpoints(endpoints, security.tls());
    if (eps.empty()) return plain_error("etcd", "no endpoints given");
    EtcdClient c(eps, security);
    if (!c.curl_) return plain_error("etcd", "curl_easy_init failed");
    c.timeout_ = timeout;
    // With a user, authenticating proves the endpoint and the credentials (a range read of a key
    // the user may not read would be refused); without one, a range read proves the endpoint.
    if (!security.user.empty()) {
        std::lock_guard lk(*c.mu_);
        INJ_TRY(c.authenticate());
        return c;
    }
    auto r = c.revision();
    if (!r) return r.error();
    return c;
}

Result<std::string> EtcdClient::call_once(const std::string& path, const std::string& body, long* status) {
    auto* h = static_cast<CURL*>(curl_);
    std::string failures;
    for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
        const std::string& ep = endpoints_[(current_ + attempt) % endpoints_.size()];
        std::string url = ep + path;
        std::string resp;
        char errbuf[CURL_ERROR_SIZE] = {0};
        curl_easy_reset(h);
        Headers hdr(token_);
        setup_request(h, sec_, hdr.list);
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
        CURLcode rc = curl_easy_perform(h);
        if (rc != CURLE_OK) {
            failures += (failures.empty() ? "" : "; ") + ep + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
            continue;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        current_ = (current_ + attempt) % endpoints_.size();
        if (*status != 200) {
            auto j = json::parse(resp, nullptr, false);
            std::string msg = (!j.is_discarded() && j.is_object()) ? j.value("message", resp) : resp;
            return plain_error("etcd " + path, ep + ": HTTP " + std::to_string(*status) + ": " + msg);
        }
        return resp;
    }
    *status = 0;
    return plain_error("etcd: no endpoint reachable", failures);
}

Result<void> EtcdClient::authenticate() {
    token_.clear();
    long status = 0;
    auto r = call_once("/v3/auth/authenticate", json{{"name", sec_.user}, {"password", sec_.password}}.dump(), &status);
    if (!r) return r.error();
    auto j = json::parse(*r, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("token") || !j["token"].is_string())
        return plain_error("etcd authenticate", "no token in the answer");
    token_ = j["token"].get<std::string>();
    return {};
}

Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
    std::lock_guard lk(*mu_);
    if (!sec_.user.empty() && token_.empty()) INJ_TRY(authenticate());
    long status = 0;
    auto r = call_once(path, body, &status);
    // 401: the token expired (or a restarted member forgot it): once more with a fresh one.
    if (!r && status == 401 && !sec_.user.empty()) {
        INJ_TRY(authenticate());
        r = call_once(path, body, &status);
    }
    return r;
}

namespace {
Result<json> parse(Result<std::string> r, const std::string& what) {
    if (!r) return r.error();
    auto j = json::parse(*r, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return plain_error("etcd " + what, "unparsable response: " + r->substr(0, 200));
    return j;
}
}  // namespace

Result<int64_t> EtcdClient::revision() {
    // A range over a key that never exists: the header carries the store revision.
    auto j = parse(call("/v3/kv/range", json{{"key", base64_encode(std::string("\0", 1))}}.dump()), "range");
    if (!j) return j.error();
    return i64((*j)["header"], "revision");
}

Result<std::optional<KeyValue>> EtcdClient::get(const std::string& key, int64_t* header_revision) {
    auto j = parse(call("/v3/kv/range", json{{"key", base64_encode(key)}}.dump()), "range");
    if (!j) return j.error();
    if (header_revision && j->contains("header")) *header_revision = i64((*j)["header"], "revision");
    if (!j->contains("kvs") || (*j)["kvs"].empty()) return std::optional<KeyValue>{};
    return std::optional<KeyValue>{kv_of((*j)["kvs"][0])};
}

Result<std::vector<KeyValue>> EtcdClient::get_prefix(const std::string& prefix) {
    auto j = parse(call("/v3/kv/range",
                        json{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}}.dump()),
                   "range");
    if (!j) return j.error();
    std::vector<KeyValue> out;
    if (j->contains("kvs"))
        for (auto& kv : (*j)["kvs"]) out.push_back(kv_of(kv));
    return out;
}

Result<int64_t> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
    json b = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (lease) b["lease"] = std::to_string(lease);
    auto j = parse(call("/v3/kv/put", b.dump()), "put");
    if (!j) return j.error();
    return i64((*j)["header"], "revision");
}

Result<int64_t> EtcdClient::del(const std::string& key) {
    auto j = parse(call("/v3/kv/deleterange", json{{"key", base64_encode(key)}}.dump()), "deleterange");
    if (!j) return j.error();
    return i64(*j, "deleted");
}

Result<int64_t> EtcdClient::del_prefix(const std::string& prefix) {
    auto j = parse(call("/v3/kv/deleterange",
                        json{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}}.dump()),
                   "deleterange");
    if (!j) return j.error();
    return i64(*j, "deleted");
}

Result<bool> EtcdClient::txn(const std::vector<TxnCompare>& compares, const std::vector<TxnOp>& then,
                             const std::vector<TxnOp>& otherwise) {
    json cmp = json::array(), ok = json::array(), ko = json::array();
    for (auto& c : compares) {
        json x = {{"key", base64_encode(c.key)}, {"result", "EQUAL"}};
        if (c.target == TxnCompare::Target::create_revision) {
            x["target"] = "CREATE";
            x["create_revision"] = std::to_string(c.revision);
        } else {
            x["target"] = "VALUE";
            x["value"] = base64_encode(c.value);
        }
        cmp.push_back(x);
    }
    for (auto& o : then) ok.push_back(op_json(o));
    for (auto& o : otherwise) ko.push_back(op_json(o));
    auto j = parse(call("/v3/kv/txn", json{{"compare", cmp}, {"success", ok}, {"failure", ko}}.dump()), "txn");
    if (!j) return j.error();
    return j->value("succeeded", false);
}

Result<int64_t> EtcdClient::lease_grant(int ttl_seconds) {
    auto j = parse(call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump()), "lease grant");
    if (!j) return j.error();
    if (j->contains("error") && !(*j)["error"].get<std::string>().empty())
        return plain_error("etcd lease grant", (*j)["error"].get<std::string>());
    return i64(*j, "ID");
}

Result<int64_t> EtcdClient::lease_keepalive(int64_t id) {
    auto j = parse(call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}.dump()), "lease keepalive");
    if (!j) return j.error();
    if (!j->contains("result")) return plain_error("etcd lease keepalive", "no result: " + j->dump());
    return i64((*j)["result"], "TTL");
}

Result<EtcdClient::LeaseTtl> EtcdClient::lease_ttl(int64_t id) {
    auto j = parse(call("/v3/lease/timetolive", json{{"ID", std::to_string(id)}}.dump()), "lease timetolive");
    if (!j) return j.error();
    return LeaseTtl{j->contains("TTL") ? i64(*j, "TTL") : -1, i64(*j, "grantedTTL")};
}

Result<void> EtcdClient::lease_revoke(int64_t id) {
    auto r = call("/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump());
    if (!r) return r.error();
    return {};
}

// ---- watch ----

Watch::Watch(std::vector<std::string> endpoints, std::string key, bool prefix, int64_t start_revision, Callback cb,
             std::function<void(bool)> on_state, EtcdSecurity security)
    : endpoints_(std::move(endpoints)),
      key_(std::move(key)),
      prefix_(prefix),
      next_rev_(start_revision),
      cb_(std::move(cb)),
      on_state_(std::move(on_state)),
      sec_(std::move(security)) {
    global_init();
    thread_ = std::thread([this] { loop(); });
}

Watch::~Watch() { stop(); }

void Watch::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

namespace {
struct StreamCtx {
    Watch::Callback* cb;
    std::function<void(bool)>* on_state;
    std::atomic<int64_t>* next_rev;
    std::atomic<bool>* stop;
    std::atomic<uint64_t>* gen;
    uint64_t gen_at_start;
    std::string buf;
    int depth = 0;  // brace depth of the object being read (strings skipped)
    bool in_str = false, esc = false;
    size_t scanned = 0;
    bool created = false;
    bool canceled = false;
};

size_t on_chunk(char* p, size_t sz, size_t n, void* ud) {
    auto* c = static_cast<StreamCtx*>(ud);
    c->buf.append(p, sz * n);
    // The gateway writes one JSON object per message; split on top-level braces.
    size_t start = 0;
    for (size_t i = c->scanned; i < c->buf.size(); ++i) {
        char ch = c->buf[i];
        if (c->in_str) {
            if (c->esc)
                c->esc = false;
            else if (ch == '\\')
                c->esc = true;
            else if (ch == '"')
                c->in_str = false;
            continue;
        }
        if (ch == '"')
            c->in_str = true;
        else if (ch == '{')
            ++c->depth;
        else if (ch == '}' && --c->depth == 0) {
            auto j = json::parse(c->buf.begin() + static_cast<long>(start), c->buf.begin() + static_cast<long>(i) + 1,
                                 nullptr, false);
            start = i + 1;
            if (j.is_discarded() || !j.contains("result")) continue;
            auto& res = j["result"];
            if (res.value("created", false)) {
                c->created = true;
                if (*c->on_state) (*c->on_state)(true);
            }
            if (res.value("canceled", false)) c->canceled = true;
            if (res.contains("events")) {
                std::vector<WatchEvent> evs;
                for (auto& e : res["events"]) {
                    WatchEvent we;
                    we.type = e.value("type", "PUT") == "DELETE" ? WatchEvent::Type::del : WatchEvent::Type::put;
                    we.kv = kv_of(e["kv"]);
                    if (we.kv.mod_revision + 1 > *c->next_rev) *c->next_rev = we.kv.mod_revision + 1;
                    evs.push_back(std::move(we));
                }
                if (!evs.empty()) (*c->cb)(evs);
            }
        } else if (ch == '}') {
            if (c->depth < 0) c->depth = 0;
        }
    }
    // Keep only the unfinished object.
    if (c->depth == 0) {
        c->buf.clear();
        c->scanned = 0;
    } else {
        c->buf.erase(0, start);
        c->scanned = c->buf.size();
    }
    return sz * n;
}

int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* c = static_cast<StreamCtx*>(ud);
    return (*c->stop || *c->gen != c->gen_at_start) ? 1 : 0;
}
}  // namespace

void Watch::loop() {
    CURL* h = curl_easy_init();
    size_t ep = 0;
    while (!stop_) {
        json req = {{"key", base64_encode(key_)}};
        if (prefix_) req["range_end"] = base64_encode(prefix_end(key_));
        if (next_rev_ > 0) req["start_revision"] = std::to_string(next_rev_.load());
        std::string body = json{{"create_request", req}}.dump();
        std::string url = endpoints_[ep % endpoints_.size()] + "/v3/watch";
        StreamCtx ctx{&cb_,  &on_state_, &next_rev_, &stop_, &reconnect_gen_, reconnect_gen_.load(), {}, 0, false,
                      false, 0,          false,      false};
        // A fresh token for every stream: etcd checks it when the watch is created.
        std::string token;
        if (!sec_.user.empty()) {
            auto c = EtcdClient::connect(endpoints_[ep % endpoints_.size()], std::chrono::milliseconds(1000), sec_);
            if (c) token = c->token();
        }
        Headers hdr(token);
        curl_easy_reset(h);
        setup_request(h, sec_, hdr.list);
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_chunk);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ctx);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 1L);
        CURLcode rc = curl_easy_perform(h);
        if (on_state_) on_state_(false);
        if (stop_) break;
        log::get("fleet")->debug("watch {} on {} ended: {}", key_, url, curl_easy_strerror(rc));
        ++ep;
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    curl_easy_cleanup(h);
}

}  // namespace inj::fleet
