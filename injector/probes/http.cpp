// libcurl behind http_request (see http.hpp). One easy handle per request: probes run at most
// every 10 ms, and a fresh handle keeps no connection across a fault (each attempt connects anew,
// as a client that lost its connection would).
#include "probes/http.hpp"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace inj::probes {
namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
    HttpResponse* r;
    size_t cap;
};

size_t on_body(char* data, size_t size, size_t n, void* ud) {
    auto* s = static_cast<Sink*>(ud);
    size_t len = size * n;
    size_t room = s->cap > s->r->body.size() ? s->cap - s->r->body.size() : 0;
    if (len > room) s->r->truncated = true;
    s->r->body.append(data, std::min(len, room));
    return len;  // keep reading: the status and timing stay those of the whole response
}

struct CurlDeleter {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};

}  // namespace

Result<HttpResponse> http_request(const std::string& url, const std::string& method, std::chrono::nanoseconds timeout,
                                  size_t max_body) {
    global_init();
    std::unique_ptr<CURL, CurlDeleter> h(curl_easy_init());
    if (!h) return plain_error("curl_easy_init failed");
    HttpResponse r;
    Sink sink{&r, max_body};
    char errbuf[CURL_ERROR_SIZE] = {0};
    long ms =
        std::max<long>(1, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
    CURL* c = h.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "injector-probe");
    if (method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method == "POST") {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return plain_error(method + " " + url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
}

std::string url_escape(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : text) {
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                     ch == '.' || ch == '_' || ch == '~';
        if (plain) {
            out += static_cast<char>(ch);
        } else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

}  // namespace inj::probes
