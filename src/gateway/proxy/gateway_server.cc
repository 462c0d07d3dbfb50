#include "gateway/proxy/gateway_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>

#include <mutex>
#include <optional>

#include "gateway/proxy/request_inspector.h"
#include "server/api_error.h"

namespace tide::gateway {
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,    5,     10,   20,    40,   80,  160};

using http::view;

http::Response json_response(http::Status status, std::string body) {
  http::Response response{status, 11};
  response.set(bhttp::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

http::Response error_response(const server::ApiError& error) {
  auto response = json_response(static_cast<http::Status>(error.status), server::error_body(error));
  if (error.retry_after_s > 0) response.set(bhttp::field::retry_after, std::to_string(error.retry_after_s));
  return response;
}

// Request headers a replica gets: the client's, less hop-by-hop ones and the gateway's own
// credentials (the replicas sit behind the gateway and never see client keys); the request
// id, X-Forwarded-For and the mirror mark are the gateway's to set.
bool passed_upstream(bhttp::field f) {
  switch (f) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_authorization:
    case bhttp::field::te:
    case bhttp::field::trailer:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::host:
    case bhttp::field::authorization:
    case bhttp::field::content_length:
    case bhttp::field::expect:
      return false;
    default:
      return true;
  }
}

bool set_by_gateway(boost::beast::string_view name) {
  return boost::beast::iequals(name, "x-request-id") || boost::beast::iequals(name, "x-forwarded-for") ||
         boost::beast::iequals(name, "x-tide-mirror");
}

// The request as every replica tried gets it, written straight as its wire form (a proxy that
// rebuilt it as a message, field by field, spent more on that than on its policy).
UpstreamRequest upstream_request(const http::Request& request, std::string_view request_id,
                                 std::string_view client_address, bool mirror) {
  UpstreamRequest out;
  const auto method = view(request.method_string());
  const auto target = view(request.target());
  out.start_line.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  out.fields.reserve(256);
  auto line = [&out](std::string_view name, std::string_view value) {
    out.fields.append(name).append(": ").append(value).append("\r\n");
  };
  for (const auto& field : request)  // as they came, repeated fields too
    if (passed_upstream(field.name()) && !set_by_gateway(field.name_string()))
      line(view(field.name_string()), view(field.value()));
  line("x-request-id", request_id);
  line("x-forwarded-for", client_address);
  if (mirror) line("x-tide-mirror", "1");
  // As Beast's prepare_payload: a length for any body, and for an empty one where the method
  // expects a body.
  const auto verb = request.method();
  if (!request.body().empty() || verb == http::Verb::post || verb == http::Verb::put || verb == http::Verb::options)
    line("Content-Length", std::to_string(request.body().size()));
  out.fields.append("\r\n");
  out.body = request.body();
  return out;
}

std::string_view client_address(const http::Exchange& exchange) {
  const std::string& remote = exchange.remote();
  return std::string_view(remote).substr(0, remote.rfind(':'));
}

}  // namespace

GatewayServer::GatewayServer(GatewayServerOptions options, RequestPolicy& policy, MetricsRegistry& metrics)
    : options_(std::move(options)),
      policy_(policy),
      metrics_(metrics),
      requests_(metrics.counter("tide_gateway_requests_total", "Requests answered, by route and status code",
                                {"route", "code"})),
      duration_(metrics.histogram("tide_gateway_request_duration_seconds",
                                  "Time from a request's arrival to the end of its answer", kLatencyBounds, {"route"})),
      broken_streams_(metrics.counter("tide_gateway_broken_streams_total",
                                      "Started streams ended with an error event because their replica failed")),
      in_flight_gauge_(metrics.gauge("tide_gateway_requests_in_flight", "Requests being forwarded now").get()) {
  auto http_options = options_.http;
  http_options.error_response = [](http::Status status, const std::string& message) {
    return error_response(server::ApiError(static_cast<int>(status), message));
  };
  http_ = std::make_unique<http::Server>(std::move(http_options),
                                         [this](std::shared_ptr<http::Exchange> exchange) { handle(exchange); });
  pool_ = std::make_unique<ConnectionPool>(options_.max_idle_connections_per_replica, options_.upstream_idle_ttl);
}

GatewayServer::~GatewayServer() { shutdown(std::chrono::milliseconds(0)); }

void GatewayServer::start() { http_->start(); }

void GatewayServer::shutdown(std::chrono::milliseconds grace) {
  draining_ = true;
  if (http_) http_->shutdown(grace);
  pool_.reset();
}

void GatewayServer::handle(const std::shared_ptr<http::Exchange>& exchange) {
  const auto& request = exchange->request();
  const std::string_view target = view(request.target());
  const std::string_view path = target.substr(0, target.find('?'));
  try {
    if (request.method() == http::Verb::get) {
      if (path == "/health") return exchange->respond(json_response(http::Status::ok, R"({"status":"ok"})"));
      if (path == "/ready") {
        if (draining_) return exchange->respond(json_response(http::Status::service_unavailable, R"({"status":"draining"})"));
        return exchange->respond(json_response(http::Status::ok, R"({"status":"ready"})"));
      }
      if (path == "/metrics") {
        http::Response response{http::Status::ok, 11};
        response.set(bhttp::field::content_type, "text/plain; version=0.0.4");
        response.body() = metrics_.render();
        return exchange->respond(std::move(response));
      }
      if (path == "/v1/models") return forward(exchange, {});
    }
    if (path == "/v1/completions" || path == "/v1/chat/completions") {
      if (request.method() != http::Verb::post)
        throw server::ApiError(405, fmt::format("{} takes POST", path));
      return forward(exchange, inspect_generation_request(request.body(), options_.max_json_depth));
    }
    throw server::ApiError(404, fmt::format("no route {} {}", std::string(request.method_string()), path));
  } catch (const server::ApiError& error) {
    requests_.labels({std::string(path.size() < 64 ? path : "other"), std::to_string(error.status)}).inc();
    auto response = error_response(error);
    response.set("x-request-id", request_id_from(view(request["x-request-id"])));
    exchange->respond(std::move(response));
  } catch (const std::exception& e) {
    // A bug, not the client's fault: answered, logged, and the gateway keeps serving.
    spdlog::error("{} {}: internal error: {}", std::string(request.method_string()), std::string(path), e.what());
    requests_.labels({std::string(path.size() < 64 ? path : "other"), "500"}).inc();
    exchange->respond(error_response(server::ApiError(500, "internal gateway error; see the gateway's log")));
  }
}

// The primary's and the shadow's results meet here; whichever finishes second compares.
struct MirrorPair {
  std::mutex mutex;
  std::optional<ForwardResult> primary, shadow;
};

namespace {

void settle(RequestPolicy& policy, const std::shared_ptr<MirrorPair>& pair, const ForwardResult* primary,
            const ForwardResult* shadow) {
  std::optional<ForwardResult> p, s;
  {
    std::lock_guard lock(pair->mutex);
    if (primary) pair->primary = *primary;
    if (shadow) pair->shadow = *shadow;
    if (!pair->primary || !pair->shadow) return;
    p = std::move(pair->primary);
    s = std::move(pair->shadow);
  }
  policy.mirrored(*p, *s);
}

}  // namespace

void GatewayServer::forward(const std::shared_ptr<http::Exchange>& exchange, RequestTraits traits) {
  if (draining_) {
    server::ApiError error(503, "the gateway is shutting down; retry on another instance");
    error.retry_after_s = 1;
    throw error;
  }
  const auto& request = exchange->request();
  std::string request_id = request_id_from(view(request["x-request-id"]));
  ForwardPlan plan = policy_.plan(request, traits);
  std::string route(view(request.target()).substr(0, view(request.target()).find('?')));
  if (plan.hold) {
    auto resume = [this, exchange, traits](bool admitted) {
      net::post(exchange->executor(), [this, exchange, traits, admitted]() mutable {
        try {
          if (!admitted) {
            server::ApiError error(503, "no replica became available in time; retry shortly", {}, "queue_timeout");
            error.retry_after_s = 1;
            throw error;
          }
          forward(exchange, std::move(traits));
        } catch (const server::ApiError& error) {
          exchange->respond(error_response(error));
        } catch (const std::exception& e) {
          spdlog::error("held request: internal error: {}", e.what());
          exchange->respond(error_response(server::ApiError(500, "internal gateway error; see the gateway's log")));
        }
      });
    };
    if (!plan.hold(std::move(resume))) {
      server::ApiError error(429, "too many requests are waiting for a replica; retry shortly", {}, "queue_full");
      error.retry_after_s = 1;
      throw error;
    }
    return;
  }
  if (plan.immediate) {
    plan.immediate->set("x-request-id", request_id);
    requests_.labels({route, std::to_string(plan.immediate->result_int())}).inc();
    return exchange->respond(std::move(*plan.immediate));
  }

  std::shared_ptr<MirrorPair> pair;
  if (plan.mirror) {
    pair = std::make_shared<MirrorPair>();
    mirror(exchange, traits, plan.mirror, request_id, pair);
  }

  in_flight_++;
  in_flight_gauge_.add(1);
  const bool keep_body = plan.on_done || pair;  // before on_done moves into `done`
  auto done = [this, route, request_id, remote = exchange->remote(), pair, on_done = std::move(plan.on_done),
               method = std::string(request.method_string())](const ForwardResult& r) {
    in_flight_--;
    in_flight_gauge_.add(-1);
    requests_.labels({route, r.client_gone ? "499" : std::to_string(r.status)}).inc();
    duration_.labels({route}).observe(std::chrono::duration<double>(r.duration).count());
    if (r.broken_stream) broken_streams_.get().inc();
    if (on_done) on_done(r);
    if (pair) settle(policy_, pair, &r, nullptr);
    if (options_.access_log)
      spdlog::info("{} {} {} {} status={} upstream={} attempts={} stream={} ms={:.1f}{}{}", request_id, remote, method,
                   route, r.client_gone ? 499 : r.status, r.endpoint.empty() ? "-" : r.endpoint, r.attempts,
                   r.streamed, r.duration.count() * 1e3, r.client_gone ? " client-gone" : "",
                   r.degraded ? " degraded" : "");
  };
  ForwardHooks hooks{.degrade = std::move(plan.degrade),
                     .capture_stream = pair != nullptr,
                     .keep_body = keep_body};
  ForwardSettings settings = options_.forward;
  if (plan.timeouts) settings.timeouts = *plan.timeouts;
  auto upstream = upstream_request(request, request_id, client_address(*exchange), false);
  auto forwarder = std::make_shared<Forwarder>(exchange, std::move(upstream), std::move(traits),
                                               std::move(plan.selector), *pool_, settings,
                                               std::move(request_id), std::move(done), std::move(hooks));
  forwarder->start();
}

void GatewayServer::mirror(const std::shared_ptr<http::Exchange>& exchange, const RequestTraits& traits,
                           std::shared_ptr<UpstreamSelector> selector, const std::string& request_id,
                           const std::shared_ptr<MirrorPair>& pair) {
  auto shadow_request = upstream_request(exchange->request(), request_id, client_address(*exchange), true);
  auto done = [this, pair](const ForwardResult& r) { settle(policy_, pair, nullptr, &r); };
  // On the client's io thread, but never in its way: the client's answer does not wait for it.
  auto shadow = std::make_shared<Forwarder>(exchange->executor(), std::move(shadow_request), traits, std::move(selector),
                                            *pool_, options_.forward, request_id + "-mirror", std::move(done));
  shadow->start();
}

}  // namespace tide::gateway
