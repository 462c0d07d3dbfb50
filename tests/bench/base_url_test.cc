// --url: the forms accepted, and loopback-only unless remote traffic is allowed.
#include <gtest/gtest.h>

#include "bench/base_url.h"
#include "common/error.h"

namespace tide::bench {
namespace {

std::string error_of(const std::string& url, bool allow_remote = false) {
  try {
    parse_base_url(url, allow_remote);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BaseUrl, LoopbackForms) {
  auto url = parse_base_url("http://127.0.0.1:8000", false);
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 8000);
  EXPECT_EQ(url.text(), "http://127.0.0.1:8000");
  EXPECT_EQ(parse_base_url("http://localhost:30000/", false).port, 30000);
  EXPECT_EQ(parse_base_url("http://localhost", false).port, 80);
  url = parse_base_url("http://[::1]:8080", false);
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.text(), "http://[::1]:8080");
  EXPECT_EQ(parse_base_url("http://127.1.2.3:1", false).host, "127.1.2.3");
}

TEST(BaseUrl, RemoteHostsNeedPermission) {
  for (const char* url : {"http://10.0.0.5:8000", "http://example.com:80", "http://127.evil.example:8000",
                          "http://127.0.0.1.example:8000", "http://128.0.0.1:1", "http://127.0.0.256:1"}) {
    const std::string error = error_of(url);
    EXPECT_NE(error.find("--allow-remote"), std::string::npos) << url << ": " << error;
  }
  EXPECT_EQ(parse_base_url("http://10.0.0.5:8000", true).host, "10.0.0.5");
}

TEST(BaseUrl, MalformedUrlsNameTheOption) {
  for (const char* url : {"https://127.0.0.1:8000", "127.0.0.1:8000", "http://127.0.0.1:8000/v1", "http://:8000",
                          "http://127.0.0.1:", "http://127.0.0.1:0", "http://127.0.0.1:70000", "http://127.0.0.1:80a",
                          "http://[::1", "http://[::1]x"}) {
    const std::string error = error_of(url, true);
    EXPECT_NE(error.find("--url"), std::string::npos) << url << ": " << error;
  }
}

}  // namespace
}  // namespace tide::bench
