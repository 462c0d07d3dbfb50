#include "server/generation_job.h"

#include <boost/asio/post.hpp>

#include "server/json_response.h"

namespace tide::server {
namespace {

using Json = nlohmann::ordered_json;

http::Response with_request_id(http::Response response, const std::string& request_id) {
  response.set("X-Request-Id", request_id);
  return response;
}

}  // namespace

GenerationJob::GenerationJob(std::shared_ptr<http::Exchange> exchange, JobSetup setup,
                             const tokenizer::Tokenizer& tokenizer, InFlight& in_flight)
    : exchange_(std::move(exchange)), setup_(std::move(setup)), tokenizer_(tokenizer), in_flight_(in_flight) {}

void GenerationJob::start(GenerationService& service, std::vector<GenerationRequest> requests) {
  choices_.resize(requests.size());
  InFlight::Streams streams;
  try {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      choices_[i].stream = service.submit(std::move(requests[i]));
      streams.push_back(choices_[i].stream);
    }
  } catch (...) {
    for (auto& stream : streams) stream->cancel();
    throw;
  }
  for (auto& choice : choices_) {
    if (setup_.reasoning) choice.parser.emplace(*setup_.reasoning);
    choice.output.want_logprobs = setup_.want_logprobs;
  }
  in_flight_key_ = in_flight_.add(std::move(streams));
  // Holds the job alive while the answer is pending; the connection drops it when the exchange ends.
  exchange_->on_disconnect([self = shared_from_this()] { self->client_gone(); });

  if (setup_.stream) {
    writer_ = exchange_->start_sse(with_request_id(http::Response{http::Status::ok, 11}, setup_.request_id));
    // The headers (and for chat each choice's role) go out at once, so the client sees the
    // response start before the first token.
    std::string first;
    if (setup_.endpoint == Endpoint::ChatCompletions) {
      for (std::size_t i = 0; i < choices_.size(); ++i) {
        Json chunk = chat_chunk(setup_.meta, static_cast<int>(i), {{"role", "assistant"}, {"content", ""}}, nullptr,
                                std::nullopt);
        if (setup_.include_usage) chunk["usage"] = nullptr;
        first += http::sse_event(dump_json(chunk));
      }
    }
    writer_->write(std::move(first), [self = shared_from_this()](bool ok) {
      if (!ok) return self->client_gone();
      self->stream_more();
    });
  }

  for (auto& choice : choices_) {
    // Called on the engine thread: only schedule on_events, at most once until it runs. Holds
    // nothing of the connection but a weak reference: a stream may outlive the server.
    choice.stream->set_notifier([weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self || self->scheduled_.exchange(true)) return;
      boost::asio::post(self->exchange_->executor(), [self] { self->on_events(); });
    });
  }
}

void GenerationJob::on_events() {
  scheduled_ = false;
  if (done_) return;
  if (writer_) {
    if (!writer_->writing()) stream_more();  // otherwise the write's completion continues
    return;
  }
  if (drain_events(nullptr)) respond_whole();
}

bool GenerationJob::drain_events(std::string* chunks) {
  bool all_finished = true;
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    Choice& choice = choices_[i];
    while (!choice.finished) {
      auto event = choice.stream->try_pop();
      if (!event) break;
      consume(static_cast<int>(i), *event, chunks);
    }
    all_finished = all_finished && choice.finished;
  }
  return all_finished;
}

void GenerationJob::consume(int index, GenerationEvent& event, std::string* chunks) {
  Choice& choice = choices_[index];
  choice.prompt_tokens = event.prompt_tokens;
  choice.cached_tokens = event.cached_prompt_tokens;
  choice.completion_tokens = event.completion_tokens;
  if (event.finish) {
    choice.finished = true;
    choice.output.finish = *event.finish;
    choice.error = event.error;
  }
  ReasoningParser::Delta delta;
  if (choice.parser) {
    delta = choice.parser->push(event.text);
    if (event.finish) {
      auto rest = choice.parser->finish();
      delta.reasoning += rest.reasoning;
      delta.content += rest.content;
    }
  } else {
    delta.content = std::move(event.text);
  }

  if (chunks) {
    *chunks += stream_chunk(index, delta, event);
    return;
  }
  choice.output.text += delta.content;
  if (choice.parser) {
    if (!choice.output.reasoning) choice.output.reasoning.emplace();
    *choice.output.reasoning += delta.reasoning;
  }
  if (setup_.want_logprobs)
    for (auto& lp : event.logprobs) choice.output.logprobs.push_back(std::move(lp));
}

std::string GenerationJob::stream_chunk(int index, const ReasoningParser::Delta& delta, const GenerationEvent& event) {
  Choice& choice = choices_[index];
  Json logprobs = nullptr;
  if (setup_.want_logprobs && !event.logprobs.empty()) {
    if (setup_.endpoint == Endpoint::ChatCompletions) {
      logprobs = chat_logprobs(event.logprobs, tokenizer_);
    } else {
      logprobs = completion_logprobs(event.logprobs, tokenizer_, choice.text_offset);
      for (const auto& lp : event.logprobs) choice.text_offset += token_text_bytes(tokenizer_, lp.token);
    }
  }
  // Steps that produced no visible text (held back, or a stop token) send nothing.
  if (delta.empty() && logprobs.is_null() && !event.finish) return {};

  Json chunk;
  if (setup_.endpoint == Endpoint::Completions) {
    chunk = completion_chunk(setup_.meta, index, delta.content, std::move(logprobs), event.finish);
  } else {
    Json d = Json::object();
    if (!delta.reasoning.empty()) d["reasoning_content"] = delta.reasoning;
    if (!delta.content.empty()) d["content"] = delta.content;
    chunk = chat_chunk(setup_.meta, index, std::move(d), std::move(logprobs), event.finish);
  }
  if (setup_.include_usage) chunk["usage"] = nullptr;  // as OpenAI: every chunk has the key
  std::string out = http::sse_event(dump_json(chunk));
  if (event.finish == FinishReason::Error)
    out += http::sse_event(error_body(ApiError(500, event.error.empty() ? "generation failed" : event.error)));
  return out;
}

void GenerationJob::stream_more() {
  if (done_ || final_written_) return;
  std::string chunks;
  const bool all_finished = drain_events(&chunks);
  if (all_finished) {
    if (setup_.include_usage) chunks += http::sse_event(dump_json(usage_chunk(setup_.meta, setup_.endpoint, usage())));
    chunks += http::sse_event("[DONE]");
    final_written_ = true;
  }
  if (chunks.empty()) return;  // nothing new; the next notification calls again
  writer_->write(std::move(chunks), [self = shared_from_this()](bool ok) {
    if (!ok) return self->client_gone();
    if (self->final_written_) {
      self->writer_->end();
      return self->complete(200);
    }
    self->stream_more();
  });
}

void GenerationJob::respond_whole() {
  for (const auto& choice : choices_) {
    if (choice.output.finish == FinishReason::Error) {
      ApiError error(500, choice.error.empty() ? "generation failed" : choice.error);
      exchange_->respond(with_request_id(error_response(error), setup_.request_id));
      return complete(500);
    }
    if (choice.output.finish == FinishReason::Cancelled) {
      // Only the server cancels a request whose client is still there: it is shutting down.
      ApiError error(503, "the server is shutting down and cancelled this request; retry");
      error.retry_after_s = 1;
      exchange_->respond(with_request_id(error_response(error), setup_.request_id));
      return complete(503);
    }
  }
  std::vector<ChoiceOutput> outputs;
  for (auto& choice : choices_) outputs.push_back(std::move(choice.output));
  const Json body = setup_.endpoint == Endpoint::ChatCompletions
                        ? chat_response(setup_.meta, outputs, usage(), tokenizer_)
                        : completion_response(setup_.meta, outputs, usage(), tokenizer_);
  exchange_->respond(with_request_id(json_response(http::Status::ok, dump_json(body)), setup_.request_id));
  complete(200);
}

void GenerationJob::client_gone() {
  if (done_) return;
  for (auto& choice : choices_) choice.stream->cancel();
  complete(499);  // nginx's "client closed request"
}

void GenerationJob::complete(int status) {
  if (done_) return;
  done_ = true;
  for (auto& choice : choices_) choice.stream->set_notifier(nullptr);
  in_flight_.remove(in_flight_key_);
  if (setup_.on_complete) setup_.on_complete(status, usage());
}

Usage GenerationJob::usage() const {
  // Each prompt counts once however many choices it has (as OpenAI counts n > 1).
  Usage u;
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    if (i % setup_.n == 0) {
      u.prompt_tokens += c.prompt_tokens;
      u.cached_tokens += c.cached_tokens;
    }
    u.completion_tokens += c.completion_tokens;
  }
  return u;
}

}  // namespace tide::server
