#include "gateway/runtime/pool_watcher.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <sstream>

#include "common/http/client.h"
#include "gateway/replica_metrics.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<HostPort> resolve_all(const HostPort& address) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  std::vector<HostPort> out;
  if (ec) return out;
  for (const auto& entry : results) {
    HostPort resolved{entry.endpoint().address().to_string(), address.port};
    if (std::find(out.begin(), out.end(), resolved) == out.end()) out.push_back(resolved);
  }
  return out;
}

std::vector<HostPort> parse_endpoint_list(std::string_view text, std::vector<std::string>* problems) {
  std::vector<HostPort> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    line_no++;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty()) continue;
    if (auto address = parse_host_port(line))
      out.push_back(*address);
    else if (problems)
      problems->push_back("line " + std::to_string(line_no) + " is not host:port");
  }
  return out;
}

PoolWatcher::PoolWatcher(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

PoolWatcher::~PoolWatcher() { stop(); }

void PoolWatcher::start() {
  discover();
  check_health();
  thread_ = std::thread([this] { run(); });
}

void PoolWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PoolWatcher::run() {
  const auto& config = pool_->config();
  const auto discovery_every = config.discovery.kind == DiscoveryKind::File ? config.discovery.file_poll
                                                                            : config.discovery.dns_refresh;
  auto next_discovery = std::chrono::steady_clock::now() + discovery_every;
  auto next_health = std::chrono::steady_clock::now() + config.health_check.interval;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_until(lock, std::min(next_discovery, next_health), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_discovery) {
      discover();
      next_discovery = now + discovery_every;
    }
    if (now >= next_health) {
      check_health();
      next_health = std::chrono::steady_clock::now() + config.health_check.interval;
    }
    lock.lock();
  }
}

void PoolWatcher::discover() {
  const auto& d = pool_->config().discovery;
  std::vector<HostPort> named;
  switch (d.kind) {
    case DiscoveryKind::Static:
      named = d.replicas;
      break;
    case DiscoveryKind::Dns:
      named = {d.dns};
      break;
    case DiscoveryKind::File: {
      std::error_code ec;
      const auto mtime = std::filesystem::last_write_time(d.file, ec);
      if (ec) {
        if (!file_seen_) spdlog::warn("pool {}: discovery file {}: {}", pool_->name(), d.file.string(), ec.message());
        return;  // keep the last list: a file being replaced must not empty the pool
      }
      if (file_seen_ && mtime == file_mtime_) return;
      file_seen_ = true;
      file_mtime_ = mtime;
      std::vector<std::string> problems;
      named = parse_endpoint_list(read_file(d.file), &problems);
      for (const auto& p : problems) spdlog::warn("pool {}: {}: {} (skipped)", pool_->name(), d.file.string(), p);
      break;
    }
  }
  std::vector<HostPort> resolved;
  for (const auto& address : named) {
    auto all = resolve_all(address);
    if (all.empty()) spdlog::warn("pool {}: {} does not resolve", pool_->name(), to_string(address));
    for (auto& a : all)
      if (std::find(resolved.begin(), resolved.end(), a) == resolved.end()) resolved.push_back(std::move(a));
  }
  if (resolved.empty() && d.kind == DiscoveryKind::Dns && !pool_->endpoints().empty()) {
    spdlog::warn("pool {}: {} resolved to nothing; keeping the last known replicas", pool_->name(), to_string(d.dns));
    return;
  }
  pool_->set_endpoints(resolved);
}

void PoolWatcher::check_health() {
  const auto& check = pool_->config().health_check;
  for (const auto& endpoint : pool_->endpoints()) {
    bool ready = false;
    try {
      http::Client client(endpoint.host, endpoint.port, check.timeout);
      ready = client.get(check.path).result_int() == 200;
      if (ready) {
        auto metrics = client.get("/metrics");
        if (metrics.result_int() == 200) {
          const ReplicaLoad load = parse_replica_metrics(metrics.body());
          pool_->set_load(endpoint.address, {.running = replica_count(load.running.value_or(0)),
                                               .waiting = replica_count(load.waiting.value_or(0)),
                                               .kv_usage = load.kv_usage.value_or(0)});
        }
      }
    } catch (const std::exception&) {
      ready = false;  // unreachable: no new requests until it answers again
    }
    pool_->set_ready(endpoint.address, ready);
  }
  pool_->publish_health();
}

}  // namespace tide::gateway
