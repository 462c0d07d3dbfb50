#include "tokenizer/tokenizer_json_reader.h"

#include <limits>

#include "common/error.h"

namespace tide::tokenizer {
namespace {

using Json = nlohmann::json;

// tokenizer.json needs about six levels; the limit keeps the recursive component readers (a
// Sequence inside a Sequence ...) far from the end of the stack on hostile input.
constexpr size_t kMaxDepth = 64;

class Reader final : public nlohmann::json_sax<Json> {
 public:
  explicit Reader(std::string_view origin) : origin_(origin) {}

  TokenizerJson take() { return {std::move(root_), std::move(bpe_)}; }
  const std::string& error() const { return error_; }

  bool null() override { return value(Json()); }
  bool boolean(bool flag) override { return value(Json(flag)); }
  bool number_integer(number_integer_t number) override {
    if (mode_ == Mode::kVocab) return vocab_entry(number);
    return value(Json(number));
  }
  bool number_unsigned(number_unsigned_t number) override {
    if (mode_ == Mode::kVocab) {
      // Anything this large is rejected later as an out-of-range id; clamping keeps it so.
      return vocab_entry(static_cast<int64_t>(
          std::min<number_unsigned_t>(number, std::numeric_limits<int64_t>::max())));
    }
    return value(Json(number));
  }
  bool number_float(number_float_t number, const string_t& /*text*/) override {
    return value(Json(number));
  }
  bool string(string_t& text) override {
    if (mode_ == Mode::kMerges) return legacy_merge(text);
    if (mode_ == Mode::kMergePair) {
      pair_parts_.push_back(std::move(text));
      return pair_parts_.size() <= 2 || reject_merge("a pair with more than two tokens");
    }
    return value(Json(std::move(text)));
  }
  bool binary(binary_t& /*data*/) override { return value(Json()); }

  bool start_object(std::size_t /*size*/) override {
    if (mode_ != Mode::kTree) return reject_inside_capture("an object");
    if (at_model_member("vocab")) {
      mode_ = Mode::kVocab;
      bpe_.vocab.emplace();
      return true;
    }
    return open(Json::object());
  }
  bool key(string_t& name) override {
    if (mode_ == Mode::kVocab) {
      vocab_key_ = std::move(name);
    } else {
      keys_.back() = std::move(name);
    }
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kTree;
    } else {
      close();
    }
    return true;
  }

  bool start_array(std::size_t /*size*/) override {
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_parts_.clear();
      return true;
    }
    if (mode_ != Mode::kTree) return reject_inside_capture("an array");
    if (at_model_member("merges")) {
      mode_ = Mode::kMerges;
      bpe_.merges.emplace();
      return true;
    }
    return open(Json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_parts_.size() != 2) return reject_merge("a pair with fewer than two tokens");
      bpe_.merges->emplace_back(std::move(pair_parts_[0]), std::move(pair_parts_[1]));
      mode_ = Mode::kMerges;
    } else if (mode_ == Mode::kMerges) {
      mode_ = Mode::kTree;
    } else {
      close();
    }
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) override {
    error_ = fmt::format("{}: invalid JSON: {}", origin_, e.what());
    return false;
  }

 private:
  enum class Mode { kTree, kVocab, kMerges, kMergePair };

  // Whether the container about to open is root.model.<member>.
  bool at_model_member(std::string_view member) const {
    return containers_.size() == 2 && keys_[0] == "model" && containers_[1]->is_object() &&
           keys_[1] == member;
  }

  Json* place(Json&& json) {
    if (containers_.empty()) {
      root_ = std::move(json);
      return &root_;
    }
    Json& parent = *containers_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(json));
      return &parent.back();
    }
    Json& slot = parent[keys_.back()];  // a repeated key keeps its last value, as in a tree parse
    slot = std::move(json);
    return &slot;
  }

  bool value(Json&& json) {
    if (mode_ != Mode::kTree) return reject_inside_capture(json_kind(json));
    place(std::move(json));
    return true;
  }

  bool open(Json&& container) {
    if (containers_.size() >= kMaxDepth) {
      error_ = fmt::format("{}: JSON nested more than {} levels deep", origin_, kMaxDepth);
      return false;
    }
    containers_.push_back(place(std::move(container)));
    keys_.emplace_back();
    return true;
  }

  void close() {
    containers_.pop_back();
    keys_.pop_back();
  }

  bool vocab_entry(int64_t id) {
    bpe_.vocab->emplace_back(std::move(vocab_key_), id);
    return true;
  }

  bool legacy_merge(const std::string& text) {
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      return reject_merge(fmt::format("\"{}\"", text));
    }
    bpe_.merges->emplace_back(text.substr(0, space), text.substr(space + 1));
    return true;
  }

  bool reject_merge(std::string_view got) {
    error_ = fmt::format(
        "{}: model.merges[{}]: expected \"left right\" (one space) or [\"left\", \"right\"], "
        "got {}",
        origin_, bpe_.merges->size(), got);
    return false;
  }

  bool reject_inside_capture(std::string_view got) {
    if (mode_ == Mode::kVocab) {
      error_ = fmt::format("{}: model.vocab.{}: expected a token id, got {}", origin_,
                           vocab_key_, got);
      return false;
    }
    return reject_merge(got);
  }

  static std::string_view json_kind(const Json& json) {
    switch (json.type()) {
      case Json::value_t::null: return "null";
      case Json::value_t::boolean: return "a boolean";
      case Json::value_t::number_float: return "a floating-point number";
      case Json::value_t::string: return "a string";
      default: return "a number";
    }
  }

  std::string_view origin_;
  std::string error_;
  Json root_;
  BpeTables bpe_;
  std::vector<Json*> containers_;  // the open objects and arrays of the tree, outermost first
  std::vector<std::string> keys_;  // per open container: the key of the member being read
  Mode mode_ = Mode::kTree;
  std::string vocab_key_;
  std::vector<std::string> pair_parts_;
};

}  // namespace

TokenizerJson read_tokenizer_json(std::string_view text, std::string_view origin) {
  Reader reader(origin);
  if (!Json::sax_parse(text.begin(), text.end(), &reader)) {
    fail("{}", reader.error().empty() ? fmt::format("{}: invalid JSON", origin) : reader.error());
  }
  return reader.take();
}

}  // namespace tide::tokenizer
