#include "gateway/api_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"

namespace tide::gateway {
namespace {

constexpr const char* kKeyA = "sk-team-a-0123456789abcdef";
constexpr const char* kKeyB = "sk-team-b-fedcba9876543210";

std::string error_of(const std::string& text) {
  try {
    ApiKeys::parse(text, "keys.txt");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(to_hex(sha256(std::string(1000, 'a'))), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(ApiKeys, ParsesKeysWithOverridesAndComments) {
  const ApiKeys keys = ApiKeys::parse(std::string("# team keys\n") + kKeyA +
                                          " user=team-a rps=20 burst=40 tpm=200000  # gold\n\n" + kKeyB + "\n",
                                      "keys.txt");
  ASSERT_EQ(keys.size(), 2u);
  const auto a = keys.authenticate(kKeyA);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "team-a");
  EXPECT_EQ(a->limits.requests_per_second, 20.0);
  EXPECT_EQ(a->limits.burst, 40.0);
  EXPECT_EQ(a->limits.tokens_per_minute, 200000.0);
  EXPECT_FALSE(a->limits.token_burst);
  EXPECT_EQ(a->fingerprint, key_fingerprint(kKeyA));
  EXPECT_EQ(a->fingerprint.size(), 8u);
  const auto b = keys.authenticate(kKeyB);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->limits, LimitOverride{});
  EXPECT_FALSE(keys.authenticate("sk-team-a-0123456789abcdeF"));
  EXPECT_FALSE(keys.authenticate(""));
  EXPECT_FALSE(keys.authenticate(std::string(kKeyA) + "x"));
}

TEST(ApiKeys, SemicolonsSeparateEntriesForEnvironmentVariables) {
  ::setenv("TIDE_TEST_KEYS", (std::string(kKeyA) + ";" + kKeyB + " rps=1").c_str(), 1);
  const ApiKeys keys = ApiKeys::from_env("TIDE_TEST_KEYS");
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys.authenticate(kKeyB)->limits.requests_per_second, 1.0);
  EXPECT_THROW(ApiKeys::from_env("TIDE_TEST_KEYS_UNSET"), Error);
  AuthConfig both{.keys_file = "", .keys_env = "TIDE_TEST_KEYS"};
  EXPECT_EQ(ApiKeys::from_config(both).size(), 2u);
}

TEST(ApiKeys, ErrorsNameTheLineAndNeverTheKey) {
  const std::string bad_setting = error_of(std::string("\n") + kKeyA + " rsp=3\n");
  EXPECT_THAT(bad_setting, testing::HasSubstr("keys.txt: line 2: unknown setting \"rsp\""));
  EXPECT_THAT(bad_setting, testing::Not(testing::HasSubstr(kKeyA)));
  const std::string twice = error_of(std::string(kKeyA) + "\n" + kKeyA + "\n");
  EXPECT_THAT(twice, testing::HasSubstr("line 2: the key " + key_fingerprint(kKeyA) + " is listed twice"));
  EXPECT_THAT(twice, testing::Not(testing::HasSubstr(kKeyA)));
  EXPECT_THAT(error_of("short-key\n"), testing::HasSubstr("line 1: a key must be 16 to 256 characters long"));
  EXPECT_THAT(error_of("short-key\n"), testing::Not(testing::HasSubstr("short-key")));
  EXPECT_THAT(error_of(std::string(kKeyA) + " rps=-1"), testing::HasSubstr("rps: \"-1\" is not a number"));
  EXPECT_THAT(error_of(std::string(kKeyA) + " rps=1e999"), testing::HasSubstr("is not a number"));
  EXPECT_THAT(error_of(std::string(kKeyA) + " rps"), testing::HasSubstr("\"rps\" is not name=value"));
  EXPECT_THAT(error_of(std::string("sk-\x01-0123456789abcdef")), testing::HasSubstr("printable ASCII"));
  EXPECT_THROW(ApiKeys::from_file("/nonexistent/keys"), Error);
}

TEST(ApiKeys, BearerToken) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer "), "");
}

}  // namespace
}  // namespace tide::gateway
