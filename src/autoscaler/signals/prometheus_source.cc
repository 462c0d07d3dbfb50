#include "autoscaler/signals/prometheus_source.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "autoscaler/signals/http_get.h"
#include "common/error.h"
#include "common/http/url_encode.h"

namespace tide::autoscaler::signals {
namespace {

using nlohmann::json;

// Prometheus writes sample values as strings: a decimal number, or NaN, +Inf, -Inf.
double parse_sample_value(const json& value) {
  if (!value.is_string()) fail("Prometheus answer: a sample value must be a string, got {}", value.type_name());
  const std::string& text = value.get_ref<const std::string&>();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double v = 0;
  const char* begin = text.data() + (text.starts_with('+') ? 1 : 0);
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    fail("Prometheus answer: sample value \"{}\" is not a number", text.substr(0, 40));
  return v;
}

// [ <unix time>, "<value>" ]
double parse_pair(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number())
    fail("Prometheus answer: a value must be [<time>, \"<number>\"]");
  return parse_sample_value(pair[1]);
}

}  // namespace

std::string le_text(double bound) {
  if (bound == std::floor(bound) && std::abs(bound) < 1e15) return fmt::format("{}", static_cast<int64_t>(bound));
  return fmt::format("{}", bound);
}

std::string default_slo_query(double slo_ttft_s) {
  return fmt::format(
      R"(sum(rate(tide_time_to_first_token_seconds_bucket{{job="tide",le="{}"}}[1m])))"
      R"( / sum(rate(tide_time_to_first_token_seconds_count{{job="tide"}}[1m])))",
      le_text(slo_ttft_s));
}

std::optional<double> parse_prometheus_response(std::string_view body) {
  json answer;
  try {
    answer = json::parse(body);
  } catch (const json::exception&) {
    fail("Prometheus answer: not JSON");
  }
  if (!answer.is_object()) fail("Prometheus answer: not a JSON object");
  const auto status = answer.find("status");
  if (status == answer.end() || !status->is_string()) fail("Prometheus answer: no \"status\"");
  if (*status == "error") {
    const auto type = answer.find("errorType");
    const auto error = answer.find("error");
    fail("Prometheus query failed: {}: {}", type != answer.end() && type->is_string() ? type->get<std::string>() : "?",
         error != answer.end() && error->is_string() ? error->get<std::string>() : "(no message)");
  }
  if (*status != "success")
    fail("Prometheus answer: status \"{}\" is neither success nor error", status->get<std::string>());
  const auto data = answer.find("data");
  if (data == answer.end() || !data->is_object()) fail("Prometheus answer: no \"data\" object");
  const auto type = data->find("resultType");
  const auto result = data->find("result");
  if (type == data->end() || !type->is_string()) fail("Prometheus answer: no data.resultType");
  if (result == data->end()) fail("Prometheus answer: no data.result");
  if (*type == "scalar") return parse_pair(*result);
  if (*type != "vector")
    fail("Prometheus answer: data.resultType \"{}\": the query must give an instant vector or a scalar (not a range)",
         type->get<std::string>());
  if (!result->is_array()) fail("Prometheus answer: data.result must be a list");
  if (result->empty()) return std::nullopt;
  if (result->size() > 1)
    fail("Prometheus answer: {} series; the query must aggregate to one (wrap it in sum(...) or avg(...))",
         result->size());
  const json& series = (*result)[0];
  if (!series.is_object() || !series.contains("value")) fail("Prometheus answer: a series has no \"value\"");
  return parse_pair(series["value"]);
}

PrometheusSource::PrometheusSource(PrometheusConfig config)
    : config_(std::move(config)), base_(parse_http_base(config_.url, "signals.prometheus.url")) {
  if (config_.queries.slo_attainment.empty()) config_.queries.slo_attainment = default_slo_query(config_.slo_ttft_s);
}

double PrometheusSource::query(const std::string& field, const std::string& promql, const std::string& time,
                               double if_empty) {
  const std::string target = "/api/v1/query?query=" + http::url_encode(promql) + "&time=" + time;
  HttpAnswer answer;
  try {
    answer = http_fetch(base_, target, config_.timeout);
  } catch (const Error& e) {
    fail("signals.prometheus: {}: {}", config_.url, e.what());
  }
  try {
    // Errors (400 bad query, 422 cannot execute, 503 timeout) come with the same JSON body.
    const std::optional<double> value = parse_prometheus_response(answer.body);
    if (answer.status != 200) fail("HTTP {} with a success body", answer.status);
    return value ? *value : if_empty;
  } catch (const Error& e) {
    if (answer.status != 200 && !answer.body.starts_with("{"))
      fail("signals.prometheus.queries.{}: {} answered HTTP {}: {}", field, config_.url, answer.status,
           answer.body.substr(0, 200));
    fail("signals.prometheus.queries.{} ({}): {}", field, promql, e.what());
  }
}

PoolSample PrometheusSource::sample(double now_s) {
  // Every query at one evaluation time, so the fields describe the same instant.
  const double unix_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string time = fmt::format("{:.3f}", unix_now);
  const PrometheusQueries& q = config_.queries;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto finite = [](double v) { return std::isfinite(v) ? std::max(0.0, v) : 0.0; };
  PoolSample s;
  s.time_s = now_s;
  s.ready = static_cast<int>(std::lround(finite(query("ready", q.ready, time, 0))));
  s.in_flight = finite(query("in_flight", q.in_flight, time, 0));
  s.waiting = finite(query("waiting", q.waiting, time, 0));
  s.kv_usage = std::clamp(finite(query("kv_usage", q.kv_usage, time, 0)), 0.0, 1.0);
  s.tokens_per_s = finite(query("tokens_per_s", q.tokens_per_s, time, 0));
  s.arrival_rate = finite(query("arrival_rate", q.arrival_rate, time, 0));
  s.completion_rate = finite(query("completion_rate", q.completion_rate, time, 0));
  const double slo = query("slo_attainment", q.slo_attainment, time, nan);
  s.slo_attainment = std::isfinite(slo) ? std::clamp(slo, 0.0, 1.0) : nan;
  return s;
}

}  // namespace tide::autoscaler::signals
