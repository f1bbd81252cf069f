// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// --serve: the HTTP side, Boost.Beast over Boost.Asio (header-only in
// Boost 1.74), on its own thread and io_context so a slow scraper never
// delays the tracing session's loop (session/trace_session.h).
//
// Robustness, each a bound: a connection limit (one over it gets 503 and is
// closed), a deadline on every read and write (a scraper that sends nothing,
// or reads nothing, is closed after it), a request header limit of 8 KiB and
// no request bodies.  Keep-alive is honoured, as Prometheus uses it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace hypertrace {

struct HttpLimits {
    std::size_t max_connections = 16;
    std::chrono::milliseconds io_timeout{10000};
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type;
    std::string body;
};

// Called on the server's thread for GET/HEAD /metrics with the request's
// Accept header (empty if none).
using MetricsHandler = std::function<void(const std::string& accept, HttpResponse& resp)>;

class HttpServer {
public:
    // Binds and listens now: throws std::runtime_error naming the address
    // and the fix when it cannot (so a bad --serve fails before tracing).
    HttpServer(const std::string& address, std::uint16_t port, HttpLimits limits, MetricsHandler handler);
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void start();  // serve on a new thread
    void stop();   // close everything and join; idempotent
    std::uint16_t port() const;
    std::string endpoint() const;  // "[::]:9857", "127.0.0.1:9857"

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace hypertrace
