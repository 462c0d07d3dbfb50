#pragma once
// One completion or chat-completion request in flight: its engine streams (one per choice), and
// the HTTP answer built from their events, either one JSON response when every choice finished
// or a stream of SSE chunks as they come.
//
// Everything runs on the exchange's executor: the engine's notifier only posts there (it is
// called on the engine thread and must not block). Streaming follows the SSE writer's
// backpressure: events are popped from the engine streams only when the previous write
// completed, and whatever accumulated meanwhile goes out as one write.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http/exchange.h"
#include "common/http/sse_writer.h"
#include "server/generation_service.h"
#include "server/in_flight.h"
#include "server/openai_response.h"
#include "server/reasoning_parser.h"

namespace tide::server {

struct JobSetup {
  Endpoint endpoint = Endpoint::Completions;
  ResponseMeta meta;
  std::string request_id;  // sent back as X-Request-Id
  bool stream = false;
  bool include_usage = false;
  bool want_logprobs = false;
  int n = 1;  // choices per prompt
  // Chat with a reasoning parser: whether the output starts inside the reasoning. nullopt: no
  // parser, all output is content.
  std::optional<bool> reasoning;
  // Called once when the job ends, with the HTTP status answered (499: the client went away
  // first) and the token usage.
  std::function<void(int status, const Usage& usage)> on_complete;
};

class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  GenerationJob(std::shared_ptr<http::Exchange> exchange, JobSetup setup, const tokenizer::Tokenizer& tokenizer,
                InFlight& in_flight);

  // Submits every choice and starts answering. Call on the exchange's executor. When the engine
  // refuses a choice, the ones already submitted are cancelled and the AdmissionError is
  // rethrown, before anything was sent to the client.
  void start(GenerationService& service, std::vector<GenerationRequest> requests);

 private:
  struct Choice {
    std::shared_ptr<RequestStream> stream;
    std::optional<ReasoningParser> parser;
    ChoiceOutput output;
    std::size_t text_offset = 0;  // completions logprobs: bytes of text streamed so far
    bool finished = false;
    std::string error;
    int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  };

  void on_events();
  // Pops every available event; appends SSE chunks when streaming. True when all choices ended.
  bool drain_events(std::string* chunks);
  void consume(int index, GenerationEvent& event, std::string* chunks);
  std::string stream_chunk(int index, const ReasoningParser::Delta& delta, const GenerationEvent& event);
  void stream_more();
  void respond_whole();
  void client_gone();
  void complete(int status);
  Usage usage() const;

  std::shared_ptr<http::Exchange> exchange_;
  JobSetup setup_;
  const tokenizer::Tokenizer& tokenizer_;
  InFlight& in_flight_;
  uint64_t in_flight_key_ = 0;
  std::vector<Choice> choices_;
  std::shared_ptr<http::SseWriter> writer_;
  std::atomic<bool> scheduled_{false};  // an on_events() is already posted
  bool final_written_ = false;
  bool done_ = false;
};

}  // namespace tide::server
