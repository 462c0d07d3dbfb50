#include "autoscaler/local/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace tide::autoscaler {
namespace {

using std::chrono::milliseconds;

std::filesystem::path log_path(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / ("tide-child-" + name + "-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(path);
  return path;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ChildProcess, ReadsTheListeningLineAndTeesOutputToTheLog) {
  const auto log = log_path("listen");
  ChildProcess child({.program = "/bin/sh",
                      // Everything checked below is printed before the line the test waits for.
                      .args = {"-c", "echo starting; echo $TIDE_TEST_VALUE; "
                                     "echo \"x: listening on http://127.0.0.1:4321 (model m)\" >&2; sleep 30"},
                      .env = {{"TIDE_TEST_VALUE", "from-env"}},
                      .log_file = log});
  EXPECT_EQ(child.wait_for_url(milliseconds(5000)), "http://127.0.0.1:4321");
  EXPECT_TRUE(child.running());
  child.signal(SIGTERM);
  ASSERT_TRUE(child.wait_exit(milliseconds(5000)));
  EXPECT_EQ(child.exit_status(), "signal " + std::to_string(SIGTERM));
  const auto text = read_file(log);
  EXPECT_NE(text.find("starting"), std::string::npos);
  EXPECT_NE(text.find("from-env"), std::string::npos);
  EXPECT_NE(child.tail().find("listening on"), std::string::npos);
  std::filesystem::remove(log);
}

TEST(ChildProcess, ExitBeforeListeningEndsTheWait) {
  const auto log = log_path("exit");
  ChildProcess child({.program = "/bin/sh", .args = {"-c", "echo no model here; exit 3"}, .env = {}, .log_file = log});
  EXPECT_EQ(child.wait_for_url(milliseconds(5000)), std::nullopt);
  ASSERT_TRUE(child.wait_exit(milliseconds(5000)));
  EXPECT_EQ(child.exit_status(), "exit 3");
  EXPECT_NE(child.tail().find("no model here"), std::string::npos);
  std::filesystem::remove(log);
}

TEST(ChildProcess, AMissingProgramIsAClearError) {
  const auto log = log_path("missing");
  try {
    ChildProcess child({.program = "/nonexistent/tide", .args = {}, .env = {}, .log_file = log});
    FAIL() << "started a program that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot start /nonexistent/tide"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ChildProcess({.program = "/bin/true", .args = {}, .env = {}, .log_file = "/nonexistent/dir/x.log"}), Error);
  std::filesystem::remove(log);
}

TEST(ChildProcess, DestructionKillsWhatStillRuns) {
  const auto log = log_path("kill");
  pid_t pid = 0;
  {
    ChildProcess child({.program = "/bin/sleep", .args = {"60"}, .env = {}, .log_file = log});
    pid = child.pid();
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid is gone
  std::filesystem::remove(log);
}

}  // namespace
}  // namespace tide::autoscaler
