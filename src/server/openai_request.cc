#include "server/openai_request.h"

#include <algorithm>

#include "server/api_error.h"
#include "server/request_fields.h"

namespace tide::server {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kMaxTokenId = INT32_MAX;
constexpr int64_t kMaxTokensField = 1 << 24;  // beyond any context; the engine checks the real bound

std::vector<int32_t> token_ids(const Json& array, const char* param) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (const auto& item : array) {
    const auto id = json_integer(item);
    if (!id || *id < 0 || *id > kMaxTokenId)
      invalid_param(param, "'{}' token ids must be integers between 0 and {}, got {}", param, kMaxTokenId,
                    item.is_number() ? item.dump() : json_type_name(item));
    ids.push_back(static_cast<int32_t>(*id));
  }
  return ids;
}

// prompt: a string, a list of strings, a list of token ids, or a list of token-id lists.
std::vector<Prompt> parse_prompts(const RequestFields& fields) {
  const Json* prompt = fields.get("prompt");
  if (!prompt) invalid_param("prompt", "'prompt' is required");
  if (prompt->is_string()) return {prompt->get<std::string>()};
  if (!prompt->is_array())
    invalid_param("prompt", "'prompt' must be a string, a list of strings, a list of token ids or a list of token-id "
                            "lists, got {}", json_type_name(*prompt));
  if (prompt->empty()) invalid_param("prompt", "'prompt' must not be an empty list");
  const Json& first = prompt->front();
  std::vector<Prompt> prompts;
  if (first.is_number()) return {token_ids(*prompt, "prompt")};
  for (const auto& item : *prompt) {
    if (first.is_string() && item.is_string()) {
      prompts.emplace_back(item.get<std::string>());
    } else if (first.is_array() && item.is_array()) {
      if (item.empty()) invalid_param("prompt", "'prompt' token-id lists must not be empty");
      prompts.emplace_back(token_ids(item, "prompt"));
    } else {
      invalid_param("prompt", "'prompt' lists must hold only strings, only token ids, or only token-id lists");
    }
  }
  return prompts;
}

// Text parts [{type: "text", text}] joined with "\n", as OpenAI-compatible servers do.
std::string join_text_parts(const Json& parts, std::size_t message_index) {
  const std::string param = fmt::format("messages[{}].content", message_index);
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Json& part = parts[i];
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      invalid_param(param, "'{}[{}]' must be an object with a 'type'", param, i);
    if (part["type"] != "text")
      invalid_param(param, "'{}[{}]' has type '{}'; this server accepts only text content", param, i,
                    part["type"].get<std::string>());
    if (!part.contains("text") || !part["text"].is_string())
      invalid_param(param, "'{}[{}].text' must be a string", param, i);
    if (i > 0) text += '\n';
    text += part["text"].get<std::string>();
  }
  return text;
}

Json parse_messages(const RequestFields& fields) {
  const Json* messages = fields.get("messages");
  if (!messages) invalid_param("messages", "'messages' is required");
  if (!messages->is_array()) invalid_param("messages", "'messages' must be a list, got {}", json_type_name(*messages));
  if (messages->empty()) invalid_param("messages", "'messages' must hold at least one message");
  Json out = Json::array();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!message.is_object()) invalid_param(param, "'{}' must be an object, got {}", param, json_type_name(message));
    Json normalised = message;
    if (!message.contains("role") || !message["role"].is_string())
      invalid_param(param + ".role", "'{}.role' must be a string", param);
    std::string role = message["role"].get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name; DeepSeek templates know "system"
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      invalid_param(param + ".role", "'{}.role' must be system, developer, user, assistant or tool, got '{}'", param,
                    role);
    normalised["role"] = role;
    const auto content = message.find("content");
    if (content == message.end() || content->is_null()) {
      if (role != "assistant") invalid_param(param + ".content", "'{}.content' is required for role '{}'", param, role);
      normalised["content"] = nullptr;  // templates test `content is none` for tool-call turns
    } else if (content->is_array()) {
      normalised["content"] = join_text_parts(*content, i);
    } else if (!content->is_string()) {
      invalid_param(param + ".content", "'{}.content' must be a string or a list of text parts, got {}", param,
                    json_type_name(*content));
    }
    out.push_back(std::move(normalised));
  }
  return out;
}

Json parse_tools(const RequestFields& fields) {
  const Json* tools = fields.get("tools");
  if (!tools) return nullptr;
  if (!tools->is_array()) invalid_param("tools", "'tools' must be a list, got {}", json_type_name(*tools));
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const Json& tool = (*tools)[i];
    // JSON equality, never .value<std::string>(): that throws on a "type" that is not a string.
    const bool ok = tool.is_object() && tool.contains("type") && tool["type"] == "function" &&
                    tool.contains("function") && tool["function"].is_object() && tool["function"].contains("name") &&
                    tool["function"]["name"].is_string();
    if (!ok) invalid_param("tools", "'tools[{}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", i);
  }
  if (const Json* choice = fields.get("tool_choice")) {
    if (!(choice->is_string() && (*choice == "auto" || *choice == "none")))
      invalid_param("tool_choice", "'tool_choice' may be \"auto\" or \"none\"; forcing a tool call is not supported");
  }
  return *tools;
}

std::vector<std::string> parse_stop(const RequestFields& fields, const RequestLimits& limits) {
  const Json* stop = fields.get("stop");
  if (!stop) return {};
  std::vector<std::string> out;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    if (stop->size() > static_cast<std::size_t>(limits.max_stop))
      invalid_param("stop", "'stop' may hold at most {} strings, got {}", limits.max_stop, stop->size());
    for (const auto& item : *stop) {
      if (!item.is_string()) invalid_param("stop", "'stop' must be a string or a list of strings");
      out.push_back(item.get<std::string>());
    }
  } else {
    invalid_param("stop", "'stop' must be a string or a list of strings, got {}", json_type_name(*stop));
  }
  for (const auto& s : out) {
    if (s.empty()) invalid_param("stop", "'stop' strings must not be empty");
    if (s.size() > static_cast<std::size_t>(limits.max_stop_bytes))
      invalid_param("stop", "'stop' strings may be at most {} bytes", limits.max_stop_bytes);
  }
  return out;
}

// Options this server does not implement are refused rather than silently ignored, because
// ignoring them would return something other than what the client asked for.
void refuse_unsupported(Endpoint endpoint, const RequestFields& fields, int n) {
  if (endpoint == Endpoint::Completions) {
    if (fields.boolean("echo").value_or(false)) invalid_param("echo", "'echo' is not supported");
    if (const auto suffix = fields.string("suffix"); suffix && !suffix->empty())
      invalid_param("suffix", "'suffix' is not supported");
    if (const auto best_of = fields.integer("best_of", 1, 1024); best_of && *best_of != n)
      invalid_param("best_of", "'best_of' other than n is not supported");
  }
  if (const Json* bias = fields.get("logit_bias"); bias && !(bias->is_object() && bias->empty()))
    invalid_param("logit_bias", "'logit_bias' is not supported");
  if (const Json* format = fields.get("response_format");
      format && !(format->is_object() && format->contains("type") && (*format)["type"] == "text"))
    invalid_param("response_format", "'response_format' other than {{\"type\": \"text\"}} is not supported");
}

}  // namespace

OpenAiRequest parse_openai_request(Endpoint endpoint, const Json& body, const RequestLimits& limits) {
  if (!body.is_object()) throw ApiError(400, fmt::format("the request body must be a JSON object, got {}", json_type_name(body)));
  const RequestFields fields(body);
  OpenAiRequest r;
  r.endpoint = endpoint;
  r.model = fields.string("model").value_or("");

  if (endpoint == Endpoint::Completions) {
    r.prompts = parse_prompts(fields);
  } else {
    r.messages = parse_messages(fields);
    r.tools = parse_tools(fields);
    if (const Json* kwargs = fields.get("chat_template_kwargs")) {
      if (!kwargs->is_object()) invalid_param("chat_template_kwargs", "'chat_template_kwargs' must be an object");
      r.template_kwargs = *kwargs;
    }
  }

  r.n = static_cast<int>(fields.integer("n", 1, limits.max_n).value_or(1));
  const std::size_t prompts = endpoint == Endpoint::Completions ? r.prompts.size() : 1;
  if (prompts * r.n > static_cast<std::size_t>(limits.max_choices))
    invalid_param("n", "{} prompts × n={} asks for {} choices; at most {} per request", prompts, r.n, prompts * r.n,
                  limits.max_choices);
  refuse_unsupported(endpoint, fields, r.n);

  r.sampling.temperature = static_cast<float>(fields.number("temperature", 0, 100).value_or(1.0));
  r.sampling.top_p = static_cast<float>(fields.number("top_p", 0, 1).value_or(1.0));
  if (r.sampling.top_p <= 0.f) invalid_param("top_p", "'top_p' must be greater than 0");
  r.sampling.top_k = static_cast<int>(fields.integer("top_k", -1, INT32_MAX).value_or(0));
  r.sampling.min_p = static_cast<float>(fields.number("min_p", 0, 1).value_or(0.0));
  if (const Json* seed = fields.get("seed")) {
    const auto v = json_integer(*seed);
    if (!v) invalid_param("seed", "'seed' must be an integer");
    r.sampling.seed = static_cast<uint64_t>(*v);
  }

  r.max_tokens = fields.integer("max_tokens", 1, kMaxTokensField);
  if (endpoint == Endpoint::ChatCompletions)
    if (auto v = fields.integer("max_completion_tokens", 1, kMaxTokensField)) r.max_tokens = v;

  r.stop = parse_stop(fields, limits);
  if (const Json* ids = fields.get("stop_token_ids")) {
    if (!ids->is_array()) invalid_param("stop_token_ids", "'stop_token_ids' must be a list of token ids");
    r.stop_token_ids = token_ids(*ids, "stop_token_ids");
  }
  r.include_stop_str_in_output = fields.boolean("include_stop_str_in_output").value_or(false);
  r.ignore_eos = fields.boolean("ignore_eos").value_or(false);
  r.presence_penalty = static_cast<float>(fields.number("presence_penalty", -2, 2).value_or(0.0));
  r.frequency_penalty = static_cast<float>(fields.number("frequency_penalty", -2, 2).value_or(0.0));
  r.repetition_penalty = static_cast<float>(fields.number("repetition_penalty", 0, 10).value_or(1.0));
  if (r.repetition_penalty <= 0.f) invalid_param("repetition_penalty", "'repetition_penalty' must be greater than 0");
  r.priority = static_cast<int>(fields.integer("priority", INT32_MIN, INT32_MAX).value_or(0));

  if (endpoint == Endpoint::Completions) {
    if (auto v = fields.integer("logprobs", 0, limits.max_logprobs)) r.top_logprobs = static_cast<int>(*v);
  } else {
    const bool logprobs = fields.boolean("logprobs").value_or(false);
    const auto top = fields.integer("top_logprobs", 0, limits.max_logprobs);
    if (top && !logprobs) invalid_param("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    if (logprobs) r.top_logprobs = static_cast<int>(top.value_or(0));
  }

  r.stream = fields.boolean("stream").value_or(false);
  if (const Json* options = fields.get("stream_options")) {
    if (!r.stream) invalid_param("stream_options", "'stream_options' is only allowed with 'stream': true");
    if (!options->is_object()) invalid_param("stream_options", "'stream_options' must be an object");
    r.include_usage = RequestFields(*options).boolean("include_usage").value_or(false);
  }
  return r;
}

std::vector<GenerationRequest> make_generation_requests(const OpenAiRequest& request,
                                                        const std::vector<std::vector<int32_t>>& prompt_ids,
                                                        const std::string& request_id, const TokenBudget& budget) {
  std::vector<GenerationRequest> out;
  out.reserve(prompt_ids.size() * request.n);
  for (std::size_t p = 0; p < prompt_ids.size(); ++p) {
    int max_tokens = 16;
    if (request.max_tokens) {
      max_tokens = *request.max_tokens;
    } else if (request.endpoint == Endpoint::ChatCompletions) {
      max_tokens = std::max(1, budget.context_length - static_cast<int>(prompt_ids[p].size()));
      if (budget.max_tokens_cap > 0) max_tokens = std::min(max_tokens, budget.max_tokens_cap);
    }
    for (int i = 0; i < request.n; ++i) {
      GenerationRequest g;
      g.id = fmt::format("{}-{}", request_id, p * request.n + i);
      g.prompt = prompt_ids[p];
      g.sampling = request.sampling;
      if (request.sampling.seed) g.sampling.seed = *request.sampling.seed + static_cast<uint64_t>(i);
      g.max_tokens = max_tokens;
      g.stop = request.stop;
      g.stop_token_ids = request.stop_token_ids;
      g.ignore_eos = request.ignore_eos;
      g.include_stop_str_in_output = request.include_stop_str_in_output;
      g.priority = request.priority;
      g.presence_penalty = request.presence_penalty;
      g.frequency_penalty = request.frequency_penalty;
      g.repetition_penalty = request.repetition_penalty;
      g.top_logprobs = request.top_logprobs;
      out.push_back(std::move(g));
    }
  }
  return out;
}

}  // namespace tide::server
