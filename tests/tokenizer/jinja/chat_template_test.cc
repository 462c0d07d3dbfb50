// Real chat templates render byte for byte what transformers' apply_chat_template renders.
// tests/fixtures/chat_templates/expected.json comes from generate_expected.py in that folder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>

#include "common/json_file.h"
#include "tokenizer/jinja/chat_template.h"

namespace tide {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

const std::filesystem::path kFixtures = TIDE_FIXTURES_DIR;
constexpr const char* kBos = "<｜begin▁of▁sentence｜>";
constexpr const char* kEos = "<｜end▁of▁sentence｜>";

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

// A scratch folder for tokenizer_config.json variants, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() : path_(std::filesystem::temp_directory_path() / ("tide_jinja_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

TEST(DeepSeekV3ChatTemplate, RendersEveryExpectedChatByteExact) {
  const auto expected = read_json_file(kFixtures / "tokenizers/deepseek-v3/expected.json");
  const ChatTemplate chat = ChatTemplate::from_tokenizer_config(kFixtures / "tokenizers/deepseek-v3/tokenizer_config.json");
  ASSERT_FALSE(expected["chat"].empty());
  for (const auto& entry : expected["chat"]) {
    EXPECT_EQ(chat.render(entry["messages"], entry["add_generation_prompt"].get<bool>()),
              entry["rendered"].get<std::string>())
        << entry["messages"].dump();
  }
}

TEST(DeepSeekV3ChatTemplate, TinyModelFoldersCarryTheSameTemplate) {
  const auto expected = read_json_file(kFixtures / "tokenizers/deepseek-v3/expected.json");
  int models = 0;
  for (const auto& folder : std::filesystem::directory_iterator(kFixtures / "models")) {
    const ChatTemplate chat = ChatTemplate::from_tokenizer_config(folder.path() / "tokenizer_config.json");
    for (const auto& entry : expected["chat"]) {
      EXPECT_EQ(chat.render(entry["messages"], entry["add_generation_prompt"].get<bool>()),
                entry["rendered"].get<std::string>())
          << folder.path();
    }
    ++models;
  }
  EXPECT_GE(models, 1);
}

TEST(ChatTemplates, MatchTransformersReferenceRenderings) {
  const Json cases = Json::parse(read_text_file(kFixtures / "chat_templates/expected.json"));
  ASSERT_GE(cases.size(), 20u);
  for (const Json& c : cases) {
    const std::string label = c["template"].get<std::string>() + " / " + c["name"].get<std::string>();
    const ChatTemplate chat = ChatTemplate::from_source(read_text_file(kFixtures / "chat_templates" / c["template"].get<std::string>()),
                                                        c["bos_token"], c["eos_token"]);
    const auto render = [&] { return chat.render(c["messages"], c["add_generation_prompt"].get<bool>(), c["tools"], c["extra"]); };
    if (c.contains("error")) {
      EXPECT_THAT(error_of([&] { render(); }), HasSubstr(c["error"].get<std::string>())) << label;
    } else {
      EXPECT_EQ(render(), c["rendered"].get<std::string>()) << label;
    }
  }
}

// Worked out by reading the template: R1 drops the reasoning of earlier assistant turns and
// opens a think block for the new one.
TEST(ChatTemplates, DeepSeekR1StripsEarlierReasoning) {
  const ChatTemplate chat = ChatTemplate::from_source(read_text_file(kFixtures / "chat_templates/deepseek_r1.jinja"), kBos, kEos);
  const Json messages = Json::parse(R"([
    {"role": "user", "content": "1+1?"},
    {"role": "assistant", "content": "<think>easy</think>2"},
    {"role": "user", "content": "2+2?"}])");
  EXPECT_EQ(chat.render(messages, true),
            "<｜begin▁of▁sentence｜><｜User｜>1+1?<｜Assistant｜>2<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n");
}

TEST(ChatTemplates, Qwen25DefaultSystemPrompt) {
  const ChatTemplate chat = ChatTemplate::from_source(read_text_file(kFixtures / "chat_templates/qwen2_5_instruct.jinja"), "", "<|im_end|>");
  EXPECT_EQ(chat.render(Json::parse(R"([{"role": "user", "content": "Hi"}])"), true),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplates, Llama32TakesTodayFromStrftimeNow) {
  const ChatTemplate chat = ChatTemplate::from_source(read_text_file(kFixtures / "chat_templates/llama3_2_instruct.jinja"),
                                                      "<|begin_of_text|>", "<|eot_id|>");
  const std::string prompt = chat.render(Json::parse(R"([{"role": "user", "content": "Hi"}])"), true);
  const size_t at = prompt.find("Today Date: ");
  ASSERT_NE(at, std::string::npos) << prompt;
  const std::string date = prompt.substr(at + 12, 12);  // "24 Nov 2025\n"
  ASSERT_EQ(date.size(), 12u) << prompt;
  const auto digits = [&](size_t from, size_t count) {
    return std::all_of(date.begin() + from, date.begin() + from + count, [](char c) { return c >= '0' && c <= '9'; });
  };
  EXPECT_TRUE(digits(0, 2) && date[2] == ' ' && std::isupper(static_cast<unsigned char>(date[3])) && date[6] == ' ' && digits(7, 4) && date[11] == '\n')
      << prompt;
}

TEST(ChatTemplates, TextContentPartsAreJoined) {
  const ChatTemplate chat = ChatTemplate::from_tokenizer_config(kFixtures / "tokenizers/deepseek-v3/tokenizer_config.json");
  const Json messages = Json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])");
  EXPECT_EQ(chat.render(messages, true), std::string(kBos) + "<｜User｜>a\nb<｜Assistant｜>");
  const Json image = Json::parse(R"([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])");
  EXPECT_THAT(error_of([&] { chat.render(image, true); }), HasSubstr("content part 0 is not a {\"type\": \"text\""));
}

TEST(ChatTemplates, RejectsMalformedRequests) {
  const ChatTemplate chat = ChatTemplate::from_source("{{ messages | length }}", "", "");
  EXPECT_THAT(error_of([&] { chat.render(Json::object(), true); }), HasSubstr("chat messages must be a JSON array"));
  EXPECT_THAT(error_of([&] { chat.render(Json::array({1}), true); }), HasSubstr("chat message 0 must be a JSON object"));
  EXPECT_THAT(error_of([&] { chat.render(Json::array(), true, Json::object()); }), HasSubstr("tools must be a JSON array or null"));
  EXPECT_THAT(error_of([&] { chat.render(Json::array(), true, nullptr, Json{{"messages", 1}}); }),
              HasSubstr("extra template variable 'messages' would replace the chat input"));
  EXPECT_EQ(chat.render(Json::array(), true, nullptr, Json{{"bos_token", "X"}}), "0");
}

TEST(ChatTemplates, ExtraVariablesAndSpecialTokensReachTheTemplate) {
  const ChatTemplate chat = ChatTemplate::from_source(
      "{{ bos_token }}|{{ eos_token }}|{{ enable_thinking }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}", "B", "E");
  EXPECT_EQ(chat.render(Json::array(), false, nullptr, Json{{"enable_thinking", false}}), "B|E|False|True|True|False");
  EXPECT_EQ(chat.render(Json::array(), true, nullptr, Json{{"bos_token", "X"}}), "X|E||True|True|True");
}

TEST(ChatTemplateConfig, PicksTheToolUseTemplateWhenToolsAreGiven) {
  ScratchDir dir;
  const auto path = dir.write("tokenizer_config.json", R"({
      "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
      "chat_template": [{"name": "default", "template": "D{{ bos_token }}{{ eos_token }}"},
                        {"name": "tool_use", "template": "T{{ tools | length }}"}]})");
  const ChatTemplate chat = ChatTemplate::from_tokenizer_config(path);
  EXPECT_TRUE(chat.has_tool_use_template());
  EXPECT_EQ(chat.render(nlohmann::json::array(), false), "D<s></s>");
  EXPECT_EQ(chat.render(nlohmann::json::array(), false, nlohmann::json::array({1, 2})), "T2");
}

TEST(ChatTemplateConfig, FallsBackToChatTemplateJinjaBesideTheConfig) {
  ScratchDir dir;
  const auto path = dir.write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  EXPECT_THAT(error_of([&] { ChatTemplate::from_tokenizer_config(path); }),
              HasSubstr(path.string() + ": no 'chat_template'"));
  dir.write("chat_template.jinja", "[{{ eos_token }}]{{ bos_token is defined }}\n");
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(path).render(nlohmann::json::array(), false), "[</s>]False");
}

TEST(ChatTemplateConfig, ErrorsNameTheFileAndTheTemplateLocation) {
  ScratchDir dir;
  const auto bad_template = dir.write("tokenizer_config.json", R"({"chat_template": "{% for m in messages %}{% macro %}"})");
  EXPECT_EQ(error_of([&] { ChatTemplate::from_tokenizer_config(bad_template); }),
            bad_template.string() + ": chat_template:1:33: expected a name but found '%}'");
  const auto no_default = dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "x"}]})");
  EXPECT_THAT(error_of([&] { ChatTemplate::from_tokenizer_config(no_default); }), HasSubstr("has no 'default' template"));
  const auto wrong_type = dir.write("tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_THAT(error_of([&] { ChatTemplate::from_tokenizer_config(wrong_type); }), HasSubstr("must be a string or a list"));
}

}  // namespace
}  // namespace tide
