#include "tokenizer/tokenizer.h"

#include "common/error.h"
#include "common/json_file.h"
#include "common/paths.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/json_field.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/token_table.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_json_reader.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {

struct Tokenizer::Data {
  std::string origin;
  Normalizer normalizer;
  AddedVocabulary added;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  PostProcessor post_processor;
  TokenTable table;
  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  bool add_bos_token = false;

  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const;
  int32_t id_of_config_token(const std::string& token, std::string_view field,
                             std::string_view config_origin) const;
};

namespace {

// Decoding relies on every token mapping back through the byte-level alphabet.
void require_byte_level_decoder(const JsonField& root) {
  const std::optional<JsonField> decoder = root.find("decoder");
  if (!decoder) root["decoder"].fail("missing (a ByteLevel decoder is required)");
  const JsonField type = (*decoder)["type"];
  if (type.as_string() != "ByteLevel") {
    type.fail(fmt::format("unsupported decoder type \"{}\" (only ByteLevel is supported)",
                          type.as_string()));
  }
}

// Normalized added tokens are looked for in normalized text, so they must be normalizable; the
// supported normalizers never change text they accept.
void check_normalized_added_tokens(const Tokenizer::Data& data) {
  for (const AddedToken& token : data.added.tokens()) {
    if (!token.normalized) continue;
    try {
      std::string storage;
      data.normalizer.normalize(token.content, storage);
    } catch (const Error& e) {
      fail("{}: added token \"{}\": {}", data.origin, token.content, e.what());
    }
  }
}

std::shared_ptr<Tokenizer::Data> load(TokenizerJson document, std::string_view origin) {
  const JsonField root(document.tree, origin);
  root.require_object();
  auto data = std::make_shared<Tokenizer::Data>();
  data->origin = std::string(origin);
  data->model = BpeModel::from_json(root["model"], std::move(document.bpe));
  data->added = AddedVocabulary::from_json(root.find("added_tokens"));
  data->normalizer = Normalizer::from_json(root.find("normalizer"));
  check_normalized_added_tokens(*data);
  data->pre_tokenizer = PreTokenizer::from_json(root.find("pre_tokenizer"), origin);
  data->post_processor = PostProcessor::from_json(root.find("post_processor"));
  require_byte_level_decoder(root);
  data->table = TokenTable(data->model, data->added, origin);
  for (const int32_t id : data->post_processor.inserted_ids()) {
    if (!data->table.is_used(id)) {
      fail("{}: post_processor: id {} is not a token of this vocabulary", origin, id);
    }
  }
  return data;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

namespace {

std::shared_ptr<Tokenizer::Data> load_text(std::string_view text, std::string_view origin) {
  try {
    return load(read_tokenizer_json(text, origin), origin);
  } catch (const nlohmann::json::exception& e) {
    // The typed accessors should leave nothing for nlohmann to reject; this is the backstop.
    fail("{}: unexpected content: {}", origin, e.what());
  }
}

std::shared_ptr<Tokenizer::Data> load_file(const std::filesystem::path& path) {
  return load_text(read_text_file(path), path.string());
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json_text, std::string_view origin) {
  return Tokenizer(load_text(tokenizer_json_text, origin));
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json_path) {
  return Tokenizer(load_file(tokenizer_json_path));
}

int32_t Tokenizer::Data::id_of_config_token(const std::string& token, std::string_view field,
                                            std::string_view config_origin) const {
  if (const AddedToken* added_token = added.find(token)) return added_token->id;
  if (const std::optional<int32_t> id = model.token_id(token)) return *id;
  fail("{}: {}: \"{}\" is not a token of {}", config_origin, field, token, origin);
}

Tokenizer Tokenizer::from_directory(const std::filesystem::path& dir) {
  std::shared_ptr<Data> data = load_file(dir / "tokenizer.json");
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  if (path_exists(config_path)) {
    const TokenizerConfig config = TokenizerConfig::from_file(config_path);
    const std::string config_origin = config_path.string();
    if (config.bos_token) {
      data->bos_id = data->id_of_config_token(*config.bos_token, "bos_token", config_origin);
    }
    if (config.eos_token) {
      data->eos_id = data->id_of_config_token(*config.eos_token, "eos_token", config_origin);
    }
    data->add_bos_token = config.add_bos_token;
  }
  return Tokenizer(std::move(data));
}

void Tokenizer::Data::encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
  std::string normalized_storage;
  const std::string_view normalized = normalizer.normalize(text, normalized_storage);
  std::vector<TextPiece> pieces;
  added.split(normalized, /*normalized=*/true, pieces);
  for (const TextPiece& piece : pieces) {
    if (piece.token_id) {
      ids.push_back(*piece.token_id);
      continue;
    }
    pre_tokenizer.split(piece.text, [&](std::string_view word) { model.tokenize(word, ids); });
  }
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text) const {
  std::vector<int32_t> ids = encode(text, true);
  if (add_bos_token() && bos_id() && (ids.empty() || ids.front() != *bos_id())) ids.insert(ids.begin(), *bos_id());
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  // The reference only ever sees valid UTF-8 (it takes Rust strings), so other input is first
  // made valid the way a client decoding with replacement would.
  std::string valid_storage;
  if (!is_valid_utf8(text)) {
    append_utf8_lossy(text, valid_storage);
    text = valid_storage;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextPiece> pieces;
  data_->added.split(text, /*normalized=*/false, pieces);
  for (const TextPiece& piece : pieces) {
    if (piece.token_id) {
      ids.push_back(*piece.token_id);
    } else {
      data_->encode_plain(piece.text, ids);
    }
  }
  if (add_special_tokens) ids = data_->post_processor.apply(std::move(ids));
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    bytes.append(token_bytes(id));
  }
  std::string text;
  text.reserve(bytes.size());
  append_utf8_lossy(bytes, text);
  return text;
}

int32_t Tokenizer::vocab_size() const { return data_->table.size(); }

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  if (const AddedToken* added_token = data_->added.find(token)) return added_token->id;
  return data_->model.token_id(token);
}

namespace {

void require_in_range(const TokenTable& table, int32_t id, std::string_view origin) {
  if (!table.contains(id)) {
    fail("token id {} is out of range for {} (valid ids are 0..{})", id, origin, table.size() - 1);
  }
}

}  // namespace

std::string_view Tokenizer::token_text(int32_t id) const {
  require_in_range(data_->table, id, data_->origin);
  return data_->table.text(id);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  require_in_range(data_->table, id, data_->origin);
  return data_->table.bytes(id);
}

bool Tokenizer::is_special(int32_t id) const {
  require_in_range(data_->table, id, data_->origin);
  return data_->table.is_special(id);
}

std::optional<int32_t> Tokenizer::bos_id() const { return data_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return data_->eos_id; }
bool Tokenizer::add_bos_token() const { return data_->add_bos_token; }
const std::string& Tokenizer::origin() const { return data_->origin; }

}  // namespace tide::tokenizer
