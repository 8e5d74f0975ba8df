// One HTTP request through libcurl, for the http: and prometheus: probes. Plain http/https only
// (no redirects followed, no proxy), a whole-request timeout, and a cap on the body kept.
#pragma once

#include <chrono>
#include <string>

#include "common/result.hpp"

namespace inj::probes {

struct HttpResponse {
    long status = 0;
    std::string body;        // at most the cap given to http_request
    bool truncated = false;  // the body was longer than the cap
};

// Sockets are made in the calling thread's network namespace (callers setns first).
Result<HttpResponse> http_request(const std::string& url, const std::string& method, std::chrono::nanoseconds timeout,
                                  size_t max_body);

// `text` with every byte outside [A-Za-z0-9-._~] percent-encoded (a query string's value).
std::string url_escape(const std::string& text);

}  // namespace inj::probes
