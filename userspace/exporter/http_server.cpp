// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "exporter/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <stdexcept>

namespace hypertrace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Members in this order: destroying io destroys the connections still
// open, which decrement `active`.
struct HttpServer::Impl {
    HttpLimits limits;
    MetricsHandler handler;
    std::atomic<std::size_t> active{0};
    bool stopped = false;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::thread thread;

    void accept();
};

namespace {

// One connection: read a request, answer, repeat while keep-alive.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket s, HttpServer::Impl& srv, bool over_limit)
        : stream_(std::move(s)), srv_(srv), over_limit_(over_limit)
    {
        srv_.active++;
    }
    ~Connection() { srv_.active--; }

    void start() { read(); }

private:
    void read()
    {
        parser_.emplace();
        parser_->header_limit(8 * 1024);
        parser_->body_limit(0);
        stream_.expires_after(srv_.limits.io_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec)
    {
        if (ec) {
            close();  // timeout, client gone, malformed or too large request
            return;
        }
        const auto& req = parser_->get();
        res_ = {};
        res_.version(req.version());
        res_.set(http::field::server, "hypertrace");
        HttpResponse r;
        if (over_limit_) {
            r.status = 503;
            r.content_type = "text/plain; charset=utf-8";
            r.body = "too many concurrent connections: try again\n";
        } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
            r.status = 405;
            r.content_type = "text/plain; charset=utf-8";
            r.body = "only GET and HEAD\n";
            res_.set(http::field::allow, "GET, HEAD");
        } else if (req.target() == "/metrics" || req.target().substr(0, 9) == "/metrics?") {
            srv_.handler(std::string(req[http::field::accept]), r);
        } else if (req.target() == "/") {
            r.content_type = "text/html; charset=utf-8";
            r.body =
                "<html><head><title>hypertrace exporter</title></head><body><h1>hypertrace exporter</h1>"
                "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";
        } else {
            r.status = 404;
            r.content_type = "text/plain; charset=utf-8";
            r.body = "not found: the metrics are at /metrics\n";
        }
        res_.result(r.status);
        res_.set(http::field::content_type, r.content_type);
        const bool head = req.method() == http::verb::head;
        res_.body() = std::move(r.body);
        res_.prepare_payload();
        if (head)
            res_.body().clear();  // Content-Length stays the GET's
        res_.keep_alive(req.keep_alive() && !over_limit_);
        stream_.expires_after(srv_.limits.io_timeout);
        http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
            if (wec || !self->res_.keep_alive()) {
                self->close();
                return;
            }
            self->res_ = {};  // the body's memory is not held between requests
            self->read();
        });
    }

    void close()
    {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    HttpServer::Impl& srv_;
    bool over_limit_;
    beast::flat_buffer buffer_{8 * 1024};
    std::optional<http::request_parser<http::empty_body>> parser_;
    http::response<http::string_body> res_;
};

}  // namespace

void HttpServer::Impl::accept()
{
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open())
            return;
        if (!ec)
            std::make_shared<Connection>(std::move(s), *this, active.load() >= limits.max_connections)->start();
        accept();  // a failed accept (EMFILE...) must not stop the server
    });
}

HttpServer::HttpServer(const std::string& address, std::uint16_t port, HttpLimits limits, MetricsHandler handler)
    : impl_(std::make_unique<Impl>())
{
    impl_->limits = limits;
    impl_->handler = std::move(handler);
    beast::error_code ec;
    tcp::endpoint ep;
    if (address.empty()) {
        // Every address: IPv6's any with IPv4 mapped in, else IPv4's any
        // (a host without IPv6).
        ep = tcp::endpoint(tcp::v6(), port);
        impl_->acceptor.open(ep.protocol(), ec);
        if (!ec)
            impl_->acceptor.set_option(asio::ip::v6_only(false), ec);
        if (ec) {
            beast::error_code ignored;
            impl_->acceptor.close(ignored);
            ep = tcp::endpoint(tcp::v4(), port);
            ec = {};
            impl_->acceptor.open(ep.protocol(), ec);
        }
    } else {
        ep = tcp::endpoint(asio::ip::make_address(address), port);
        impl_->acceptor.open(ep.protocol(), ec);
    }
    if (!ec)
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        impl_->acceptor.bind(ep, ec);
    if (!ec)
        impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("cannot listen on " + (address.empty() ? std::string("*") : address) + ":" +
                                 std::to_string(port) + ": " + ec.message() +
                                 " (another exporter on that port? choose another with --serve [ADDR]:PORT)");
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start()
{
    impl_->accept();
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::stop()
{
    if (impl_->stopped)
        return;
    impl_->stopped = true;
    asio::post(impl_->io, [this] {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    impl_->io.stop();
    if (impl_->thread.joinable())
        impl_->thread.join();
}

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string HttpServer::endpoint() const
{
    const tcp::endpoint ep = impl_->acceptor.local_endpoint();
    const std::string a = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(ep.port());
}

}  // namespace hypertrace
