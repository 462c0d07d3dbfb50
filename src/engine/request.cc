#include "engine/request.h"

namespace tide {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Deadline: return "deadline";
    case FinishReason::Error: return "error";
  }
  return "error";
}

void RequestStream::push(GenerationEvent event) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    notify = notifier_;
  }
  ready_.notify_all();
  if (notify) notify();
}

std::optional<GenerationEvent> RequestStream::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  GenerationEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::optional<GenerationEvent> RequestStream::try_pop() {
  std::lock_guard lock(mutex_);
  if (events_.empty()) return std::nullopt;
  GenerationEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void RequestStream::set_notifier(std::function<void()> notifier) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    notifier_ = std::move(notifier);
    if (!events_.empty()) notify = notifier_;
  }
  if (notify) notify();
}

}  // namespace tide
